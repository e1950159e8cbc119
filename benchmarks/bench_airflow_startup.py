"""Benchmark: two real Airflow environments (two Regions), each on its own PostgreSQL cluster.

From nothing (no cluster, no process) it measures, per round:
- time until both PostgreSQL clusters accept connections;
- time until both instances are healthy (metadatabase healthy, scheduler and DAG processor
  heartbeating) through /api/v2/monitor/health;
- time until the canary DAG is parsed in both, is unpaused through the REST API, and a first
  run has succeeded in both;
- total memory of every process we started (Airflow processes, LocalExecutor workers, task
  runners, PostgreSQL server and backends): sums of RSS and PSS from /proc, peak of samples
  taken while waiting and after the first success;
- teardown: both instances and both clusters stopped, with no process and no port left.

Targets from the issue (caches warm): both available and heartbeating < 60 s, total < 4 GiB,
teardown < 10 s. Memory is judged on PSS (RSS counts shared pages once per process, so the
sum over forked workers overstates what the machine holds); both are reported.

Run: .venv/bin/python benchmarks/bench_airflow_startup.py [--rounds N] [--json out.json]
Needs scripts/install-airflow.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.live import clock
from harness.live.airflow.install import find_installation
from harness.live.airflow.instance import AirflowInstance, process_memory, stop_instances
from harness.live.airflow.postgres import PostgresCluster
from harness.live.processes import ProcessRegistry, port_is_free

REGIONS = ["us-east-1", "us-west-2"]
DAG_ID = "canary"
CANARY = Path(__file__).resolve().parents[1] / "fixtures" / "dags" / "canary_dag.py"
TARGETS = {"healthy_s": 60.0, "pss_gib": 4.0, "teardown_s": 10.0}
GIB = 2**30


def our_pids(instances: list[AirflowInstance], clusters: list[PostgresCluster]) -> list[int]:
    pids: set[int] = set()
    for instance in instances:
        pids.update(instance.pids())
    for cluster in clusters:
        pids.update(cluster.leftovers())
    return sorted(pids)


def first_success(instance: AirflowInstance) -> bool:
    status, runs = instance.rest("GET", f"/dags/{DAG_ID}/dagRuns", query={"limit": 10})
    return status == 200 and any(run["state"] == "success" for run in runs["dag_runs"])


def one_round(timeout_s: float) -> dict[str, Any]:
    installation = find_installation()
    work = Path(tempfile.mkdtemp(prefix="mwaa-drill-bench-"))
    dags = work / "dags"
    dags.mkdir()
    shutil.copy(CANARY, dags / CANARY.name)
    result: dict[str, Any] = {}
    peak_rss = peak_pss = 0
    with ProcessRegistry() as registry:
        deadline = clock.Deadline.after(timeout_s)
        t0 = clock.monotonic()
        clusters = [PostgresCluster(registry).start() for _ in REGIONS]
        result["postgres_ready_s"] = clock.monotonic() - t0
        instances = [
            AirflowInstance(
                registry,
                name=f"{region}.bench",
                dags_folder=dags,
                postgres=cluster,
                installation=installation,
            ).start()
            for region, cluster in zip(REGIONS, clusters, strict=True)
        ]
        healthy: dict[str, float] = {}
        unpaused: dict[str, float] = {}
        succeeded: dict[str, float] = {}
        try:
            while len(succeeded) < len(instances):
                for instance in instances:
                    name = instance.name
                    if name not in healthy:
                        problem = instance.failure()
                        if problem:
                            raise RuntimeError(f"{name}: {problem}")
                        if instance.is_healthy():
                            healthy[name] = clock.monotonic() - t0
                    elif name not in unpaused:
                        status, _ = instance.rest(
                            "PATCH", f"/dags/{DAG_ID}", body={"is_paused": False}
                        )
                        if status == 200:
                            unpaused[name] = clock.monotonic() - t0
                    elif name not in succeeded and first_success(instance):
                        succeeded[name] = clock.monotonic() - t0
                rss, pss = process_memory(our_pids(instances, clusters))
                peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
                if deadline.expired():
                    raise TimeoutError(
                        f"not done in {timeout_s} s: healthy={healthy} succeeded={succeeded}"
                    )
                clock.sleep(0.25)
            # Workers are forked lazily: sample a little longer for the steady state.
            for _ in range(8):
                rss, pss = process_memory(our_pids(instances, clusters))
                peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
                clock.sleep(0.25)
            result["processes"] = len(our_pids(instances, clusters))
            result["harness_rss_mib"] = process_memory([os.getpid()])[0] / 2**20
        finally:
            ports = [p for i in instances if i.ports for p in i.ports.all()]
            ports += [c.port for c in clusters if c.port is not None]
            t_stop = clock.monotonic()
            stop_instances(instances)
            for cluster in clusters:
                cluster.stop()
            result["teardown_s"] = clock.monotonic() - t_stop
            result["leftover_pids"] = our_pids(instances, clusters)
            result["ports_still_bound"] = [p for p in ports if not port_is_free(p)]
    shutil.rmtree(work, ignore_errors=True)
    result.update(
        {
            "healthy_each_s": healthy,
            "both_healthy_s": max(healthy.values()),
            "unpaused_each_s": unpaused,
            "first_success_each_s": succeeded,
            "both_first_success_s": max(succeeded.values()),
            "peak_rss_gib": peak_rss / GIB,
            "peak_pss_gib": peak_pss / GIB,
        }
    )
    return result


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=240.0, help="per round, seconds")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    installation = find_installation()
    rounds = [one_round(args.timeout) for _ in range(args.rounds)]

    def med(key: str) -> float:
        return round(statistics.median(float(r[key]) for r in rounds), 3)

    summary = {
        "airflow": installation.version,
        "rounds": len(rounds),
        "median": {
            key: med(key)
            for key in (
                "postgres_ready_s",
                "both_healthy_s",
                "both_first_success_s",
                "peak_rss_gib",
                "peak_pss_gib",
                "teardown_s",
            )
        },
        "targets": TARGETS,
        "met": {
            "healthy_s": all(r["both_healthy_s"] < TARGETS["healthy_s"] for r in rounds),
            "pss_gib": all(r["peak_pss_gib"] < TARGETS["pss_gib"] for r in rounds),
            "teardown_s": all(r["teardown_s"] < TARGETS["teardown_s"] for r in rounds),
            "nothing_left": all(
                not r["leftover_pids"] and not r["ports_still_bound"] for r in rounds
            ),
        },
        "each_round": rounds,
    }
    text = json.dumps(rounded(summary), indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if all(summary["met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
