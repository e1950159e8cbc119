"""Numbers that must hold: seeded campaigns of the simulator, running reference_impl's DR logic
with the default calibration (the simulator issue's acceptance criteria).

Every scenario is built here, from data, with a fixed seed, so each number below is the same on
every run. They are real simulator output: when one stops holding, the DR logic or the
simulator changed behaviour, and the message gives the numbers.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from typing import Any

import pytest

from harness.history import Event
from harness.scenario.model import Scenario
from harness.sim.calibration import default_calibration
from harness.sim.campaign import run_campaign
from harness.sim.trial import SimTrial, run_trial
from reference_impl.config import SEED
from reference_impl.layout import BACKUPS_PREFIX, SEED_BACKUP_PREFIX
from tests.unit.test_sim_support import make_scenario

STRATEGIES = ("warm_standby", "backup_restore")
PROFILES = ("seed", "hardened")
BACKUP_INTERVAL = 900.0  # the scenarios' backup interval (15m), in seconds
SEED_CHECK_INTERVAL = SEED.detector.check_interval  # 300 s


def drill(strategy: str, profile: str, faults: list[dict[str, Any]], seed: int) -> Scenario:
    """A 3-hour drill of 3 workload DAGs every 5 minutes, backed up every 15 minutes."""
    return make_scenario(
        faults,
        name=f"numbers-{strategy}-{profile}",
        strategy=strategy,
        profile=profile,
        duration="3h",
        seed=seed,
        backup={"interval": "15m"},
        workload={"dags": 3, "schedule": "5m"},
    )


@cache
def trials(
    strategy: str, profile: str, faults_key: str, count: int, seed: int
) -> tuple[SimTrial, ...]:
    """Trials 0..count-1 with their histories (cached: several tests read the same ones)."""
    scenario = drill(strategy, profile, FAULTS[faults_key], seed)
    cal = default_calibration()
    return tuple(run_trial(scenario, cal, i, keep_history=True) for i in range(count))


FAULTS: dict[str, list[dict[str, Any]]] = {
    # A healthy primary behind a failing CloudWatch API.
    "cloudwatch": [
        {
            "kind": "cloudwatch_outage",
            "region": "primary",
            "at": {"uniform": ["30m", "2h"]},
            "duration": "15m",
            "error": "ServiceUnavailable",
            "error_rate": 1.0,
        }
    ],
    # The primary Region goes dark, and comes back after the failover.
    "outage": [
        {
            "kind": "region_outage",
            "region": "primary",
            "at": {"uniform": ["30m", "1h"]},
            "duration": "90m",
        }
    ],
    # scenarios/replication-lag-at-outage.yaml: backups reach the secondary 20 minutes late.
    "lag": [
        {"kind": "replication_lag", "region": "primary", "at": "10m", "lag": "20m"},
        {
            "kind": "region_outage",
            "region": "primary",
            "at": {"uniform": ["60m", "80m"]},
            "duration": "90m",
        },
    ],
}
OUTAGE_TRIALS, OUTAGE_SEED = 100, 7
LAG_TRIALS, LAG_SEED = 60, 17


# 1. A CloudWatch outage with a healthy primary -------------------------------------------------

CLOUDWATCH_TRIALS = 300  # 0 of 300 puts the exact one-sided 95% upper bound at 0.0099


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_cloudwatch_outage_fails_over_the_seed_never_the_hardened(strategy: str) -> None:
    summaries = {}
    for profile in PROFILES:
        scenario = drill(strategy, profile, FAULTS["cloudwatch"], seed=0)
        report = run_campaign(
            scenario,
            trials=CLOUDWATCH_TRIALS,
            seed=2024,
            calibration=default_calibration(),
            workers=1,
        )
        summaries[profile] = report["summary"]
    seed, hardened = summaries["seed"], summaries["hardened"]
    assert seed["trials"] == hardened["trials"] == CLOUDWATCH_TRIALS

    # seed: an API error is "unhealthy": it fails over for nothing in essentially every trial.
    spurious = seed["spurious_failovers"]
    assert spurious >= 0.95 * CLOUDWATCH_TRIALS, (
        f"{strategy} seed: {spurious} of {CLOUDWATCH_TRIALS} trials failed over spuriously"
    )
    # hardened: never, and 300 clean trials bound the true rate under 1% at 95% confidence.
    assert hardened["spurious_failovers"] == 0, hardened
    assert hardened["failovers"] == 0, hardened
    rate = hardened["spurious_failover_rate"]
    assert rate["value"] == 0.0
    assert rate["upper_95"] <= 0.01, rate


# 2. A Regional outage: recovery, RTO and detection ---------------------------------------------


def outage(strategy: str, profile: str) -> tuple[SimTrial, ...]:
    return trials(strategy, profile, "outage", OUTAGE_TRIALS, OUTAGE_SEED)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("profile", PROFILES)
def test_a_regional_outage_is_recovered_in_every_trial(strategy: str, profile: str) -> None:
    for trial in outage(strategy, profile):
        m = trial.measures
        assert m.complete and m.recovered, (trial.index, m.reasons)
        assert not m.spurious_failover, trial.index
        assert m.rto_s is not None and m.detection_s is not None, (trial.index, m.reasons)


# The backup-and-restore median sits within a minute of 30 minutes for the seed profile, where
# a 100-trial median moves by +-25 s from one campaign seed to the next: it takes a larger
# campaign to say on which side it lies. Warm standby is minutes away from its 15.
RTO_MEDIAN_TRIALS = 500


@pytest.mark.parametrize("profile", PROFILES)
def test_rto_median_of_backup_restore_is_over_30_minutes(profile: str) -> None:
    report = run_campaign(
        drill("backup_restore", profile, FAULTS["outage"], seed=0),
        trials=RTO_MEDIAN_TRIALS,
        seed=OUTAGE_SEED,
        calibration=default_calibration(),
        workers=1,
    )
    summary = report["summary"]
    assert summary["recovered"] == RTO_MEDIAN_TRIALS
    # Environment creation alone takes 25 minutes at the median, then the restore.
    median = summary["rto_s"]["p50"]
    assert median > 30 * 60, f"backup_restore {profile}: RTO median {median:.0f}s"


@pytest.mark.parametrize("profile", PROFILES)
def test_rto_median_of_warm_standby_is_under_15_minutes(profile: str) -> None:
    rtos = [t.measures.rto_s for t in outage("warm_standby", profile)]
    median = statistics.median(rto for rto in rtos if rto is not None)
    assert len(rtos) == OUTAGE_TRIALS and None not in rtos
    assert median < 15 * 60, f"warm_standby {profile}: RTO median {median:.0f}s"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_hardened_detects_no_later_than_two_seed_check_intervals_after_the_seed(
    strategy: str,
) -> None:
    slack = 2 * SEED_CHECK_INTERVAL
    seed, hardened = outage(strategy, "seed"), outage(strategy, "hardened")
    pairs = []
    for s, h in zip(seed, hardened, strict=True):
        # Same scenario seed and index: the same sampled fault time in both profiles.
        assert s.index == h.index and s.measures.t_fault == h.measures.t_fault
        assert s.measures.detection_s is not None and h.measures.detection_s is not None
        pairs.append((s.measures.detection_s, h.measures.detection_s))
    late = [(i, s, h) for i, (s, h) in enumerate(pairs) if h > s + slack]
    assert not late, f"hardened detected more than {slack:.0f}s after the seed: {late}"
    seed_median = statistics.median(s for s, _ in pairs)
    hardened_median = statistics.median(h for _, h in pairs)
    assert hardened_median <= seed_median + slack, (seed_median, hardened_median)


# 3. RPO never exceeds backup interval + replication lag + one backup duration ----------------


@dataclass(frozen=True)
class Backup:
    backup_id: str
    started: float
    completed: float
    objects: int  # how many objects it wrote: one per table, plus the manifest (hardened)


def primary_backups(events: Sequence[Event], primary: str) -> list[Backup]:
    """The primary's completed backups, oldest first."""
    started: dict[str, float] = {}
    done: list[Backup] = []
    for e in events:
        if e.kind != "backup" or e["region"] != primary:
            continue
        if e["state"] == "started":
            started[e["backup_id"]] = e.t
        elif e["state"] == "completed":
            objects = len(e.get("tables", {})) + (1 if e.get("manifest") else 0)
            done.append(Backup(e["backup_id"], started[e["backup_id"]], e.t, objects))
    return sorted(done, key=lambda b: b.started)


