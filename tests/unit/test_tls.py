"""The TLS settings and the one place clients get their ``verify=`` from."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from minihadoop.config import Settings, client_tls_ca
from minihadoop.errors import IllegalArgumentError
from minihadoop.rest import DefaultTrust, tls_verify
from minihadoop.server import check_tls_files, url_for
from tests.pki import CertificateAuthority


@pytest.mark.parametrize(
    ("given", "missing"),
    [({"tls_cert": "host.pem"}, "tls_key"), ({"tls_key": "host-key.pem"}, "tls_cert")],
)
def test_half_a_tls_pair_is_a_settings_error_naming_the_other_half(
    given: dict[str, str], missing: str
) -> None:
    with pytest.raises(ValidationError, match=f"is set but {missing} is not"):
        Settings(token="t", **given)


def test_tls_is_on_with_a_certificate_and_its_key_and_off_by_default() -> None:
    assert not Settings(token="t").tls
    assert Settings(token="t", tls_cert="host.pem", tls_key="host-key.pem").tls


def test_half_a_pair_from_the_environment_stops_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIHADOOP_TLS_KEY", "/etc/minihadoop/tls/host-key.pem")
    monkeypatch.delenv("MINIHADOOP_TLS_CERT", raising=False)
    with pytest.raises(ValidationError, match="tls_key is set but tls_cert is not"):
        Settings()


def test_a_tls_daemon_advertises_https() -> None:
    assert url_for("127.0.0.1", 9870) == "http://127.0.0.1:9870"
    assert url_for("127.0.0.1", 9870, tls=True) == "https://127.0.0.1:9870"
    assert url_for("::1", 9864, tls=True) == "https://[::1]:9864"


def test_clients_verify_against_the_ca_bundle_or_the_default_store(tmp_path: Path) -> None:
    default = tls_verify("")  # httpx's default trust store, read at the first connection
    assert isinstance(default, DefaultTrust) and tls_verify("") is default
    assert default.verify_mode is ssl.CERT_REQUIRED and default.check_hostname
    ca = CertificateAuthority(tmp_path)
    context = tls_verify(str(ca.ca_file))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    # Only the cluster's CA is trusted: nothing of the system's store was loaded.
    assert context.cert_store_stats()["x509_ca"] == 1
    assert tls_verify(str(ca.ca_file)) is context  # read once per process


def test_a_missing_ca_bundle_is_an_error_not_the_default_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        tls_verify(str(tmp_path / "nothing.pem"))


def test_clients_read_the_ca_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINIHADOOP_TLS_CA", raising=False)
    assert client_tls_ca() == ""
    monkeypatch.setenv("MINIHADOOP_TLS_CA", "/etc/minihadoop/tls/ca.pem")
    assert client_tls_ca() == "/etc/minihadoop/tls/ca.pem"


def test_a_daemon_checks_its_certificate_and_key_naming_both(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    host, other = ca.server("host"), ca.server("other")
    check_tls_files(str(host.cert), str(host.key))  # a pair that belongs together
    with pytest.raises(IllegalArgumentError, match=r"nope\.pem.*No such file"):
        check_tls_files(str(tmp_path / "nope.pem"), str(host.key))
    mismatch = re.escape(str(other.key)) + ".*KEY_VALUES_MISMATCH"
    with pytest.raises(IllegalArgumentError, match=mismatch):
        check_tls_files(str(host.cert), str(other.key))


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[CertificateAuthority, str]]:
    """A loopback HTTPS server with a certificate of a CA no default store trusts, answering
    every connection with one small 200 (a failed handshake just ends that connection)."""
    ca = CertificateAuthority(tmp_path)
    host = ca.server("host")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(host.cert, host.key)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with server_context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(65536)
                    tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield ca, f"https://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept
    listener.close()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_the_default_store_is_read_at_the_first_tls_connection_and_verifies(
    tls_server: tuple[CertificateAuthority, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, url = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    context = DefaultTrust()
    with httpx.Client(verify=context) as client:
        assert context.cert_store_stats()["x509_ca"] == 0  # a client alone reads nothing
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(url)  # certifi's bundle does not know the test CA
    assert context.cert_store_stats()["x509_ca"] > 1  # ...and it was read for that call

    # $SSL_CERT_FILE names the store, as it does for httpx's own default: sync and async.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    trusting = DefaultTrust()
    with httpx.Client(verify=trusting) as client:
        assert client.get(url).text == "ok"
    assert trusting.cert_store_stats()["x509_ca"] == 1

    async def fetch() -> str:
        async with httpx.AsyncClient(verify=DefaultTrust()) as client:
            return (await client.get(url)).text

    assert asyncio.run(fetch()) == "ok"
