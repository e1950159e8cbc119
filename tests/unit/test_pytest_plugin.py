"""The pytest plugin (harness/pytest_plugin.py): the DrillReport wrapper, the options, the
marker, the summary attached to failed tests, the live fixtures (through a fake LiveDrill:
never a live drill here), and the worked example of examples/pytest run as a user would."""

from __future__ import annotations

import dataclasses
import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.pytest_plugin import DrillReport, ObjectiveResult, UnknownObjective
from harness.report import load_report, unknown_report
from harness.scenario import Profile, load_scenario
from harness.sim.calibration import default_calibration
from harness.sim.campaign import run_campaign

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "pytest" / "test_dr_objectives.py"
CLOUDWATCH = REPO / "scenarios" / "cloudwatch-outage-warm-standby.yaml"


def campaign(profile: str, trials: int) -> DrillReport:
    scenario = dataclasses.replace(load_scenario(CLOUDWATCH), profile=Profile(profile))
    report = run_campaign(
        scenario, trials=trials, seed=3, calibration=default_calibration(), workers=1
    )
    return DrillReport(report)


# The wrapper ---------------------------------------------------------------------------------


def test_a_failing_campaign_reads_as_typed_values_and_fails_readably() -> None:
    report = campaign("seed", 8)
    assert (report.verdict, report.exit_code, report.passed) == ("fail", 1, False)
    assert (report.scenario, report.profile, report.mode, report.seed) == (
        "cloudwatch-outage-warm-standby",
        "seed",
        "simulate",
        3,
    )
    assert len(report.trials) == 8 and report.summary["trials"] == 8
    assert report.json["verdict"] == "fail" and report.history is None
    objective = report.objective("max_spurious_failover_rate")
    assert (objective.met, objective.observed, objective.target) == (False, 1.0, 0.0)
    assert str(objective).startswith(
        "max_spurious_failover_rate: observed 100%, target ≤ 0%: NOT MET (8 of 8 trials"
    )
    with pytest.raises(AssertionError) as failed:
        report.assert_passed()
    message = str(failed.value)
    assert message.splitlines()[0] == (
        "mwaa-drill: cloudwatch-outage-warm-standby (seed, simulate, 8 trials), seed 3:"
        " verdict FAIL"
    )
    assert "    - max_spurious_failover_rate: 100% > target 0% (8 of 8 trials" in message
    assert "  trials not passing: 8 of 8 (first 5 shown)" in message
    assert "    - trial 0 (seed " in message and "spurious failover" in message
    assert repr(report) == (
        "<DrillReport cloudwatch-outage-warm-standby (seed, simulate, 8 trials): fail>"
    )
    assert report.markdown.startswith("# mwaa-drill: cloudwatch-outage-warm-standby — ❌ FAIL")


def test_a_passing_campaign_passes_and_names_the_objectives_it_sets() -> None:
    report = campaign("hardened", 3)
    report.assert_passed()
    assert (report.verdict, report.exit_code) == ("pass", 0)
    assert report.objective("max_spurious_failover_rate").met is True
    with pytest.raises(KeyError) as missing:
        report.objective("rto")
    assert isinstance(missing.value, UnknownObjective)
    assert str(missing.value) == (
        "scenario 'cloudwatch-outage-warm-standby' sets no objective 'rto'"
        " (it sets: max_spurious_failover_rate)"
    )


def test_an_unjudged_drill_fails_assert_passed_with_why() -> None:
    scenario = load_scenario(CLOUDWATCH)
    report = DrillReport(
        unknown_report(mode="live", scenario=scenario, seed=3, reason="the stack did not start")
    )
    assert (report.verdict, report.exit_code, report.mode, report.trials) == (
        "unknown",
        3,
        "live",
        (),
    )
    assert report.aborted == "the stack did not start"
    with pytest.raises(AssertionError, match="verdict UNKNOWN") as failed:
        report.assert_passed()
    assert "    - aborted: the stack did not start" in str(failed.value)


def test_a_report_saves_and_loads_back(tmp_path: Path) -> None:
    report = campaign("hardened", 2)
    paths = report.save(tmp_path / "out", "drill")
    assert paths == {
        "json": tmp_path / "out" / "drill.report.json",
        "markdown": tmp_path / "out" / "drill.report.md",
    }
    assert load_report(paths["json"]) == report.json
    assert paths["markdown"].read_text(encoding="utf-8") == report.markdown
    again = DrillReport.load(paths["json"])
    assert again.json == report.json and again.files == {"json": paths["json"]}
    assert f"written: {paths['json']}" in again.failure_message()


