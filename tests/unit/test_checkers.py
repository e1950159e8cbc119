"""The checkers on hand-written histories: each number exactly, and each reason it can be missing.

Times are seconds. Unless a test says otherwise the primary (P) runs the `etl` DAG every 300 s,
a Regional outage of P starts at 600, and the drill ends at 3600.
"""

from __future__ import annotations

import pytest

from harness.checkers import (
    can_run_workflows,
    detection,
    drill_of,
    fault_windows,
    measure_trial,
    split_brain_seconds,
    t_fault,
)
from harness.history import Event
from harness.measures import TrialMeasures
from tests.unit.history_builders import HistoryBuilder, P, S

NOTHING_LEFT = "detection_s: failed over before the fault (spurious), nothing left to detect"


def primary_before_fault() -> HistoryBuilder:
    """P schedules from 0, finishes three runs and updates a variable before the fault."""
    return (
        HistoryBuilder()
        .active(0, P)
        .run(60, P, "etl", "d0", due_t=0)
        .run(360, P, "etl", "d1", due_t=300)
        .change(400, P, "variable:threshold")
        .run(560, P, "etl", "d2", due_t=500)
    )


def clean_outage_until_inventory() -> HistoryBuilder:
    """Outage at 600, failover at 720, S schedules from 780 and its first due run ends at 960."""
    return (
        primary_before_fault()
        .outage(600, until=1800)
        .inactive(600, P)
        .failover(720)
        .restore(730, S, "started")
        .active(780, S)
        .restore(850, S, "completed")
        .run(960, S, "etl", "d3", due_t=900)
        .inventory(1000, runs=(("etl", "d0"), ("etl", "d1")), changes=("variable:threshold",))
    )


def clean_outage() -> HistoryBuilder:
    return clean_outage_until_inventory().end(3600)


# A whole trial -------------------------------------------------------------------------------
def test_clean_regional_outage_with_recovery() -> None:
    assert clean_outage().measure() == TrialMeasures(
        t_fault=600.0,
        failovers=1,
        failover_triggered=True,
        spurious_failover=False,
        recovered=True,
        detection_s=120.0,
        rto_s=360.0,
        rpo_s=200.0,  # the variable update at 400 is the newest change that reached S
        split_brain_s=0.0,
        lost_runs=1,  # d2 ended at 560 and is not in S
        duplicate_runs=0,
        complete=True,
        reasons=(),
    )


def test_cloudwatch_outage_with_healthy_primary_is_a_spurious_failover() -> None:
    m = (
        primary_before_fault()
        .fault(600, "cloudwatch_outage", P, until=1200)
        .failover(700)
        .active(760, S)
        .inactive(800, P)
        .run(960, S, "etl", "d3", due_t=900)
        .end(3600)
        .measure()
    )
    assert m.t_fault is None
    assert (m.failovers, m.failover_triggered, m.spurious_failover) == (1, True, True)
    assert m.recovered is False
    assert (m.detection_s, m.rto_s, m.rpo_s, m.lost_runs) == (None, None, None, None)
    assert m.split_brain_s == 40.0
    assert m.reasons == (
        "detection_s: no fault stopped the primary",
        "rto_s: no fault stopped the primary",
        "rpo_s: no fault stopped the primary",
        "lost_runs: no fault stopped the primary",
    )
    assert m.complete


def test_failover_before_any_fault_is_spurious_and_leaves_nothing_to_detect() -> None:
    m = (
        primary_before_fault()
        .failover(100)
        .active(150, S)
        .outage(600)
        .run(960, S, "etl", "d3", due_t=900)
        .inventory(1000, runs=(("etl", "d0"),))
        .end(3600)
        .measure()
    )
    assert m.t_fault == 600.0
    assert m.spurious_failover
    assert m.detection_s is None
    assert NOTHING_LEFT in m.reasons
    assert m.recovered and m.rto_s == 360.0


# Never recovered -----------------------------------------------------------------------------
def test_never_recovered_without_a_failover_decision() -> None:
    m = primary_before_fault().outage(600).end(3600).measure()
    assert m.t_fault == 600.0
    assert (m.failovers, m.failover_triggered, m.recovered) == (0, False, False)
    assert m.reasons == (
        "detection_s: no failover decision after the fault",
        "rto_s: never recovered: no failover was decided",
        "rpo_s: not recovered",
        "lost_runs: not recovered",
    )


