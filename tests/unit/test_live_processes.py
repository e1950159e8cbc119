"""Ports, bounded waits and the live clock (no child processes here: see the integration
tests for the process lifecycle)."""

from __future__ import annotations

import socket

import pytest

from harness.live import clock
from harness.live.processes import (
    ReadinessTimeout,
    free_port,
    http_status,
    port_accepts,
    port_is_free,
    wait_until,
)


def test_free_port_is_bindable_and_not_listening() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    assert port_is_free(port)
    assert not port_accepts(port, timeout_s=0.2)


def test_free_ports_differ() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        assert not port_is_free(taken)
        assert port_accepts(taken)
        assert free_port() != taken


def test_wait_until_returns_when_true() -> None:
    calls = iter([False, False, True])
    wait_until(lambda: next(calls), timeout_s=2.0, interval_s=0.001)


def test_wait_until_is_bounded() -> None:
    start = clock.monotonic()
    with pytest.raises(ReadinessTimeout, match="never"):
        wait_until(lambda: False, timeout_s=0.05, interval_s=0.01, what="never")
    assert clock.monotonic() - start < 1.0


def test_http_status_of_a_closed_port_is_none() -> None:
    assert http_status(f"http://127.0.0.1:{free_port()}/", timeout_s=0.2) is None
    with pytest.raises(ValueError):
        http_status("https://127.0.0.1/")


def test_deadline() -> None:
    deadline = clock.Deadline.after(10.0)
    assert 9.0 < deadline.remaining() <= 10.0
    assert not deadline.expired()
    assert clock.Deadline.after(0.0).expired()
    assert clock.Deadline.after(0.0).remaining() == 0.0
    with pytest.raises(ValueError):
        clock.Deadline.after(-1.0)


def test_live_clock_starts_at_zero_and_maps_wall_time() -> None:
    live = clock.LiveClock()
    t = live.now()
    assert 0.0 <= t < 1.0
    assert abs(live.drill_time_of(live.wall_of(t)) - t) < 1e-6
    live.sleep(0.0)
    live.sleep(-1.0)
