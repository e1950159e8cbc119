"""Live against simulated: one live drill, then the simulator's distribution of the SAME
compressed scenario with the SAME compressed DR settings, under a calibration measured from
that drill's history. How far apart are they?

    .venv/bin/python benchmarks/bench_live_vs_sim.py                 # about 7 minutes
    .venv/bin/python benchmarks/bench_live_vs_sim.py --json live-vs-sim.json --trials 300
    .venv/bin/python benchmarks/bench_live_vs_sim.py --from-history H.jsonl   # no live drill

What it does:

1. waits (at most --max-wait, 20 min by default, polling every 10 s) until no other live
   drill runs on this machine (`pgrep -f "airflow scheduler"` finds nothing): two drills at
   once overload a small machine and both measure the overload;
2. runs ONE live drill of the scenario (default `scenarios/regional-outage-warm-standby.yaml`,
   its own profile) at --time-scale (30): `LiveDrill(...).run()`;
3. measures the live stack from that drill's history (`harness.live.calibrate`): creation,
   backup and restore durations, DR task start latency, workload scheduling latency and run
   length, replication lag, ... over a base that is the default calibration with every
   duration divided by the time scale (for what a history cannot show);
4. runs --trials simulated trials of the drill's compressed scenario (`drill.scenario`) with
   its compressed DR settings (`drill.config`) under (a) that live calibration and (b) the
   default calibration scaled by 1/time-scale alone (skip with --no-default);
5. prints the live RTO / detection / RPO, each simulated distribution (p5, p50, p95, min, max),
   the live value's percentile rank in it, and a verdict line on the live RTO; --json PATH
   writes all of it.

Percentile rank: 100 * (trials below + half the trials equal) / trials; a trial that never
recovered counts as +infinity. Percentiles are numpy's "linear" (`harness.stats`) over the
trials that have the value.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.checkers import measure_trial
from harness.history import History
from harness.live import clock
from harness.live.calibrate import LiveCalibration, measure_calibration, scale_calibration
from harness.live.drill import LiveDrill, LiveSettings, write_outputs
from harness.live.time_scale import settings_table
from harness.scenario import load_scenario
from harness.scenario.model import Scenario, Uniform
from harness.sim.calibration import Calibration, default_calibration
from harness.sim.campaign import run_campaign
from harness.stats import percentile

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "regional-outage-warm-standby.yaml"
METRICS = ("rto_s", "detection_s", "rpo_s")
LABELS = {"rto_s": "RTO", "detection_s": "detection", "rpo_s": "RPO"}
POLL_S = 10.0


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# Waiting for the machine --------------------------------------------------------------------


def running_drills() -> list[str]:
    """Command lines of Airflow schedulers running on this machine (another live drill)."""
    found = subprocess.run(
        ["pgrep", "-af", "airflow scheduler"], capture_output=True, text=True, check=False
    )
    return [line for line in found.stdout.splitlines() if line.strip()]


def wait_until_idle(max_wait_s: float, poll_s: float = POLL_S) -> bool:
    """True once no Airflow scheduler runs; False after `max_wait_s` (bounded polls)."""
    polls = int(max_wait_s // poll_s) + 1
    for attempt in range(polls):
        busy = running_drills()
        if not busy:
            return True
        if attempt == 0:
            say(f"waiting for another live drill to end ({len(busy)} scheduler(s) running)")
        elif attempt % 6 == 0:
            say(f"still waiting ({attempt * poll_s:.0f} s so far)")
        if attempt < polls - 1:
            clock.sleep(poll_s)
    return False


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the live drill like Ctrl-C: it heals, tears down and still reports."""

    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# Figures ------------------------------------------------------------------------------------


def distribution(values: Sequence[float | None]) -> dict[str, Any]:
    """p5, p50, p95, min, max of the trials that have the value; how many do not."""
    finite = [float(v) for v in values if v is not None]
    stats: dict[str, Any] = {"n": len(values), "measured": len(finite)}
    stats["missing"] = len(values) - len(finite)
    if finite:
        stats.update(
            p5=percentile(finite, 5.0),
            p50=percentile(finite, 50.0),
            p95=percentile(finite, 95.0),
            min=min(finite),
            max=max(finite),
        )
    return stats


