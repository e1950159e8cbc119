"""The pure parts of a live drill: time compression, the drill spec, the journal and ledger
files, and the driver that runs DR processes on real time."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness.history import Event
from harness.live.clock import LiveClock
from harness.live.drill_spec import DrillSpec
from harness.live.journal import (
    FileJournal,
    append_line,
    ledger_run_events,
    read_journal,
    read_lines,
)
from harness.live.runner import Stopped, drive
from harness.live.time_scale import Floors, compress_config, compress_scenario
from harness.scenario.catalog import catalog_dir
from harness.scenario.load import load_scenario
from harness.scenario.model import Scenario, Uniform
from harness.sim.world import scenario_config, scenario_topology
from reference_impl.config import HARDENED, SEED
from reference_impl.runtime import CHECKPOINT, Process, Wait

CATALOG = {path.name: path for path in catalog_dir().glob("*.yaml")}


def scenario(name: str) -> Scenario:
    return load_scenario(CATALOG[name])


# Time compression ------------------------------------------------------------------------------
def test_compression_divides_every_scenario_duration() -> None:
    original = scenario("regional-outage-warm-standby.yaml")
    fast = compress_scenario(original, 30)
    assert fast.duration == pytest.approx(original.duration / 30)
    assert fast.backup.interval == pytest.approx(original.backup.interval / 30)
    assert fast.workload.schedule == pytest.approx(original.workload.schedule / 30)
    assert fast.faults[0].at == pytest.approx(original.faults[0].at / 30)  # type: ignore[operator]
    assert fast.faults[0].duration == pytest.approx(original.faults[0].duration / 30)  # type: ignore[operator]
    assert fast.objectives.rto is not None and original.objectives.rto is not None
    assert fast.objectives.rto.target == pytest.approx(original.objectives.rto.target / 30)
    assert compress_scenario(original, 1) is original


def test_compression_scales_duration_parameters_and_uniform_times() -> None:
    original = scenario("replication-lag-at-outage.yaml")
    fast = compress_scenario(original, 10)
    for before, after in zip(original.faults, fast.faults, strict=True):
        if isinstance(before.at, Uniform):
            assert isinstance(after.at, Uniform)
            assert after.at.low == pytest.approx(before.at.low / 10)
        for name, value in before.params.items():
            if name == "lag":
                assert after.params[name] == pytest.approx(value / 10)


def test_compressed_dr_settings_keep_floors_and_ratios() -> None:
    floors = Floors()
    fast = compress_config(HARDENED, 30, floors)
    d = fast.detector
    assert d.check_interval == max(HARDENED.detector.check_interval / 30, floors.check_interval)
    assert d.metric_period >= floors.metric_period
    assert d.canary_interval >= floors.canary_interval
    assert d.canary_max_age >= floors.canary_max_age_intervals * d.canary_interval
    # "two guard intervals" stays two guard intervals
    assert fast.fence_wait == pytest.approx(2 * d.canary_interval)
    assert d.confirmations == HARDENED.detector.confirmations
    seed = compress_config(SEED, 30, floors)
    assert seed.workflow_timeout == pytest.approx(3600 / 30)
    assert seed.detector.canary_interval == 0.0  # the seed has no canary: nothing to floor
    assert compress_config(HARDENED, 1) is HARDENED


def test_compression_refuses_a_non_positive_scale() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        compress_scenario(scenario("regional-outage-warm-standby.yaml"), 0)


# The drill spec ------------------------------------------------------------------------------
def test_drill_spec_round_trips_through_its_file(tmp_path: Path) -> None:
    original = scenario("regional-outage-warm-standby.yaml")
    spec = DrillSpec(
        origin_wall=1_700_000_000.5,
        strategy="warm_standby",
        topology=scenario_topology(original),
        config=compress_config(scenario_config(original), 30),
        endpoints={
            caller: {"us-east-1": "http://127.0.0.1:1", "us-west-2": "http://127.0.0.1:2"}
            for caller in ("us-east-1", "us-west-2")
        },
        journal_path="/tmp/j",
        ledger_path="/tmp/l",
        backup_interval_s=30.0,
        workload_schedule_s=10.0,
        workload_start_wall=1_700_000_000.0,
        create_defaults={"us-west-2": {"DagS3Path": "dags"}},
    )
    path = tmp_path / "spec.json"
    spec.save(path)
    assert DrillSpec.load(path) == spec


def test_drill_spec_refuses_unknown_fields() -> None:
    with pytest.raises((ValueError, KeyError)):
        DrillSpec.from_json({"surprise": 1})


# Journal and ledger --------------------------------------------------------------------------
class FixedClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def test_file_journal_writes_history_events_any_reader_can_read(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = FileJournal(path, FixedClock(12.5))
    journal.probe("us-east-1", "unhealthy", "no data")
    journal.decision("failover", "us-east-1", "us-west-2", "3/3")
    journal.backup("us-east-1", "b1", "completed", tables={"variable": 3})
    journal.restore("us-west-2", "b1", "completed", sources=["b1"])
    journal.note("hello")
    events = read_journal(path)
    assert [e.kind for e in events] == ["probe", "decision", "backup", "restore", "note"]
    assert all(e.t == 12.5 for e in events)
    assert events[3]["sources"] == ["b1"]


def test_a_line_being_written_or_broken_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    FileJournal(path, FixedClock(1.0)).note("whole")
    with path.open("a") as out:
        out.write("{broken\n")
        out.write('{"t": 2, "kind": "note"}\n')  # lacks its message: not an event
        out.write('{"t": 3, "kind": "note", "message": "half')  # no newline yet
    assert [e["message"] for e in read_journal(path)] == ["whole"]
    assert read_lines(tmp_path / "missing.jsonl") == []


def test_ledger_lines_become_run_events_at_their_end(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    row = {
        "dag_id": "workload_0",
        "logical_date": "2026-01-01T00:00:00+00:00",
        "region": "us-east-1",
        "due_t": 10.0,
        "start_t": 11.0,
        "end_t": 12.0,
        "state": "success",
    }
    append_line(path, row)
    append_line(path, {"dag_id": "incomplete"})
    (event,) = ledger_run_events(path)
    assert isinstance(event, Event) and event.kind == "run" and event.t == 12.0
    assert event["due_t"] == 10.0 and event["region"] == "us-east-1"


def test_concurrent_appends_keep_every_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"

    def writer(n: int) -> None:
        for i in range(200):
            append_line(path, {"writer": n, "i": i, "pad": "x" * 200})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(read_lines(path)) == 800


# The driver ----------------------------------------------------------------------------------
def test_drive_runs_a_process_to_its_result_on_real_time() -> None:
    def process() -> Process[int]:
        yield Wait(0.01)
        yield CHECKPOINT
        return 42

    assert drive(process()) == 42


def test_drive_closes_a_process_when_the_drill_stops() -> None:
    closed = []

    def process() -> Process[None]:
        try:
            yield Wait(30.0)
        finally:
            closed.append(True)

    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped):
        drive(process(), stop)
    assert closed == [True]


def test_drive_refuses_what_is_not_a_wait() -> None:
    def process() -> Process[None]:
        yield "soon"  # type: ignore[misc]

    with pytest.raises(TypeError):
        drive(process())


def test_an_attached_clock_tells_the_same_drill_time() -> None:
    clock = LiveClock()
    other = LiveClock.attached(clock.origin_wall)
    assert abs(other.now() - clock.now()) < 0.05


# CreateEnvironment's parameters: one AWS fact, three places that must agree ----------------
def test_create_parameters_match_the_mwaa_api_model() -> None:
    import botocore.session

    from harness.sim.environments import CREATE_ENVIRONMENT_PARAMETERS
    from reference_impl.failover import CREATE_PARAMETERS, create_request

    model = botocore.session.get_session().get_service_model("mwaa")
    members = set(model.operation_model("CreateEnvironment").input_shape.members) - {"Name"}
    assert members == CREATE_ENVIRONMENT_PARAMETERS == CREATE_PARAMETERS
    answer = {
        "Name": "env",
        "Arn": "arn:aws:airflow:us-east-1:1:environment/env",
        "ServiceRoleArn": "arn:aws:iam::1:role/x",
        "Status": "AVAILABLE",
        "DagS3Path": "dags",
        "LoggingConfiguration": {
            "TaskLogs": {"Enabled": True, "LogLevel": "INFO", "CloudWatchLogGroupArn": "arn:x"}
        },
    }
    assert create_request(answer) == {
        "DagS3Path": "dags",
        "LoggingConfiguration": {"TaskLogs": {"Enabled": True, "LogLevel": "INFO"}},
    }


# Run keys ------------------------------------------------------------------------------------
def test_runs_of_one_slot_get_one_key_whatever_phase_airflow_picked() -> None:
    from harness.live.drill_spec import slot_date

    start, schedule = 1_764_000_000.0, 10 / 3  # a 3.33 s schedule, as at 90x
    on_grid = slot_date("2025-11-24T16:00:10.000000+00:00", start, schedule)
    assert on_grid == "2025-11-24T16:00:10.000+00:00"
    # the same slot, as another Region's scheduler (or a restarted one) dated it
    assert slot_date("2025-11-24T16:00:10.060000Z", start, schedule) == on_grid
    assert slot_date("2025-11-24T16:00:09.000000+00:00", start, schedule) == on_grid
    # the next slot is another key
    assert slot_date("2025-11-24T16:00:13.400000+00:00", start, schedule) != on_grid
    assert slot_date("2025-11-24T16:00:10", start, schedule) == on_grid  # naive = UTC
