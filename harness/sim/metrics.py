"""CloudWatch: the scheduler heartbeat metric, answered analytically, and API faults per call.

A scheduler publishes a heartbeat every `heartbeat_interval` seconds from its start while it
is alive. A heartbeat published at p is readable from p + delay(p) on, where delay is the
Region's delivery delay (sampled once per trial), or, for heartbeats published in the window of
a cloudwatch_metric_delay fault, the fault's delay ("readable from t + delay on"; the larger of
the two). No event is created per heartbeat: a
query for one period ending now looks for the first heartbeat in [now - period, now) within
the scheduler's alive intervals and each piece of constant delay, and returns [1.0] if one is
readable by now, else [].

API faults, per call, with botocore's standard retry mode: each attempt fails with a fault's
error_rate; retryable errors are retried up to `max_attempts`, so a call fails with
probability rate**attempts. A hanging endpoint is not retried within the health check's Lambda
budget: that call times out.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence

from harness.scenario.model import FaultKind
from harness.sim.calibration import CloudWatch as CloudWatchCalibration
from harness.sim.engine import Engine
from harness.sim.faults import FaultSchedule, ScheduledFault
from harness.sim.network import Network
from reference_impl.ports import THROTTLED, TIMED_OUT, UNREACHABLE, PortError

# cloudwatch_outage's `error` choice -> the code the caller sees
ERROR_CODES = {
    "ServiceUnavailable": "ServiceUnavailable",
    "InternalFailure": "InternalFailure",
    "connection_refused": UNREACHABLE,
    "hang": TIMED_OUT,
    THROTTLED: THROTTLED,
}

_EPSILON = 1e-9  # float slack when putting times on the heartbeat grid


class CloudWatch:
    def __init__(
        self,
        engine: Engine,
        calibration: CloudWatchCalibration,
        faults: FaultSchedule,
        network: Network,
        rng: random.Random,
        regions: Sequence[str],
    ) -> None:
        self.engine = engine
        self.cal = calibration
        self.faults = faults
        self.network = network
        self.rng = rng
        # Drawn in Region order first, so API fault draws never shift them.
        self.delivery_delay = {region: calibration.delivery_delay.sample(rng) for region in regions}
        self._alive: dict[str, list[list[float]]] = {region: [] for region in regions}
        self._environment: dict[str, str] = {}  # Region -> the environment publishing there

    # The world tells it when schedulers start and stop -----------------------------------------
    def scheduler_up(self, region: str, environment: str, t: float) -> None:
        self._environment[region] = environment
        self._alive.setdefault(region, []).append([t, math.inf])

    def scheduler_down(self, region: str, t: float) -> None:
        intervals = self._alive.get(region)
        if intervals and intervals[-1][1] == math.inf:
            intervals[-1][1] = t

    # Reading ------------------------------------------------------------------------------------
    def heartbeat(self, region: str, environment: str, period: float, now: float) -> list[float]:
        """GetMetricData's values for the period [now - period, now), faults aside."""
        if self._environment.get(region) != environment:
            return []
        window_start = now - period
        for start, end in reversed(self._alive.get(region, ())):
            if end <= window_start:
                break  # older intervals end earlier still
            if self._readable_in(region, start, max(start, window_start), min(end, now), now):
                return [1.0]
        return []

    def _readable_in(self, region: str, grid: float, low: float, high: float, now: float) -> bool:
        """Is some heartbeat p = grid + k * interval in [low, high) readable by now?"""
        if high <= low:
            return False
        base = self.delivery_delay.get(region, 0.0)
        # Split [low, high) where the fault delay changes; in each piece the delay is constant.
        cuts = {low, high}
        for fault in self.faults.of(FaultKind.CLOUDWATCH_METRIC_DELAY, region):
            cuts.update(t for t in (fault.start, fault.end) if low < t < high)
        edges = sorted(cuts)
        step = self.cal.heartbeat_interval
        for piece_low, piece_high in itertools.pairwise(edges):
            # The fault says "readable from t + delay on": its delay replaces the usual one
            # (the larger wins, also between overlapping faults).
            delay = max(
                [base]
                + [
                    fault.params["delay"]
                    for fault in self.faults.of(FaultKind.CLOUDWATCH_METRIC_DELAY, region)
                    if fault.covers(piece_low)
                ]
            )
            latest = min(piece_high, now - delay + _EPSILON)  # published at or before this
            first = grid + math.ceil((piece_low - grid) / step - _EPSILON) * step
            if first < piece_high and first <= latest:
                return True
        return False

    # API faults --------------------------------------------------------------------------------
    def api_faults(self, region: str) -> None:
        """Apply this call's CloudWatch API faults: charge retries, raise if every attempt fails."""
        now = self.engine.t
        outages = self.faults.active(FaultKind.CLOUDWATCH_OUTAGE, region, now)
        throttles = self.faults.active(FaultKind.CLOUDWATCH_THROTTLING, region, now)
        if not outages and not throttles:
            return
        attempts = self.cal.max_attempts
        last = ""
        for attempt in range(attempts):
            error = self._attempt_error(outages, throttles)
            if error is None:
                if attempt:  # each failed attempt costs its share of the full retry time
                    self.engine.charge(self.cal.exhausted[last] * attempt / attempts)
                return
            if error == "hang":
                self.engine.charge(self.cal.lambda_timeout)
                raise PortError(TIMED_OUT, "CloudWatch did not answer within the Lambda timeout")
            last = error
        self.engine.charge(self.cal.exhausted[last])
        raise PortError(ERROR_CODES[last], f"CloudWatch failed {attempts} attempts")

    def _attempt_error(
        self, outages: Sequence[ScheduledFault], throttles: Sequence[ScheduledFault]
    ) -> str | None:
        """The error of one attempt (a key of `exhausted`, or "hang"), None if it succeeds."""
        for fault in outages:
            if self.rng.random() < fault.params["error_rate"]:
                return str(fault.params["error"])
        for fault in throttles:
            if self.rng.random() < fault.params["error_rate"]:
                return THROTTLED
        return None


class MetricsPort:
    """reference_impl.ports.Metrics for DR code running in `caller`."""

    def __init__(self, cloudwatch: CloudWatch, caller: str) -> None:
        self.cloudwatch = cloudwatch
        self.caller = caller

    def scheduler_heartbeat(
        self, region: str, environment: str, period_s: float
    ) -> Sequence[float]:
        cw = self.cloudwatch
        cw.network.check(self.caller, region, hang_timeout=cw.cal.lambda_timeout)
        cw.api_faults(region)
        cw.engine.charge(cw.cal.call)
        return cw.heartbeat(region, environment, period_s, cw.engine.t)
