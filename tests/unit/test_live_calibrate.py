"""The live calibration: a simulator calibration measured from a live drill's history."""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import pytest

from harness.live.calibrate import (
    calibration_fields,
    calibration_from_history,
    fit,
    fit_linear,
    measure_calibration,
    restore_durations,
    scale_calibration,
)
from harness.live.time_scale import compress_config, compress_scenario
from harness.scenario import load_scenario
from harness.sim.calibration import (
    Calibration,
    Fixed,
    Linear,
    LogNormal,
    UniformDist,
    default_calibration,
)
from harness.sim.campaign import run_campaign
from harness.sim.trial import run_trial
from harness.sim.world import World, scenario_config
from reference_impl.ports import BACKUP_TABLES
from tests.unit.history_builders import HistoryBuilder, P, S

REPO = Path(__file__).resolve().parents[2]
WARM = REPO / "scenarios" / "regional-outage-warm-standby.yaml"
TABLES = len(BACKUP_TABLES)


def base() -> Calibration:
    return default_calibration()


def drill(t_ready: float | None = None) -> HistoryBuilder:
    builder = HistoryBuilder(start=False)
    data = {"primary": P, "secondary": S, "duration_s": 400.0}
    if t_ready is not None:
        data["t_ready"] = t_ready
    return builder.add(0.0, "drill_start", **data)


def run(builder: HistoryBuilder, region: str, due: float, start: float, end: float) -> None:
    builder.add(
        end,
        "run",
        region=region,
        dag_id="workload_0",
        logical_date=f"slot-{due}",
        due_t=due,
        start_t=start,
        state="success",
    )


def backup(builder: HistoryBuilder, t: float, duration: float, rows: int, bid: str) -> None:
    builder.add(t, "backup", region=P, backup_id=bid, state="started")
    tables = {"variable": 3, "connection": 1, "slot_pool": 0, "dag_run": rows - 4}
    builder.add(t + duration, "backup", region=P, backup_id=bid, state="completed", tables=tables)


def measured(history: HistoryBuilder, **kwargs: float) -> dict[str, object]:
    result = measure_calibration(history.events(), base(), **kwargs)
    return {m.field: m.value for m in result.measured}


# Samples -> fields --------------------------------------------------------------------------------


def test_creation_time_from_every_creation_in_the_history() -> None:
    h = drill().env_state(1.0, P, "CREATING").env_state(1.5, S, "CREATING")
    h.env_state(21.0, P, "AVAILABLE").env_state(31.5, S, "CREATE_FAILED").end(400.0)
    value = measured(h)["mwaa.create_time"]
    assert isinstance(value, LogNormal)  # the default's family
    assert value.median == pytest.approx(25.0)  # median of 20 and 30
    assert value.sigma == pytest.approx(math.log(30 / 20) / math.sqrt(2))


def test_an_interrupted_creation_is_not_a_sample() -> None:
    h = drill().env_state(1.0, S, "CREATING").env_state(5.0, S, "DELETING")
    h.env_state(9.0, S, "DELETED").end(400.0)
    values = measured(h)
    assert "mwaa.create_time" not in values
    # one sample, with the base's relative spread: uniform [10m, 20m] -> [2/3, 4/3] of it
    delete = values["mwaa.delete_time"]
    assert isinstance(delete, UniformDist)
    assert (delete.low, delete.high) == pytest.approx((4.0 * 2 / 3, 4.0 * 4 / 3))


def test_workload_run_and_scheduling_latency_count_from_when_the_region_resumed() -> None:
    h = drill()
    h.active(0.0, P, until=50.0)
    run(h, P, due=10.0, start=11.0, end=11.5)
    run(h, P, due=20.0, start=23.0, end=23.5)
    run(h, P, due=30.0, start=32.0, end=32.5)
    # due at 60 while the secondary was not scheduling yet: it resumes at 70, starts at 71
    h.active(70.0, S)
    run(h, S, due=60.0, start=71.0, end=71.5)
    h.end(400.0)
    result = measure_calibration(h.events(), base())
    by_field = {m.field: m for m in result.measured}
    assert sorted(by_field["airflow.scheduling_latency"].samples) == [1.0, 1.0, 2.0, 3.0]
    assert by_field["airflow.workload_run"].value == LogNormal(0.5, 0.0)
    latency = by_field["airflow.scheduling_latency"].value
    assert isinstance(latency, UniformDist)
    # median 1.5, IQR 1.25: [0.25, 2.75] clipped to the observed [1, 3]
    assert (latency.low, latency.high) == pytest.approx((1.0, 2.75))


