"""Whatever it is given, the scenario loader raises ScenarioError and nothing else, and every
error it reports says something."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.scenario import (
    FAULT_SPECS,
    Scenario,
    ScenarioError,
    parse_scenario,
    scenario_from_data,
)

# Every key name of the language, so generated documents often get past "unknown key".
KEY_NAMES = sorted(
    {
        "name",
        "description",
        "strategy",
        "profile",
        "regions",
        "duration",
        "seed",
        "trials",
        "backup",
        "detector",
        "workload",
        "faults",
        "objectives",
        "primary",
        "secondary",
        "interval",
        "check_interval",
        "metric_period",
        "confirmations",
        "unknown_is_unhealthy",
        "second_signal",
        "dags",
        "schedule",
        "kind",
        "region",
        "at",
        "uniform",
        "rto",
        "rpo",
        "target",
        "percentile",
        "max_spurious_failover_rate",
        "max_split_brain",
        "max_lost_runs",
        "max_duplicate_runs",
    }
    | {param.name for spec in FAULT_SPECS.values() for param in spec.params}
)
# Values that mean something somewhere, so generated documents reach the deeper checks.
WORDS = [
    "warm_standby",
    "backup_restore",
    "seed",
    "hardened",
    "us-east-1",
    "us-west-2",
    "primary",
    "secondary",
    "5m",
    "-5m",
    "1h30m",
    "0s",
    "3h",
    "40m",
    "nan",
    "refused",
    *(kind.value for kind in FAULT_SPECS),
]

VALID: dict[str, Any] = {
    "name": "x",
    "description": "d",
    "strategy": "warm_standby",
    "profile": "hardened",
    "regions": {"primary": "us-east-1", "secondary": "us-west-2"},
    "duration": "3h",
    "seed": 7,
    "trials": 500,
    "backup": {"interval": "15m"},
    "detector": {"confirmations": 3, "second_signal": True},
    "workload": {"dags": 3, "schedule": "5m"},
    "faults": [
        {
            "kind": "region_outage",
            "region": "primary",
            "at": {"uniform": ["30m", "50m"]},
            "duration": "90m",
            "unreachable_as": "hang",
        },
        {"kind": "cloudwatch_metric_delay", "at": "10m", "delay": {"uniform": ["1m", "9m"]}},
        {"kind": "cloudwatch_outage", "at": 600, "error": "hang", "error_rate": 0.5},
    ],
    "objectives": {
        "rto": {"target": "20m", "percentile": 95},
        "rpo": "20m",
        "max_spurious_failover_rate": 0.0,
        "max_split_brain": "0s",
        "max_lost_runs": 0,
        "max_duplicate_runs": 0,
    },
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, -(10**400), 2**63, 2**63 - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(WORDS),
)
keys = st.one_of(st.sampled_from(KEY_NAMES), st.text(max_size=12), st.integers(), st.booleans())
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=6),
        st.builds(lambda low, high: {"uniform": [low, high]}, children, children),
    ),
    max_leaves=30,
)

# Pieces of YAML syntax, so generated text often parses and reaches tags, anchors and merges.
YAML_PIECES = [
    *KEY_NAMES[:12],
    *WORDS[:12],
    ": ",
    ":",
    "\n",
    "  ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "'",
    '"',
    "# c",
    "? ",
    "---\n",
    "...\n",
    "&a ",
    "*a",
    "<<: ",
    "!!int ",
    "!!float ",
    "!!binary ",
    "!!timestamp ",
    "!!set ",
    "!!omap ",
    "!!pairs ",
    "!!str ",
    "!!python/name:os.system ",
    "!local ",
    "%YAML 1.1\n",
    "2024-02-30",
    "2001-12-14t21:59:43.10-05:00",
    ".nan",
    ".inf",
    "-.inf",
    "1e400",
    "0x1F",
    "0o17",
    "1_000",
    "yes",
    "off",
    "~",
    "null",
    "\t",
    "|\n  x\n",
    ">-\n",
    "\\x",
    "\ufeff",
    "\u2028",
    "9" * 400,
]
yaml_like = st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join)

FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_only_scenario_error(call: Any, *args: Any) -> None:
    try:
        result = call(*args)
    except ScenarioError as exc:
        assert exc.errors, "a ScenarioError must carry at least one error"
        for error in exc.errors:
            assert error.message.strip()
            assert "\n" not in error.message
            assert error.source
        assert len(str(exc).splitlines()) == len(exc.errors)
    else:
        assert isinstance(result, Scenario)


@FAST
@given(documents)
def test_arbitrary_data_raises_only_scenario_error(doc: object) -> None:
    check_only_scenario_error(scenario_from_data, doc)


@FAST
@given(st.dictionaries(st.sampled_from(KEY_NAMES), documents, max_size=10))
def test_arbitrary_mappings_with_real_keys_raise_only_scenario_error(doc: object) -> None:
    check_only_scenario_error(scenario_from_data, doc)


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_scenario_error(text: str) -> None:
    check_only_scenario_error(parse_scenario, text)


@FAST
@given(yaml_like)
def test_yaml_like_text_raises_only_scenario_error(text: str) -> None:
    check_only_scenario_error(parse_scenario, text)


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_scenario_error(data: bytes) -> None:
    check_only_scenario_error(parse_scenario, data)


@FAST
@given(documents)
def test_yaml_dumps_of_arbitrary_data_raise_only_scenario_error(doc: object) -> None:
    check_only_scenario_error(parse_scenario, yaml.safe_dump(doc, allow_unicode=True))


def all_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every key or list item inside `value`."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append((*path, key))
            found.extend(all_paths(child, (*path, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.append((*path, index))
            found.extend(all_paths(child, (*path, index)))
    return found


VALID_PATHS = all_paths(VALID)


def test_the_valid_document_is_valid() -> None:
    assert isinstance(scenario_from_data(VALID), Scenario)
    assert isinstance(parse_scenario(yaml.safe_dump(VALID)), Scenario)


@FAST
@given(st.lists(st.sampled_from(VALID_PATHS), min_size=1, max_size=3))
def test_dropping_keys_of_a_valid_document_never_crashes(paths: list[tuple[Any, ...]]) -> None:
    doc = copy.deepcopy(VALID)
    for path in paths:
        parent = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            del parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier drop removed it already
    check_only_scenario_error(scenario_from_data, doc)


@FAST
@given(st.lists(st.tuples(st.sampled_from(VALID_PATHS), documents), min_size=1, max_size=3))
def test_replacing_values_of_a_valid_document_never_crashes(
    changes: list[tuple[tuple[Any, ...], object]],
) -> None:
    doc = copy.deepcopy(VALID)
    for path, value in changes:
        parent = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced a parent
    check_only_scenario_error(scenario_from_data, doc)
    check_only_scenario_error(parse_scenario, yaml.safe_dump(doc, allow_unicode=True))