def test_never_recovered_when_environment_creation_failed() -> None:
    m = (
        primary_before_fault()
        .outage(600)
        .failover(700)
        .env_state(710, S, "CREATING")
        .env_state(1500, S, "CREATE_FAILED")
        .end(3600)
        .measure()
    )
    assert m.detection_s == 100.0
    assert m.rto_s is None
    assert "rto_s: never recovered: environment creation failed in us-west-2" in m.reasons


def test_never_recovered_when_restore_failed() -> None:
    m = (
        primary_before_fault()
        .outage(600)
        .failover(700)
        .restore(710, S, "started")
        .restore(800, S, "failed", reason="backup object missing")
        .end(3600)
        .measure()
    )
    assert "rto_s: never recovered: restore failed: backup object missing" in m.reasons


def test_create_failed_is_named_before_a_failed_restore() -> None:
    m = (
        primary_before_fault()
        .outage(600)
        .failover(700)
        .restore(800, S, "failed", reason="no backup")
        .env_state(900, S, "CREATE_FAILED")
        .end(3600)
        .measure()
    )
    assert "rto_s: never recovered: environment creation failed in us-west-2" in m.reasons
    assert not any(r.startswith("rto_s: never recovered: restore") for r in m.reasons)


def test_never_recovered_when_simply_too_slow() -> None:
    m = (
        primary_before_fault()
        .outage(600)
        .failover(700)
        .restore(710, S, "started")
        .restore(3400, S, "completed")
        .active(3450, S)
        .end(3600)
        .measure()
    )
    assert m.recovered is False
    assert m.rto_s is None
    assert (
        "rto_s: never recovered: no workload run due after the fault succeeded in us-west-2"
        " before the drill ended" in m.reasons
    )


# Several decisions ---------------------------------------------------------------------------
def test_spurious_failover_then_real_one() -> None:
    m = (
        primary_before_fault()
        .failover(100)
        .failback(200)
        .outage(600)
        .failover(700)
        .run(960, S, "etl", "d3", due_t=900)
        .end(3600)
        .measure()
    )
    assert (m.failovers, m.spurious_failover) == (2, True)
    assert m.detection_s == 100.0


def test_failover_failback_failover_counts_two_failovers_none_spurious() -> None:
    m = (
        primary_before_fault()
        .outage(600, until=1800)
        .failover(700)
        .run(960, S, "etl", "d3", due_t=900)
        .failback(1900)  # P healthy again: a failback is not a failover
        .outage(2400)
        .failover(2500)
        .end(3600)
        .measure()
    )
    assert (m.failovers, m.spurious_failover) == (2, False)
    assert m.t_fault == 600.0
    assert m.detection_s == 100.0


def test_failover_after_the_outage_healed_is_spurious() -> None:
    m = primary_before_fault().outage(600, until=1000).failover(1100).end(3600).measure()
    assert m.spurious_failover
    assert m.detection_s == 500.0  # still the first failover at or after t_fault


def test_fault_window_starts_inclusive_and_ends_exclusive() -> None:
    at_start = primary_before_fault().outage(600, until=1000).failover(600).end(3600).measure()
    at_end = primary_before_fault().outage(600, until=1000).failover(1000).end(3600).measure()
    assert not at_start.spurious_failover
    assert at_start.detection_s == 0.0
    assert at_end.spurious_failover


# Split brain and duplicates ------------------------------------------------------------------
def test_primary_back_while_secondary_active_is_split_brain_with_duplicates() -> None:
    m = (
        HistoryBuilder()
        .active(0, P, until=600)
        .outage(600, until=1200)
        .failover(700)
        .active(780, S)
        .run(1000, S, "etl", "d1", due_t=900)
        .run(1050, S, "etl", "d2", due_t=900)
        .active(1200, P, until=1500)  # P's scheduler comes back with the DAGs unpaused
        .run(1300, P, "etl", "d1", due_t=900)  # run again: a duplicate
        .run(1310, P, "etl", "d1", due_t=900)  # the same pair twice still counts once
        .run(1320, P, "etl", "d2", due_t=900, state="failed")  # failed: not a duplicate
        .end(3600)
        .measure()
    )
    assert m.split_brain_s == 300.0
    assert m.duplicate_runs == 1


def test_split_brain_open_interval_closes_at_drill_end() -> None:
    m = HistoryBuilder().active(0, P).active(3000, S).active(3100, S).end(3600).measure()
    assert m.split_brain_s == 600.0


def test_split_brain_ignores_other_regions_and_inactive_repeats() -> None:
    m = (
        HistoryBuilder()
        .inactive(0, P)
        .active(10, "eu-west-1")
        .active(20, S)
        .active(100, P, until=160)
        .inactive(170, P)
        .end(3600)
        .measure()
    )
    assert m.split_brain_s == 60.0


