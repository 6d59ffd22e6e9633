"""A whole cluster over TLS: namenode, datanodes, job tracker and workers serve HTTPS with a
certificate from a throwaway CA, and every client — the daemons calling each other, a task
reading its split or fetching map output, `FileSystem`, `Job`, a WebHDFS client — verifies
them against it. Plain HTTP to a TLS daemon, and a client that does not trust the CA, get
nowhere."""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mapreduce import Job, JobState
from minihadoop.errors import FileNotFoundError_, MiniHadoopError, UnavailableError
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.conftest import FAST, start_cluster
from tests.integration.test_mapreduce import corpus, read_output, wc_mapper, wc_reducer
from tests.pki import CertificateAuthority
from tests.support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_cluster(
    tmp_path_factory: pytest.TempPathFactory, ca: CertificateAuthority
) -> Iterator[LocalCluster]:
    server = ca.server("localhost", ips=("127.0.0.1",), dns=("localhost",))
    c = start_cluster(
        tmp_path_factory.mktemp("tls-cluster"),
        tls_cert=str(server.cert),
        tls_key=str(server.key),
        tls_ca=str(ca.ca_file),
    )
    # Every test below talks to this cluster over TLS, or nothing it shows means anything.
    assert c.info is not None and all(d.url.startswith("https://") for d in c.info.daemons)
    yield c
    c.stop()


@pytest.fixture
def tls_fs(tls_cluster: LocalCluster) -> Iterator[FileSystem]:
    with FileSystem.from_cluster(tls_cluster.directory) as client:
        yield client


def trusting(ca: CertificateAuthority) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca.ca_file))


