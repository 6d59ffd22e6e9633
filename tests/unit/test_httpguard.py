"""Connection caps (minihadoop.httpguard.ConnectionCounter): per listening port, then per
client address on it; and small writes sent together (CorkedTransport)."""

from __future__ import annotations

from typing import Any

from minihadoop.config import Settings
from minihadoop.httpguard import CORK_LIMIT, ConnectionCounter, ConnectionLimits, CorkedTransport


def test_one_address_gets_its_share_and_a_port_its_total() -> None:
    counter = ConnectionCounter(ConnectionLimits(max_connections=5, max_per_client=2))
    assert counter.admit(9870, "10.0.0.1") and counter.admit(9870, "10.0.0.1")
    assert not counter.admit(9870, "10.0.0.1")  # its share is taken
    assert counter.admit(9870, "10.0.0.2") and counter.admit(9870, "10.0.0.2")
    assert counter.admit(9870, "10.0.0.3")
    assert not counter.admit(9870, "10.0.0.4")  # the port is full
    assert counter.admit(8022, "10.0.0.1")  # another port counts on its own
    counter.release(9870, "10.0.0.1")
    assert counter.open(9870) == 4 and counter.open(9870, "10.0.0.1") == 1
    assert counter.admit(9870, "10.0.0.4")


def test_addresses_gone_are_forgotten() -> None:
    counter = ConnectionCounter(ConnectionLimits())
    for i in range(100):
        assert counter.admit(1, f"10.0.{i}.1")
        counter.release(1, f"10.0.{i}.1")
    assert counter.open(1) == 0 and counter._per_client == {}


def test_limits_come_from_the_settings() -> None:
    settings = Settings(
        http_header_timeout=2,
        http_body_timeout=3,
        http_max_connections=4,
        http_max_connections_per_client=1,
    )
    assert ConnectionLimits.of(settings) == ConnectionLimits(2, 3, 4, 1)


def test_refusals_are_logged_once_a_minute_per_address() -> None:
    counter = ConnectionCounter(ConnectionLimits())
    assert counter.should_log(9870, "10.0.0.1", now=100.0)
    assert not counter.should_log(9870, "10.0.0.1", now=130.0)
    assert counter.should_log(9870, "10.0.0.2", now=130.0)
    assert counter.should_log(9870, "10.0.0.1", now=161.0)


class _Wire:
    """A transport that records what is written, and a loop that runs call_soon later."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False
        self.soon: list[Any] = []

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"

    def call_soon(self, callback: Any) -> None:
        self.soon.append(callback)

    def end_turn(self) -> None:
        soon, self.soon = self.soon, []
        for callback in soon:
            callback()


def corked() -> tuple[_Wire, CorkedTransport]:
    wire = _Wire()
    return wire, CorkedTransport(wire, wire)  # type: ignore[arg-type]


def test_small_writes_of_one_turn_leave_as_one() -> None:
    wire, transport = corked()
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(memoryview(b"body"))
    assert wire.sent == []
    wire.end_turn()
    assert wire.sent == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"next")
    wire.end_turn()
    assert wire.sent[1:] == [b"next"]
    assert transport.get_extra_info("peername") == "extra peername"


def test_a_large_write_goes_through_at_once_after_what_was_held() -> None:
    wire, transport = corked()
    transport.write(b"head")
    big = b"x" * CORK_LIMIT
    transport.write(big)
    assert wire.sent == [b"head", big]  # in order, nothing held back
    wire.end_turn()
    assert wire.sent == [b"head", big]


def test_close_sends_what_was_held_first_and_a_lost_connection_drops_it() -> None:
    wire, transport = corked()
    transport.write(b"last words")
    transport.close()
    assert wire.sent == [b"last words"] and wire.closed
    wire.end_turn()  # the flush scheduled earlier finds nothing
    lost, other = corked()
    other.write(b"too late")
    lost.closed = True
    lost.end_turn()
    assert lost.sent == []
