"""The simulator's calibration: every timing and probability of the simulated world, read from a
YAML file (`fixtures/calibration/default.yaml` by default, `--calibration FILE` to replace it).

A value is a duration (`250ms`, `5s`, `25m`, or a number of seconds), a probability, or a
distribution sampled with a trial's RNG:

    {fixed: 5s}
    {uniform: [1s, 10s]}
    {lognormal: {median: 25m, sigma: 0.12}}    # median e^mu, sigma of the log

A file must give every key: a calibration is a complete statement of the world, so a report
that names it says everything that was assumed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from harness.durations import DurationError, parse_duration


class CalibrationError(ValueError):
    """An invalid calibration file; the message names every bad field."""


# Distributions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixed:
    value: float

    def sample(self, rng: random.Random) -> float:
        return self.value

    def to_json(self) -> dict[str, Any]:
        return {"fixed": self.value}


@dataclass(frozen=True)
class UniformDist:
    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def to_json(self) -> dict[str, Any]:
        return {"uniform": [self.low, self.high]}


@dataclass(frozen=True)
class LogNormal:
    median: float
    sigma: float

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)

    def to_json(self) -> dict[str, Any]:
        return {"lognormal": {"median": self.median, "sigma": self.sigma}}


Distribution = Fixed | UniformDist | LogNormal


@dataclass(frozen=True)
class Linear:
    """A cost that grows with the rows handled: base + per_row * rows."""

    base: float
    per_row: float

    def cost(self, rows: int) -> float:
        return self.base + self.per_row * rows

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "per_row": self.per_row}


# How a CloudWatch call can fail, as the `exhausted` keys name them.
CLOUDWATCH_ERRORS = (
    "ServiceUnavailable",
    "InternalFailure",
    "ThrottlingException",
    "connection_refused",
)

# The calibration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CloudWatch:
    heartbeat_interval: float  # the scheduler publishes SchedulerHeartbeat this often
    delivery_delay: Distribution  # publish -> readable by GetMetricData; sampled per Region
    call: float  # one successful GetMetricData
    max_attempts: int  # botocore standard retry mode
    exhausted: Mapping[str, float]  # error -> time a call takes when every attempt fails
    lambda_timeout: float  # the health check's budget: a hanging call ends here


@dataclass(frozen=True)
class Network:
    refused: float  # a call to an endpoint that refuses connections, retries included
    hang_timeout: float  # a call to an endpoint that accepts and never answers
    cross_region_call: float  # extra latency of a call to another Region's endpoint


@dataclass(frozen=True)
class S3:
    call: float
    replication_lag: Distribution  # per object, without faults


@dataclass(frozen=True)
class Mwaa:
    call: float
    create_time: Distribution  # CreateEnvironment -> AVAILABLE (or CREATE_FAILED)
    create_failure_probability: float  # without a create_environment_failure fault
    delete_time: Distribution


@dataclass(frozen=True)
class Airflow:
    call: float  # one REST API call (MWAA InvokeRestApi)
    scheduler_restart: Distribution  # the Region or environment heals -> scheduler starts
    scheduling_latency: Distribution  # a workload run is due -> it starts
    task_start_latency: Distribution  # a DR DAG run is queued -> its task runs
    workload_run: Distribution  # a workload run starts -> it succeeds
    export: Linear  # export_table, by rows read
    import_: Linear  # import_rows, by rows written
    clear: float  # clear_tables


@dataclass(frozen=True)
class Workflow:
    # The recovery workflow's schedule started this long after the drill: its phase relative
    # to the faults, which a real drill does not choose either.
    start_offset: Distribution


@dataclass(frozen=True)
class Calibration:
    source: str  # the file it was read from
    cloudwatch: CloudWatch
    network: Network
    s3: S3
    mwaa: Mwaa
    airflow: Airflow
    workflow: Workflow

    def to_json(self) -> dict[str, Any]:
        """Every value, for the report's `settings`."""
        out: dict[str, Any] = {"source": self.source}
        for section in fields(self):
            if section.name == "source":
                continue
            value = getattr(self, section.name)
            out[section.name] = {
                _yaml_key(f.name): _value_json(getattr(value, f.name)) for f in fields(value)
            }
        return out


def _yaml_key(name: str) -> str:
    return name.rstrip("_")  # `import_` is `import` in the file


def _value_json(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, Mapping):
        return dict(value)
    return value


# Reading ----------------------------------------------------------------------------------------

_SECTIONS: dict[str, type[Any]] = {
    "cloudwatch": CloudWatch,
    "network": Network,
    "s3": S3,
    "mwaa": Mwaa,
    "airflow": Airflow,
    "workflow": Workflow,
}


def default_calibration_path() -> Path:
    """fixtures/calibration/default.yaml of the checkout, else the copy a wheel may carry as
    harness/_calibration/default.yaml (as the scenario catalog ships as harness/_catalog)."""
    package = Path(__file__).resolve().parents[1]  # harness/
    checkout = package.parent / "fixtures" / "calibration" / "default.yaml"
    if checkout.is_file():
        return checkout
    return package / "_calibration" / "default.yaml"


