"""Detector sweeps: one campaign per point of a grid of detector settings, to draw the
trade-off between detection time and spurious failovers.

`--set confirmations=1,2,3 --set check_interval=30s,1m` gives six points. Each point runs the
same trials (same seed) with the scenario's detector overrides replaced by the point's values.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.durations import DurationError, format_duration, parse_duration
from harness.report import format_percent
from harness.scenario.model import Scenario
from harness.sim.calibration import Calibration
from harness.sim.campaign import run_campaign


class SweepError(ValueError):
    """A bad --set; the message says which and why."""


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {text}")
    return value


def _positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"must be positive, got {text!r}")
    return seconds


# The detector settings a scenario can override (DetectorOverrides), and how to read each.
SWEEPABLE: Mapping[str, Callable[[str], Any]] = {
    "check_interval": _positive_duration,
    "metric_period": _positive_duration,
    "confirmations": _count,
    "unknown_is_unhealthy": _boolean,
    "second_signal": _boolean,
}


def parse_setting(text: str) -> tuple[str, list[Any]]:
    """`name=v1,v2,...` -> (name, [values])."""
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep or not values.strip():
        raise SweepError(f"--set {text!r}: expected NAME=VALUE[,VALUE...]")
    reader = SWEEPABLE.get(name)
    if reader is None:
        raise SweepError(f"--set {text!r}: unknown setting {name!r}; one of {', '.join(SWEEPABLE)}")
    parsed = []
    for value in values.split(","):
        try:
            parsed.append(reader(value.strip()))
        except (ValueError, DurationError) as err:
            raise SweepError(f"--set {name}: {err}") from None
    return name, parsed


def grid(settings: Sequence[tuple[str, Sequence[Any]]]) -> list[dict[str, Any]]:
    """Every combination, the first setting varying slowest."""
    names = [name for name, _ in settings]
    if len(set(names)) != len(names):
        raise SweepError("each setting may be given once")
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(v for _, v in settings))
    ]


@dataclass(frozen=True)
class SweepPoint:
    settings: Mapping[str, Any]
    trials: int
    failovers: int
    spurious: int
    spurious_rate: float | None
    spurious_upper_95: float
    recovered: int
    detection_p50: float | None
    detection_p95: float | None
    verdict: str

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "settings": dict(self.settings)}


def run_sweep(
    scenario: Scenario,
    settings: Sequence[tuple[str, Sequence[Any]]],
    *,
    trials: int,
    seed: int,
    calibration: Calibration,
    workers: int | None = None,
    dask_address: str | None = None,
    progress: Callable[[int, int, Mapping[str, Any]], None] | None = None,
) -> list[SweepPoint]:
    points = grid(settings)
    results = []
    for number, point in enumerate(points, start=1):
        detector = dataclasses.replace(scenario.detector, **point)
        report = run_campaign(
            dataclasses.replace(scenario, detector=detector),
            trials=trials,
            seed=seed,
            calibration=calibration,
            workers=workers,
            dask_address=dask_address,
        )
        summary = report["summary"]
        detection = summary["detection_s"] or {}
        results.append(
            SweepPoint(
                settings=point,
                trials=summary["trials"],
                failovers=summary["failovers"],
                spurious=summary["spurious_failovers"],
                spurious_rate=summary["spurious_failover_rate"]["value"],
                spurious_upper_95=summary["spurious_failover_rate"]["upper_95"],
                recovered=summary["recovered"],
                detection_p50=detection.get("p50"),
                detection_p95=detection.get("p95"),
                verdict=report["verdict"],
            )
        )
        if progress is not None:
            progress(number, len(points), point)
    return results


def render_sweep(scenario: Scenario, points: Sequence[SweepPoint]) -> str:
    """A Markdown table: each point's detection time against its spurious-failover rate."""
    names = list(points[0].settings) if points else []
    headers = [
        *names,
        "detection p50",
        "detection p95",
        "spurious",
        "rate",
        "upper 95%",
        "recovered",
        "verdict",
    ]
    lines = [
        f"# Detector sweep: {scenario.name} ({scenario.strategy}, {scenario.profile})",
        "",
        "Each row is a campaign with the same seed and trials. Detection is measured in trials "
        "with a primary fault; spurious failovers over all trials, with the exact one-sided 95% "
        "upper bound.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    for point in points:
        cells = [_setting(point.settings[name]) for name in names]
        cells += [
            _seconds(point.detection_p50),
            _seconds(point.detection_p95),
            f"{point.spurious} of {point.trials}",
            "—" if point.spurious_rate is None else format_percent(point.spurious_rate),
            format_percent(point.spurious_upper_95),
            f"{point.recovered} of {point.trials}",
            point.verdict,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):  # durations are the only float settings
        return format_duration(value)
    return str(value)


def _seconds(value: float | None) -> str:
    return "—" if value is None else format_duration(value)
