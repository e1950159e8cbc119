"""A campaign: many seeded trials of one scenario, fanned out, judged into one report.

Trials are cut into chunks of consecutive indices. Chunks run in this process (one worker),
in local worker processes (multiprocessing), or on an existing Dask cluster. Each trial's seed
depends only on (seed, index), so the trial list is the same whichever way it ran. Workers
send back measures only, never histories, so memory stays flat however many trials run.
"""

from __future__ import annotations

import dataclasses
import importlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from harness.report import TrialResult, build_report
from harness.scenario.model import Scenario
from harness.sim.calibration import Calibration
from harness.sim.trial import run_trial
from harness.sim.world import DrLogic, scenario_config
from reference_impl.config import ProfileConfig

Progress = Callable[[int, int], None]  # (trials done, trials in all)


class BackendError(RuntimeError):
    """The trials cannot be fanned out as asked (Dask missing or unreachable)."""


MAX_CHUNK = 50  # trials per task: small enough for even progress, large enough to amortise


def run_chunk(
    scenario: Scenario,
    calibration: Calibration,
    logic: DrLogic | None,
    indices: Sequence[int],
    config: ProfileConfig | None = None,
) -> list[TrialResult]:
    """Run trials `indices`; a top-level function so worker processes can import it."""
    return [
        run_trial(scenario, calibration, i, logic=logic, config=config).result() for i in indices
    ]


def chunks(trials: int, workers: int) -> list[range]:
    """Consecutive index ranges: at least ten (progress every ~10%), about four per worker,
    at most MAX_CHUNK long."""
    size = max(1, min(MAX_CHUNK, -(-trials // max(10, workers * 4))))
    return [range(start, min(start + size, trials)) for start in range(0, trials, size)]


def run_campaign(
    scenario: Scenario,
    *,
    trials: int,
    seed: int,
    calibration: Calibration,
    workers: int | None = None,
    dask_address: str | None = None,
    progress: Progress | None = None,
    logic: DrLogic | None = None,
    config: ProfileConfig | None = None,
) -> dict[str, Any]:
    """Run `trials` trials of `scenario` seeded `seed` and build the report (mode simulate).

    `logic` replaces reference_impl's DR logic (tests); its functions must be importable by
    name (module level) to reach worker processes. `config` replaces the scenario's DR
    settings (default: `scenario_config(scenario)`), e.g. the compressed ones of a live drill.
    """
    scenario = _picklable(dataclasses.replace(scenario, seed=seed))
    workers = max(1, workers if workers is not None else os.cpu_count() or 1)
    if dask_address is not None:
        backend = f"dask ({dask_address})"
        batches = _on_dask(scenario, calibration, logic, trials, dask_address, config)
    elif workers == 1 or trials <= 1:
        backend = "in-process"
        batches = (
            run_chunk(scenario, calibration, logic, part, config) for part in chunks(trials, 1)
        )
    else:
        backend = f"{workers} local processes"
        batches = _on_processes(scenario, calibration, logic, trials, workers, config)
    results: list[TrialResult] = []
    for batch in batches:
        results.extend(batch)
        if progress is not None:
            progress(len(results), trials)
    results.sort(key=lambda result: result.index)
    settings = {
        "profile": dataclasses.asdict(config if config is not None else scenario_config(scenario)),
        "calibration": calibration.to_json(),
        "simulator": {"trials": trials, "backend": backend},
    }
    return build_report(
        mode="simulate", scenario=scenario, seed=seed, trials=results, settings=settings
    )


def _picklable(scenario: Scenario) -> Scenario:
    """The scenario with plain dicts for fault params: a MappingProxyType does not pickle."""
    faults = tuple(dataclasses.replace(f, params=dict(f.params)) for f in scenario.faults)
    return dataclasses.replace(scenario, faults=faults)


def _on_processes(
    scenario: Scenario,
    calibration: Calibration,
    logic: DrLogic | None,
    trials: int,
    workers: int,
    config: ProfileConfig | None = None,
) -> Iterator[list[TrialResult]]:
    work = partial(run_chunk, scenario, calibration, logic, config=config)
    with multiprocessing.get_context().Pool(workers) as pool:
        yield from pool.imap_unordered(work, chunks(trials, workers))


def _on_dask(
    scenario: Scenario,
    calibration: Calibration,
    logic: DrLogic | None,
    trials: int,
    address: str,
    config: ProfileConfig | None = None,
) -> Iterator[list[TrialResult]]:
    # Imported by name: Dask is optional, and the type checker need not know it.
    try:
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise BackendError("--dask needs Dask: pip install 'dask[distributed]'") from None
    try:
        client = distributed.Client(address)
    except (OSError, TimeoutError, ValueError) as err:  # refused, timed out, malformed
        raise BackendError(f"cannot reach the Dask scheduler at {address}: {err}") from None
    with client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        parts = chunks(trials, workers)
        futures = client.map(
            run_chunk,
            [scenario] * len(parts),
            [calibration] * len(parts),
            [logic] * len(parts),
            parts,
            [config] * len(parts),
            pure=False,
        )
        for future in distributed.as_completed(futures):
            yield future.result()