def is_backup_object(key: str) -> bool:
    return key.startswith((BACKUPS_PREFIX, SEED_BACKUP_PREFIX))


def arrivals_by_backup(
    events: Sequence[Event], backups: Sequence[Backup]
) -> dict[str, list[tuple[float, float]]]:
    """backup_id -> (written_t, arrived t) of each of its objects that reached the secondary.

    An object belongs to the backup that was running when it was written (seed keys are fixed
    and shared by every backup, so the key alone does not say which backup wrote it)."""
    found: dict[str, list[tuple[float, float]]] = {b.backup_id: [] for b in backups}
    for e in events:
        if e.kind != "replication" or not is_backup_object(e["backup_id"]):
            continue
        written = float(e["written_t"])
        owner = next((b for b in backups if b.started <= written <= b.completed), None)
        if owner is not None:
            found[owner.backup_id].append((written, e.t))
    return found


def restored_sources(events: Sequence[Event], secondary: str, before: float) -> list[str]:
    """The backup ids the secondary's last completed restore before `before` restored rows from
    (a seed restore can take tables of several backups)."""
    done = [
        e
        for e in events
        if e.kind == "restore"
        and e["region"] == secondary
        and e["state"] == "completed"
        and e.t <= before
    ]
    assert done, "recovered without a completed restore"
    last = done[-1]
    sources = last.get("sources") or str(last["backup_id"]).split("+")
    return [str(s) for s in sources]