def test_objective_targets_read_with_their_unit_and_percentile() -> None:
    rto = ObjectiveResult.from_json(
        {
            "name": "rto",
            "target": 1200,
            "observed": 632.5,
            "met": True,
            "detail": "p95 over 50 judged trials",
            "unit": "seconds",
            "percentile": 95,
        }
    )
    assert (rto.target_text, rto.observed_text, rto.unit) == ("p95 ≤ 20m", "10m32s", "seconds")
    # Reports written before objectives carried a unit: recognised by name.
    lost = ObjectiveResult.from_json(
        {"name": "max_lost_runs", "target": 0, "observed": None, "met": None, "detail": "n/a"}
    )
    assert (lost.unit, lost.observed_text) == ("runs", "—")
    assert str(lost) == "max_lost_runs: observed —, target ≤ 0: not judged (n/a)"


# The plugin in a pytest run ------------------------------------------------------------------

SCENARIO_NAME = "cloudwatch-outage-warm-standby.yaml"


def test_the_entry_point_registers_the_marker_and_the_options(pytester: pytest.Pytester) -> None:
    markers = pytester.runpytest("--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.mwaa_drill: a test that runs a disaster-recovery*"])
    usage = pytester.runpytest("--help")
    usage.stdout.fnmatch_lines(
        [
            "mwaa-drill: disaster-recovery drills as tests:",
            "  --mwaa-drill-trials=N*",
            "*--mwaa-drill-time-scale=X*",
            "*--mwaa-drill-airflow-version=V*",
            "*--mwaa-drill-report-dir=DIR*",
        ]
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--mwaa-drill-trials", "0"], "*--mwaa-drill-trials: must be at least 1, got 0*"),
        (["--mwaa-drill-trials", "many"], "*--mwaa-drill-trials: expected a whole number*"),
        (["--mwaa-drill-time-scale", "-2"], "*--mwaa-drill-time-scale: must be a number > 0*"),
    ],
)
def test_bad_option_values_are_usage_errors(
    pytester: pytest.Pytester, option: list[str], message: str
) -> None:
    result = pytester.runpytest(*option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_trials_option_overrides_the_test_and_report_dir_keeps_reports(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_drills=f"""
        def test_override(mwaa_drill_simulate):
            report = mwaa_drill_simulate("scenarios/{SCENARIO_NAME}", trials=50)
            assert len(report.trials) == 3
            assert report.files["json"].is_file()

        def test_same_again(mwaa_drill_simulate):
            mwaa_drill_simulate("{SCENARIO_NAME}", seed=5)
            mwaa_drill_simulate("{SCENARIO_NAME}", seed=5)
        """
    )
    result = pytester.runpytest("--mwaa-drill-trials", "3", "--mwaa-drill-report-dir", "out")
    result.assert_outcomes(passed=2)
    names = sorted(path.name for path in (pytester.path / "out").iterdir())
    stem = "test_drills.py_test_same_again--cloudwatch-outage-warm-standby-hardened"
    assert names == [
        "test_drills.py_test_override--cloudwatch-outage-warm-standby-hardened.report.json",
        "test_drills.py_test_override--cloudwatch-outage-warm-standby-hardened.report.md",
        f"{stem}-2.report.json",
        f"{stem}-2.report.md",
        f"{stem}.report.json",
        f"{stem}.report.md",
    ]
    report = load_report(pytester.path / "out" / f"{stem}.report.json")
    assert (report["seed"], len(report["trials"])) == (5, 3)


def test_the_marker_is_added_to_drill_tests_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_mixed="""
        def test_drill(mwaa_drill_simulate):
            pass

        def test_live(mwaa_drill_live_session):
            pass

        def test_plain():
            pass
        """
    )
    selected = pytester.runpytest("-m", "mwaa_drill", "--strict-markers")
    selected.assert_outcomes(passed=2, deselected=1)
    others = pytester.runpytest("-m", "not mwaa_drill", "--strict-markers")
    others.assert_outcomes(passed=1, deselected=2)


