"""The scenario language: valid documents become the right objects, invalid ones give every
error at once, each naming its field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.scenario import (
    FAULT_SPECS,
    BackupSettings,
    DetectorOverrides,
    Fault,
    FaultKind,
    FieldError,
    Objective,
    Objectives,
    Profile,
    Regions,
    Scenario,
    ScenarioError,
    Strategy,
    Uniform,
    Workload,
    load_scenario,
    parse_scenario,
    scenario_from_data,
    to_json,
)

FULL_EXAMPLE = """\
name: regional-outage-warm-standby
description: The primary Region goes dark 40 minutes in, for 90 minutes.
strategy: warm_standby
profile: hardened
regions: {primary: us-east-1, secondary: us-west-2}
duration: 3h
seed: 7
trials: 500
backup: {interval: 15m}
detector: {}
workload: {dags: 3, schedule: 5m}
faults:
  - kind: region_outage
    region: primary
    at: 40m
    duration: 90m
objectives: {rto: 20m, rpo: 20m, max_spurious_failover_rate: 0.0}
"""

MINIMAL = {"name": "x", "strategy": "warm_standby", "profile": "seed", "duration": "3h"}


def errors_of(text: str | bytes) -> list[str]:
    """The error lines a document gives, without the source prefix."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text)
    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.errors)
    assert all(line.startswith("<string>: ") for line in lines)
    return [line.removeprefix("<string>: ") for line in lines]


def data_errors(**changes: object) -> list[str]:
    """The error lines of MINIMAL with `changes` applied (a value of None drops the key)."""
    doc = {**MINIMAL, **changes}
    doc = {key: value for key, value in doc.items() if value is not None}
    with pytest.raises(ScenarioError) as caught:
        scenario_from_data(doc)
    return [
        f"{error.path}: {error.message}" if error.path else error.message
        for error in caught.value.errors
    ]


def with_faults(*faults: dict[str, object], duration: str = "3h") -> Scenario:
    return scenario_from_data({**MINIMAL, "duration": duration, "faults": list(faults)})


# Valid documents ------------------------------------------------------------------------------


def test_full_example_loads_into_the_right_objects() -> None:
    scenario = parse_scenario(FULL_EXAMPLE, source="example.yaml")
    assert scenario == Scenario(
        name="regional-outage-warm-standby",
        description="The primary Region goes dark 40 minutes in, for 90 minutes.",
        strategy=Strategy.WARM_STANDBY,
        profile=Profile.HARDENED,
        duration=3 * 3600.0,
        regions=Regions("us-east-1", "us-west-2"),
        seed=7,
        trials=500,
        backup=BackupSettings(interval=900.0),
        detector=DetectorOverrides(),
        workload=Workload(dags=3, schedule=300.0),
        faults=(
            Fault(
                kind=FaultKind.REGION_OUTAGE,
                region="us-east-1",
                at=2400.0,
                duration=5400.0,
                params={"unreachable_as": "refused"},
            ),
        ),
        objectives=Objectives(
            rto=Objective("rto", 1200.0, 100.0),
            rpo=Objective("rpo", 1200.0, 100.0),
            max_spurious_failover_rate=0.0,
        ),
        source="example.yaml",
    )
    assert to_json(scenario)["faults"][0]["params"] == {"unreachable_as": "refused"}


def test_defaults_fill_every_optional_key() -> None:
    scenario = scenario_from_data(MINIMAL)
    assert scenario.description == ""
    assert scenario.regions == Regions("us-east-1", "us-west-2")
    assert scenario.seed == 0
    assert scenario.trials == 100
    assert scenario.backup == BackupSettings(interval=900.0)
    assert scenario.detector == DetectorOverrides()
    assert scenario.workload == Workload(dags=3, schedule=300.0)
    assert scenario.faults == ()
    assert scenario.objectives == Objectives()
    assert scenario.source == "<data>"


def test_null_optional_sections_mean_defaults() -> None:
    text = "name: x\nstrategy: backup_restore\nprofile: seed\nduration: 1h\n"
    text += "detector:\nfaults:\nobjectives:\nbackup:\n"
    scenario = parse_scenario(text)
    assert scenario.faults == ()
    assert scenario.detector == DetectorOverrides()


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        (600, 600.0),
        (2.5, 2.5),
        ("300", 300.0),
        ("250ms", 0.25),
    ],
)
def test_each_duration_form(written: object, seconds: float) -> None:
    scenario = scenario_from_data({**MINIMAL, "workload": {"schedule": written}})
    assert scenario.workload.schedule == seconds