class Eavesdropper:
    """Someone in the path: a TCP relay in front of `target` that keeps a copy of every byte
    it carries, both ways."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.seen = bytearray()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                server = socket.create_connection(self.target)
                self._sockets += [client, server]
                for a, b in ((client, server), (server, client)):
                    threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                with self._lock:
                    self.seen += data
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for s in self._sockets:
            s.close()


def test_every_daemon_advertises_https(tls_cluster: LocalCluster, tls_fs: FileSystem) -> None:
    info = tls_cluster.info
    assert info is not None
    urls = [d.url for d in info.daemons]
    assert len(urls) == 1 + 3 + 1 + 3  # namenode, datanodes, job tracker, workers
    assert all(url.startswith("https://127.0.0.1:") for url in urls), urls
    # What peers learnt from each other (registrations) is https too.
    assert all(d["url"].startswith("https://") for d in tls_fs.cluster()["datanodes"])


def test_put_and_get_a_multi_block_file(tls_fs: FileSystem, ca: CertificateAuthority) -> None:
    data = bytes(range(256)) * (14 * 1024)  # 3.5 MiB: four 1 MiB blocks
    tls_fs.write_bytes("/tls/big.bin", data)
    assert tls_fs.read_bytes("/tls/big.bin") == data
    blocks = tls_fs.blocks("/tls/big.bin").blocks
    assert len(blocks) == 4
    assert all(loc.url.startswith("https://") for b in blocks for loc in b.locations)
    # Every block went down a pipeline of three datanodes, datanode to datanode over TLS.
    wait_for(
        lambda: all(len(b.locations) == 3 for b in tls_fs.blocks("/tls/big.bin").blocks),
        what="three replicas of every block",
    )
    # The dashboard's download reads the blocks from the datanodes as a client, over TLS.
    with httpx.Client(verify=trusting(ca), timeout=30) as browser:
        assert browser.get(f"{tls_fs.namenode}/download/tls/big.bin").content == data


def test_word_count_job(
    tls_cluster: LocalCluster, tls_fs: FileSystem, ca: CertificateAuthority
) -> None:
    text = corpus(4000, seed=7)
    tls_fs.write_bytes("/tls/wc/in.txt", text.encode(), block_size=64 * 1024)
    result = Job(
        wc_mapper,
        wc_reducer,
        combiner=wc_reducer,
        inputs=["/tls/wc/in.txt"],
        output="/tls/wc/out",
        num_reducers=3,
        cluster_dir=tls_cluster.directory,
    ).run()
    assert result.state is JobState.SUCCEEDED, result.error
    # Maps read their splits from the datanodes and reducers fetched map output from every
    # worker over https: the counts are whole.
    assert read_output(tls_fs, "/tls/wc/out") == dict(Counter(text.split()))
    maps = len(tls_fs.blocks("/tls/wc/in.txt").blocks)
    assert maps > 1 and result.status["maps"] == maps
    assert result.counters["DATA_LOCAL_MAPS"] > 0
    # The dashboard asks the job tracker about the job over TLS.
    with httpx.Client(verify=trusting(ca), timeout=30) as browser:
        page = browser.get(f"{tls_fs.namenode}/jobs/{result.id}")
    assert page.status_code == 200 and "SUCCEEDED" in page.text


def test_webhdfs_through_a_redirect_with_a_delegation_token(
    tls_cluster: LocalCluster, tls_fs: FileSystem, ca: CertificateAuthority
) -> None:
    nn = tls_fs.namenode
    delegation = tls_fs.get_delegation_token()
    data = b"over TLS, end to end\n" * 1000
    with httpx.Client(verify=trusting(ca), timeout=30) as web:
        r = web.put(f"{nn}/webhdfs/v1/tls/web.txt?op=CREATE&delegation={delegation}")
        assert r.status_code == 307, r.text
        location = r.headers["location"]
        assert location.startswith("https://127.0.0.1:")
        datanodes = {d["url"] for d in tls_fs.cluster()["datanodes"]}
        assert location.split("/webhdfs")[0] in datanodes
        assert web.put(location, content=data).status_code == 201

        r = web.get(f"{nn}/webhdfs/v1/tls/web.txt?op=OPEN&delegation={delegation}")
        assert r.status_code == 307 and r.headers["location"].startswith("https://")
        assert web.get(r.headers["location"]).content == data
    assert tls_fs.read_bytes("/tls/web.txt") == data


SECRET = b"the quarterly figures nobody may read " * 200


def read_through_a_relay(fs: FileSystem, verify: ssl.SSLContext | bool) -> tuple[bytes, str]:
    """A WebHDFS client reaches the namenode through an `Eavesdropper`, sending a delegation
    token and having the namenode stream a file's blocks back (the dashboard's download).
    What the relay saw, and the token."""
    fs.write_bytes("/eavesdrop/secret.txt", SECRET, overwrite=True)
    delegation = fs.get_delegation_token()
    nn = httpx.URL(fs.namenode)
    assert nn.host and nn.port
    relay = Eavesdropper((nn.host, nn.port))
    try:
        with httpx.Client(verify=verify, timeout=30) as web:
            base = f"{nn.scheme}://127.0.0.1:{relay.port}"
            url = f"{base}/webhdfs/v1/eavesdrop/secret.txt?op=GETFILESTATUS&delegation={delegation}"
            status = web.get(url)
            assert status.status_code == 200, status.text
            assert web.get(f"{base}/download/eavesdrop/secret.txt").content == SECRET
    finally:
        relay.close()
    seen = bytes(relay.seen)
    assert len(seen) > len(SECRET)  # it carried the whole exchange
    return seen, delegation


def test_someone_in_the_path_sees_neither_the_data_nor_the_delegation_token(
    tls_fs: FileSystem, ca: CertificateAuthority
) -> None:
    seen, delegation = read_through_a_relay(tls_fs, trusting(ca))
    assert b"quarterly figures" not in seen
    assert delegation.encode() not in seen and b"delegation=" not in seen
    assert b"/eavesdrop/secret.txt" not in seen  # nor even which file was asked for


def test_without_tls_the_same_eavesdropper_reads_everything(fs: FileSystem) -> None:
    # The control: the relay above is no straw man. On a plain-HTTP cluster it reads the
    # file and the token, which it could then use until the token expires.
    seen, delegation = read_through_a_relay(fs, True)
    assert SECRET in seen
    assert delegation.encode() in seen


def test_plain_http_to_a_tls_daemon_fails(tls_cluster: LocalCluster) -> None:
    info = tls_cluster.info
    assert info is not None
    for daemon in info.daemons:
        plain = daemon.url.replace("https://", "http://", 1)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{plain}/health", timeout=10)


def test_a_client_that_does_not_trust_the_ca_cannot_connect(
    tls_cluster: LocalCluster, tls_fs: FileSystem, tmp_path: Path
) -> None:
    info = tls_cluster.info
    assert info is not None
    stranger = CertificateAuthority(tmp_path / "other", name="some other CA")
    for tls_ca in (str(stranger.ca_file), ""):  # another CA; the default trust store
        with FileSystem(info.namenode, info.token, tls_ca=tls_ca, retry_window=0) as untrusting:
            with pytest.raises(UnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
                untrusting.mkdir("/tls/untrusted")
            with pytest.raises(UnavailableError, match="CERTIFICATE_VERIFY_FAILED"):
                untrusting.write_bytes("/tls/untrusted.txt", b"never sent")
    # Nothing reached the namenode: the handshake failed before any request was sent.
    for path in ("/tls/untrusted", "/tls/untrusted.txt"):
        with pytest.raises(FileNotFoundError_):
            tls_fs.stat(path)


def test_a_certificate_without_its_key_stops_the_daemon_at_start(
    tmp_path: Path, ca: CertificateAuthority
) -> None:
    server = ca.server("lonely")
    cluster = LocalCluster(tmp_path / "half")
    with pytest.raises(MiniHadoopError, match="tls_cert is set but tls_key is not"):
        cluster.start(datanodes=1, mapreduce=False, settings={"tls_cert": str(server.cert)})
    assert not cluster.running()


def test_a_missing_certificate_stops_the_daemon_naming_the_file(
    tmp_path: Path, ca: CertificateAuthority
) -> None:
    server = ca.server("moved")
    missing = tmp_path / "moved-away.pem"
    cluster = LocalCluster(tmp_path / "missing")
    named = re.escape(f"cannot serve TLS with the certificate {missing}")
    with pytest.raises(MiniHadoopError, match=named):
        cluster.start(
            datanodes=1,
            mapreduce=False,
            settings={"tls_cert": str(missing), "tls_key": str(server.key)},
        )
    assert not cluster.running()


def test_tls_from_the_environment_reaches_the_daemons_and_the_ca_reaches_cluster_json(
    tmp_path: Path, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `MINIHADOOP_TLS_* minihadoop cluster up`: no flags, the daemons inherit the variables.
    server = ca.server("env-host")
    monkeypatch.setenv("MINIHADOOP_TLS_CERT", str(server.cert))
    monkeypatch.setenv("MINIHADOOP_TLS_KEY", str(server.key))
    monkeypatch.setenv("MINIHADOOP_TLS_CA", str(ca.ca_file))
    cluster = LocalCluster(tmp_path / "env")
    try:
        cluster.start(datanodes=1, mapreduce=False, settings={**FAST, "replication": 1})
        assert cluster.info is not None and cluster.info.namenode.startswith("https://")
        for name in ("MINIHADOOP_TLS_CERT", "MINIHADOOP_TLS_KEY", "MINIHADOOP_TLS_CA"):
            monkeypatch.delenv(name)
        # A client in another shell, with none of the variables, finds the CA in cluster.json.
        with FileSystem.from_cluster(cluster.directory) as fs:
            fs.write_bytes("/env.txt", b"verified")
            assert fs.read_bytes("/env.txt") == b"verified"
    finally:
        cluster.stop()


@pytest.mark.parametrize("closed_by_its_deadline", [False, True], ids=["idle", "timed-out"])
def test_a_tls_daemon_with_an_idle_client_connection_stops_without_waiting_for_it(
    tmp_path: Path, ca: CertificateAuthority, closed_by_its_deadline: bool
) -> None:
    """A peer keeps its connections to a datanode idle in a pool between uses. Stopping,
    the datanode must not wait for such a client's TLS goodbye (it sends none until it next
    uses the connection): uvicorn would wait out its graceful shutdown, and say so. The
    same for a connection the datanode already closed for its idle deadline, whose client
    has not answered that close."""
    server = ca.server("localhost", ips=("127.0.0.1",), dns=("localhost",))
    cluster = start_cluster(
        tmp_path / "c",
        datanodes=1,
        mapreduce=False,
        replication=1,
        http_header_timeout=1.0 if closed_by_its_deadline else 10.0,
        tls_cert=str(server.cert),
        tls_key=str(server.key),
        tls_ca=str(ca.ca_file),
    )
    try:
        url = httpx.URL(cluster.daemon("datanode-0").url)
        client = http.client.HTTPSConnection(url.host, url.port, timeout=30, context=trusting(ca))
        try:
            client.request("GET", "/health")
            answer = client.getresponse()
            answer.read()
            assert answer.status == 200 and not answer.will_close  # the connection stays open
            assert client.sock is not None
            if closed_by_its_deadline:  # its close_notify arrives; ours is never sent
                assert client.sock.recv(65536) == b""
            assert cluster.stop_daemon("datanode-0")
            log = (cluster.directory / "logs" / "datanode-0.log").read_text()
            assert "timeout graceful shutdown exceeded" not in log, log
            with contextlib.suppress(ssl.SSLError, OSError):  # dropped: EOF or a reset
                assert client.sock.recv(65536) == b""
        finally:
            client.close()
    finally:
        cluster.stop()