def test_scenarios_are_found_next_to_the_test_and_mistakes_are_one_line(
    pytester: pytest.Pytester,
) -> None:
    short = CLOUDWATCH.read_text(encoding="utf-8").replace("duration: 2h", "duration: 90m")
    pytester.mkdir("suite")
    (pytester.path / "suite" / "drills").mkdir()
    (pytester.path / "suite" / "drills" / "short.yaml").write_text(
        short.replace("name: cloudwatch-outage-warm-standby", "name: short"), encoding="utf-8"
    )
    (pytester.path / "suite" / "bad.yaml").write_text("name: bad\nstrategy: sideways\n")
    (pytester.path / "suite" / "test_find.py").write_text(
        textwrap.dedent(
            f"""
            from harness.scenario import load_scenario
            from harness.scenario.catalog import catalog_dir

            def test_next_to_the_test(mwaa_drill_simulate):
                assert mwaa_drill_simulate("drills/short.yaml", trials=2).scenario == "short"

            def test_a_scenario_object(mwaa_drill_simulate):
                scenario = load_scenario(catalog_dir() / "{SCENARIO_NAME}")
                report = mwaa_drill_simulate(scenario, trials=2, profile="seed")
                assert (report.profile, report.verdict) == ("seed", "fail")

            def test_missing(mwaa_drill_simulate):
                mwaa_drill_simulate("drills/nowhere.yaml")

            def test_bad_profile(mwaa_drill_simulate):
                mwaa_drill_simulate("drills/short.yaml", profile="strong")

            def test_invalid(mwaa_drill_simulate):
                mwaa_drill_simulate("bad.yaml")

            def test_bad_calibration(mwaa_drill_simulate):
                mwaa_drill_simulate("drills/short.yaml", calibration="drills/short.yaml")
            """
        )
    )
    result = pytester.runpytest("suite")
    result.assert_outcomes(passed=2, failed=4)
    result.stdout.fnmatch_lines_random(
        [
            "mwaa_drill_simulate: no scenario file 'drills/nowhere.yaml' in */suite, *,"
            " nor 'nowhere.yaml' in the scenario catalog (*)",
            "mwaa_drill_simulate: profile must be one of 'seed', 'hardened', got 'strong'",
            "mwaa_drill_simulate: invalid scenario:",
            "*bad.yaml: strategy:*",
            "mwaa_drill_simulate: *short.yaml*",
        ]
    )


def test_a_failed_drill_test_carries_the_markdown_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fails=f"""
        import pytest

        def test_seed_profile(mwaa_drill_simulate):
            report = mwaa_drill_simulate("{SCENARIO_NAME}", trials=4, profile="seed")
            report.assert_passed()

        def test_passes(mwaa_drill_simulate):
            mwaa_drill_simulate("{SCENARIO_NAME}", trials=2).assert_passed()

        @pytest.fixture
        def judged_in_setup(mwaa_drill_simulate):
            mwaa_drill_simulate("{SCENARIO_NAME}", trials=3, profile="seed").assert_passed()

        def test_setup_judges(judged_in_setup):
            pass
        """
    )
    result = pytester.runpytest("--junitxml", "junit.xml")
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*- mwaa-drill: cloudwatch-outage-warm-standby (seed, simulate, 3 trials) -*"]
    )
    result.stdout.fnmatch_lines(
        [
            ">       report.assert_passed()",  # the test's line, not the plugin's
            "E       AssertionError: mwaa-drill: cloudwatch-outage-warm-standby"
            " (seed, simulate, 4 trials), seed 3: verdict FAIL",
            "*- mwaa-drill: cloudwatch-outage-warm-standby (seed, simulate, 4 trials) -*",
            "# mwaa-drill: cloudwatch-outage-warm-standby — ❌ FAIL",
            "## Verdict: FAIL",
        ]
    )
    assert "(hardened, simulate, 2 trials) -" not in result.stdout.str()  # passed: no section
    junit = ET.parse(pytester.path / "junit.xml")
    cases = {case.get("name"): case for case in junit.iter("testcase")}
    props = [(p.get("name"), p.get("value")) for p in cases["test_seed_profile"].iter("property")]
    assert [name for name, _ in props] == ["mwaa_drill_report"]
    assert str(props[0][1]).startswith("# mwaa-drill: cloudwatch-outage-warm-standby — ❌ FAIL")
    assert not list(cases["test_passes"].iter("property"))


# Live fixtures, through a fake LiveDrill ------------------------------------------------------

FAKE_LIVE = """
import pytest

import harness.pytest_plugin
from harness.live import drill as live
from harness.report import build_report
from harness.sim.calibration import default_calibration
from harness.sim.trial import run_trial

DRILLS = []  # (scenario name, profile, settings) of every drill started


class FakeLiveDrill:
    aborted = None

    def __init__(self, scenario, settings, *, progress=None):
        if scenario.name == "unrunnable":
            raise live.LiveDrillError("the fake cannot drill this one")
        self.scenario, self.settings = scenario, settings
        DRILLS.append((scenario.name, scenario.profile.value, settings))

    def run(self):
        trial = run_trial(self.scenario, default_calibration(), 0, keep_history=True)
        report = build_report(
            mode="live",
            scenario=self.scenario,
            seed=self.scenario.seed,
            trials=[trial.result()],
            aborted=self.aborted,
            timelines={0: trial.history.events},
        )
        return live.LiveOutcome(history=trial.history, report=report, aborted=self.aborted)


@pytest.fixture(autouse=True)
def fake_live_stack(monkeypatch):
    monkeypatch.setattr(live, "LiveDrill", FakeLiveDrill)
    monkeypatch.setattr(harness.pytest_plugin, "require_live_stack", lambda version=None: None)
"""