def test_detector_overrides() -> None:
    scenario = scenario_from_data(
        {
            **MINIMAL,
            "detector": {
                "check_interval": "1m",
                "metric_period": 60,
                "confirmations": 3,
                "unknown_is_unhealthy": False,
                "second_signal": True,
            },
        }
    )
    assert scenario.detector == DetectorOverrides(60.0, 60.0, 3, False, True)


def test_uniform_values_and_region_forms() -> None:
    scenario = with_faults(
        {
            "kind": "region_outage",
            "at": {"uniform": ["10m", "2h"]},
            "duration": {"uniform": ["30m", "30m"]},
            "unreachable_as": "hang",
        },
        {"kind": "create_environment_failure", "at": 0},
        {"kind": "cloudwatch_outage", "region": "secondary", "at": "1h", "error_rate": 0.25},
        {
            "kind": "replication_lag",
            "region": "us-west-2",
            "at": "5m",
            "lag": {"uniform": ["1m", "20m"]},
        },
    )
    outage, create, cloudwatch, lag = scenario.faults
    assert outage.at == Uniform(600.0, 7200.0)
    assert outage.duration == Uniform(1800.0, 1800.0)
    assert outage.region == "us-east-1"
    assert outage.params == {"unreachable_as": "hang"}
    assert create.region == "us-west-2"  # its kind's default region is the secondary
    assert create.duration is None
    assert create.params == {"probability": 1.0}
    assert cloudwatch.region == "us-west-2"
    assert cloudwatch.params == {"error": "ServiceUnavailable", "error_rate": 0.25}
    assert lag.params == {"lag": Uniform(60.0, 1200.0)}


def test_every_kind_loads_with_its_defaults() -> None:
    required = {"cloudwatch_metric_delay": {"delay": "10m"}, "replication_lag": {"lag": "5m"}}
    for kind, spec in FAULT_SPECS.items():
        scenario = with_faults({"kind": kind.value, "at": "1m", **required.get(kind.value, {})})
        (fault,) = scenario.faults
        assert fault.kind is kind
        assert fault.region == Regions().resolve(spec.default_region)
        assert set(fault.params) == {param.name for param in spec.params}


def test_fault_specs_cover_every_kind_with_docs() -> None:
    assert set(FAULT_SPECS) == set(FaultKind)
    for spec in FAULT_SPECS.values():
        assert spec.summary and "\n" not in spec.summary
        assert spec.doc.strip()
        assert spec.default_region in ("primary", "secondary")
        for param in spec.params:
            assert param.doc
            assert (param.kind == "choice") == bool(param.choices)
            if param.kind == "choice":
                assert param.default in param.choices


def test_objective_forms() -> None:
    scenario = scenario_from_data(
        {
            **MINIMAL,
            "objectives": {
                "rto": {"target": "20m", "percentile": 95},
                "rpo": {"target": "1h"},
                "max_split_brain": "0s",
                "max_lost_runs": 0,
                "max_duplicate_runs": 2,
                "max_torn_restores": 0,
                "max_spurious_failover_rate": 1,
            },
        }
    )
    assert scenario.objectives == Objectives(
        rto=Objective("rto", 1200.0, 95.0),
        rpo=Objective("rpo", 3600.0, 100.0),
        max_spurious_failover_rate=1.0,
        max_split_brain=0.0,
        max_lost_runs=0,
        max_duplicate_runs=2,
        max_torn_restores=0,
    )


def test_a_fault_window_may_extend_past_the_end() -> None:
    (fault,) = with_faults({"kind": "region_outage", "at": "2h", "duration": "5h"}).faults
    assert fault.duration == 5 * 3600.0


