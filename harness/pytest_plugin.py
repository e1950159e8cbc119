"""A pytest plugin: disaster-recovery objectives as tests in a platform team's own suite.

Registered through the `pytest11` entry point `mwaa_drill`, so installing mwaa-drill is
enough; nothing to add to a conftest.py::

    def test_hardened_never_fails_over_for_cloudwatch(mwaa_drill_simulate):
        report = mwaa_drill_simulate("scenarios/cloudwatch-outage-warm-standby.yaml", trials=200)
        assert report.verdict == "pass"
        assert report.objective("max_spurious_failover_rate").met

Fixtures
--------

- `mwaa_drill_simulate(scenario, *, trials=None, seed=None, profile=None, calibration=None,
  workers=1)`: a simulated campaign (seeded, deterministic, fast), as a `DrillReport`.
- `mwaa_drill_live(scenario, *, profile=None, time_scale=None, creation_delay_s=0.0,
  airflow_version=None)`: a live drill (`LiveDrill`: two Regions on this machine, real
  Airflow of that MWAA AirflowVersion, default the current line), as a `DrillReport` with its
  `history`; its files (JSON, Markdown, HTML, history) go to the test's tmp dir. The live
  stack must be installed: a test FAILS (never skips) with the install hint when it is not.
- `mwaa_drill_live_session`: like `mwaa_drill_live`, but one drill per (scenario, profile,
  time scale, Airflow version) for the whole session, so several tests can assert on one
  drill. A LiveDrill builds and tears down its own stack, so what is reused is the drill's
  outcome (report and history), not a running stack.

A `scenario` is a path or a `Scenario`. A relative path is looked for next to the test file,
then in the rootdir, then in the directory pytest was started from, and last in the scenario
catalog shipped with mwaa-drill (by file name, so `scenarios/<name>.yaml` works anywhere).

Options (they override what the tests ask, so CI can turn a knob for the whole suite):
`--mwaa-drill-trials N`, `--mwaa-drill-time-scale X`, `--mwaa-drill-airflow-version V` (run
every live drill on that Airflow line: 3.3.2 or 2.10.5), `--mwaa-drill-report-dir DIR` (keep
every report: JSON and Markdown, plus HTML and history for live drills).

Every test that uses a fixture gets the `mwaa_drill` marker (`-m "not mwaa_drill"` leaves
them out). When such a test fails, the Markdown summary of each drill it ran is attached to
its report: a section of the failure output, and a `mwaa_drill_report` property in JUnit XML.

Nothing here is imported before a fixture is used but pytest itself: the plugin is loaded in
every pytest session of the environment mwaa-drill is installed in.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import pytest

if TYPE_CHECKING:
    from harness.history import History
    from harness.live.drill import LiveOutcome
    from harness.scenario.model import Scenario
    from harness.sim.calibration import Calibration

MARKER = "mwaa_drill"
MARKER_HELP = (
    "mwaa_drill: a test that runs a disaster-recovery drill of mwaa-drill (simulated or live); "
    "added to every test using the mwaa_drill_simulate, mwaa_drill_live or "
    "mwaa_drill_live_session fixtures, select or deselect them with -m"
)
FIXTURES = ("mwaa_drill_simulate", "mwaa_drill_live", "mwaa_drill_live_session")
DEFAULT_TIME_SCALE = 30.0  # as `mwaa-drill run`
# as `mwaa-drill run --airflow-version` (harness.cli.AIRFLOW_VERSIONS, checked by a test; not
# imported, so that loading the plugin imports nothing of mwaa-drill's): the default first
AIRFLOW_VERSIONS = ("3.3.2", "2.10.5")
REPORT_PROPERTY = "mwaa_drill_report"  # the JUnit XML property holding a failed test's summary
FAILING_TRIALS_SHOWN = 5
INTERRUPTED_PREFIX = "interrupted"  # LiveDrill's `aborted` after Ctrl-C or SIGTERM

Verdict = Literal["pass", "fail", "unknown"]


# The report wrapper --------------------------------------------------------------------------


class UnknownObjective(KeyError):
    """`DrillReport.objective(name)` for an objective the scenario does not set."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ObjectiveResult:
    """One objective of a report, as judged over the drill."""

    name: str
    unit: str  # seconds | rate | runs
    target: float
    observed: float | None  # None: not applicable, not measured, or never recovered
    met: bool | None  # None: not applicable or not judged
    detail: str
    percentile: float | None = None  # rto, rpo: the percentile judged

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> ObjectiveResult:
        from harness.compare import objective_unit

        percentile = entry.get("percentile")
        return cls(
            name=str(entry["name"]),
            unit=objective_unit(entry),
            target=float(entry["target"]),
            observed=None if entry["observed"] is None else float(entry["observed"]),
            met=entry["met"],
            detail=str(entry["detail"]),
            percentile=None if percentile is None else float(percentile),
        )

    @property
    def target_text(self) -> str:
        """`≤ 20m`, `p95 ≤ 20m`, `≤ 0%`."""
        from harness.render import format_value

        text = f"≤ {format_value(self.unit, self.target)}"
        return text if self.percentile is None else f"p{self.percentile:g} {text}"

    @property
    def observed_text(self) -> str:
        from harness.render import format_value

        return format_value(self.unit, self.observed)

    def __str__(self) -> str:
        met = {True: "met", False: "NOT MET", None: "not judged"}[self.met]
        return (
            f"{self.name}: observed {self.observed_text}, target {self.target_text}: {met}"
            f" ({self.detail})"
        )