# What counts as recovery ---------------------------------------------------------------------
def test_secondary_runs_due_before_the_fault_do_not_count_as_recovery() -> None:
    m = (
        primary_before_fault()
        .outage(600)
        .failover(700)
        .run(850, S, "etl", "d2", due_t=500)  # catch-up of a run due before the fault
        .run(960, S, "etl", "d3", due_t=900)
        .end(3600)
        .measure()
    )
    assert m.rto_s == 360.0


def test_a_run_due_exactly_at_the_fault_counts() -> None:
    m = (
        primary_before_fault()
        .outage(600)
        .failover(700)
        .run(850, S, "etl", "d3", due_t=600)
        .end(3600)
        .measure()
    )
    assert m.rto_s == 250.0


def test_failed_runs_do_not_count_as_recovery() -> None:
    m = (
        primary_before_fault()
        .outage(600)
        .failover(700)
        .run(960, S, "etl", "d3", due_t=900, state="failed")
        .run(1260, S, "etl", "d4", due_t=1200)
        .end(3600)
        .measure()
    )
    assert m.rto_s == 660.0


def test_primary_runs_do_not_count_as_recovery() -> None:
    m = primary_before_fault().outage(600, until=700).run(960, P, "etl", "d3", due_t=900)
    assert m.end(3600).measure().recovered is False


# RPO and lost runs ---------------------------------------------------------------------------
def recovered_with_inventory(
    runs: tuple[tuple[str, str], ...] = (), changes: tuple[str, ...] = ()
) -> TrialMeasures:
    return (
        primary_before_fault()
        .outage(600)
        .failover(700)
        .run(960, S, "etl", "d3", due_t=900)
        .inventory(1000, runs=runs, changes=changes)
        .end(3600)
        .measure()
    )


def test_rpo_with_partial_inventory() -> None:
    m = recovered_with_inventory(runs=(("etl", "d0"), ("etl", "d1")))
    assert m.rpo_s == 240.0  # d1 ended at 360
    assert m.lost_runs == 1  # d2


def test_a_run_listed_only_under_changes_is_present_for_rpo_and_lost_runs_alike() -> None:
    m = recovered_with_inventory(runs=(("etl", "d0"), ("etl", "d1")), changes=("run:etl:d2",))
    assert m.rpo_s == 40.0  # d2 ended at 560
    assert m.lost_runs == 0


def test_a_tick_the_secondary_ran_again_does_not_count_as_replicated_for_rpo() -> None:
    m = (
        primary_before_fault()
        .outage(600)
        .failover(700)
        .run(960, S, "etl", "d2", due_t=500)  # the secondary re-ran d2 (primary ended it at 560)
        .run(1260, S, "etl", "d3", due_t=900)
        .inventory(1300, runs=(("etl", "d0"), ("etl", "d1"), ("etl", "d2"), ("etl", "d3")))
        .end(3600)
        .measure()
    )
    assert m.rpo_s == 240.0  # d1 (ended at 360) is the newest primary change that reached S
    assert m.lost_runs == 0  # d2 was done again, so it is not lost...
    assert m.duplicate_runs == 1  # ...but it was run twice


def test_rpo_with_nothing_present_counts_from_the_drill_start() -> None:
    m = recovered_with_inventory()
    assert m.rpo_s == 600.0
    assert m.lost_runs == 3
    assert m.reasons == (
        "rpo_s: no change the primary made during the drill reached us-west-2;"
        " counted from the drill's start",
    )


def test_rpo_counts_variable_changes() -> None:
    m = recovered_with_inventory(runs=(("etl", "d0"),), changes=("variable:threshold",))
    assert m.rpo_s == 200.0  # the variable at 400 is newer than d0 at 60
    assert m.lost_runs == 2


def test_rpo_with_everything_present_is_time_since_the_newest_change() -> None:
    runs = (("etl", "d0"), ("etl", "d1"), ("etl", "d2"))
    m = recovered_with_inventory(runs=runs, changes=("variable:threshold",))
    assert m.rpo_s == 40.0  # d2 ended at 560
    assert m.lost_runs == 0


def test_rpo_ignores_changes_of_the_secondary_and_after_the_fault() -> None:
    m = (
        primary_before_fault()
        .change(500, S, "variable:other")
        .outage(600)
        .change(650, P, "variable:late")  # not before t_fault
        .failover(700)
        .run(960, S, "etl", "d3", due_t=900)
        .inventory(1000, runs=(("etl", "d0"),), changes=("variable:other", "variable:late"))
        .end(3600)
        .measure()
    )
    assert m.rpo_s == 540.0  # only d0 (ended at 60) counts


