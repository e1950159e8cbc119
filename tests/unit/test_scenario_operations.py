"""The `operations:` list of the scenario language: operator actions (failback) at drill times."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.live.time_scale import compress_scenario
from harness.scenario import (
    Operation,
    OperationAction,
    ScenarioError,
    Uniform,
    parse_scenario,
    scenario_from_data,
    to_json,
)

BASE = {
    "name": "x",
    "strategy": "warm_standby",
    "profile": "hardened",
    "duration": "3h",
    "faults": [{"kind": "region_outage", "at": "40m", "duration": "45m"}],
}


def errors(**changes: object) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_data({**BASE, **changes})
    return [f"{e.path}: {e.message}" for e in caught.value.errors]


def test_a_failback_at_a_fixed_time_and_in_a_range() -> None:
    scenario = scenario_from_data(
        {
            **BASE,
            "operations": [
                {"action": "failback", "at": "2h30m"},
                {"action": "failback", "at": {"uniform": ["2h", "2h10m"]}},
            ],
            "objectives": {"max_failback_time": "15m"},
        }
    )
    assert scenario.operations == (
        Operation(OperationAction.FAILBACK, 9000.0),
        Operation(OperationAction.FAILBACK, Uniform(7200.0, 7800.0)),
    )
    assert scenario.objectives.max_failback_time == 900.0
    assert to_json(scenario)["operations"] == [
        {"action": "failback", "at": 9000.0},
        {"action": "failback", "at": {"uniform": [7200.0, 7800.0]}},
    ]


def test_no_operations_by_default() -> None:
    assert scenario_from_data(BASE).operations == ()
    assert scenario_from_data({**BASE, "operations": None}).operations == ()


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        (3, ["operations: must be a list of operations, got 3"]),
        ([5], ["operations[0]: must be a mapping, got 5"]),
        (
            [{"acton": "failback", "at": "2h"}],
            [
                "operations[0].acton: unknown key; did you mean 'action'?",
                "operations[0].action: required key is missing (one of: failback)",
            ],
        ),
        (
            [{"action": "failbak", "at": "2h"}],
            ["operations[0].action: unknown action 'failbak'; did you mean 'failback'?"],
        ),
        (
            [{"action": "failback"}],
            [
                "operations[0].at: required key is missing"
                " (a duration like 40m, or {uniform: [30m, 50m]})"
            ],
        ),
        (
            [{"action": "failback", "at": "3h"}],
            ["operations[0].at: 3h is not before the end of the drill (3h)"],
        ),
        (
            [{"action": "failback", "at": {"uniform": ["2h", "4h"]}}],
            ["operations[0].at: its upper bound 4h is not before the end of the drill (3h)"],
        ),
        (
            [{"action": "failback", "at": "-5m"}],
            ["operations[0].at: must not be negative, got '-5m'"],
        ),
        (
            [{"action": "failback", "at": "40m"}],
            [
                "operations[0].at: 40m is not after the earliest fault (40m):"
                " there would be nothing to fail back"
            ],
        ),
        (
            [{"action": "failback", "at": "1h"}, {"action": "failback", "at": "5h"}],
            ["operations[1].at: 5h is not before the end of the drill (3h)"],
        ),
    ],
)
def test_each_invalid_operation_names_its_field(operations: object, expected: list[str]) -> None:
    assert errors(operations=operations) == expected


def test_a_failback_needs_a_fault_before_it() -> None:
    assert errors(faults=[], operations=[{"action": "failback", "at": "1h"}]) == [
        "operations[0].at: a failback needs a fault before it; the scenario has none"
    ]


def test_max_failback_time_needs_a_failback_and_a_duration() -> None:
    assert errors(objectives={"max_failback_time": "10m"}) == [
        "objectives.max_failback_time: needs a failback operation"
        " (operations: [{action: failback, at: ...}])"
    ]
    assert errors(
        operations=[{"action": "failback", "at": "2h"}], objectives={"max_failback_time": "x"}
    ) == ["objectives.max_failback_time: must be a duration like 90s, 5m or 1h30m, got 'x'"]


def test_top_level_typo_suggests_operations() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(
            "name: x\nstrategy: warm_standby\nprofile: seed\nduration: 1h\noperatons: []\n"
        )
    assert str(caught.value) == "<string>: operatons: unknown key; did you mean 'operations'?"


def test_compression_divides_operation_times_and_the_failback_target() -> None:
    scenario = scenario_from_data(
        {
            **BASE,
            "operations": [{"action": "failback", "at": {"uniform": ["2h", "2h30m"]}}],
            "objectives": {"max_failback_time": "15m"},
        }
    )
    fast = compress_scenario(scenario, 30)
    assert fast.operations == (Operation(OperationAction.FAILBACK, Uniform(240.0, 300.0)),)
    assert fast.objectives.max_failback_time == 30.0


@given(
    fault_at=st.integers(min_value=0, max_value=3 * 3600 - 1),
    at=st.integers(min_value=0, max_value=4 * 3600),
)
def test_a_failback_loads_exactly_when_after_the_fault_and_before_the_end(
    fault_at: int, at: int
) -> None:
    doc = {
        **BASE,
        "faults": [{"kind": "region_outage", "at": fault_at}],
        "operations": [{"action": "failback", "at": at}],
    }
    if fault_at < at < 3 * 3600:
        assert scenario_from_data(doc).operations[0].at == float(at)
    else:
        with pytest.raises(ScenarioError) as caught:
            scenario_from_data(doc)
        assert [e.path for e in caught.value.errors] == ["operations[0].at"]


def test_dry_run_shows_the_operations_and_their_step() -> None:
    from harness.plan import describe_plan

    scenario = scenario_from_data(
        {
            **BASE,
            "operations": [{"action": "failback", "at": "2h30m"}],
            "objectives": {"max_failback_time": "15m"},
        }
    )
    simulate = describe_plan(scenario, "simulate")
    assert "Operations (operator actions)\n  1. failback at 2h30m\n" in simulate
    assert "max_failback_time: ≤ 15m in any trial" in simulate
    run = describe_plan(scenario, "run", time_scale=30.0)
    assert "at 5m: operation 1, failback: the operator fails back" in run
    assert describe_plan(scenario_from_data(BASE), "simulate").count("Operations") == 0