class DrillReport:
    """A drill's JSON report (`harness/schemas/report.schema.json`) with typed accessors.

    `json` is the report itself (what `mwaa-drill simulate --json` writes); `history` is the
    history of a live drill (None for a simulated campaign); `files` the paths written.
    """

    def __init__(
        self,
        report: Mapping[str, Any],
        *,
        history: History | None = None,
        files: Mapping[str, Path] | None = None,
    ) -> None:
        self.json: dict[str, Any] = dict(report)
        self.history = history
        self.files: dict[str, Path] = dict(files or {})

    @classmethod
    def load(cls, path: str | PathLike[str]) -> DrillReport:
        """A report written earlier (say, the main branch's baseline), validated."""
        from harness.report import load_report

        return cls(load_report(path), files={"json": Path(path)})

    # What the drill concluded
    @property
    def verdict(self) -> Verdict:
        verdict = self.json["verdict"]
        assert verdict in ("pass", "fail", "unknown"), verdict
        return verdict  # type: ignore[no-any-return]

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def exit_code(self) -> int:
        """What `mwaa-drill simulate`/`run` would exit with: 0 pass, 1 fail, 3 unknown."""
        from harness.report import exit_code

        return exit_code(self.json)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(str(reason) for reason in self.json["reasons"])

    @property
    def aborted(self) -> str | None:
        aborted = self.json.get("aborted")
        return None if aborted is None else str(aborted)

    @property
    def objectives(self) -> tuple[ObjectiveResult, ...]:
        return tuple(ObjectiveResult.from_json(entry) for entry in self.json["objectives"])

    def objective(self, name: str) -> ObjectiveResult:
        """The objective `name` (rto, rpo, max_spurious_failover_rate, ...)."""
        __tracebackhide__ = True  # pytest: the failure points at the test's line
        for entry in self.objectives:
            if entry.name == name:
                return entry
        names = ", ".join(entry.name for entry in self.objectives) or "none"
        raise UnknownObjective(
            f"scenario {self.scenario!r} sets no objective {name!r} (it sets: {names})"
        )

    # What was drilled
    @property
    def scenario(self) -> str:
        return str(self.json["scenario"].get("name", "?"))

    @property
    def profile(self) -> str:
        return str(self.json["scenario"].get("profile", "?"))

    @property
    def mode(self) -> Literal["simulate", "live"]:
        return "live" if self.json["mode"] == "live" else "simulate"

    @property
    def seed(self) -> int:
        return int(self.json["seed"])

    @property
    def summary(self) -> dict[str, Any]:
        """Counts and RTO/RPO/detection distributions: `summary["rto_s"]["p95"]`, ..."""
        summary: dict[str, Any] = self.json["summary"]
        return summary

    @property
    def trials(self) -> tuple[dict[str, Any], ...]:
        """Every trial's entry (a live drill has one): verdict, reasons, rto_s, ..."""
        return tuple(self.json["trials"])

    # Renderings
    @property
    def title(self) -> str:
        """`cloudwatch-outage-warm-standby (seed, simulate, 200 trials)`."""
        count = len(self.json["trials"])
        trials = f"{count} trial" if count == 1 else f"{count} trials"
        return f"{self.scenario} ({self.profile}, {self.mode}, {trials})"

    @property
    def markdown(self) -> str:
        """The Markdown summary, as `mwaa-drill report --format md` prints it."""
        from harness.render.markdown import render_markdown

        return render_markdown(self.json)

    def failure_message(self) -> str:
        """Why the drill did not pass, in plain text lines (verdict, reasons, objectives,
        the first failing trials, the files written)."""
        lines = [
            f"mwaa-drill: {self.title}, seed {self.seed}: verdict {self.verdict.upper()}",
            "  why:",
        ]
        lines += [f"    - {reason}" for reason in self.reasons] or ["    (no reasons given)"]
        if self.objectives:
            lines.append("  objectives:")
            lines += [f"    - {entry}" for entry in self.objectives]
        bad = [trial for trial in self.json["trials"] if trial["verdict"] != "pass"]
        if bad:
            shown = bad[:FAILING_TRIALS_SHOWN]
            lines.append(
                f"  trials not passing: {len(bad)} of {len(self.json['trials'])}"
                + (f" (first {len(shown)} shown)" if len(bad) > len(shown) else "")
            )
            for trial in shown:
                reasons = "; ".join(trial["reasons"]) or "no reasons given"
                lines.append(
                    f"    - trial {trial['index']} (seed {trial['seed']}):"
                    f" {trial['verdict'].upper()}: {reasons}"
                )
        if self.files:
            lines.append("  written: " + ", ".join(str(path) for path in self.files.values()))
        return "\n".join(lines)

    def assert_passed(self) -> None:
        """AssertionError with `failure_message()` unless the verdict is pass."""
        __tracebackhide__ = True
        if self.verdict != "pass":
            raise AssertionError(self.failure_message())

    def save(self, directory: str | PathLike[str], stem: str) -> dict[str, Path]:
        """Write `<stem>.report.json` and `<stem>.report.md` into `directory`."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {
            "json": folder / f"{stem}.report.json",
            "markdown": folder / f"{stem}.report.md",
        }
        paths["json"].write_text(json.dumps(self.json, indent=2) + "\n", encoding="utf-8")
        paths["markdown"].write_text(self.markdown, encoding="utf-8")
        self.files.update(paths)
        return paths

    def __repr__(self) -> str:
        return f"<DrillReport {self.title}: {self.verdict}>"


# Options and marker --------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mwaa-drill", "mwaa-drill: disaster-recovery drills as tests")
    group.addoption(
        "--mwaa-drill-trials",
        type=_positive_int,
        default=None,
        metavar="N",
        help="run every simulated drill (mwaa_drill_simulate) with N trials, whatever the "
        "test or the scenario says",
    )
    group.addoption(
        "--mwaa-drill-time-scale",
        type=_positive_float,
        default=None,
        metavar="X",
        help="compress every live drill's time X times, whatever the test says (default "
        f"{DEFAULT_TIME_SCALE:g}; 1 is a full-length game day)",
    )
    group.addoption(
        "--mwaa-drill-airflow-version",
        choices=AIRFLOW_VERSIONS,
        default=None,
        metavar="V",
        help="run every live drill's environments on this MWAA AirflowVersion, whatever the "
        f"test says: {' or '.join(AIRFLOW_VERSIONS)} (default {AIRFLOW_VERSIONS[0]}; each "
        "line needs its Airflow: scripts/install-airflow.sh [--line 2])",
    )
    group.addoption(
        "--mwaa-drill-report-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep every drill's report here (JSON and Markdown; live drills also HTML and "
        "history), named after the test",
    )


@dataclass(frozen=True)
class Options:
    """The plugin's command-line options, as one session sees them."""

    trials: int | None = None
    time_scale: float | None = None
    airflow_version: str | None = None
    report_dir: Path | None = None

    @classmethod
    def of(cls, config: pytest.Config) -> Options:
        report_dir = config.getoption("mwaa_drill_report_dir", None)
        if report_dir is not None:
            report_dir = config.invocation_params.dir / report_dir
        return cls(
            trials=config.getoption("mwaa_drill_trials", None),
            time_scale=config.getoption("mwaa_drill_time_scale", None),
            airflow_version=config.getoption("mwaa_drill_airflow_version", None),
            report_dir=report_dir,
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    config.stash[_STATE] = _State()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in FIXTURES):
            item.add_marker(MARKER)