def test_live_drill_runs_with_the_time_scale_and_writes_its_outputs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(FAKE_LIVE)
    pytester.makepyfile(
        test_live=f"""
        from conftest import DRILLS

        def test_default_scale(mwaa_drill_live):
            report = mwaa_drill_live("{SCENARIO_NAME}")
            assert (report.mode, report.verdict, len(report.trials)) == ("live", "pass", 1)
            assert report.history is not None and report.history.events[0].kind == "drill_start"
            assert sorted(report.files) == ["history", "html", "json", "markdown"]
            assert all(path.is_file() for path in report.files.values())
            assert DRILLS[-1][2].time_scale == 30.0
            assert DRILLS[-1][2].airflow_version == "3.3.2"

        def test_asked_scale(mwaa_drill_live):
            mwaa_drill_live("{SCENARIO_NAME}", time_scale=10, creation_delay_s=5)
            assert (DRILLS[-1][2].time_scale, DRILLS[-1][2].creation_delay_s) == (10.0, 5.0)

        def test_asked_airflow_version(mwaa_drill_live):
            mwaa_drill_live("{SCENARIO_NAME}", airflow_version="2.10.5")
            assert DRILLS[-1][2].airflow_version == "2.10.5"

        def test_unknown_airflow_version(mwaa_drill_live):
            mwaa_drill_live("{SCENARIO_NAME}", airflow_version="2.9.0")

        def test_unrunnable(mwaa_drill_live):
            mwaa_drill_live("unrunnable.yaml")
        """
    )
    pytester.makefile(
        ".yaml",
        unrunnable="name: unrunnable\nstrategy: warm_standby\nprofile: hardened\n"
        "duration: 1h\nfaults:\n  - kind: network_partition\n    region: primary\n    at: 10m\n",
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "airflow_version must be one of 3.3.2, 2.10.5, got '2.9.0'",
            "live drill unrunnable: cannot run: the fake cannot drill this one",
        ],
        consecutive=False,
    )
    overridden = pytester.runpytest("--mwaa-drill-time-scale", "60", "-k", "asked_scale")
    overridden.assert_outcomes(failed=1)
    overridden.stdout.fnmatch_lines(["*assert (60.0, 5.0) == (10.0, 5.0)*"])
    on_2 = pytester.runpytest("--mwaa-drill-airflow-version", "2.10.5", "-k", "default_scale")
    on_2.assert_outcomes(failed=1)
    on_2.stdout.fnmatch_lines(["*assert '2.10.5' == '3.3.2'*"])


def test_the_plugins_airflow_versions_are_the_clis() -> None:
    from harness.cli import AIRFLOW_VERSIONS
    from harness.pytest_plugin import AIRFLOW_VERSIONS as PLUGIN_VERSIONS

    assert PLUGIN_VERSIONS == AIRFLOW_VERSIONS