def test_a_run_change_listed_in_inventory_changes_is_present_for_rpo() -> None:
    m = recovered_with_inventory(runs=(("etl", "d0"),), changes=("run:etl:d1",))
    assert m.rpo_s == 240.0


def test_rpo_needs_an_inventory_read_after_recovery() -> None:
    m = (
        primary_before_fault()
        .outage(600)
        .failover(700)
        .inventory(900, runs=(("etl", "d0"),))  # before the recovery at 960
        .run(960, S, "etl", "d3", due_t=900)
        .end(3600)
        .measure()
    )
    assert m.recovered
    assert (m.rpo_s, m.lost_runs) == (None, None)
    assert m.reasons == (
        "rpo_s: no inventory of us-west-2 after recovery",
        "lost_runs: no inventory of us-west-2 after recovery",
    )


def test_rpo_uses_the_last_inventory_and_accepts_one_at_recovery_time() -> None:
    m = (
        primary_before_fault()
        .outage(600)
        .failover(700)
        .run(960, S, "etl", "d3", due_t=900)
        .inventory(960, runs=(("etl", "d0"),))
        .inventory(2000, region=P, runs=())  # another Region's inventory is ignored
        .end(3600)
        .measure()
    )
    assert m.rpo_s == 540.0


def test_lost_runs_counts_distinct_successful_pre_fault_runs() -> None:
    m = (
        HistoryBuilder()
        .run(60, P, "etl", "d0", due_t=0, state="failed")
        .run(120, P, "etl", "d0", due_t=0)  # retried: one run, not two
        .run(360, P, "report", "d0", due_t=300)
        .run(400, P, "etl", "d1", due_t=300, state="failed")  # failed: never a lost run
        .outage(600)
        .run(620, P, "etl", "d9", due_t=500)  # ended after the fault
        .failover(700)
        .run(960, S, "etl", "d3", due_t=900)
        .inventory(1000, runs=(("report", "d0"),))
        .end(3600)
        .measure()
    )
    assert m.lost_runs == 1  # etl d0
    assert m.rpo_s == 240.0


# Incomplete histories ------------------------------------------------------------------------
def test_history_without_drill_end_is_incomplete_but_still_measured() -> None:
    m = primary_before_fault().outage(600).failover(700).active(780, S).note(1000, "cut").measure()
    assert m.complete is False
    assert m.reasons[0] == "history: no drill_end event"
    assert m.detection_s == 100.0
    assert m.split_brain_s == 220.0  # P active 0..1000 (the last event), S from 780


def test_aborted_history_is_incomplete_with_its_reason() -> None:
    m = clean_outage_until_inventory().end(3000, aborted=True, reason="operator stop").measure()
    assert m.complete is False
    assert m.reasons == ("history: aborted: operator stop",)
    assert (m.rto_s, m.rpo_s, m.lost_runs) == (360.0, 200.0, 1)


def test_aborted_without_a_reason_says_so() -> None:
    m = HistoryBuilder().end(10, aborted=True).measure()
    assert m.reasons[0] == "history: aborted: no reason given"


def test_history_without_drill_start_cannot_be_judged() -> None:
    m = HistoryBuilder(start=False).outage(600).failover(700).end(3600).measure()
    assert m.complete is False
    assert m.t_fault is None
    assert (m.failovers, m.duplicate_runs, m.split_brain_s) == (0, 0, 0.0)
    assert m.reasons[0] == "history: no drill_start event"
    assert all(r.endswith("no drill_start event") for r in m.reasons)


def test_empty_history_cannot_be_judged() -> None:
    assert measure_trial([]).reasons[0] == "history: no drill_start event"


# Faults --------------------------------------------------------------------------------------
def test_fault_without_fault_off_lasts_until_the_drill_end() -> None:
    m = primary_before_fault().outage(600).failover(3000).end(3600).measure()
    assert m.t_fault == 600.0
    assert not m.spurious_failover
    assert m.detection_s == 2400.0


def test_environment_failure_on_the_secondary_does_not_set_t_fault() -> None:
    m = primary_before_fault().fault(600, "environment_failure", S).end(3600).measure()
    assert m.t_fault is None


def test_environment_failure_on_the_primary_sets_t_fault() -> None:
    m = primary_before_fault().fault(900, "environment_failure", P).end(3600).measure()
    assert m.t_fault == 900.0


