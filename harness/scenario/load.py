"""Scenario files (YAML) -> `Scenario` objects, validated field by field.

Every problem of a document is collected before anything is raised, so a user sees all of
them at once, each with its field path (`faults[2].duration`). Whatever the input, the only
exception that leaves this module is `ScenarioError`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from harness.durations import DurationError, format_duration, parse_duration
from harness.scenario.faults import FAULT_SPECS, FaultSpec, ParamSpec
from harness.scenario.model import (
    BackupSettings,
    DetectorOverrides,
    Fault,
    FaultKind,
    Objective,
    Objectives,
    Operation,
    OperationAction,
    Profile,
    Regions,
    Scenario,
    StopConditions,
    Strategy,
    Uniform,
    Varying,
    Workload,
    lower,
    upper,
)

MAX_DURATION = 30 * 24 * 3600.0  # 30 days: longer than any drill, short enough to stay sane
MAX_SEED = 2**63  # exclusive
MAX_TRIALS = 1_000_000
MAX_DAGS = 100
MAX_COUNT = 2**63 - 1  # for counts in objectives; keeps them representable in any JSON reader

# AWS-style Region names: us-east-1, eu-central-2, us-gov-west-1. ASCII digits only.
_REGION_NAME = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")

_TOP_KEYS = (
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
    "operations",
    "objectives",
    "stop",
)
_REGIONS_KEYS = ("primary", "secondary")
_BACKUP_KEYS = ("interval",)
_DETECTOR_KEYS = (
    "check_interval",
    "metric_period",
    "confirmations",
    "unknown_is_unhealthy",
    "second_signal",
)
_WORKLOAD_KEYS = ("dags", "schedule")
_OBJECTIVES_KEYS = (
    "rto",
    "rpo",
    "max_spurious_failover_rate",
    "max_split_brain",
    "max_lost_runs",
    "max_duplicate_runs",
    "max_torn_restores",
    "max_failback_time",
)
_OBJECTIVE_KEYS = ("target", "percentile")
_STOP_KEYS = ("on_objective_lost", "max_duration")
_OPERATION_KEYS = ("action", "at")
_ACTIONS = tuple(action.value for action in OperationAction)
_KINDS = tuple(kind.value for kind in FaultKind)
_STRATEGIES = tuple(strategy.value for strategy in Strategy)
_PROFILES = tuple(profile.value for profile in Profile)

_SHOWN_CHARS = 60  # longest value or key quoted back in a message


@dataclass(frozen=True)
class FieldError:
    source: str  # file path, or "<string>"
    path: str  # field path like "faults[2].duration"; "" for the whole document
    message: str

    def __str__(self) -> str:
        if self.path:
            return f"{self.source}: {self.path}: {self.message}"
        return f"{self.source}: {self.message}"


class ScenarioError(Exception):
    """An invalid scenario; `errors` holds every problem found, one FieldError each."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


# Entry points ----------------------------------------------------------------------------------


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise ScenarioError listing every problem."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ScenarioError([FieldError(source, "", f"cannot read the file: {reason}")]) from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        raise ScenarioError([FieldError(source, "", f"cannot read the file: {exc}")]) from None
    return parse_scenario(data, source)