@dataclass(frozen=True)
class RpoBound:
    """The bound's terms for one trial, as measured from its history."""

    rpo: float
    interval: float  # the backup interval as the scheduler kept it
    duration: float  # one backup's duration: the longest from the restored one on
    lag: float  # the replication lag (see rpo_bound)
    snapshot_age: float  # t_fault - start of the (oldest) restored backup
    staleness: float  # that start - the newest primary commit before it

    @property
    def bound(self) -> float:
        return self.interval + self.lag + self.duration


def rpo_bound(trial: SimTrial) -> RpoBound:
    """Measure the bound's terms from the trial's history.

    R is the restored backup (for a seed restore that mixed backups, the oldest it took rows
    from). Why interval + lag + duration bounds t_fault - start(R): the restore takes the newest
    backup wholly in the secondary, and nothing leaves a dark Region. So if a later backup R+1
    started before the fault and was not restored, one of its objects was still being written
    or replicated when the fault struck: t_fault < start(R+1) + duration + lag, and
    start(R+1) - start(R) is one interval. If none started, t_fault - start(R) < one interval.

    - interval: the scenario's (15 min), or the longest gap between two consecutive backup
      starts before the fault if longer (the DR task starts 5-20 s after it is due); the test
      checks it stays within 30 s of the scenario's, so a skipped backup is not absorbed.
    - duration: the longest backup, started -> completed, from R on.
    - lag: the largest replication lag of any object of R or of a later backup started before
      the fault: `t - written_t` of its `replication` event when it arrived before the fault;
      `t_fault - written_t` when it was still in flight at the fault (`t_fault - completed` if
      its arrival is not in the history at all). An object in flight when the primary goes
      dark arrives only when the Region returns, 90 minutes later: that wait is the outage,
      not replication lag, and counting it would stretch the bound with the outage's length
      so that it held whatever the DR logic restored. The time the object had already been in
      flight is what replication had taken so far, a lower bound of its lag, and exactly what
      kept R+1 from being restorable. The window starts at R rather than at a fixed two
      intervals before the fault because with a 20-minute lag R is two or three intervals old.
      With this reading the bound still breaks if the restore took an older backup than the
      newest one wholly replicated before the fault, or if a backup went missing.

    RPO itself counts from the newest change R holds, not from R's start: it is at most
    t_fault - start(R) plus R's staleness, the time between the primary's newest commit
    before start(R) and start(R).
    """
    assert trial.history is not None
    events = list(trial.history)
    start = events[0]
    primary, secondary = str(start["primary"]), str(start["secondary"])
    m = trial.measures
    assert m.t_fault is not None and m.rto_s is not None and m.rpo_s is not None
    t_fault = m.t_fault
    backups = [b for b in primary_backups(events, primary) if b.started < t_fault]
    by_id = {b.backup_id: b for b in backups}
    sources = restored_sources(events, secondary, t_fault + m.rto_s)
    restored = min((by_id[s] for s in sources), key=lambda b: b.started)
    since = [b for b in backups if b.started >= restored.started]
    arrivals = arrivals_by_backup(events, backups)

    lags: list[float] = []
    for backup in since:
        seen = arrivals[backup.backup_id]
        lags += [
            arrived - written if arrived < t_fault else t_fault - written
            for written, arrived in seen
        ]
        if len(seen) < backup.objects:
            lags.append(t_fault - backup.completed)
    starts = [b.started for b in backups]
    interval = max([BACKUP_INTERVAL, *(b - a for a, b in pairwise(starts))])
    commits = [
        e.t
        for e in events
        if e.kind == "run" and e["region"] == primary and e["state"] == "success"
    ]
    newest_commit = max((t for t in commits if t < restored.started), default=0.0)
    return RpoBound(
        rpo=m.rpo_s,
        interval=interval,
        duration=max(b.completed - b.started for b in since),
        lag=max(lags),
        snapshot_age=t_fault - restored.started,
        staleness=restored.started - newest_commit,
    )