def test_task_start_latency_from_the_restore_trigger_note() -> None:
    h = drill().outage(50.0).failover(60.0)
    h.note(60.2, "failover: triggered mwaa_dr_cleanup (dr__1)")
    h.note(60.5, "failover: triggered mwaa_dr_restore (dr__2)")
    h.restore(61.7, S, "started").restore(64.0, S, "completed").end(400.0)
    result = measure_calibration(h.events(), base())
    latency = next(m for m in result.measured if m.field == "airflow.task_start_latency")
    assert latency.samples == pytest.approx((1.2,))
    assert "triggered" in latency.method


def test_task_start_latency_counts_the_trigger_call_of_its_workflow_step() -> None:
    h = drill().outage(50.0).failover(60.0)
    h.note(60.03, "failover: active-Region record claimed (us-west-2 active, epoch 1)")
    h.note(61.4, "failover: triggered mwaa_dr_restore (dr__1)")  # the call took 1.37 s
    h.restore(63.0, S, "started").restore(64.0, S, "completed").end(400.0)
    result = measure_calibration(h.events(), base())
    latency = next(m for m in result.measured if m.field == "airflow.task_start_latency")
    assert latency.samples == pytest.approx((2.97,))


def test_task_start_latency_falls_back_to_the_decision() -> None:
    h = drill().outage(50.0).failover(60.0)
    h.restore(63.0, S, "started").restore(64.0, S, "completed").end(400.0)
    result = measure_calibration(h.events(), base())
    latency = next(m for m in result.measured if m.field == "airflow.task_start_latency")
    assert latency.samples == (3.0,)
    assert "upper bound" in latency.method


def test_backup_durations_invert_the_simulators_backup_model() -> None:
    cal = base()
    fixed = TABLES * (cal.airflow.call + cal.s3.call)
    h = drill()
    for i, rows in enumerate((10, 50, 90, 130)):
        duration = fixed + TABLES * 0.2 + 0.001 * rows  # export base 0.2, per row 1 ms
        backup(h, 30.0 * i + 1, duration, rows, f"bk-{i}")
    h.end(400.0)
    export = measured(h)["airflow.export"]
    assert isinstance(export, Linear)
    assert export.base == pytest.approx(0.2)
    assert export.per_row == pytest.approx(0.001)


def test_restore_duration_uses_the_rows_of_its_backup() -> None:
    cal = base()
    h = drill()
    backup(h, 1.0, 1.0, 100, "bk-1")
    h.add(70.0, "restore", region=S, backup_id="bk-1", state="started", reason="")
    fixed = TABLES * (cal.airflow.call + cal.s3.call) + 2 * cal.s3.call
    duration = fixed + TABLES * 0.4 + cal.airflow.import_.per_row * 100
    h.add(70.0 + duration, "restore", region=S, backup_id="bk-1", state="completed", reason="")
    h.end(400.0)
    imported = measured(h)["airflow.import"]
    assert isinstance(imported, Linear)
    assert imported.per_row == cal.airflow.import_.per_row  # one sample: the base's slope
    assert imported.base == pytest.approx(0.4)


def test_replication_lag_start_offset_and_scheduler_restart() -> None:
    h = drill(t_ready=20.0)
    h.note(23.0, "recovery workflow started in us-west-2")
    for i in range(5):
        arrived = 30.0 + i
        written = arrived - (1.0 + 0.1 * i)
        h.add(
            arrived,
            "replication",
            source=P,
            dest=S,
            backup_id=f"k{i}",
            state="arrived",
            written_t=written,
        )
    h.add(40.0, "replication", source=P, dest=S, backup_id="old", state="arrived")  # no written_t
    h.active(20.0, P, until=50.0).outage(50.0, until=100.0).active(108.0, P).end(400.0)
    values = measured(h)
    lag = values["s3.replication_lag"]
    assert isinstance(lag, LogNormal)
    assert lag.median == pytest.approx(1.2)
    assert values["workflow.start_offset"] == UniformDist(0.0, 6.0)  # base [0, 5m]
    assert values["airflow.scheduler_restart"] == UniformDist(4.0, 12.0)  # base [1m, 3m]