def default_calibration() -> Calibration:
    return load_calibration(default_calibration_path())


def load_calibration(path: str | Path) -> Calibration:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise CalibrationError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CalibrationError(f"{path}: not YAML: {err}") from None
    return calibration_from_data(doc, str(path))


def calibration_from_data(doc: object, source: str = "<data>") -> Calibration:
    """Validate parsed YAML into a Calibration; CalibrationError lists every problem."""
    reader = _Reader(source)
    top = reader.mapping(doc, "")
    sections: dict[str, Any] = {}
    if top is not None:
        reader.known_keys(top, "", set(_SECTIONS))
        for name, cls in _SECTIONS.items():
            sections[name] = reader.section(top.get(name), name, cls)
    if reader.errors:
        raise CalibrationError("\n".join(reader.errors))
    return Calibration(source=source, **sections)


class _Reader:
    """Collects every error instead of stopping at the first one."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{self.source}: {path or '(top level)'}: {message}")

    def mapping(self, value: object, path: str) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.error(path, f"expected a mapping, got {type(value).__name__}")
            return None
        return value

    def known_keys(self, mapping: Mapping[str, Any], path: str, known: set[str]) -> None:
        for key in mapping:
            if key not in known:
                self.error(_join(path, str(key)), "unknown key")

    def section(self, value: object, path: str, cls: type[Any]) -> Any:
        if value is None:
            self.error(path, "missing")
            return None
        mapping = self.mapping(value, path)
        if mapping is None:
            return None
        names = {_yaml_key(f.name): f for f in fields(cls)}
        self.known_keys(mapping, path, set(names))
        values: dict[str, Any] = {}
        for key, spec in names.items():
            where = _join(path, key)
            if key not in mapping:
                self.error(where, "missing")
                continue
            values[spec.name] = self.typed(mapping[key], where, str(spec.type))
            if key.endswith("probability") and not 0.0 <= values[spec.name] <= 1.0:
                self.error(where, f"a probability is in [0, 1], got {mapping[key]!r}")
        if len(values) != len(names):
            return None
        return cls(**values)

    def typed(self, value: object, path: str, kind: str) -> Any:
        if kind == "float":
            return self.duration(value, path)
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                self.error(path, f"expected a whole number >= 1, got {value!r}")
                return 1
            return value
        if kind == "Distribution":
            return self.distribution(value, path)
        if kind == "Linear":
            mapping = self.mapping(value, path) or {}
            self.known_keys(mapping, path, {"base", "per_row"})
            return Linear(
                self.duration(mapping.get("base"), _join(path, "base")),
                self.duration(mapping.get("per_row"), _join(path, "per_row")),
            )
        if kind == "Mapping[str, float]":
            mapping = self.mapping(value, path) or {}
            for error in CLOUDWATCH_ERRORS:
                if error not in mapping:
                    self.error(_join(path, error), "missing")
            return {str(k): self.duration(v, _join(path, str(k))) for k, v in mapping.items()}
        raise AssertionError(f"no reader for {kind}")  # a field type this module forgot

    def duration(self, value: object, path: str) -> float:
        try:
            return parse_duration(value)
        except DurationError as err:
            self.error(path, str(err))
            return 0.0

    def distribution(self, value: object, path: str) -> Distribution:
        if not isinstance(value, Mapping):
            return Fixed(self.duration(value, path))  # a bare duration is fixed
        if len(value) != 1:
            self.error(path, "expected one of {fixed: D}, {uniform: [LOW, HIGH]}, {lognormal: …}")
            return Fixed(0.0)
        ((name, arg),) = value.items()
        where = _join(path, str(name))
        if name == "fixed":
            return Fixed(self.duration(arg, where))
        if name == "uniform":
            if not isinstance(arg, list | tuple) or len(arg) != 2:
                self.error(where, "expected [low, high]")
                return Fixed(0.0)
            low = self.duration(arg[0], where)
            high = self.duration(arg[1], where)
            if high < low:
                self.error(where, "high is below low")
            return UniformDist(low, high)
        if name == "lognormal":
            mapping = self.mapping(arg, where) or {}
            self.known_keys(mapping, where, {"median", "sigma"})
            median = self.duration(mapping.get("median"), _join(where, "median"))
            sigma = mapping.get("sigma")
            if isinstance(sigma, bool) or not isinstance(sigma, int | float) or sigma < 0:
                self.error(_join(where, "sigma"), f"expected a number >= 0, got {sigma!r}")
                sigma = 0.0
            if median <= 0:
                self.error(_join(where, "median"), "must be positive")
                median = 1.0
            return LogNormal(median, float(sigma))
        self.error(path, f"unknown distribution {name!r}: fixed | uniform | lognormal")
        return Fixed(0.0)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