def test_load_scenario_reads_files(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(FULL_EXAMPLE, encoding="utf-8")
    assert load_scenario(path).source == str(path)
    assert load_scenario(str(path)).name == "regional-outage-warm-standby"


# Invalid documents ----------------------------------------------------------------------------


def test_field_error_format() -> None:
    assert str(FieldError("a.yaml", "faults[2].duration", "must be positive, got '-5m'")) == (
        "a.yaml: faults[2].duration: must be positive, got '-5m'"
    )
    assert str(FieldError("a.yaml", "", "the document is empty")) == "a.yaml: the document is empty"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": 5}, "name: must be a string, got 5"),
        ({"name": "  "}, "name: must not be empty"),
        ({"description": ["a"]}, "description: must be a string, got a list"),
        (
            {"strategy": "warm-standby"},
            "strategy: unknown strategy 'warm-standby'; did you mean 'warm_standby'?",
        ),
        ({"profile": "x"}, "profile: unknown profile 'x'; expected one of: seed | hardened"),
        ({"duration": "31d"}, "duration: must be a duration like 90s, 5m or 1h30m, got '31d'"),
        ({"duration": "0s"}, "duration: must be positive, got '0s'"),
        ({"duration": 31 * 86400}, "duration: must be at most 30 days, got 2678400"),
        ({"duration": True}, "duration: must be a duration like 90s, 5m or 1h30m, got true"),
        ({"seed": True}, "seed: must be a whole number, got true"),
        ({"seed": -1}, "seed: must be between 0 and 9223372036854775807, got -1"),
        (
            {"seed": 2**63},
            "seed: must be between 0 and 9223372036854775807, got 9223372036854775808",
        ),
        ({"trials": 0}, "trials: must be between 1 and 1000000, got 0"),
        ({"trials": 1.0}, "trials: must be a whole number, got 1.0"),
        (
            {"trials": 10**5000},
            "trials: must be between 1 and 1000000, got an integer of about 5000 digits",
        ),
        ({"trials": False}, "trials: must be a whole number, got false"),
        ({"regions": ["us-east-1"]}, "regions: must be a mapping, got a list"),
        (
            {"regions": {"primary": "US-EAST-1"}},
            "regions.primary: must be an AWS Region name like us-east-1, got 'US-EAST-1'",
        ),
        (
            {"regions": {"secondary": "us-east-1"}},
            "regions.secondary: must differ from the primary Region (us-east-1)",
        ),
        (
            {"regions": {"primary": "us-east-1\n"}},
            "regions.primary: must be an AWS Region name like us-east-1, got 'us-east-1\\n'",
        ),
        ({"backup": {"interval": 0}}, "backup.interval: must be positive, got 0"),
        (
            {"backup": {"intervall": "5m"}},
            "backup.intervall: unknown key; did you mean 'interval'?",
        ),
        (
            {"detector": {"confirmations": 0}},
            "detector.confirmations: must be between 1 and 1000, got 0",
        ),
        (
            {"detector": {"second_signal": 1}},
            "detector.second_signal: must be true or false, got 1",
        ),
        (
            {"detector": {"check_interval": "soon"}},
            "detector.check_interval: must be a duration like 90s, 5m or 1h30m, got 'soon'",
        ),
        ({"workload": {"dags": 101}}, "workload.dags: must be between 1 and 100, got 101"),
        ({"workload": {"dags": True}}, "workload.dags: must be a whole number, got true"),
        (
            {"workload": {"schedule": float("nan")}},
            "workload.schedule: must be a finite duration, got nan",
        ),
        (
            {"workload": {"schedule": float("inf")}},
            "workload.schedule: must be at most 30 days, got inf",
        ),
        ({"faults": {"kind": "region_outage"}}, "faults: must be a list of faults, got a mapping"),
        ({"faults": ["region_outage"]}, "faults[0]: must be a mapping, got 'region_outage'"),
        ({"objectives": {"rto": "-5m"}}, "objectives.rto: must not be negative, got '-5m'"),
        (
            {"objectives": {"rto": {"target": "5m", "percentile": 0}}},
            "objectives.rto.percentile: must be in (0, 100], got 0",
        ),
        (
            {"objectives": {"rpo": {"target": "5m", "percentile": 100.5}}},
            "objectives.rpo.percentile: must be in (0, 100], got 100.5",
        ),
        (
            {"objectives": {"rpo": {"percentile": 50}}},
            "objectives.rpo.target: required key is missing (a duration like 20m)",
        ),
        (
            {"objectives": {"rto": {"target": "5m", "pct": 50}}},
            "objectives.rto.pct: unknown key; expected one of: target, percentile",
        ),
        (
            {"objectives": {"max_spurious_failover_rate": 1.5}},
            "objectives.max_spurious_failover_rate: must be in [0, 1], got 1.5",
        ),
        (
            {"objectives": {"max_spurious_failover_rate": True}},
            "objectives.max_spurious_failover_rate: must be a number, got true",
        ),
        (
            {"objectives": {"max_lost_runs": -1}},
            "objectives.max_lost_runs: must be between 0 and 9223372036854775807, got -1",
        ),
        (
            {"objectives": {"max_split_brain": "-1s"}},
            "objectives.max_split_brain: must not be negative, got '-1s'",
        ),
        ({"objectives": {"rtoo": "5m"}}, "objectives.rtoo: unknown key; did you mean 'rto'?"),
    ],
)
def test_each_invalid_value_names_its_field(changes: dict[str, object], expected: str) -> None:
    assert data_errors(**changes) == [expected]