def percentile_rank(value: float, values: Sequence[float | None]) -> float:
    """100 * (trials below + half of those equal) / trials; None counts as +infinity."""
    ordered = [math.inf if v is None else float(v) for v in values]
    below = sum(1 for v in ordered if v < value)
    equal = sum(1 for v in ordered if v == value)
    return 100.0 * (below + 0.5 * equal) / len(ordered)


def compare(live: float | None, values: Sequence[float | None]) -> dict[str, Any]:
    """Where the live value falls in the simulated distribution."""
    stats = distribution(values)
    out: dict[str, Any] = {"live": live, "simulated": stats}
    if live is None or not values or "p50" not in stats:
        out["inside_band"] = None
        return out
    p5, p50, p95 = stats["p5"], stats["p50"], stats["p95"]
    out["percentile_rank"] = percentile_rank(live, values)
    out["inside_band"] = p5 <= live <= p95
    out["minus_p50_s"] = live - p50
    out["minus_p50_pct"] = 100.0 * (live - p50) / p50 if p50 else None
    if live < p5:
        edge = p5
    elif live > p95:
        edge = p95
    else:
        edge = live
    out["outside_band_s"] = live - edge  # 0 inside, < 0 below p5, > 0 above p95
    out["outside_band_pct"] = 100.0 * (live - edge) / edge if edge else None
    return out


def verdict_line(name: str, result: dict[str, Any]) -> str:
    live = result["live"]
    label = LABELS[name]
    if live is None:
        return f"live {label} not measured: no verdict"
    if result.get("inside_band") is None:
        return f"live {label} {live:.1f} s: the simulation has no value to compare with"
    stats = result["simulated"]
    band = f"[{stats['p5']:.1f}, {stats['p95']:.1f}] s"
    to_median = f"{result['minus_p50_s']:+.1f} s ({_pct(result['minus_p50_pct'])}) from the p50"
    rank = f"percentile rank {result['percentile_rank']:.0f}"
    if result["inside_band"]:
        return f"live {label} inside the simulated 5-95% band {band}: {to_median}, {rank}"
    side = "above p95" if result["outside_band_s"] > 0 else "below p5"
    return (
        f"live {label} OUTSIDE the simulated 5-95% band {band}: "
        f"{abs(result['outside_band_s']):.1f} s ({_distance(result['outside_band_pct'])}) "
        f"{side}; {to_median}, {rank}"
    )


def _pct(value: float | None) -> str:
    return "n/a %" if value is None else f"{value:+.0f}%"


def _distance(value: float | None) -> str:
    return "n/a %" if value is None else f"{abs(value):.0f}% of that edge"


def phase_jittered(scenario: Scenario) -> Scenario:
    """The scenario with each fixed fault time spread uniformly over one backup interval
    around it. The simulator starts every Airflow schedule (workload, backup and guard DAGs)
    at drill time 0, so a fixed fault time meets them at one fixed phase in every trial; a
    live drill's schedules start from a wall-clock instant, so that phase is arbitrary there.
    Jittering the fault over a backup interval (a multiple of the workload schedule, many
    guard intervals) randomises that phase; nothing else changes."""
    half = scenario.backup.interval / 2
    faults = tuple(
        dataclasses.replace(f, at=Uniform(max(0.0, f.at - half), f.at + half))
        if isinstance(f.at, int | float)
        else f
        for f in scenario.faults
    )
    return dataclasses.replace(scenario, faults=faults)


def simulate(
    drill: LiveDrill,
    calibration: Calibration,
    trials: int,
    workers: int,
    scenario: Scenario | None = None,
) -> dict[str, Any]:
    started = clock.monotonic()
    report = run_campaign(
        scenario or drill.scenario,
        trials=trials,
        seed=drill.scenario.seed,
        calibration=calibration,
        workers=workers,
        config=drill.config,
    )
    elapsed = clock.monotonic() - started
    values = {name: [trial.get(name) for trial in report["trials"]] for name in METRICS}
    return {"report": report, "values": values, "elapsed_s": elapsed}