RPO_CASES = [
    *((strategy, profile, "outage") for strategy in STRATEGIES for profile in PROFILES),
    *((strategy, profile, "lag") for strategy in STRATEGIES for profile in PROFILES),
]


def rpo_bounds(strategy: str, profile: str, faults: str) -> list[tuple[int, RpoBound]]:
    """The bound's terms of every trial that recovered from the fault.

    A trial that failed over before the fault (spurious) restored before it: its RPO says
    nothing of the backups at the fault, and criterion 1 is where spurious failovers are judged.
    """
    if faults == "outage":
        chosen = outage(strategy, profile)
    else:
        chosen = trials(strategy, profile, "lag", LAG_TRIALS, LAG_SEED)
    found = []
    for trial in chosen:
        m = trial.measures
        assert m.recovered, (trial.index, m.reasons)
        if m.spurious_failover:
            continue
        found.append((trial.index, rpo_bound(trial)))
    assert len(found) >= 0.95 * len(chosen)
    return found


@pytest.mark.xfail(
    strict=True,
    reason=(
        "the issue's bound, read with design.md's RPO (from the newest primary change present "
        "after recovery), leaves out how stale the restored snapshot already was: the time from "
        "the primary's last commit to the backup's start (up to one workload period). Found "
        "2026-11-25: 14-26% of trials exceed it by up to ~250 s. The bound that holds is "
        "asserted by test_rpo_is_the_restored_snapshots_age_plus_its_staleness."
    ),
)
@pytest.mark.parametrize(("strategy", "profile", "faults"), RPO_CASES)
def test_rpo_never_exceeds_interval_plus_lag_plus_one_backup_duration(
    strategy: str, profile: str, faults: str
) -> None:
    bounds = rpo_bounds(strategy, profile, faults)
    for _, b in bounds:
        # A missed or failed backup must not widen the bound unnoticed.
        assert b.interval <= BACKUP_INTERVAL + 30.0, b
    over = [(i, b) for i, b in bounds if b.rpo > b.bound]
    if over:
        worst_index, worst = max(over, key=lambda item: item[1].rpo - item[1].bound)
        stale = [b.staleness for _, b in over]
        pytest.fail(
            f"{strategy} {profile} {faults}: {len(over)} of {len(bounds)} trials have an RPO "
            f"over interval + lag + duration, by up to {worst.rpo - worst.bound:.0f}s (trial "
            f"{worst_index}: {worst}); in those trials the restored snapshot was "
            f"{min(stale):.0f}-{max(stale):.0f}s stale (its start minus the primary's newest "
            "commit before it), which the RPO counts and the bound does not"
        )


@pytest.mark.parametrize(("strategy", "profile", "faults"), RPO_CASES)
def test_rpo_is_the_restored_snapshots_age_plus_its_staleness(
    strategy: str, profile: str, faults: str
) -> None:
    """Where the RPO goes: the restored snapshot is never older than the bound, and the RPO
    exceeds that age by no more than how stale the snapshot was (the time since the primary's
    newest commit before it: up to one workload period of idle time)."""
    for index, b in rpo_bounds(strategy, profile, faults):
        assert b.snapshot_age <= b.bound, (index, b)
        assert b.rpo <= b.snapshot_age + b.staleness + 1e-6, (index, b)
        assert math.isfinite(b.lag) and b.lag >= 0.0, (index, b)


def test_rpo_bound_helpers_on_one_trial() -> None:
    """The helpers read what one real hardened trial's history says."""
    trial = trials("warm_standby", "hardened", "outage", OUTAGE_TRIALS, OUTAGE_SEED)[0]
    assert trial.history is not None
    events = list(trial.history)
    backups = primary_backups(events, "us-east-1")
    assert backups and all(b.objects == 6 for b in backups)  # five tables and a manifest
    arrivals = arrivals_by_backup(events, backups)
    first = backups[0]
    assert len(arrivals[first.backup_id]) == 6
    assert all(first.started <= w <= first.completed < a for w, a in arrivals[first.backup_id])
    b = rpo_bound(trial)
    assert 0.0 < b.duration < 60.0 and b.interval >= BACKUP_INTERVAL
    assert dataclasses.asdict(b)["rpo"] == trial.measures.rpo_s
