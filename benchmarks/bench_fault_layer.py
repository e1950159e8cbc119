"""Benchmark of the live fault layer (moto server + per-Region fault proxies), on loopback.

Measures:
- start-up and teardown of a two-Region LiveAws;
- per-call overhead of the proxy (same call, direct to moto vs through the Region's proxy);
- how fast a fault takes effect: the time the switch call takes, and from the start of the
  switch until the next API call has seen the fault (error, refuse, drop, and a partition
  seen on a cross-Region path), plus whether that
  very next call saw it every time; and the same for clearing.

Run: .venv/bin/python benchmarks/bench_fault_layer.py [--iterations N] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.live import clock
from harness.live.endpoints import LiveAws

REGIONS = ["us-east-1", "us-west-2"]
EAST = REGIONS[0]


def summary(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(p95 * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def timed(fn: Callable[[], Any]) -> float:
    start = clock.monotonic()
    fn()
    return clock.monotonic() - start


def bench_lifecycle(rounds: int) -> dict[str, Any]:
    starts, stops = [], []
    for _ in range(rounds):
        t0 = clock.monotonic()
        aws = LiveAws(REGIONS).start()
        starts.append(clock.monotonic() - t0)
        aws.client("cloudwatch", EAST).list_metrics()
        stops.append(timed(aws.close))
    return {"startup": summary(starts), "teardown": summary(stops)}


def bench_overhead(aws: LiveAws, calls: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    s3_direct = aws.client("s3", EAST, direct=True)
    s3_direct.create_bucket(Bucket="bench-bucket")
    s3_direct.put_object(Bucket="bench-bucket", Key="k", Body=b"x" * 1024)
    cases = {
        "cloudwatch.list_metrics": lambda c: c.list_metrics(),
        "s3.get_object_1KiB": lambda c: c.get_object(Bucket="bench-bucket", Key="k")["Body"].read(),
    }
    for name, call in cases.items():
        service = name.split(".")[0]
        direct = aws.client(service, EAST, direct=True)
        proxied = aws.client(service, EAST)
        for client in (direct, proxied):  # warm connection pools
            for _ in range(5):
                call(client)
        direct_s, proxied_s = [], []
        for _ in range(calls):  # interleaved, so drift hits both alike
            direct_s.append(timed(lambda c=direct, f=call: f(c)))
            proxied_s.append(timed(lambda c=proxied, f=call: f(c)))
        d, p = summary(direct_s), summary(proxied_s)
        results[name] = {
            "direct": d,
            "proxied": p,
            "overhead_median_ms": round(p["median_ms"] - d["median_ms"], 3),
        }
    return results


def bench_switch(aws: LiveAws, iterations: int) -> dict[str, Any]:
    client = aws.client(
        "cloudwatch", EAST, max_attempts=0, connect_timeout_s=1.0, read_timeout_s=1.0
    )
    client.list_metrics()
    # The same Region as DR code in the other Region reaches it (its cross-Region path).
    across = aws.client(
        "cloudwatch",
        EAST,
        caller=REGIONS[1],
        max_attempts=0,
        connect_timeout_s=1.0,
        read_timeout_s=1.0,
    )
    across.list_metrics()
    kinds: dict[str, tuple[Callable[[], Any], type[BaseException], Any]] = {
        "error ServiceUnavailable": (
            lambda: aws.faults.error(EAST, "cloudwatch", "ServiceUnavailable"),
            ClientError,
            client,
        ),
        "unreachable refuse": (
            lambda: aws.faults.unreachable(EAST, "refuse"),
            EndpointConnectionError,
            client,
        ),
        "drop": (lambda: aws.faults.drop(EAST, "cloudwatch"), ConnectionClosedError, client),
        "partition refuse (cross-Region path)": (
            lambda: aws.faults.partition(EAST, "refuse"),
            EndpointConnectionError,
            across,
        ),
    }
    out: dict[str, Any] = {}
    for name, (switch_on, expected, client) in kinds.items():
        switch_s, seen_s, clear_s, recovered_s = [], [], [], []
        missed = 0
        not_recovered = 0
        for _ in range(iterations):
            t0 = clock.monotonic()
            fault = switch_on()
            t1 = clock.monotonic()
            try:
                client.list_metrics()
                missed += 1
            except expected:
                pass
            t2 = clock.monotonic()
            switch_s.append(t1 - t0)
            seen_s.append(t2 - t0)
            t3 = clock.monotonic()
            aws.faults.clear(fault)
            t4 = clock.monotonic()
            try:
                client.list_metrics()
            except Exception:
                not_recovered += 1
            t5 = clock.monotonic()
            clear_s.append(t4 - t3)
            recovered_s.append(t5 - t3)
        out[name] = {
            "switch_on_call": summary(switch_s),
            "switch_start_to_next_call_failed": summary(seen_s),
            "next_call_missed_the_fault": missed,
            "clear_call": summary(clear_s),
            "clear_start_to_next_call_succeeded": summary(recovered_s),
            "next_call_after_clear_failed": not_recovered,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30, help="fault switches per kind")
    parser.add_argument("--calls", type=int, default=200, help="calls per overhead case")
    parser.add_argument("--rounds", type=int, default=3, help="start/stop rounds")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"lifecycle": bench_lifecycle(args.rounds)}
    with LiveAws(REGIONS, start_replicator=False) as aws:
        results["overhead"] = bench_overhead(aws, args.calls)
        results["fault_switch"] = bench_switch(aws, args.iterations)

    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    missed = sum(v["next_call_missed_the_fault"] for v in results["fault_switch"].values())
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