# Printing -----------------------------------------------------------------------------------


def print_calibration(live: LiveCalibration) -> None:
    print("## The calibration measured from the live drill (drill seconds)\n")
    print("| field | samples | samples p50 [min, max] | fitted |")
    print("|---|---|---|---|")
    for m in live.measured:
        fitted = m.value.to_json() if hasattr(m.value, "to_json") else m.value
        spread = (
            f"{statistics.median(m.samples):.3f} [{min(m.samples):.3f}, {max(m.samples):.3f}]"
            if m.samples
            else "(setting)"
        )
        print(f"| {m.field} | {len(m.samples)} | {spread} | `{json.dumps(fitted)}` |")
    print(f"\nkept from the base ({len(live.unmeasured)}): " + ", ".join(sorted(live.unmeasured)))


def print_comparison(name: str, comparisons: dict[str, dict[str, Any]], elapsed: float) -> None:
    trials = next(iter(comparisons.values()))["simulated"]["n"]
    print(f"\n## Simulated, {name}: {trials} trials ({elapsed:.1f} s)\n")
    print("| measure | live | sim p5 | p50 | p95 | min | max | missing | live rank |")
    print("|---|---|---|---|---|---|---|---|---|")
    for metric, result in comparisons.items():
        s = result["simulated"]
        live = result["live"]
        cells = [f"{s[k]:.1f}" if k in s else "-" for k in ("p5", "p50", "p95", "min", "max")]
        rank = result.get("percentile_rank")
        print(
            f"| {LABELS[metric]} | {'-' if live is None else f'{live:.1f}'} | "
            + " | ".join(cells)
            + f" | {s['missing']} | {'-' if rank is None else f'{rank:.0f}'} |"
        )
    for metric, result in comparisons.items():
        print(f"- {verdict_line(metric, result)}")


# Main ---------------------------------------------------------------------------------------