def test_a_fenced_primary_that_stays_paused_gives_no_restart_sample() -> None:
    h = drill().active(0.0, P, until=50.0).outage(50.0, until=100.0).end(400.0)
    result = measure_calibration(h.events(), base())
    assert result.unmeasured["airflow.scheduler_restart"] == "no samples in this history"


def test_unmeasured_fields_keep_the_base_and_say_why() -> None:
    h = drill().end(400.0)
    result = measure_calibration(h.events(), base(), heartbeat_interval_s=2.0)
    cal = result.calibration
    assert cal.cloudwatch.heartbeat_interval == 2.0
    assert [m.field for m in result.measured] == ["cloudwatch.heartbeat_interval"]
    assert set(result.unmeasured) == set(calibration_fields(base())) - {
        "cloudwatch.heartbeat_interval"
    }
    assert "heartbeat" in result.unmeasured["cloudwatch.delivery_delay"]
    assert dataclasses.replace(cal, source="x") == dataclasses.replace(
        base(), source="x", cloudwatch=dataclasses.replace(base().cloudwatch, heartbeat_interval=2)
    )
    assert "live drill history" in cal.source and base().source in cal.source
    data = result.to_json()
    assert data["measured"][0]["field"] == "cloudwatch.heartbeat_interval"
    assert data["calibration"]["cloudwatch"]["heartbeat_interval"] == 2.0


def test_calibration_from_history_is_the_measured_calibration() -> None:
    h = drill().env_state(1.0, P, "CREATING").env_state(11.0, P, "AVAILABLE").end(400.0)
    cal = calibration_from_history(h.history(), base())
    assert cal.mwaa.create_time == LogNormal(10.0, base().mwaa.create_time.sigma)
    assert cal.airflow == base().airflow


# Fitting ----------------------------------------------------------------------------------------


def test_fit_keeps_the_family_of_the_base_value() -> None:
    samples = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert fit(samples, Fixed(0.0)) == Fixed(3.0)
    uniform = fit(samples, UniformDist(0.0, 1.0))
    assert isinstance(uniform, UniformDist)
    assert (uniform.low, uniform.high) == (1.0, 5.0)  # median 3 +- IQR 2: the outlier ignored
    lognormal = fit(samples, LogNormal(1.0, 1.0))
    assert isinstance(lognormal, LogNormal)
    assert lognormal.median == 3.0
    assert lognormal.sigma == pytest.approx(math.log(4.0 / 2.0) / 1.349)


def test_a_lognormal_fit_recovers_its_parameters() -> None:
    rng = random.Random(3)
    samples = [rng.lognormvariate(math.log(12.0), 0.4) for _ in range(4000)]
    fitted = fit(samples, LogNormal(1.0, 1.0))
    assert isinstance(fitted, LogNormal)
    assert fitted.median == pytest.approx(12.0, rel=0.05)
    assert fitted.sigma == pytest.approx(0.4, rel=0.08)


def test_one_sample_keeps_the_bases_relative_spread() -> None:
    assert fit([2.0], LogNormal(60.0, 0.3)) == LogNormal(2.0, 0.3)
    assert fit([2.0], UniformDist(5.0, 20.0)) == UniformDist(0.8, 3.2)
    assert fit([2.0], UniformDist(0.0, 0.0)) == UniformDist(2.0, 2.0)
    assert fit([2.0, 3.0], UniformDist(5.0, 20.0)) == UniformDist(2.0, 3.0)


def test_fit_of_zero_samples_is_floored_for_a_lognormal() -> None:
    assert fit([0.0], LogNormal(1.0, 1.0)) == LogNormal(0.001, 1.0)
    with pytest.raises(ValueError):
        fit([], Fixed(1.0))


def test_fit_linear_never_goes_negative() -> None:
    # durations shorter than the fixed calls: base 0; a falling trend: per_row 0
    fitted = fit_linear([(0.1, 10), (0.09, 20), (0.08, 30)], Linear(1.0, 0.5), 1.0, TABLES)
    assert fitted == Linear(0.0, 0.0)


# Scaling ----------------------------------------------------------------------------------------