def parse_scenario(text: str | bytes, source: str = "<string>") -> Scenario:
    """Parse YAML text (or UTF-8 bytes) into a validated Scenario; raise ScenarioError."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            message = (
                f"not UTF-8 text: byte 0x{text[exc.start]:02x} at offset {exc.start} "
                "cannot be decoded (scenario files are UTF-8 YAML)"
            )
            raise ScenarioError([FieldError(source, "", message)]) from None
    if not isinstance(text, str):
        message = f"expected YAML text, got {type(text).__name__}"
        raise ScenarioError([FieldError(source, "", message)])
    doc, duplicate_errors = _load_yaml(text, source)
    try:
        scenario = scenario_from_data(doc, source)
    except ScenarioError as exc:
        raise ScenarioError(duplicate_errors + list(exc.errors)) from None
    if duplicate_errors:
        raise ScenarioError(duplicate_errors)
    return scenario


def scenario_from_data(doc: object, source: str = "<data>") -> Scenario:
    """Validate already-parsed data (dicts, lists, scalars) into a Scenario."""
    check = _Checker(source)
    scenario = _scenario(check, doc)
    if check.errors or scenario is None:
        raise ScenarioError(check.errors)
    return scenario


# YAML --------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe loading, plus a check PyYAML lacks: keys written twice in one mapping."""

    def duplicate_keys(self, root: yaml.Node) -> list[tuple[str, str]]:
        """(field path, message) for every key repeated within a mapping, in document order."""
        found: list[tuple[int, str, str]] = []  # (offset in the text, path, message)
        seen_nodes: set[int] = set()  # aliases share nodes, and may even form cycles
        stack: list[tuple[yaml.Node, str]] = [(root, "")]
        while stack:
            node, path = stack.pop()
            if id(node) in seen_nodes:
                continue
            seen_nodes.add(id(node))
            if isinstance(node, yaml.SequenceNode):
                stack.extend((item, f"{path}[{i}]") for i, item in enumerate(node.value))
            elif isinstance(node, yaml.MappingNode):
                first: dict[tuple[str, str], yaml.Node] = {}
                for key_node, value_node in node.value:
                    if not isinstance(key_node, yaml.ScalarNode):
                        continue  # constructing refused unhashable keys already
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        stack.append((value_node, path))  # merged keys may be overridden
                        continue
                    key_path = _join(path, _shown_key(key_node.value))
                    ident = (key_node.tag, key_node.value)
                    if ident in first:
                        message = (
                            f"duplicate key (at {_position(key_node.start_mark)}; "
                            f"first at {_position(first[ident].start_mark)})"
                        )
                        found.append((key_node.start_mark.index, key_path, message))
                    else:
                        first[ident] = key_node
                    stack.append((value_node, key_path))
        return [(path, message) for _, path, message in sorted(found)]