def test_unknown_top_level_key_suggests_the_closest() -> None:
    assert errors_of(FULL_EXAMPLE.replace("detector:", "detectr:")) == [
        "detectr: unknown key; did you mean 'detector'?"
    ]


def test_unknown_key_without_close_match_lists_the_valid_ones() -> None:
    (line,) = data_errors(zzz=1)
    assert line.startswith("zzz: unknown key; expected one of: name, description, strategy")


def test_required_keys_without_a_value() -> None:
    assert errors_of(FULL_EXAMPLE.replace("profile: hardened", "profile:")) == [
        "profile: required key has no value (seed | hardened)"
    ]
    assert data_errors(duration=10**5000) == [
        "duration: must be at most 30 days, got an integer of about 5000 digits"
    ]


def test_missing_required_keys_are_each_reported() -> None:
    assert errors_of("seed: 1\n") == [
        "name: required key is missing (a non-empty string)",
        "strategy: required key is missing (backup_restore | warm_standby)",
        "profile: required key is missing (seed | hardened)",
        "duration: required key is missing (a duration like 3h)",
    ]


def fault_errors(fault: dict[str, object], duration: str = "3h") -> list[str]:
    return data_errors(duration=duration, faults=[fault])


def test_negative_and_unparsable_fault_durations() -> None:
    assert fault_errors({"kind": "region_outage", "at": "1h", "duration": "-5m"}) == [
        "faults[0].duration: must be positive, got '-5m'"
    ]
    assert fault_errors({"kind": "region_outage", "at": "-5m"}) == [
        "faults[0].at: must not be negative, got '-5m'"
    ]
    assert fault_errors({"kind": "region_outage", "at": "5 minutes"}) == [
        "faults[0].at: must be a duration like 90s, 5m or 1h30m, got '5 minutes'"
    ]
    assert fault_errors({"kind": "region_outage", "at": "1h", "duration": 0}) == [
        "faults[0].duration: must be positive, got 0"
    ]


def test_bad_uniform_ranges() -> None:
    assert fault_errors({"kind": "region_outage", "at": {"uniform": ["2h", "1h"]}}) == [
        "faults[0].at.uniform: low bound 2h is above high bound 1h"
    ]
    assert fault_errors({"kind": "region_outage", "at": {"uniform": ["1h"]}}) == [
        "faults[0].at.uniform: must be a list [low, high] of two durations, got a list"
    ]
    assert fault_errors({"kind": "region_outage", "at": {"uniform": ["x", "-1m"]}}) == [
        "faults[0].at.uniform[0]: must be a duration like 90s, 5m or 1h30m, got 'x'",
        "faults[0].at.uniform[1]: must not be negative, got '-1m'",
    ]
    assert fault_errors({"kind": "region_outage", "at": {"unifrom": ["1m", "2m"]}}) == [
        "faults[0].at.unifrom: unknown key; did you mean 'uniform'?",
        "faults[0].at.uniform: required key is missing (a list [low, high] of two durations)",
    ]
    assert fault_errors({"kind": "replication_lag", "at": "1m", "lag": {"uniform": [0, "1m"]}}) == [
        "faults[0].lag.uniform[0]: must be positive, got 0"
    ]


