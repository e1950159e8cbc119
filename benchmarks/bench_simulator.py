"""Simulator benchmark: how fast trials run, how time grows with the drill's length and the
number of trials, and how memory stays flat in the number of trials.

    .venv/bin/python benchmarks/bench_simulator.py            # the full run, a few minutes
    .venv/bin/python benchmarks/bench_simulator.py --quick    # smaller numbers, a minute

The headline: 1,000 trials of a 6-hour two-Region drill (a Regional outage, warm standby,
hardened: detection, failover, restore and fencing all running) on every core. Target: under
30 s on a 2-core machine, i.e. over 700,000 times real time.

Peak memory is measured in a fresh child process per point (`ru_maxrss` of the campaign's own
process and of its largest worker), so one point's peak does not hide the next.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.scenario import load_scenario
from harness.scenario.model import Scenario
from harness.sim.calibration import default_calibration
from harness.sim.campaign import run_campaign

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "regional-outage-warm-standby.yaml"
HOUR = 3600.0


def scenario(hours: float) -> Scenario:
    return dataclasses.replace(load_scenario(SCENARIO), duration=hours * HOUR)


def timed_campaign(hours: float, trials: int, workers: int) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    report = run_campaign(
        scenario(hours),
        trials=trials,
        seed=1,
        calibration=default_calibration(),
        workers=workers,
    )
    return time.perf_counter() - started, report


def memory_point(trials: int, hours: float, workers: int) -> dict[str, float]:
    """Run in a child: the campaign's peak RSS and its largest worker's, in MiB."""
    code = (
        "import json, resource, sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from benchmarks.bench_simulator import timed_campaign\n"
        f"elapsed, _ = timed_campaign({hours}, {trials}, {workers})\n"
        "own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'elapsed_s': elapsed, 'main_mib': own, 'worker_mib': child}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller numbers")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    workers = args.workers
    headline_trials = 200 if args.quick else 1000
    figures: dict[str, Any] = {"workers": workers, "cpus": os.cpu_count()}

    print(f"# Simulator benchmark ({workers} workers, {os.cpu_count()} CPUs)\n")
    elapsed, report = timed_campaign(6.0, headline_trials, workers)
    simulated = headline_trials * 6.0 * HOUR
    figures["headline"] = {
        "trials": headline_trials,
        "drill_hours": 6.0,
        "elapsed_s": elapsed,
        "ms_per_trial": elapsed / headline_trials * 1000,
        "times_real_time": simulated / elapsed,
        "verdict": report["verdict"],
    }
    print(
        f"{headline_trials} trials of a 6 h drill: {elapsed:.1f} s "
        f"({elapsed / headline_trials * 1000:.1f} ms a trial, "
        f"{simulated / elapsed:,.0f}x real time); verdict {report['verdict']}\n"
    )

    print("## Time against the drill's length (one process, 100 trials)\n")
    print("| drill | elapsed | ms a trial | x real time |")
    print("|---|---|---|---|")
    lengths = []
    for hours in (1.0, 3.0, 6.0, 12.0, 24.0):
        trials = 50 if args.quick else 100
        elapsed, _ = timed_campaign(hours, trials, 1)
        per_trial = elapsed / trials * 1000
        factor = trials * hours * HOUR / elapsed
        lengths.append({"hours": hours, "ms_per_trial": per_trial, "times_real_time": factor})
        print(f"| {hours:g} h | {elapsed:.2f} s | {per_trial:.1f} | {factor:,.0f} |")
    figures["by_length"] = lengths

    print(f"\n## Time and peak memory against trials (6 h drill, {workers} workers)\n")
    print("| trials | elapsed | ms a trial | campaign peak RSS | largest worker RSS |")
    print("|---|---|---|---|---|")
    counts = (100, 200, 400) if args.quick else (250, 500, 1000, 2000)
    by_trials = []
    for trials in counts:
        point = memory_point(trials, 6.0, workers)
        by_trials.append({"trials": trials, **point})
        print(
            f"| {trials} | {point['elapsed_s']:.1f} s | "
            f"{point['elapsed_s'] / trials * 1000:.1f} | {point['main_mib']:.0f} MiB | "
            f"{point['worker_mib']:.0f} MiB |"
        )
    figures["by_trials"] = by_trials
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n(this process peaked at {own:.0f} MiB)")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