# Attaching the summary of failed tests -------------------------------------------------------


class _State:
    """Per session: the test running now (drills are recorded on it), report-file stems used."""

    def __init__(self) -> None:
        self.current: pytest.Item | None = None
        self.stems: set[str] = set()


_STATE = pytest.StashKey[_State]()
_DRILLS = pytest.StashKey[list[DrillReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    state = item.config.stash.get(_STATE, None)
    if state is not None:
        state.current = item
    try:
        return (yield)
    finally:
        if state is not None:
            state.current = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, Any]:
    report = yield
    drills = item.stash.get(_DRILLS, [])
    # A failure in setup too: a fixture of the user's may have run the drill and judged it.
    if drills and report.failed and report.when in ("setup", "call"):
        for drill in drills:
            report.sections.append((f"mwaa-drill: {drill.title}", drill.markdown))
            # JUnit XML reads the properties of the teardown report, made after this one.
            item.user_properties.append((REPORT_PROPERTY, drill.markdown))
    return report


def _record(config: pytest.Config, report: DrillReport) -> None:
    """Attach `report` to the test running now (its summary is shown if the test fails)."""
    state = config.stash.get(_STATE, None)
    if state is not None and state.current is not None:
        state.current.stash.setdefault(_DRILLS, []).append(report)


# Fixtures -----------------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    """Fail the test with `message` alone: no traceback, no chained exception."""
    raise _failure(message)


def _failure(message: str) -> BaseException:
    """For `raise _failure(...) from None` inside an `except` block."""
    return pytest.fail.Exception(message, pytrace=False)


class _Drills:
    """What the fixtures share: finding scenarios, naming and writing reports."""

    def __init__(self, config: pytest.Config, test_dir: Path | None) -> None:
        self.config = config
        self.options = Options.of(config)
        self.test_dir = test_dir

    def scenario(
        self, scenario: str | PathLike[str] | Scenario, profile: str | None, who: str
    ) -> Scenario:
        import dataclasses

        from harness.scenario import Profile, ScenarioError, load_scenario
        from harness.scenario.model import Scenario

        if isinstance(scenario, Scenario):
            loaded = scenario
        else:
            path = self.find(Path(scenario), who)
            try:
                loaded = load_scenario(path)
            except ScenarioError as err:
                raise _failure(f"{who}: invalid scenario:\n{err}") from None
        if profile is None:
            return loaded
        try:
            chosen = Profile(str(profile))
        except ValueError:
            names = ", ".join(repr(p.value) for p in Profile)
            raise _failure(f"{who}: profile must be one of {names}, got {profile!r}") from None
        return dataclasses.replace(loaded, profile=chosen)

    def find(self, path: Path, who: str, what: str = "scenario file") -> Path:
        """`path`, or relative: next to the test, rootdir, invocation dir, then (scenarios
        only) the catalog shipped with mwaa-drill, by file name."""
        if path.is_absolute():
            if path.is_file():
                return path
            _fail(f"{who}: no {what} {path}")
        test_dir = self.test_dir
        state = self.config.stash.get(_STATE, None)
        if test_dir is None and state is not None and state.current is not None:
            test_dir = state.current.path.parent  # the session fixture: the test running now
        bases = [test_dir, self.config.rootpath, self.config.invocation_params.dir]
        tried: list[Path] = []
        for base in bases:
            if base is None or base in tried:
                continue
            tried.append(base)
            if (base / path).is_file():
                return base / path
        places = ", ".join(str(base) for base in tried)
        if what != "scenario file":
            _fail(f"{who}: no {what} {str(path)!r} in {places}")
        from harness.scenario.catalog import catalog_dir

        catalog = catalog_dir() / path.name
        if catalog.is_file():
            return catalog
        _fail(
            f"{who}: no {what} {str(path)!r} in {places}, nor {path.name!r} in the "
            f"scenario catalog ({catalog_dir()})"
        )

    def stem(self, report_scenario: Scenario, node: str) -> str:
        """A file name stem unique in the session: test, scenario and profile."""
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", node).strip("_.")[:120] or "drill"
        base += f"--{report_scenario.name}-{report_scenario.profile.value}"
        state = self.config.stash.get(_STATE, None)
        used = state.stems if state is not None else set()
        stem, number = base, 1
        while stem in used:
            number += 1
            stem = f"{base}-{number}"
        used.add(stem)
        return stem

    def time_scale(self, asked: float | None) -> float:
        if self.options.time_scale is not None:
            return self.options.time_scale
        if asked is None:
            return DEFAULT_TIME_SCALE
        if not asked > 0 or asked == float("inf"):
            _fail(f"time_scale must be a number > 0, got {asked!r}")
        return float(asked)

    def airflow_version(self, asked: str | None) -> str:
        if self.options.airflow_version is not None:
            return self.options.airflow_version
        if asked is None:
            return AIRFLOW_VERSIONS[0]
        if asked not in AIRFLOW_VERSIONS:
            _fail(f"airflow_version must be one of {', '.join(AIRFLOW_VERSIONS)}, got {asked!r}")
        return asked


class SimulateDrill:
    """The `mwaa_drill_simulate` fixture: run a simulated campaign, get its `DrillReport`."""

    def __init__(self, drills: _Drills, node: str) -> None:
        self._drills = drills
        self._node = node

    def __call__(
        self,
        scenario: str | PathLike[str] | Scenario,
        *,
        trials: int | None = None,
        seed: int | None = None,
        profile: str | None = None,
        calibration: str | PathLike[str] | Calibration | None = None,
        workers: int | None = 1,
    ) -> DrillReport:
        """Simulate `trials` trials (default: the scenario's; `--mwaa-drill-trials` wins)
        seeded `seed` (default: the scenario's) with `profile` (default: the scenario's).

        `calibration` is a calibration file or a `Calibration` (default: the shipped one).
        `workers=1` runs the trials in this process; None uses every CPU (same results).
        """
        from harness.report import validate_report
        from harness.sim.campaign import BackendError, run_campaign

        who = "mwaa_drill_simulate"
        loaded = self._drills.scenario(scenario, profile, who)
        count = self._drills.options.trials
        if count is None:
            count = loaded.trials if trials is None else trials
        if count < 1:
            _fail(f"{who}: trials must be at least 1, got {count}")
        if seed is not None and seed < 0:
            _fail(f"{who}: seed must not be negative, got {seed}")
        try:
            data = run_campaign(
                loaded,
                trials=count,
                seed=loaded.seed if seed is None else seed,
                calibration=self._calibration(calibration),
                workers=workers,
            )
        except BackendError as err:
            raise _failure(f"{who}: {err}") from None
        validate_report(data)
        report = DrillReport(data)
        report_dir = self._drills.options.report_dir
        if report_dir is not None:
            report.save(report_dir, self._drills.stem(loaded, self._node))
        _record(self._drills.config, report)
        return report

    def _calibration(self, calibration: str | PathLike[str] | Calibration | None) -> Calibration:
        from harness.sim.calibration import (
            Calibration,
            CalibrationError,
            default_calibration,
            load_calibration,
        )

        if isinstance(calibration, Calibration):
            return calibration
        who = "mwaa_drill_simulate"
        try:
            if calibration is None:
                return default_calibration()
            return load_calibration(self._drills.find(Path(calibration), who, "calibration file"))
        except CalibrationError as err:
            raise _failure(f"{who}: {err}") from None


def require_live_stack(airflow_version: str | None = None) -> None:
    """Fail the test (never skip it) with the fix when the live stack is not installed:
    the `live` extra (boto3, moto), Apache Airflow of that version's line (default: the
    current line) in its venv, PostgreSQL."""
    try:
        import boto3  # noqa: F401
        import moto  # noqa: F401
    except ImportError as err:
        raise _failure(
            f"live drills need the `live` extra: pip install 'mwaa-drill[live]' ({err})"
        ) from None
    from harness.live.airflow.install import AirflowNotInstalled, find_installation, line_of
    from harness.live.airflow.postgres import postgres_problem

    line = line_of(airflow_version or AIRFLOW_VERSIONS[0])
    script = "scripts/install-airflow.sh" + (" --line 2" if line == "2" else "")
    try:
        find_installation(line=line)
    except AirflowNotInstalled as err:
        raise _failure(f"{err} (live drills need {script})") from None
    problem = postgres_problem()
    if problem:
        _fail(problem)


def _progress(line: str) -> None:
    print(f"mwaa-drill live: {line}", file=sys.stderr, flush=True)


def _run_live(
    scenario: Scenario,
    time_scale: float,
    creation_delay_s: float,
    airflow_version: str,
    out_dir: Path,
    stem: str,
) -> DrillReport:
    """Run one live drill (the caller checked the stack) and write its outputs."""
    from harness.live import drill as live

    settings = live.LiveSettings(
        time_scale=float(time_scale),
        creation_delay_s=float(creation_delay_s),
        airflow_version=airflow_version,
    )
    try:
        runner = live.LiveDrill(scenario, settings, progress=_progress)
    except live.LiveDrillError as err:
        raise _failure(f"live drill {scenario.name}: cannot run: {err}") from None
    with live.sigterm_as_interrupt():
        outcome: LiveOutcome = runner.run()
    paths = live.write_outputs(outcome, out_dir, stem)
    report = DrillReport(outcome.report, history=outcome.history, files=paths)
    if outcome.aborted is not None and outcome.aborted.startswith(INTERRUPTED_PREFIX):
        # The drill tore down and wrote what it measured; now stop the session as asked.
        raise KeyboardInterrupt
    return report


class LiveDrillRunner:
    """The `mwaa_drill_live` fixture: run a live drill, get its `DrillReport` and history."""

    def __init__(self, drills: _Drills, node: str, tmp_dir: Callable[[], Path]) -> None:
        self._drills = drills
        self._node = node
        self._tmp_dir = tmp_dir

    def __call__(
        self,
        scenario: str | PathLike[str] | Scenario,
        *,
        profile: str | None = None,
        time_scale: float | None = None,
        creation_delay_s: float = 0.0,
        airflow_version: str | None = None,
    ) -> DrillReport:
        """A live drill of `scenario` compressed `time_scale` times (default 30;
        `--mwaa-drill-time-scale` wins); `creation_delay_s` adds AWS-like creation time;
        `airflow_version` is the environments' MWAA AirflowVersion (default the current line;
        `--mwaa-drill-airflow-version` wins)."""
        loaded = self._drills.scenario(scenario, profile, "mwaa_drill_live")
        scale = self._drills.time_scale(time_scale)
        version = self._drills.airflow_version(airflow_version)
        require_live_stack(version)
        out_dir = self._drills.options.report_dir or self._tmp_dir()
        stem = self._drills.stem(loaded, self._node)
        report = _run_live(loaded, scale, creation_delay_s, version, out_dir, stem)
        _record(self._drills.config, report)
        return report


class LiveSessionDrills:
    """The `mwaa_drill_live_session` fixture: live drills run once per session.

    A `LiveDrill` provisions its own two Regions and tears them down when it ends, so a live
    stack cannot outlive its drill today. What is reused across the session is the drill's
    outcome: the first test asking for (scenario, profile, time scale, Airflow version) runs
    the drill, every
    later one gets the same `DrillReport` (and history) without running it again.
    """

    def __init__(self, drills: _Drills, tmp_dir: Callable[[], Path]) -> None:
        self._drills = drills
        self._tmp_dir = tmp_dir
        self._outcomes: dict[tuple[str, str, float, str], DrillReport] = {}

    def __call__(
        self,
        scenario: str | PathLike[str] | Scenario,
        *,
        profile: str | None = None,
        time_scale: float | None = None,
        airflow_version: str | None = None,
    ) -> DrillReport:
        from harness.scenario.model import to_json

        loaded = self._drills.scenario(scenario, profile, "mwaa_drill_live_session")
        scale = self._drills.time_scale(time_scale)
        version = self._drills.airflow_version(airflow_version)
        key = (
            json.dumps(to_json(loaded), sort_keys=True, default=str),
            loaded.profile.value,
            scale,
            version,
        )
        report = self._outcomes.get(key)
        if report is None:
            require_live_stack(version)
            out_dir = self._drills.options.report_dir or self._tmp_dir()
            stem = self._drills.stem(loaded, f"session-{len(self._outcomes) + 1}")
            report = _run_live(loaded, scale, 0.0, version, out_dir, stem)
            self._outcomes[key] = report
        _record(self._drills.config, report)
        return report

    @property
    def drills_run(self) -> int:
        """How many live drills this session has run (one per distinct key)."""
        return len(self._outcomes)


@pytest.fixture
def mwaa_drill_simulate(request: pytest.FixtureRequest) -> SimulateDrill:
    """Run a simulated drill campaign: `mwaa_drill_simulate(scenario, trials=200)` returns a
    DrillReport (.verdict, .exit_code, .objective(name).met, .summary, .trials, .json,
    .assert_passed()). `--mwaa-drill-trials N` overrides the trials."""
    return SimulateDrill(_Drills(request.config, request.path.parent), request.node.nodeid)


@pytest.fixture
def mwaa_drill_live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> LiveDrillRunner:
    """Run a live drill (two Regions on this machine, real Airflow): returns a DrillReport with
    .history; its files go to a tmp dir (or --mwaa-drill-report-dir). Fails, never skips,
    when the live stack (extra `live`, Airflow, PostgreSQL) is not installed."""
    return LiveDrillRunner(
        _Drills(request.config, request.path.parent),
        request.node.nodeid,
        lambda: tmp_path_factory.mktemp("mwaa-drill-live"),
    )


@pytest.fixture(scope="session")
def mwaa_drill_live_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> LiveSessionDrills:
    """Live drills run once per session and (scenario, profile, time scale), so several tests
    assert on one drill's outcome. Each LiveDrill still builds and tears down its own stack:
    what is shared is the outcome, not a running stack."""
    return LiveSessionDrills(
        _Drills(request.config, None),
        lambda: tmp_path_factory.mktemp("mwaa-drill-live"),
    )


__all__ = [
    "MARKER",
    "DrillReport",
    "LiveDrillRunner",
    "LiveSessionDrills",
    "ObjectiveResult",
    "Options",
    "SimulateDrill",
    "UnknownObjective",
    "mwaa_drill_live",
    "mwaa_drill_live_session",
    "mwaa_drill_simulate",
    "require_live_stack",
]
