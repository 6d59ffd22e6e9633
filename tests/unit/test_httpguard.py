"""Connection caps (minihadoop.httpguard.ConnectionCounter): per listening port, then per
client address on it."""

from __future__ import annotations

from minihadoop.config import Settings
from minihadoop.httpguard import ConnectionCounter, ConnectionLimits


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