def test_t_fault_is_the_first_disabling_fault_of_the_primary() -> None:
    m = (
        HistoryBuilder()
        .fault(100, "replication_lag", P, until=3000)
        .outage(200, region=S, until=300)
        .fault(500, "environment_failure", P, until=700)
        .outage(800)
        .end(3600)
        .measure()
    )
    assert m.t_fault == 500.0


def test_fault_windows_pair_on_and_off_by_fault_id() -> None:
    events = (
        HistoryBuilder()
        .fault(100, "region_outage", P, until=400)
        .fault(200, "cloudwatch_outage", P, until=300)
        .fault(500, "network_partition", S)
        .events()
    )
    windows = fault_windows(events, drill_end=3600)
    assert [(w.fault_id, w.fault, w.region, w.start, w.end) for w in windows] == [
        (0, "region_outage", P, 100.0, 400.0),
        (1, "cloudwatch_outage", P, 200.0, 300.0),
        (2, "network_partition", S, 500.0, 3600.0),
    ]
    assert t_fault(windows, P) == 100.0
    assert t_fault(windows, S) is None
    assert not can_run_workflows(windows, P, 100.0)
    assert can_run_workflows(windows, P, 400.0)
    assert can_run_workflows(windows, S, 600.0)  # a partition does not stop a Region


def test_a_fault_off_without_its_fault_on_is_ignored() -> None:
    events = [Event(10.0, "fault_off", {"fault_id": 7, "fault": "region_outage", "region": P})]
    assert fault_windows(events, drill_end=100) == []


@pytest.mark.parametrize(
    ("failover_times", "expected"),
    [
        ((), (None, "detection_s: no failover decision after the fault")),
        ((100.0,), (None, NOTHING_LEFT)),
        ((100.0, 650.0, 900.0), (50.0, None)),
    ],
)
def test_detection(failover_times: tuple[float, ...], expected: tuple[object, object]) -> None:
    failovers = [
        Event(t, "decision", {"action": "failover", "from_region": P, "to_region": S, "reason": ""})
        for t in failover_times
    ]
    assert detection(failovers, 600.0) == expected
    assert detection(failovers, None) == (None, "detection_s: no fault stopped the primary")


def test_split_brain_seconds_of_interleaved_intervals() -> None:
    events = (
        HistoryBuilder()
        .active(0, P, until=100)
        .active(50, S, until=150)
        .active(120, P, until=200)
        .active(180, S)
        .end(1000)
        .events()
    )
    drill = drill_of(events)
    assert drill is not None
    assert split_brain_seconds(events, drill) == 50.0 + 30.0 + 20.0


def test_unsorted_events_are_measured_in_time_order() -> None:
    events = clean_outage().events()
    assert measure_trial(reversed(events)) == measure_trial(events)


# Torn restores ------------------------------------------------------------------------------
def restored(*restores: tuple[str, list[str]], torn_backup: str | None = None) -> TrialMeasures:
    builder = HistoryBuilder()
    for backup_id in ("b1", "b2"):
        builder.add(
            100,
            "backup",
            region=P,
            backup_id=backup_id,
            state="completed",
            torn=backup_id == torn_backup,
        )
    for backup_id, sources in restores:
        builder.add(
            200,
            "restore",
            region=S,
            backup_id=backup_id,
            state="completed",
            reason="",
            sources=sources,
        )
    return builder.end(3600).measure()


def test_a_restore_of_one_consistent_backup_is_not_torn() -> None:
    assert restored(("b2", ["b2"])).torn_restores == 0


def test_a_restore_mixing_backups_is_torn() -> None:
    assert restored(("b1+b2", ["b1", "b2"])).torn_restores == 1


def test_a_restore_of_a_backup_recorded_torn_is_torn() -> None:
    assert restored(("b1", ["b1"]), torn_backup="b1").torn_restores == 1


def test_a_restore_without_sources_is_judged_by_its_backup_id() -> None:
    builder = HistoryBuilder()
    builder.add(100, "backup", region=P, backup_id="b1", state="completed", torn=True)
    builder.add(200, "restore", region=S, backup_id="b1", state="completed", reason="")
    assert builder.end(3600).measure().torn_restores == 1


def test_failed_restores_are_not_counted() -> None:
    builder = HistoryBuilder()
    builder.add(
        200, "restore", region=S, backup_id="x", state="failed", reason="boom", sources=["b1", "b2"]
    )
    assert builder.end(3600).measure().torn_restores == 0
