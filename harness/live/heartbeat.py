"""The scheduler heartbeat of a live environment: AmazonMWAA/SchedulerHeartbeat in CloudWatch.

MWAA publishes, for each environment, the metric SchedulerHeartbeat (namespace AmazonMWAA,
dimensions Environment=<name>, Function=Scheduler, value 1) every 5 s while the scheduler
runs. The live world's environments have no MWAA to do that, so a `HeartbeatPublisher` does:

    publisher = HeartbeatPublisher(
        aws.client("cloudwatch", region, direct=True), "mwaa-drill-env", alive=scheduler_up
    )
    with publisher:        # a daemon thread: one heartbeat at once, then every interval_s
        ...                # while alive() says True; nothing while it says False

Which client to give it is the caller's choice. A `direct` client (behind no fault) matches
the simulator, where CloudWatch API faults hit readers (GetMetricData) but not the ingestion of
a running scheduler's metrics; `alive()` is what stops the heartbeats (scheduler down, Region
dark). `delivery_delay_s` holds each heartbeat back before PutMetricData, with its Timestamp
still the time it was produced: the simulator's delivery delay and cloudwatch_metric_delay
("readable from t + delay on"). It applies to heartbeats produced after it is set.

`put_heartbeats` writes heartbeats with given timestamps at once (CloudWatch, and moto,
accept past timestamps): how tests make "a scheduler that was alive from t1 to t2" without
waiting. Failed PutMetricData calls are counted and remembered, never retried by the
publisher (a lost heartbeat is lost), and never stop it. Every wait is bounded: the thread
ends on `stop()` or after `max_runtime_s`.
"""

from __future__ import annotations

import collections
import contextlib
import math
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.live import clock
from harness.live.ports import HEARTBEAT_METRIC, NAMESPACE, heartbeat_dimensions

INTERVAL_S = 5.0
BATCH = 20  # datapoints per PutMetricData: CloudWatch's historical limit, accepted everywhere
MAX_ERRORS_KEPT = 20


def heartbeat_datum(environment: str, unix_time: float) -> dict[str, Any]:
    return {
        "MetricName": HEARTBEAT_METRIC,
        "Dimensions": heartbeat_dimensions(environment),
        "Timestamp": datetime.fromtimestamp(unix_time, UTC),
        "Value": 1.0,
        "Unit": "Count",
    }


def put_heartbeats(client: Any, environment: str, unix_times: Sequence[float]) -> int:
    """PutMetricData of one heartbeat per timestamp (Unix seconds), in batches; returns the
    number of calls made. Errors propagate (botocore's)."""
    calls = 0
    for start in range(0, len(unix_times), BATCH):
        batch = unix_times[start : start + BATCH]
        client.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[heartbeat_datum(environment, t) for t in batch],
        )
        calls += 1
    return calls


def heartbeat_times(start: float, end: float, interval_s: float = INTERVAL_S) -> list[float]:
    """The heartbeats of a scheduler alive over [start, end): start, start + interval, ..."""
    if interval_s <= 0:
        raise ValueError(f"interval_s must be > 0, got {interval_s}")
    count = max(0, int((end - start) / interval_s - 1e-9) + 1) if end > start else 0
    return [start + k * interval_s for k in range(count)]


class HeartbeatPublisher:
    """Publishes an environment's SchedulerHeartbeat every `interval_s` while `alive()`."""

    def __init__(
        self,
        client: Any,
        environment: str,
        alive: Callable[[], bool],
        *,
        interval_s: float = INTERVAL_S,
        delivery_delay_s: float = 0.0,
        max_runtime_s: float = 24 * 3600.0,
        wall_time: Callable[[], float] = clock.wall_time,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        if max_runtime_s <= 0:
            raise ValueError(f"max_runtime_s must be > 0, got {max_runtime_s}")
        self.client = client
        self.environment = environment
        self.alive = alive
        self.interval_s = interval_s
        self.max_runtime_s = max_runtime_s
        self._delay_s = max(0.0, delivery_delay_s)
        self._wall_time = wall_time
        self._on_error = on_error
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # (monotonic time due, Unix timestamp) of heartbeats produced, not yet put.
        self._pending: collections.deque[tuple[float, float]] = collections.deque()
        self.produced = 0
        self.published = 0
        self.failed = 0
        self.errors: list[str] = []

    # Settings ---------------------------------------------------------------------------------
    @property
    def delivery_delay_s(self) -> float:
        return self._delay_s

    @delivery_delay_s.setter
    def delivery_delay_s(self, seconds: float) -> None:
        with self._lock:
            self._delay_s = max(0.0, seconds)

    # One step ---------------------------------------------------------------------------------
    def beat(self) -> bool:
        """Produce one heartbeat now if alive() (then put it, or queue it while it is
        delayed) and put every delayed one that is due. True if one was produced."""
        produced = self._produce()
        self.flush_due()
        return produced

    def _produce(self) -> bool:
        try:
            alive = bool(self.alive())
        except Exception as err:  # a broken liveness probe means "not alive"
            self._error(err)
            return False
        if not alive:
            return False
        with self._lock:
            self._pending.append((clock.monotonic() + self._delay_s, self._wall_time()))
            self.produced += 1
        return True

    def flush_due(self) -> int:
        """Put the heartbeats whose delay has passed; returns how many were put."""
        with self._lock:
            now = clock.monotonic()
            due: list[float] = []
            while self._pending and self._pending[0][0] <= now:
                due.append(self._pending.popleft()[1])
            if not due:
                return 0
            try:
                put_heartbeats(self.client, self.environment, due)
            except (BotoCoreError, ClientError) as err:
                self.failed += len(due)
                failure: Exception | None = err
            else:
                self.published += len(due)
                failure = None
        if failure is not None:
            self._error(failure)
            return 0
        return len(due)

    def _next_due(self) -> float | None:
        with self._lock:
            return self._pending[0][0] if self._pending else None

    # The thread -------------------------------------------------------------------------------
    def start(self) -> HeartbeatPublisher:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"heartbeat-{self.environment}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop publishing; heartbeats still held back by a delay are dropped."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None
        with self._lock:
            self._pending.clear()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> HeartbeatPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        deadline = clock.Deadline.after(self.max_runtime_s)
        next_beat = clock.monotonic()
        while not self._stop.is_set() and not deadline.expired():
            now = clock.monotonic()
            if now >= next_beat:
                self._produce()
                # A late wake-up skips the beats it missed, as a busy scheduler would.
                missed = math.floor((now - next_beat) / self.interval_s)
                next_beat += (missed + 1) * self.interval_s
            self.flush_due()
            wake = next_beat
            pending = self._next_due()
            if pending is not None:
                wake = min(wake, pending)
            self._stop.wait(min(max(0.0, wake - clock.monotonic()), deadline.remaining()))

    def _error(self, err: Exception) -> None:
        with self._lock:
            self.errors.append(f"{type(err).__name__}: {err}")
            del self.errors[:-MAX_ERRORS_KEPT]
        if self._on_error is not None:
            with contextlib.suppress(Exception):  # a listener's bug must not stop heartbeats
                self._on_error(err)