def _load_yaml(text: str, source: str) -> tuple[object, list[FieldError]]:
    """The document's data and the duplicate-key errors found in it."""

    def fail(message: str) -> ScenarioError:
        return ScenarioError([FieldError(source, "", _one_line(message))])

    try:
        loader = _Loader(text)  # refuses unprintable characters already
    except yaml.reader.ReaderError as exc:
        raise fail(_reader_message(text, exc)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []  # scenario_from_data reports the empty document
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise fail(_yaml_message(exc)) from None
    except yaml.YAMLError as exc:
        raise fail(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise fail("invalid YAML: nested too deeply") from None
    except Exception as exc:
        # PyYAML's constructors raise plain built-in errors (ValueError, IndexError,
        # AttributeError...) for malformed values such as `2024-02-30` or an empty `!!int`.
        raise fail(f"invalid YAML value: {str(exc) or type(exc).__name__}") from None
    finally:
        loader.dispose()
    duplicates = loader.duplicate_keys(node)
    return data, [FieldError(source, _one_line(path), message) for path, message in duplicates]


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or "syntax error"
    where = f" at {_position(exc.problem_mark)}" if exc.problem_mark is not None else ""
    message = f"invalid YAML{where}: {problem}"
    if exc.context:
        context_where = ""
        if exc.context_mark is not None:
            context_where = f" that starts at {_position(exc.context_mark)}"
        message += f" ({exc.context}{context_where})"
    return message


def _reader_message(text: str, exc: yaml.reader.ReaderError) -> str:
    where = _offset_position(text, exc.position)
    char = exc.character
    shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
    return f"invalid YAML at {where}: character {shown} is not allowed"


def _position(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _offset_position(text: str, offset: int) -> str:
    before = text[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    return f"line {line}, column {column}"


# Messages and paths ----------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _shorten(text: str) -> str:
    if len(text) <= _SHOWN_CHARS:
        return text
    return text[: _SHOWN_CHARS - 3] + "..."


def _shown_key(key: object) -> str:
    """A mapping key as a path step: as written when printable, else quoted and escaped."""
    if isinstance(key, str) and key.isprintable() and key.strip() == key and key:
        return _shorten(key)
    return _show(key)


def _one_line(text: str) -> str:
    """`text` with line breaks and other unprintable characters escaped: one error, one line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _show(value: object) -> str:
    """A value as a message quotes it back; never a huge or recursive repr."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(_shorten(value))
    if isinstance(value, int):
        if abs(value) < 10**30:
            return str(value)
        # str() of a huge int is slow, and refused beyond 4300 digits
        return f"an integer of about {int(value.bit_length() * math.log10(2))} digits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def _suggest(word: object, options: Sequence[str]) -> str | None:
    if not isinstance(word, str):
        return None
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return close[0] if close else None


# Checks ----------------------------------------------------------------------------------------


class _Checker:
    """Collects FieldErrors; each check returns the valid value, or None after an error."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[FieldError] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(self.source, _one_line(path), _one_line(message)))

    def missing(self, mapping: Mapping[Any, Any], key: str, path: str, expected: str) -> None:
        """Report a required `key` of `mapping` that is absent, or written with no value."""
        problem = "required key has no value" if key in mapping else "required key is missing"
        self.error(path, f"{problem} ({expected})")

    def mapping(self, value: object, path: str) -> Mapping[Any, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.error(path, f"must be a mapping, got {_show(value)}")
        return None

    def known_keys(self, mapping: Mapping[Any, Any], path: str, allowed: Sequence[str]) -> None:
        for key in mapping:
            if isinstance(key, str) and key in allowed:
                continue
            close = _suggest(key, allowed)
            hint = f"did you mean {close!r}?" if close else "expected one of: " + ", ".join(allowed)
            self.error(_join(path, _shown_key(key)), f"unknown key; {hint}")

    def text(self, value: object, path: str, *, non_empty: bool) -> str | None:
        if not isinstance(value, str):
            self.error(path, f"must be a string, got {_show(value)}")
            return None
        if non_empty and not value.strip():
            self.error(path, "must not be empty")
            return None
        return value

    def choice(self, value: object, path: str, choices: Sequence[str], what: str) -> str | None:
        if isinstance(value, str) and value in choices:
            return value
        close = _suggest(value, choices)
        hint = f"did you mean {close!r}?" if close else "expected one of: " + " | ".join(choices)
        self.error(path, f"unknown {what} {_show(value)}; {hint}")
        return None

    def boolean(self, value: object, path: str) -> bool | None:
        if isinstance(value, bool):
            return value
        self.error(path, f"must be true or false, got {_show(value)}")
        return None

    def integer(self, value: object, path: str, low: int, high: int) -> int | None:
        """An int in [low, high]; booleans and floats are refused."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"must be a whole number, got {_show(value)}")
            return None
        if not low <= value <= high:
            self.error(path, f"must be between {low} and {high}, got {_show(value)}")
            return None
        return value

    def number(
        self, value: object, path: str, low: float, high: float, *, low_open: bool
    ) -> float | None:
        """A finite number in [low, high], or (low, high] when low_open; booleans refused."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(path, f"must be a number, got {_show(value)}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.error(path, f"must be a finite number, got {_show(value)}")
            return None
        in_range = (low < value if low_open else low <= value) and value <= high
        if not in_range:
            bracket = "(" if low_open else "["
            self.error(path, f"must be in {bracket}{low:g}, {high:g}], got {_show(value)}")
            return None
        return float(value)  # in range, so an int converts without overflow

    def duration(self, value: object, path: str, *, positive: bool) -> float | None:
        """Seconds of a duration; > 0 when `positive`, else >= 0; at most MAX_DURATION."""
        try:
            seconds = parse_duration(value)
        except (DurationError, OverflowError, ValueError):
            self.error(path, _duration_problem(value, positive=positive))
            return None
        if positive and seconds <= 0:
            self.error(path, f"must be positive, got {_show(value)}")
            return None
        if seconds > MAX_DURATION:
            self.error(path, f"must be at most 30 days, got {_show(value)}")
            return None
        return seconds

    def varying(self, value: object, path: str, *, positive: bool) -> Varying | None:
        """A duration, or {uniform: [low, high]} with low <= high, sampled per trial."""
        if not isinstance(value, Mapping):
            return self.duration(value, path, positive=positive)
        self.known_keys(value, path, ("uniform",))
        if "uniform" not in value:
            self.missing(
                value, "uniform", _join(path, "uniform"), "a list [low, high] of two durations"
            )
            return None
        bounds = value["uniform"]
        uniform_path = _join(path, "uniform")
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            self.error(
                uniform_path, f"must be a list [low, high] of two durations, got {_show(bounds)}"
            )
            return None
        low = self.duration(bounds[0], f"{uniform_path}[0]", positive=positive)
        high = self.duration(bounds[1], f"{uniform_path}[1]", positive=positive)
        if low is None or high is None:
            return None
        if low > high:
            self.error(
                uniform_path,
                f"low bound {format_duration(low)} is above high bound {format_duration(high)}",
            )
            return None
        return Uniform(low, high)


def _duration_problem(value: object, *, positive: bool) -> str:
    """Why parse_duration refused `value`, worded for the field."""
    if _is_negative_duration(value):
        rule = "must be positive" if positive else "must not be negative"
        return f"{rule}, got {_show(value)}"
    if isinstance(value, float) and math.isnan(value):
        return "must be a finite duration, got nan"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"must be at most 30 days, got {_show(value)}"  # inf, or too big for a float
    return f"must be a duration like 90s, 5m or 1h30m, got {_show(value)}"


def _is_negative_duration(value: object) -> bool:
    """Whether `value` is a duration with a minus sign, so the message can say just that."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value < 0
    if isinstance(value, str) and value.strip().startswith("-"):
        try:
            parse_duration(value.strip()[1:])
        except (DurationError, OverflowError, ValueError):
            return False
        return True
    return False


# The document ----------------------------------------------------------------------------------

_EXPECT_NAME = "a non-empty string"
_EXPECT_DURATION = "a duration like 3h"
_EXPECT_AT = "a duration like 40m, or {uniform: [30m, 50m]}"


def _scenario(check: _Checker, doc: object) -> Scenario | None:
    if doc is None:
        check.error("", "the document is empty; expected a scenario mapping")
        return None
    if not isinstance(doc, Mapping):
        check.error("", f"the document must be a mapping of scenario keys, got {_show(doc)}")
        return None
    check.known_keys(doc, "", _TOP_KEYS)

    name = _required(check, doc, "name", _EXPECT_NAME)
    name_value = None if name is None else check.text(name, "name", non_empty=True)
    description = doc.get("description")
    description_value = (
        "" if description is None else check.text(description, "description", non_empty=False)
    )
    strategy = _required(check, doc, "strategy", " | ".join(_STRATEGIES))
    strategy_value = (
        None if strategy is None else check.choice(strategy, "strategy", _STRATEGIES, "strategy")
    )
    profile = _required(check, doc, "profile", " | ".join(_PROFILES))
    profile_value = (
        None if profile is None else check.choice(profile, "profile", _PROFILES, "profile")
    )
    duration = _required(check, doc, "duration", _EXPECT_DURATION)
    duration_value = (
        None if duration is None else check.duration(duration, "duration", positive=True)
    )

    seed = doc.get("seed")
    seed_value = 0 if seed is None else check.integer(seed, "seed", 0, MAX_SEED - 1)
    trials = doc.get("trials")
    trials_value = 100 if trials is None else check.integer(trials, "trials", 1, MAX_TRIALS)

    regions = _regions(check, doc.get("regions"))
    backup = _backup(check, doc.get("backup"))
    detector = _detector(check, doc.get("detector"))
    workload = _workload(check, doc.get("workload"))
    faults = _faults(check, doc.get("faults"), regions, duration_value)
    operations = _operations(check, doc.get("operations"), faults, duration_value)
    objectives = _objectives(check, doc.get("objectives"))
    if objectives is not None and operations is not None:
        _failback_objective(check, objectives, operations)
    stop = _stop(check, doc.get("stop"), duration_value)

    if (
        check.errors
        or name_value is None
        or description_value is None
        or strategy_value is None
        or profile_value is None
        or duration_value is None
        or seed_value is None
        or trials_value is None
        or regions is None
        or backup is None
        or detector is None
        or workload is None
        or faults is None
        or operations is None
        or objectives is None
        or stop is None
    ):
        return None
    return Scenario(
        name=name_value,
        description=description_value,
        strategy=Strategy(strategy_value),
        profile=Profile(profile_value),
        duration=duration_value,
        regions=regions,
        seed=seed_value,
        trials=trials_value,
        backup=backup,
        detector=detector,
        workload=workload,
        faults=faults,
        operations=operations,
        objectives=objectives,
        stop=stop,
        source=check.source,
    )


def _required(check: _Checker, mapping: Mapping[Any, Any], key: str, expected: str) -> object:
    """The value of a required key; None (and an error) when it is missing or null."""
    value = mapping.get(key)
    if value is None:
        check.missing(mapping, key, key, expected)
    return value


def _section(
    check: _Checker, value: object, path: str, keys: Sequence[str]
) -> Mapping[Any, Any] | None:
    """An optional mapping section: {} when absent or null, None after an error."""
    if value is None:
        return {}
    section = check.mapping(value, path)
    if section is not None:
        check.known_keys(section, path, keys)
    return section


def _regions(check: _Checker, value: object) -> Regions | None:
    section = _section(check, value, "regions", _REGIONS_KEYS)
    if section is None:
        return None
    names: dict[str, str | None] = {}
    for role, default in (("primary", Regions.primary), ("secondary", Regions.secondary)):
        given = section.get(role)
        if given is None:
            names[role] = default
        elif isinstance(given, str) and _REGION_NAME.fullmatch(given):
            names[role] = given
        else:
            check.error(
                f"regions.{role}",
                f"must be an AWS Region name like {default}, got {_show(given)}",
            )
            names[role] = None
    primary, secondary = names["primary"], names["secondary"]
    if primary is None or secondary is None:
        return None
    if primary == secondary:
        check.error("regions.secondary", f"must differ from the primary Region ({primary})")
        return None
    return Regions(primary=primary, secondary=secondary)


def _backup(check: _Checker, value: object) -> BackupSettings | None:
    section = _section(check, value, "backup", _BACKUP_KEYS)
    if section is None:
        return None
    interval = section.get("interval")
    if interval is None:
        return BackupSettings()
    seconds = check.duration(interval, "backup.interval", positive=True)
    return None if seconds is None else BackupSettings(interval=seconds)


def _detector(check: _Checker, value: object) -> DetectorOverrides | None:
    section = _section(check, value, "detector", _DETECTOR_KEYS)
    if section is None:
        return None
    errors_before = len(check.errors)
    overrides: dict[str, Any] = {}
    for key in ("check_interval", "metric_period"):
        if section.get(key) is not None:
            overrides[key] = check.duration(section[key], f"detector.{key}", positive=True)
    if section.get("confirmations") is not None:
        overrides["confirmations"] = check.integer(
            section["confirmations"], "detector.confirmations", 1, 1000
        )
    for key in ("unknown_is_unhealthy", "second_signal"):
        if section.get(key) is not None:
            overrides[key] = check.boolean(section[key], f"detector.{key}")
    if len(check.errors) > errors_before:
        return None
    return DetectorOverrides(**overrides)


def _workload(check: _Checker, value: object) -> Workload | None:
    section = _section(check, value, "workload", _WORKLOAD_KEYS)
    if section is None:
        return None
    dags_given = section.get("dags")
    dags = (
        Workload.dags
        if dags_given is None
        else check.integer(dags_given, "workload.dags", 1, MAX_DAGS)
    )
    schedule_given = section.get("schedule")
    schedule = (
        Workload.schedule
        if schedule_given is None
        else check.duration(schedule_given, "workload.schedule", positive=True)
    )
    if dags is None or schedule is None:
        return None
    return Workload(dags=dags, schedule=schedule)


def _faults(
    check: _Checker, value: object, regions: Regions | None, drill: float | None
) -> tuple[Fault, ...] | None:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        check.error("faults", f"must be a list of faults, got {_show(value)}")
        return None
    faults = [_fault(check, item, f"faults[{i}]", regions, drill) for i, item in enumerate(value)]
    valid = [fault for fault in faults if fault is not None]
    return tuple(valid) if len(valid) == len(faults) else None


def _fault(
    check: _Checker, value: object, path: str, regions: Regions | None, drill: float | None
) -> Fault | None:
    item = check.mapping(value, path)
    if item is None:
        return None
    errors_before = len(check.errors)

    kind: FaultKind | None = None
    kind_given = item.get("kind")
    if kind_given is None:
        check.missing(item, "kind", _join(path, "kind"), "one of: " + " | ".join(_KINDS))
    else:
        chosen = check.choice(kind_given, _join(path, "kind"), _KINDS, "fault kind")
        kind = None if chosen is None else FaultKind(chosen)
    spec = None if kind is None else FAULT_SPECS[kind]
    # Without a known kind its own parameters cannot be checked; the common keys still can.
    if spec is not None:
        check.known_keys(item, path, spec.keys)

    region = _fault_region(check, item.get("region"), _join(path, "region"), regions, spec)

    at: Varying | None = None
    at_given = item.get("at")
    if at_given is None:
        check.missing(item, "at", _join(path, "at"), _EXPECT_AT)
    else:
        at = check.varying(at_given, _join(path, "at"), positive=False)
    if at is not None and drill is not None and upper(at) >= drill:
        bound = "its upper bound " if isinstance(at, Uniform) else ""
        check.error(
            _join(path, "at"),
            f"{bound}{format_duration(upper(at))} is not before the end of the drill "
            f"({format_duration(drill)})",
        )

    duration: Varying | None = None
    duration_given = item.get("duration")
    if duration_given is not None:
        duration = check.varying(duration_given, _join(path, "duration"), positive=True)

    params: dict[str, Any] = {}
    if spec is not None:
        for param in spec.params:
            params[param.name] = _param(check, item, path, param)

    if len(check.errors) > errors_before or kind is None or region is None or at is None:
        return None
    return Fault(
        kind=kind,
        region=region,
        at=at,
        duration=duration,
        params=MappingProxyType(params),
    )


def _fault_region(
    check: _Checker, value: object, path: str, regions: Regions | None, spec: FaultSpec | None
) -> str | None:
    """The Region name a fault strikes: its `region` (role or name) or its kind's default."""
    if value is None:
        if spec is None or regions is None:
            return None
        return regions.resolve(spec.default_region)
    if value in ("primary", "secondary"):
        return None if regions is None else regions.resolve(str(value))
    if regions is None:
        # The scenario's Regions are invalid (reported); only the form can be checked.
        if not (isinstance(value, str) and _REGION_NAME.fullmatch(value)):
            check.error(path, f"must be primary, secondary or a Region name, got {_show(value)}")
        return None
    if isinstance(value, str) and value in (regions.primary, regions.secondary):
        return value
    check.error(
        path,
        f"must be primary, secondary, {regions.primary} or {regions.secondary}, got {_show(value)}",
    )
    return None


def _param(check: _Checker, item: Mapping[Any, Any], fault_path: str, param: ParamSpec) -> object:
    path = _join(fault_path, param.name)
    value = item.get(param.name)
    if value is None:
        if param.default is None:
            check.missing(item, param.name, path, param.expected())
        return param.default
    if param.kind == "varying_duration":
        return check.varying(value, path, positive=True)
    if param.kind == "rate":
        return check.number(value, path, 0.0, 1.0, low_open=True)
    return check.choice(value, path, param.choices, "value")


def _operations(
    check: _Checker,
    value: object,
    faults: tuple[Fault, ...] | None,
    drill: float | None,
) -> tuple[Operation, ...] | None:
    """`operations: [{action: failback, at: 2h30m}]`: operator actions at drill times."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        check.error("operations", f"must be a list of operations, got {_show(value)}")
        return None
    operations = [
        _operation(check, item, f"operations[{i}]", faults, drill) for i, item in enumerate(value)
    ]
    valid = [operation for operation in operations if operation is not None]
    return tuple(valid) if len(valid) == len(operations) else None


def _operation(
    check: _Checker,
    value: object,
    path: str,
    faults: tuple[Fault, ...] | None,
    drill: float | None,
) -> Operation | None:
    item = check.mapping(value, path)
    if item is None:
        return None
    errors_before = len(check.errors)
    check.known_keys(item, path, _OPERATION_KEYS)
    action: OperationAction | None = None
    action_given = item.get("action")
    if action_given is None:
        check.missing(item, "action", _join(path, "action"), "one of: " + " | ".join(_ACTIONS))
    else:
        chosen = check.choice(action_given, _join(path, "action"), _ACTIONS, "action")
        action = None if chosen is None else OperationAction(chosen)
    at: Varying | None = None
    at_given = item.get("at")
    at_path = _join(path, "at")
    if at_given is None:
        check.missing(item, "at", at_path, _EXPECT_AT)
    else:
        at = check.varying(at_given, at_path, positive=False)
    if at is not None and drill is not None and upper(at) >= drill:
        bound = "its upper bound " if isinstance(at, Uniform) else ""
        check.error(
            at_path,
            f"{bound}{format_duration(upper(at))} is not before the end of the drill "
            f"({format_duration(drill)})",
        )
    if at is not None and faults is not None and action is OperationAction.FAILBACK:
        # Only a fault can make the secondary active; a failback before any can start would
        # find nothing to fail back in every trial.
        if not faults:
            check.error(at_path, "a failback needs a fault before it; the scenario has none")
        else:
            earliest = min(lower(fault.at) for fault in faults)
            if upper(at) <= earliest:
                bound = "its upper bound " if isinstance(at, Uniform) else ""
                check.error(
                    at_path,
                    f"{bound}{format_duration(upper(at))} is not after the earliest fault "
                    f"({format_duration(earliest)}): there would be nothing to fail back",
                )
    if len(check.errors) > errors_before or action is None or at is None:
        return None
    return Operation(action=action, at=at)


def _failback_objective(
    check: _Checker, objectives: Objectives, operations: tuple[Operation, ...]
) -> None:
    """max_failback_time measures a failback: without one it could never be judged."""
    has_failback = any(op.action is OperationAction.FAILBACK for op in operations)
    if objectives.max_failback_time is not None and not has_failback:
        check.error(
            "objectives.max_failback_time",
            "needs a failback operation (operations: [{action: failback, at: ...}])",
        )


def _objectives(check: _Checker, value: object) -> Objectives | None:
    section = _section(check, value, "objectives", _OBJECTIVES_KEYS)
    if section is None:
        return None
    errors_before = len(check.errors)
    given: dict[str, Any] = {}
    for key in ("rto", "rpo"):
        if section.get(key) is not None:
            given[key] = _objective(check, key, section[key], f"objectives.{key}")
    if section.get("max_spurious_failover_rate") is not None:
        given["max_spurious_failover_rate"] = check.number(
            section["max_spurious_failover_rate"],
            "objectives.max_spurious_failover_rate",
            0.0,
            1.0,
            low_open=False,
        )
    for key in ("max_split_brain", "max_failback_time"):
        if section.get(key) is not None:
            given[key] = check.duration(section[key], f"objectives.{key}", positive=False)
    for key in ("max_lost_runs", "max_duplicate_runs", "max_torn_restores"):
        if section.get(key) is not None:
            given[key] = check.integer(section[key], f"objectives.{key}", 0, MAX_COUNT)
    if len(check.errors) > errors_before:
        return None
    return Objectives(**given)


def _stop(check: _Checker, value: object, drill: float | None) -> StopConditions | None:
    """`stop: {on_objective_lost: true, max_duration: 2h}`; both optional."""
    section = _section(check, value, "stop", _STOP_KEYS)
    if section is None:
        return None
    errors_before = len(check.errors)
    lost_given = section.get("on_objective_lost")
    on_objective_lost = (
        False if lost_given is None else check.boolean(lost_given, "stop.on_objective_lost")
    )
    max_duration: float | None = None
    duration_given = section.get("max_duration")
    if duration_given is not None:
        max_duration = check.duration(duration_given, "stop.max_duration", positive=True)
        if max_duration is not None and drill is not None and max_duration > drill:
            check.error(
                "stop.max_duration",
                f"{format_duration(max_duration)} is longer than the drill "
                f"({format_duration(drill)})",
            )
    if len(check.errors) > errors_before or on_objective_lost is None:
        return None
    return StopConditions(on_objective_lost=on_objective_lost, max_duration=max_duration)


def _objective(check: _Checker, name: str, value: object, path: str) -> Objective | None:
    """`20m`, or {target: 20m, percentile: 95}."""
    if not isinstance(value, Mapping):
        target = check.duration(value, path, positive=False)
        return None if target is None else Objective(name=name, target=target)
    check.known_keys(value, path, _OBJECTIVE_KEYS)
    target_given = value.get("target")
    target = None
    if target_given is None:
        check.missing(value, "target", _join(path, "target"), "a duration like 20m")
    else:
        target = check.duration(target_given, _join(path, "target"), positive=False)
    percentile_given = value.get("percentile")
    percentile = (
        100.0
        if percentile_given is None
        else check.number(percentile_given, _join(path, "percentile"), 0.0, 100.0, low_open=True)
    )
    if target is None or percentile is None:
        return None
    return Objective(name=name, target=target, percentile=percentile)


__all__ = [
    "FieldError",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
    "scenario_from_data",
]
