"""The TLS settings and the one place clients get their ``verify=`` from."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from minihadoop.config import Settings, client_tls_ca
from minihadoop.errors import IllegalArgumentError
from minihadoop.rest import tls_verify
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
    assert tls_verify("") is True  # httpx's default trust store
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
