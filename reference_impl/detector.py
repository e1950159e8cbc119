"""The failover detector as a pure state machine: (config, state, observation) -> (state, verdict).

No ports, no clock: `health.observe` turns port answers into an `Observation`, the recovery
workflow feeds it here. So the same decision logic drives the simulator and the live stack, and
property tests can run it on any sequence of observations.

What one health check sees:
- CloudWatch: "healthy" (a SchedulerHeartbeat datapoint with Average > 0), "no_data" (no such
  datapoint in the period), "error" (an error answer, throttling, a refused connection) or
  "timed_out" (the call never answered).
- The canary, when `second_signal` is on: its age (now - written_at) in the secondary's own
  replica bucket, None when there is none, or unreadable.

How a check is judged, driven only by `DetectorConfig`:
- `check_dies_on_timeout` (seed) and CloudWatch timed out: the check run itself fails. It decides
  nothing and leaves the state alone; its probe is "unknown".
- CloudWatch healthy: healthy, whatever the canary says. The count of failed checks restarts.
- Otherwise, with `second_signal`: the check counts toward failover only when the canary is
  absent or older than `canary_max_age` (the primary has stopped writing it); its probe is then
  "unhealthy", else "unknown". An unreadable canary proves nothing: "unknown", not counted.
- Otherwise, without it: missing data counts (probe "unhealthy"); an error or a timeout counts
  only when `unknown_is_unhealthy` (seed), else its probe is "unknown" and it does not count.
- A check that does not count restarts the count: failover needs `confirmations` consecutive
  counted checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reference_impl.config import DetectorConfig
from reference_impl.ports import ProbeResult

CloudWatchStatus = Literal["healthy", "no_data", "error", "timed_out"]
CanaryStatus = Literal["read", "absent", "unreadable", "not_read"]


@dataclass(frozen=True)
class Observation:
    """What one health check saw. `canary_age` is meaningful when `canary` is "read"
    (an object was read); `detail` says in words what CloudWatch answered."""

    cloudwatch: CloudWatchStatus
    detail: str = ""
    canary: CanaryStatus = "not_read"
    canary_age: float = 0.0


@dataclass(frozen=True)
class DetectorState:
    strikes: int = 0  # consecutive checks that counted toward failover


@dataclass(frozen=True)
class Verdict:
    probe: ProbeResult  # what this check concluded about the primary (for the journal)
    failover: bool  # decide failover now
    counted: bool  # this check counted toward failover
    detail: str  # why, in words


def canary_stale(config: DetectorConfig, obs: Observation) -> bool | None:
    """True: absent or too old; False: fresh; None: unknown (unreadable or not read)."""
    if obs.canary == "absent":
        return True
    if obs.canary == "read":
        return obs.canary_age > config.canary_max_age
    return None


def _canary_words(obs: Observation) -> str:
    if obs.canary == "read":
        return f"canary age {obs.canary_age:.0f}s"
    return f"canary {obs.canary.replace('_', ' ')}"


def step(
    config: DetectorConfig, state: DetectorState, obs: Observation
) -> tuple[DetectorState, Verdict]:
    """Judge one check. Pure: the same inputs always give the same outputs."""
    cw = f"CloudWatch {obs.cloudwatch}" + (f" ({obs.detail})" if obs.detail else "")
    if obs.cloudwatch == "timed_out" and config.check_dies_on_timeout:
        return state, Verdict("unknown", False, False, "check FAILED: timed out")
    if obs.cloudwatch == "healthy":
        return DetectorState(0), Verdict("healthy", False, False, cw)

    probe: ProbeResult
    if config.second_signal:
        stale = canary_stale(config, obs)
        counted = stale is True
        probe = "unhealthy" if counted else "unknown"
        words = _canary_words(obs)
        if stale is True:
            detail = f"{cw}; {words} (older than {config.canary_max_age:.0f}s or absent)"
        elif stale is False:
            detail = f"{cw}; {words}: primary still writing"
        else:
            detail = f"{cw}; {words}: cannot confirm"
    else:
        counted = obs.cloudwatch == "no_data" or config.unknown_is_unhealthy
        probe = "unhealthy" if counted else "unknown"
        detail = cw

    strikes = state.strikes + 1 if counted else 0
    failover = strikes >= config.confirmations
    if counted:
        detail = f"{detail} [{strikes}/{config.confirmations}]"
    return DetectorState(strikes), Verdict(probe, failover, counted, detail)