def test_the_session_fixture_runs_one_drill_per_scenario_profile_and_scale(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(FAKE_LIVE)
    pytester.makepyfile(
        test_session=f"""
        from conftest import DRILLS

        def test_first(mwaa_drill_live_session):
            report = mwaa_drill_live_session("{SCENARIO_NAME}")
            assert report.verdict == "pass" and len(DRILLS) == 1

        def test_same_drill_again(mwaa_drill_live_session):
            report = mwaa_drill_live_session("scenarios/{SCENARIO_NAME}", profile="hardened")
            assert report.objective("max_spurious_failover_rate").met
            assert len(DRILLS) == 1 and mwaa_drill_live_session.drills_run == 1

        def test_another_profile(mwaa_drill_live_session):
            report = mwaa_drill_live_session("{SCENARIO_NAME}", profile="seed")
            assert len(DRILLS) == 2 and report.profile == "seed"
            assert mwaa_drill_live_session("{SCENARIO_NAME}", time_scale=20) is not report
            assert mwaa_drill_live_session.drills_run == 3
            on_2 = mwaa_drill_live_session("{SCENARIO_NAME}", airflow_version="2.10.5")
            assert mwaa_drill_live_session.drills_run == 4 and on_2 is not report
            report.assert_passed()
        """
    )
    result = pytester.runpytest("--mwaa-drill-report-dir", "kept")
    result.assert_outcomes(passed=2, failed=1)  # the seed profile fails over: summary attached
    result.stdout.fnmatch_lines(
        ["*- mwaa-drill: cloudwatch-outage-warm-standby (seed, live, 1 trial) -*"]
    )
    kept = sorted(path.name for path in (pytester.path / "kept").iterdir())
    assert len(kept) == 16 and kept[0].startswith("session-1--cloudwatch-outage-warm-standby")


def test_an_interrupted_live_drill_stops_the_session_after_writing_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        FAKE_LIVE + "\nFakeLiveDrill.aborted = 'interrupted (Ctrl-C or SIGTERM)'\n"
    )
    pytester.makepyfile(
        test_stop=f"""
        def test_interrupted(mwaa_drill_live):
            mwaa_drill_live("{SCENARIO_NAME}")

        def test_never_reached():
            pass
        """
    )
    # In a subprocess: in process, pytester passes the interruption on to this very session.
    result = pytester.runpytest_subprocess("--mwaa-drill-report-dir", "kept", "-v")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.no_fnmatch_line("*test_never_reached*PASSED*")
    written = load_report(next((pytester.path / "kept").glob("*.report.json")))
    assert written["aborted"] == "interrupted (Ctrl-C or SIGTERM)"


def test_live_fixtures_fail_with_the_install_hint_without_airflow(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MWAA_DRILL_AIRFLOW_VENV", str(pytester.path / "no-airflow"))
    pytester.makepyfile(
        test_needs_airflow=f"""
        import pytest
        from harness.live import drill as live

        @pytest.fixture(autouse=True)
        def no_real_drill(monkeypatch):
            def refuse(*args, **kwargs):
                raise AssertionError("a live drill was started")
            monkeypatch.setattr(live, "LiveDrill", refuse)

        def test_live(mwaa_drill_live):
            mwaa_drill_live("{SCENARIO_NAME}")

        def test_session(mwaa_drill_live_session):
            mwaa_drill_live_session("{SCENARIO_NAME}")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    assert "skipped" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "Apache Airflow is not installed in */no-airflow (no bin/airflow): run"
            " scripts/install-airflow.sh (live drills need scripts/install-airflow.sh)",
        ]
        * 2
    )
    assert "a live drill was started" not in result.stdout.str()


# The worked example, run as a user's suite would run it ---------------------------------------


def copy_example(pytester: pytest.Pytester, edit: Any = None) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    if edit is not None:
        text = edit(text)
    (pytester.path / EXAMPLE.name).write_text(text, encoding="utf-8")


def test_the_worked_example_passes(pytester: pytest.Pytester) -> None:
    copy_example(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=5)
    cases = [case.get("name") for case in ET.parse(pytester.path / "junit.xml").iter("testcase")]
    assert cases == [
        "test_hardened_never_fails_over_for_cloudwatch",
        "test_spurious_failover_objective_per_profile[hardened-True]",
        "test_spurious_failover_objective_per_profile[seed-False]",
        "test_regional_outage_recovers_within_objectives",
        "test_a_detector_regression_is_caught_by_compare",
    ]


def test_the_worked_example_fails_on_a_regression_with_the_summary(
    pytester: pytest.Pytester,
) -> None:
    """The example expecting the seed profile to meet the objective: the regression a change
    bringing the seed detector back would be, shown with the report's summary."""
    old = '("seed", False),'
    assert old in EXAMPLE.read_text(encoding="utf-8")
    copy_example(pytester, lambda text: text.replace(old, '("seed", True),'))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "per_profile")
    result.assert_outcomes(passed=1, failed=1, deselected=3)
    result.stdout.fnmatch_lines(
        [
            "*FAILED*test_spurious_failover_objective_per_profile[[]seed-True[]]*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: max_spurious_failover_rate: observed 100%, target ≤ 0%:"
            " NOT MET (100 of 100 trials (100%)*",
            "*- mwaa-drill: cloudwatch-outage-warm-standby (seed, simulate, 100 trials) -*",
            "## Verdict: FAIL",
            "| max_spurious_failover_rate | ≤ 0% | 100% | ❌ |*",
        ]
    )


def test_the_example_scenarios_are_in_the_catalog() -> None:
    """The example names scenarios by `scenarios/<file>`: found in any suite via the catalog."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith(("CLOUDWATCH_OUTAGE = ", "REGIONAL_OUTAGE = ")):
            path = json.loads(line.split(" = ")[1])
            assert (REPO / path).is_file(), path