def test_unknown_fault_kind_suggests_or_lists() -> None:
    assert fault_errors({"kind": "region_outgae", "at": "1h"}) == [
        "faults[0].kind: unknown fault kind 'region_outgae'; did you mean 'region_outage'?"
    ]
    (line,) = fault_errors({"kind": "meteor", "at": "1h"})
    assert line.startswith("faults[0].kind: unknown fault kind 'meteor'; expected one of: ")
    assert all(kind.value in line for kind in FaultKind)


def test_unknown_fault_params_suggest_from_the_kind() -> None:
    assert fault_errors({"kind": "cloudwatch_outage", "at": "1h", "error_rat": 0.5}) == [
        "faults[0].error_rat: unknown key; did you mean 'error_rate'?"
    ]
    assert fault_errors({"kind": "region_outage", "att": "1h", "at": "1h"}) == [
        "faults[0].att: unknown key; did you mean 'at'?"
    ]
    # a parameter of another kind is unknown here
    (line,) = fault_errors({"kind": "environment_failure", "at": "1h", "lag": "5m"})
    assert line.startswith("faults[0].lag: unknown key;")


def test_fault_param_values_are_checked() -> None:
    assert fault_errors(
        {"kind": "cloudwatch_outage", "at": "1h", "error": "Throttled", "error_rate": 0}
    ) == [
        "faults[0].error: unknown value 'Throttled'; expected one of: ServiceUnavailable | "
        "InternalFailure | connection_refused | hang",
        "faults[0].error_rate: must be in (0, 1], got 0",
    ]
    assert fault_errors({"kind": "restore_failure", "at": "1h", "probability": True}) == [
        "faults[0].probability: must be a number, got true"
    ]
    assert fault_errors({"kind": "region_outage", "at": "1h", "unreachable_as": "refuse"}) == [
        "faults[0].unreachable_as: unknown value 'refuse'; did you mean 'refused'?"
    ]
    assert fault_errors({"kind": "cloudwatch_metric_delay", "at": "1h"}) == [
        "faults[0].delay: required key is missing (a duration > 0 like 10m, or "
        "{uniform: [5m, 15m]})"
    ]


def test_fault_missing_kind_and_at() -> None:
    (kind_line, at_line) = fault_errors({"region": "primary"})
    assert kind_line.startswith("faults[0].kind: required key is missing (one of: region_outage")
    assert at_line == (
        "faults[0].at: required key is missing (a duration like 40m, or {uniform: [30m, 50m]})"
    )


def test_fault_region_must_be_one_of_the_two() -> None:
    assert fault_errors({"kind": "region_outage", "at": "1h", "region": "eu-west-1"}) == [
        "faults[0].region: must be primary, secondary, us-east-1 or us-west-2, got 'eu-west-1'"
    ]
    assert fault_errors({"kind": "region_outage", "at": "1h", "region": 3}) == [
        "faults[0].region: must be primary, secondary, us-east-1 or us-west-2, got 3"
    ]


def test_faults_after_the_end_of_the_drill() -> None:
    assert fault_errors({"kind": "region_outage", "at": "4h"}) == [
        "faults[0].at: 4h is not before the end of the drill (3h)"
    ]
    assert fault_errors({"kind": "region_outage", "at": "3h"}) == [
        "faults[0].at: 3h is not before the end of the drill (3h)"
    ]
    assert fault_errors({"kind": "region_outage", "at": {"uniform": ["1h", "5h"]}}) == [
        "faults[0].at: its upper bound 5h is not before the end of the drill (3h)"
    ]
    lines = data_errors(
        faults=[{"kind": "region_outage", "at": "1h"}, {"kind": "environment_failure", "at": "4h"}]
    )
    assert lines == ["faults[1].at: 4h is not before the end of the drill (3h)"]


def test_non_yaml_bytes() -> None:
    (line,) = errors_of(b"\x89PNG\r\n\x1a\n\x00\xff")
    assert line.startswith("not UTF-8 text: byte 0x89 at offset 0")


def test_unprintable_characters() -> None:
    (line,) = errors_of("name: a\x00b\n")
    assert line == "invalid YAML at line 1, column 8: character U+0000 is not allowed"


