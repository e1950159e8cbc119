"""The scenario's `stop:` section: safe game days. Valid documents become StopConditions,
invalid ones name the field; the simulator ignores it, `--dry-run` says so."""

from __future__ import annotations

import textwrap

import pytest

from harness.plan import describe_plan
from harness.scenario import ScenarioError, parse_scenario, scenario_from_data, to_json
from harness.scenario.model import StopConditions

BASE = """\
name: x
strategy: warm_standby
profile: seed
duration: 3h
faults: [{kind: region_outage, at: 40m, duration: 90m}]
objectives: {rto: 20m}
"""


def with_stop(stop: str) -> str:
    return BASE + textwrap.dedent(stop)


def errors_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text)
    return [line.split(": ", 1)[1] for line in str(caught.value).splitlines()]


def test_absent_means_no_stop_conditions() -> None:
    scenario = parse_scenario(BASE)
    assert scenario.stop == StopConditions()
    assert scenario.stop.on_objective_lost is False
    assert scenario.stop.max_duration is None


def test_both_conditions() -> None:
    scenario = parse_scenario(with_stop("stop: {on_objective_lost: true, max_duration: 2h}\n"))
    assert scenario.stop == StopConditions(on_objective_lost=True, max_duration=7200.0)


@pytest.mark.parametrize("section", ["stop:\n", "stop: {}\n"])
def test_an_empty_section_is_the_default(section: str) -> None:
    assert parse_scenario(with_stop(section)).stop == StopConditions()


def test_max_duration_may_equal_the_drill() -> None:
    assert parse_scenario(with_stop("stop: {max_duration: 3h}\n")).stop.max_duration == 10800.0


@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        (
            "stop: {on_objective_los: true}\n",
            "stop.on_objective_los: unknown key; did you mean 'on_objective_lost'?",
        ),
        (
            "stop: {halt: true}\n",
            "stop.halt: unknown key; expected one of: on_objective_lost, max_duration",
        ),
        (
            "stop: {on_objective_lost: yes please}\n",
            "stop.on_objective_lost: must be true or false",
        ),
        ("stop: {on_objective_lost: 1}\n", "stop.on_objective_lost: must be true or false"),
        ("stop: {max_duration: 0s}\n", "stop.max_duration: must be positive"),
        ("stop: {max_duration: -5m}\n", "stop.max_duration: must be positive"),
        ("stop: {max_duration: soon}\n", "stop.max_duration: must be a duration like"),
        ("stop: {max_duration: 4h}\n", "stop.max_duration: 4h is longer than the drill (3h)"),
        ("stop: true\n", "stop: must be a mapping, got true"),
        ("stop: [on_objective_lost]\n", "stop: must be a mapping, got a list"),
    ],
)
def test_invalid_stop_names_the_field(stop: str, expected: str) -> None:
    errors = errors_of(with_stop(stop))
    assert len(errors) == 1, errors
    assert errors[0].startswith(expected), errors


def test_every_error_at_once() -> None:
    errors = errors_of(with_stop("stop: {on_objective_lost: 3, max_duration: 5h, when: now}\n"))
    fields = sorted(error.split(":", 1)[0] for error in errors)
    assert fields == ["stop.max_duration", "stop.on_objective_lost", "stop.when"]


def test_unknown_top_key_suggests_stop() -> None:
    errors = errors_of(BASE + "stpo: {on_objective_lost: true}\n")
    assert errors == ["stpo: unknown key; did you mean 'stop'?"]


def test_an_invalid_drill_duration_reports_only_its_own_error() -> None:
    text = with_stop("stop: {max_duration: 2h}\n").replace("duration: 3h", "duration: forever")
    errors = errors_of(text)
    assert [e.split(":", 1)[0] for e in errors] == ["duration"]


def test_to_json_and_back() -> None:
    scenario = parse_scenario(with_stop("stop: {on_objective_lost: true, max_duration: 90m}\n"))
    data = to_json(scenario)
    assert data["stop"] == {"on_objective_lost": True, "max_duration": 5400.0}
    assert to_json(parse_scenario(BASE))["stop"] == {
        "on_objective_lost": False,
        "max_duration": None,
    }
    # the JSON of the section reads back as the same section
    doc = {"name": "x", "strategy": "warm_standby", "profile": "seed", "duration": "3h"}
    again = scenario_from_data({**doc, "stop": data["stop"]})
    assert again.stop == scenario.stop


def test_dry_run_says_the_simulator_ignores_stop_conditions() -> None:
    scenario = parse_scenario(with_stop("stop: {on_objective_lost: true, max_duration: 2h}\n"))
    simulate = describe_plan(scenario, "simulate")
    assert "Stop conditions\n  ignored by the simulator (live drills only): " in simulate
    run = describe_plan(scenario, "run", time_scale=30.0)
    assert "abort as soon as an objective is already lost" in run
    assert "abort after 2h of scenario time (4m at 30x)" in run
    assert "Stop conditions\n  (none: the drill runs to its end)" in describe_plan(
        parse_scenario(BASE), "run"
    )