def test_scale_calibration_divides_every_duration() -> None:
    cal = base()
    scaled = scale_calibration(cal, 30.0)
    assert scaled.mwaa.create_time == LogNormal(cal.mwaa.create_time.median / 30, 0.12)
    assert scaled.airflow.scheduling_latency == UniformDist(1 / 30, 10 / 30)
    assert scaled.airflow.import_ == Linear(2 / 30, 0.005 / 30)
    assert scaled.cloudwatch.exhausted["ThrottlingException"] == pytest.approx(3.5 / 30)
    assert scaled.cloudwatch.heartbeat_interval == pytest.approx(5 / 30)
    assert scaled.network.hang_timeout == 2.0
    assert scaled.cloudwatch.max_attempts == cal.cloudwatch.max_attempts  # a count
    assert scaled.mwaa.create_failure_probability == cal.mwaa.create_failure_probability
    assert "/ 30" in scaled.source
    assert scale_calibration(cal, 1.0).airflow == cal.airflow
    with pytest.raises(ValueError):
        scale_calibration(cal, 0.0)


# The simulator runs the live drill's compressed scenario with its exact DR settings ------------


def test_the_simulator_takes_the_live_drills_config() -> None:
    scenario = compress_scenario(load_scenario(WARM), 30.0)
    config = compress_config(scenario_config(load_scenario(WARM)), 30.0)
    assert config != scenario_config(scenario)  # floors: not what the scenario alone gives
    world = World(scenario, base(), 1, config=config)
    assert world.config is config
    assert world.context(S).config is config
    assert World(scenario, base(), 1).config == scenario_config(scenario)


def test_a_campaign_with_the_live_config_and_calibration() -> None:
    scenario = compress_scenario(load_scenario(WARM), 30.0)
    config = compress_config(scenario_config(load_scenario(WARM)), 30.0)
    h = drill().env_state(1.0, P, "CREATING").env_state(11.0, P, "AVAILABLE").end(400.0)
    cal = calibration_from_history(h.history(), scale_calibration(base(), 30.0))
    report = run_campaign(
        scenario, trials=4, seed=scenario.seed, calibration=cal, workers=1, config=config
    )
    profile = report["settings"]["profile"]
    assert profile["detector"] == dataclasses.asdict(config.detector)
    assert profile["fence_wait"] == config.fence_wait
    assert all(trial["rto_s"] is not None for trial in report["trials"])
    one = run_trial(scenario, cal, 0, config=config)
    assert one.measures == run_trial(scenario, cal, 0, config=config).measures


def test_a_simulated_history_gives_back_its_own_calibration() -> None:
    """Round trip: the simulator's history, measured, returns what the simulator was given."""
    scenario = compress_scenario(load_scenario(WARM), 30.0)
    config = compress_config(scenario_config(load_scenario(WARM)), 30.0)
    scaled = scale_calibration(base(), 30.0)
    known = dataclasses.replace(
        scaled,
        airflow=dataclasses.replace(
            scaled.airflow,
            workload_run=LogNormal(0.5, 0.1),
            scheduling_latency=UniformDist(0.5, 1.5),
            task_start_latency=UniformDist(1.0, 2.0),
            export=Linear(0.1, 0.001),
            import_=Linear(0.3, 0.002),
        ),
        s3=dataclasses.replace(scaled.s3, replication_lag=LogNormal(1.0, 0.2)),
    )
    trial = run_trial(scenario, known, 0, keep_history=True, config=config)
    assert trial.history is not None and trial.measures.recovered
    result = measure_calibration(trial.history, scaled)
    found = {m.field: m for m in result.measured}
    run = found["airflow.workload_run"].value
    assert isinstance(run, LogNormal)
    assert run.median == pytest.approx(0.5, rel=0.1)
    assert all(0.5 <= s <= 1.5 for s in found["airflow.scheduling_latency"].samples)
    assert all(1.0 <= s <= 2.0 for s in found["airflow.task_start_latency"].samples)
    lag = found["s3.replication_lag"].value
    assert isinstance(lag, LogNormal)
    assert lag.median == pytest.approx(1.0, rel=0.15)
    export = found["airflow.export"].value
    assert isinstance(export, Linear)
    assert export.base == pytest.approx(0.1, rel=0.05)
    assert export.per_row == pytest.approx(0.001, rel=0.05)
    imported = found["airflow.import"].value
    assert isinstance(imported, Linear)
    # one restore: the base's per-row cost is kept, the base absorbs the difference
    rows = max(n or 0 for _, n in restore_durations(list(trial.history)))
    expected = 0.3 + (0.002 - scaled.airflow.import_.per_row) * rows / TABLES
    assert imported.base == pytest.approx(expected, rel=0.05)