def test_yaml_syntax_error_gives_line_and_column() -> None:
    (line,) = errors_of("name: x\nstrategy: [warm_standby\nprofile: seed\n")
    assert line.startswith("invalid YAML at line 3, column 8: ")
    (line,) = errors_of("name: x\n  bad: indent\n")
    assert line.startswith("invalid YAML at line 2, column 6: mapping values are not allowed")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the document is empty; expected a scenario mapping"),
        ("# only a comment\n", "the document is empty; expected a scenario mapping"),
        ("- a\n- b\n", "the document must be a mapping of scenario keys, got a list"),
        ("just text", "the document must be a mapping of scenario keys, got 'just text'"),
        ("x: 2024-02-30", "invalid YAML value: day is out of range for month"),
        ("[" * 10_000, "invalid YAML: nested too deeply"),
    ],
)
def test_whole_document_problems(text: str, expected: str) -> None:
    assert errors_of(text) == [expected]


def test_several_documents_in_one_stream() -> None:
    (line,) = errors_of(FULL_EXAMPLE + "---\nname: other\n")
    assert "expected a single document" in line


def test_unsafe_tags_are_refused() -> None:
    (line,) = errors_of("name: !!python/object/apply:os.system [echo hi]\n")
    assert line.startswith("invalid YAML at line 1, column 7: could not determine a constructor")


def test_duplicate_keys_are_errors() -> None:
    text = FULL_EXAMPLE.replace("seed: 7\n", "seed: 7\nseed: 8\n")
    assert errors_of(text) == [
        "seed: duplicate key (at line 8, column 1; first at line 7, column 1)"
    ]
    text = FULL_EXAMPLE.replace("at: 40m\n", "at: 40m\n    at: 50m\n")
    assert errors_of(text) == [
        "faults[0].at: duplicate key (at line 16, column 5; first at line 15, column 5)"
    ]
    assert errors_of(FULL_EXAMPLE.replace("{dags: 3,", "{dags: 3, dags: 4,")) == [
        "workload.dags: duplicate key (at line 11, column 21; first at line 11, column 12)"
    ]


def test_merge_keys_are_not_duplicates() -> None:
    text = FULL_EXAMPLE.replace(
        "workload: {dags: 3, schedule: 5m}", "workload: &w {dags: 3, schedule: 5m}"
    )
    text += "backup:\n  <<: {interval: 5m}\n"
    text = text.replace("backup: {interval: 15m}\n", "")
    assert parse_scenario(text).backup.interval == 300.0


def test_recursive_aliases_do_not_hang() -> None:
    lines = errors_of(FULL_EXAMPLE.replace("detector: {}", "detector: &d [*d]"))
    assert lines == ["detector: must be a mapping, got a list"]


def test_several_errors_are_reported_together() -> None:
    text = textwrap.dedent("""\
        name: x
        strategy: warm-standby
        duration: 3h
        detectr: {}
        trials: true
        faults:
          - kind: region_outage
            at: 40m
            duration: '-5m'
          - kind: cloudwatch_outage
            at: 4h
        objectives: {rto: {target: 20m, percentile: 0}}
        """)
    assert errors_of(text) == [
        "detectr: unknown key; did you mean 'detector'?",
        "strategy: unknown strategy 'warm-standby'; did you mean 'warm_standby'?",
        "profile: required key is missing (seed | hardened)",
        "trials: must be a whole number, got true",
        "faults[0].duration: must be positive, got '-5m'",
        "faults[1].at: 4h is not before the end of the drill (3h)",
        "objectives.rto.percentile: must be in (0, 100], got 0",
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(missing)
    (error,) = caught.value.errors
    assert error.source == str(missing)
    assert error.path == ""
    assert error.message.startswith("cannot read the file")
    with pytest.raises(ScenarioError):
        load_scenario(tmp_path)  # a directory
    with pytest.raises(ScenarioError):
        load_scenario("bad\x00name.yaml")


def test_errors_name_the_source_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(FULL_EXAMPLE.replace("detector:", "detectr:").encode())
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}: detectr: unknown key; did you mean 'detector'?"


def test_long_values_are_shortened_in_messages() -> None:
    (line,) = data_errors(strategy="x" * 10_000)
    assert len(line) < 200