def new_drill(scenario: Scenario, settings: LiveSettings) -> LiveDrill:
    return LiveDrill(scenario, settings, progress=lambda line: say(f"live: {line}"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    parser.add_argument("--time-scale", type=float, default=30.0)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--report-dir", type=Path, help="also write the live drill's reports")
    parser.add_argument(
        "--from-history", type=Path, help="use this live history instead of running a drill"
    )
    parser.add_argument("--max-wait", type=float, default=1200.0, help="seconds (default 20 min)")
    parser.add_argument("--no-default", action="store_true", help="skip the scaled default")
    parser.add_argument(
        "--no-jitter", action="store_true", help="skip the phase-randomised live-calibrated run"
    )
    args = parser.parse_args()

    started = clock.monotonic()
    scenario = load_scenario(args.scenario)
    settings = LiveSettings(time_scale=args.time_scale)
    drill = new_drill(scenario, settings)  # the scenario and settings it will use
    figures: dict[str, Any] = {
        "scenario": scenario.name,
        "scenario_file": str(args.scenario),
        "profile": scenario.profile.value,
        "strategy": scenario.strategy.value,
        "time_scale": args.time_scale,
        "trials": args.trials,
        "live_settings": settings.to_json(),
        "dr_settings": settings_table(drill.config),
        "compressed_scenario": {
            "duration_s": drill.scenario.duration,
            "backup_interval_s": drill.scenario.backup.interval,
            "workload_schedule_s": drill.scenario.workload.schedule,
            "rto_target_s": drill.scenario.objectives.rto.target
            if drill.scenario.objectives.rto
            else None,
        },
    }

    # The live drill ------------------------------------------------------------------------
    live_started = clock.monotonic()
    if args.from_history is not None:
        history = History.load(args.from_history)
        figures["live_source"] = str(args.from_history)
        live_verdict, aborted = None, None
    else:
        if not wait_until_idle(args.max_wait):
            say(f"another live drill still runs after {args.max_wait:.0f} s: not starting")
            return 3
        figures["waited_s"] = clock.monotonic() - live_started
        live_started = clock.monotonic()
        drill = new_drill(scenario, settings)  # its clock (drill time 0) starts now
        with sigterm_as_interrupt():
            outcome = drill.run()
        history, live_verdict, aborted = outcome.history, outcome.report["verdict"], outcome.aborted
        figures["live_source"] = "this run"
        if args.report_dir is not None:
            stem = f"{scenario.name}-{scenario.profile.value}-live-vs-sim"
            figures["live_files"] = {
                k: str(v) for k, v in write_outputs(outcome, args.report_dir, stem).items()
            }
    figures["live_elapsed_s"] = clock.monotonic() - live_started
    measures = measure_trial(history)
    figures["live"] = {
        "verdict": live_verdict,
        "aborted": aborted,
        "t_fault": measures.t_fault,
        "rto_s": measures.rto_s,
        "detection_s": measures.detection_s,
        "rpo_s": measures.rpo_s,
        "recovered": measures.recovered,
        "failovers": measures.failovers,
        "spurious_failover": measures.spurious_failover,
        "split_brain_s": measures.split_brain_s,
        "reasons": list(measures.reasons),
    }

    # The calibration and the simulated trials ----------------------------------------------
    base = scale_calibration(default_calibration(), args.time_scale)
    live = measure_calibration(history, base, heartbeat_interval_s=settings.heartbeat_interval_s)
    figures["calibration"] = live.to_json()
    runs: dict[str, tuple[Calibration, Scenario]] = {
        "live-calibrated": (live.calibration, drill.scenario)
    }
    if not args.no_default:
        runs[f"default / {args.time_scale:g}"] = (base, drill.scenario)
    if not args.no_jitter:
        jittered = phase_jittered(drill.scenario)
        runs["live-calibrated, fault time +- half a backup interval"] = (live.calibration, jittered)
    figures["simulated"] = {}

    print(f"# Live against simulated: {scenario.name} ({scenario.profile.value})\n")
    print(
        f"time scale {args.time_scale:g}: {scenario.duration:.0f} s of scenario in "
        f"{drill.scenario.duration:.0f} s; same compressed scenario and DR settings in both "
        f"(check {drill.config.detector.check_interval:g} s, metric period "
        f"{drill.config.detector.metric_period:g} s, canary every "
        f"{drill.config.detector.canary_interval:g} s, max age "
        f"{drill.config.detector.canary_max_age:g} s, fence wait {drill.config.fence_wait:g} s)\n"
    )
    lv = figures["live"]
    print(
        "live drill: "
        + ", ".join(f"{LABELS[m]} {'-' if lv[m] is None else f'{lv[m]:.1f} s'}" for m in METRICS)
        + f"; verdict {lv['verdict'] or 'n/a'}"
        + (f"; ABORTED: {aborted}" if aborted else "")
        + f" ({figures['live_elapsed_s']:.0f} s)\n"
    )
    print_calibration(live)
    for name, (calibration, sim_scenario) in runs.items():
        say(f"simulating {args.trials} trials, calibration {name}")
        sim = simulate(drill, calibration, args.trials, args.workers, sim_scenario)
        comparisons = {m: compare(lv[m], sim["values"][m]) for m in METRICS}
        figures["simulated"][name] = {
            "elapsed_s": sim["elapsed_s"],
            "verdict": sim["report"]["verdict"],
            "fault_at": [
                [f.at.low, f.at.high] if isinstance(f.at, Uniform) else f.at
                for f in sim_scenario.faults
            ],
            "compare": comparisons,
        }
        print_comparison(name, comparisons, sim["elapsed_s"])
    first = figures["simulated"]["live-calibrated"]["compare"]["rto_s"]
    figures["verdict"] = verdict_line("rto_s", first)
    print(f"\nVERDICT (live-calibrated): {figures['verdict']}")
    for name, sim_figures in figures["simulated"].items():
        if name != "live-calibrated":
            line = verdict_line("rto_s", sim_figures["compare"]["rto_s"])
            print(f"  ({name}: {line})")
    figures["elapsed_s"] = clock.monotonic() - started
    print(f"\n(total {figures['elapsed_s']:.0f} s)")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
