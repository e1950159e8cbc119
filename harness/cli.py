"""The `mwaa-drill` command line.

Exit codes are a contract that CI pipelines rely on:
  0  every objective met
  1  an objective was violated
  2  bad usage or invalid input (one line per error, no traceback)
  3  the drill could not be completed or judged
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness import __version__
from harness.live.airflow.install import LINES

if TYPE_CHECKING:
    from harness.scenario.model import Scenario
    from harness.sim.calibration import Calibration

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_UNJUDGED = 3

EPILOG = """\
exit codes: 0 objectives met, 1 objectives violated, 2 bad usage or invalid input,
            3 the drill could not be completed or judged

examples:
  mwaa-drill scenarios                          list the scenario catalog
  mwaa-drill scenarios --faults                 document every fault kind and its parameters
  mwaa-drill scenarios --operations             document the operator actions (failback)
  mwaa-drill validate scenarios/*.yaml          check scenario files, one line per error
  mwaa-drill simulate scenarios/cloudwatch-outage-warm-standby.yaml --trials 300 --json out.json
  mwaa-drill run scenarios/regional-outage-warm-standby.yaml --report-dir reports/
  mwaa-drill report out.json --format html -o report.html
  mwaa-drill compare base.json new.json         what got better or worse; exit 1 on a regression
"""

# `run --airflow-version`: the default line first (MWAA's two lines, each its own venv).
AIRFLOW_VERSIONS = (LINES["3"].version, LINES["2"].version)


class UsageError(Exception):
    """Bad input: printed as one line per error, exit 2."""


class Unjudged(Exception):
    """The drill could not be completed or judged: one line, exit 3."""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mwaa-drill",
        description=(
            "Disaster-recovery drills for two-Region Apache Airflow (Amazon MWAA style): "
            "inject Regional, environment and CloudWatch faults and measure RTO, RPO and "
            "spurious failovers, live on this machine or simulated over thousands of trials."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mwaa-drill {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    validate = verbs.add_parser(
        "validate",
        help="check scenario files and report every error with its field",
        description="Check scenario files. Prints one line per error: FILE: FIELD: PROBLEM.",
    )
    validate.add_argument(
        "files", nargs="+", metavar="FILE", type=Path, help="scenario files (YAML) to check"
    )

    scenarios = verbs.add_parser(
        "scenarios",
        help="list the scenario catalog, one line each",
        description="List the scenario catalog shipped with mwaa-drill.",
    )
    scenarios.add_argument(
        "--faults", action="store_true", help="document every fault kind and its parameters"
    )
    scenarios.add_argument(
        "--operations",
        action="store_true",
        help="document the operator actions of the `operations:` list",
    )

    simulate = verbs.add_parser(
        "simulate",
        help="run seeded trials of a scenario on virtual time",
        description="Run the trials of a scenario in the simulator and report distributions.",
    )
    simulate.add_argument(
        "file", metavar="FILE", type=Path, help="a scenario file (see scenarios/ for the catalog)"
    )
    simulate.add_argument("--trials", type=_positive_int, help="override the scenario's trials")
    simulate.add_argument("--seed", type=_non_negative_int, help="override the scenario's seed")
    simulate.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")
    simulate.add_argument(
        "--junit", type=Path, metavar="PATH", help="write the report as JUnit XML here (for CI)"
    )
    _dry_run_option(simulate)
    _profile_option(simulate)
    _simulator_options(simulate)
    simulate.add_argument(
        "--history-dir",
        type=Path,
        metavar="DIR",
        help=f"write the JSONL histories of the first {HISTORIES_KEPT} trials here "
        "(and embed them in the JSON report, for the HTML report's timelines)",
    )

    sweep = verbs.add_parser(
        "sweep",
        help="run a campaign per point of a grid of detector settings",
        description=(
            "The detector trade-off curve: one campaign per combination of the --set values, "
            "a table of detection time (p50/p95) against the spurious-failover rate."
        ),
    )
    sweep.add_argument(
        "file", metavar="FILE", type=Path, help="a scenario file (see scenarios/ for the catalog)"
    )
    sweep.add_argument(
        "--set",
        dest="settings",
        action="append",
        required=True,
        metavar="NAME=V1,V2",
        help="a detector setting and its values: check_interval, metric_period, confirmations, "
        "unknown_is_unhealthy, second_signal (repeatable)",
    )
    sweep.add_argument("--trials", type=_positive_int, help="trials per point")
    sweep.add_argument("--seed", type=_non_negative_int, help="override the scenario's seed")
    sweep.add_argument("--json", type=Path, metavar="PATH", help="write every point as JSON here")
    _profile_option(sweep)
    _simulator_options(sweep)

    run = verbs.add_parser(
        "run",
        help="run a live drill against two emulated Regions with real Airflow",
        description="Provision two Regions on this machine, inject the faults, measure.",
    )
    run.add_argument(
        "file", metavar="FILE", type=Path, help="a scenario file (see scenarios/ for the catalog)"
    )
    run.add_argument(
        "--backend",
        choices=["moto", "localstack"],
        default="moto",
        help="the emulated AWS endpoint of each Region (default moto; localstack needs "
        "scripts/install-localstack.sh)",
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="stream the drill's history to stderr as it happens, one line per event",
    )
    run.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="where the history, JSON, Markdown and HTML reports go (default reports/)",
    )
    run.add_argument(
        "--time-scale",
        type=_positive_float,
        default=30.0,
        metavar="X",
        help="compress the scenario's time X times (default 30: a 3-hour scenario runs in 6 "
        "minutes); 1 runs it at AWS time, a full-length game day",
    )
    run.add_argument(
        "--creation-delay",
        type=_non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="extra CREATING time of every environment, on top of the real Airflow start-up "
        "(AWS takes 20-30 minutes)",
    )
    run.add_argument(
        "--airflow-version",
        choices=AIRFLOW_VERSIONS,
        default=AIRFLOW_VERSIONS[0],
        help="the environments' MWAA AirflowVersion, run by that line's Airflow (default "
        f"{AIRFLOW_VERSIONS[0]}; {AIRFLOW_VERSIONS[1]} needs scripts/install-airflow.sh --line 2)",
    )
    run.add_argument(
        "--junit", type=Path, metavar="PATH", help="write the report as JUnit XML here (for CI)"
    )
    run.add_argument(
        "--work-dir",
        type=Path,
        metavar="DIR",
        help="keep the drill's files (Airflow logs, journal, run ledger) here",
    )
    _dry_run_option(run)
    _profile_option(run)

    report = verbs.add_parser(
        "report",
        help="render a JSON report as Markdown, HTML or JUnit XML",
        description="Render a JSON report (validated against the report schema).",
    )
    report.add_argument(
        "file", metavar="FILE.json", type=Path, help="a JSON report (simulate --json, run)"
    )
    report.add_argument(
        "--format",
        choices=["md", "html", "junit"],
        default="md",
        help="Markdown summary (default), HTML with the timeline, or JUnit XML for CI",
    )
    report.add_argument("-o", "--output", type=Path, metavar="PATH", help="default: stdout")

    compare = verbs.add_parser(
        "compare",
        help="compare two JSON reports: what got better or worse (exit 1 on a regression)",
        description=(
            "Compare two JSON reports of a drill, BASE then NEW: every objective (observed "
            "value, met or not), the verdict, and RTO/RPO/detection p50 and p95 and the "
            "spurious-failover rate. Prints a Markdown table (for pull-request comments)."
        ),
        epilog=_tolerance_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument("base", metavar="BASE.json", type=Path)
    compare.add_argument("new", metavar="NEW.json", type=Path)
    compare.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="KIND=VALUE",
        help="how much worse a value may get: seconds=10%% (default), rate=0, runs=0",
    )
    compare.add_argument(
        "--json", type=Path, metavar="PATH", help="write the comparison as JSON here"
    )
    return parser


def _tolerance_help() -> str:
    from harness.compare import TOLERANCE_HELP

    return TOLERANCE_HELP


def _dry_run_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what the drill would do (faults, DR settings, objectives, steps); "
        "start nothing",
    )


HISTORIES_KEPT = 5  # simulate --history-dir: the first trials' histories


def _simulator_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=_positive_int, help="local worker processes (default: CPU count)"
    )
    parser.add_argument(
        "--dask", metavar="ADDRESS", help="run the trials on this Dask scheduler instead"
    )
    parser.add_argument(
        "--calibration",
        type=Path,
        metavar="FILE",
        help="the simulator's calibration (default: fixtures/calibration/default.yaml)",
    )


def _profile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=["seed", "hardened"],
        help="override the scenario's profile, to compare the two on the same drill",
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


# Verbs ---------------------------------------------------------------------------------------


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.scenario import ScenarioError, load_scenario

    bad = 0
    for path in args.files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as err:
            bad += 1
            for error in err.errors:
                print(error, file=sys.stderr)
        else:
            print(f"{path}: ok ({scenario.name}: {scenario.strategy}, {scenario.profile})")
    return EXIT_USAGE if bad else EXIT_PASS


def _cmd_scenarios(args: argparse.Namespace) -> int:
    if args.faults or args.operations:
        if args.faults:
            _print_fault_kinds()
        if args.operations:
            _print_operations()
        return EXIT_PASS
    from harness.scenario import ScenarioError
    from harness.scenario.catalog import catalog_dir, list_catalog

    try:
        catalog = list_catalog()
    except ScenarioError as err:
        raise UsageError(str(err)) from None
    print(f"# scenario catalog: {catalog_dir()}")
    width = max((len(path.name) for path, _ in catalog), default=0)
    for path, scenario in catalog:
        summary = scenario.description.strip().splitlines()[0] if scenario.description else ""
        print(f"{path.name:<{width}}  {scenario.strategy:<14} {scenario.profile:<8} {summary}")
    return EXIT_PASS


def _print_fault_kinds() -> None:
    from harness.scenario.faults import FAULT_SPECS

    for kind, spec in FAULT_SPECS.items():
        print(f"{kind}  (default region: {spec.default_region})")
        print(f"    {spec.summary}")
        for line in spec.doc.strip().splitlines():
            print(f"    {line}")
        for param in spec.params:
            default = "required" if param.default is None else f"default {param.default}"
            print(f"    - {param.name} ({param.kind}, {default}): {param.doc}")
        print()


def _print_operations() -> None:
    import textwrap

    from harness.scenario.model import OPERATION_SUMMARIES, OperationAction

    print("operations: a top-level list of operator actions, each {action: ..., at: ...};")
    print("`at` is a time of the drill like a fault's (a duration, or {uniform: [a, b]}),")
    print("before the drill's end and after the earliest fault.")
    print()
    for action, summary in OPERATION_SUMMARIES.items():
        print(f"{action}")
        print(
            textwrap.fill(f"{summary}.", width=92, initial_indent="    ", subsequent_indent="    ")
        )
        if action is OperationAction.FAILBACK:
            print("    Measured: failback time, from the failback decision to the first successful")
            print("    primary run due after it; objective max_failback_time (a duration).")
        print()


def _cmd_simulate(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _dry_run(args, "simulate")
    import dataclasses
    import json

    from harness.render.markdown import render_markdown
    from harness.report import exit_code, timeline_json, validate_report
    from harness.sim.campaign import BackendError, run_campaign
    from harness.sim.trial import run_trial

    scenario = _load_scenario(args.file, args.profile)
    calibration = _calibration(args.calibration)
    trials = args.trials if args.trials is not None else scenario.trials
    seed = args.seed if args.seed is not None else scenario.seed
    try:
        report = run_campaign(
            scenario,
            trials=trials,
            seed=seed,
            calibration=calibration,
            workers=args.workers,
            dask_address=args.dask,
            progress=_progress_printer(trials),
        )
    except BackendError as err:
        raise UsageError(str(err)) from None
    if args.history_dir is not None:
        # Trials are deterministic: running one again gives the same history it had.
        args.history_dir.mkdir(parents=True, exist_ok=True)
        seeded = dataclasses.replace(scenario, seed=seed)
        for entry in report["trials"][:HISTORIES_KEPT]:
            trial = run_trial(seeded, calibration, entry["index"], keep_history=True)
            assert trial.history is not None
            path = args.history_dir / f"trial-{entry['index']:04d}.jsonl"
            trial.history.save(path)
            entry["history"] = str(path)
            entry["timeline"] = timeline_json(trial.history.events)  # the HTML report draws it
    validate_report(report)
    sys.stdout.write(render_markdown(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.junit is not None:
        from harness.render.junit import render_junit

        args.junit.write_text(render_junit(report), encoding="utf-8")
    return exit_code(report)


def _cmd_sweep(args: argparse.Namespace) -> int:
    import json

    from harness.sim.campaign import BackendError
    from harness.sim.sweep import SweepError, parse_setting, render_sweep, run_sweep

    scenario = _load_scenario(args.file, args.profile)
    calibration = _calibration(args.calibration)
    try:
        settings = [parse_setting(text) for text in args.settings]
    except SweepError as err:
        raise UsageError(str(err)) from None
    trials = args.trials if args.trials is not None else scenario.trials
    seed = args.seed if args.seed is not None else scenario.seed

    def progress(done: int, total: int, point: object) -> None:
        print(f"sweep: point {done} of {total} done: {point}", file=sys.stderr)

    try:
        points = run_sweep(
            scenario,
            settings,
            trials=trials,
            seed=seed,
            calibration=calibration,
            workers=args.workers,
            dask_address=args.dask,
            progress=progress,
        )
    except (SweepError, BackendError) as err:
        raise UsageError(str(err)) from None
    sys.stdout.write(render_sweep(scenario, points))
    if args.json is not None:
        data = {"scenario": scenario.name, "seed": seed, "trials": trials}
        data["points"] = [point.to_json() for point in points]
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return EXIT_PASS


def _load_scenario(path: Path, profile: str | None = None) -> Scenario:
    import dataclasses

    from harness.scenario import Profile, ScenarioError, load_scenario

    try:
        scenario = load_scenario(path)
    except ScenarioError as err:
        raise UsageError(str(err)) from None
    if profile is not None:
        scenario = dataclasses.replace(scenario, profile=Profile(profile))
    return scenario


def _calibration(path: Path | None) -> Calibration:
    from harness.sim.calibration import CalibrationError, default_calibration, load_calibration

    try:
        return default_calibration() if path is None else load_calibration(path)
    except CalibrationError as err:
        raise UsageError(str(err)) from None


def _progress_kind(stream: Any) -> Literal["bar", "lines"]:
    """How `simulate` shows its progress on `stream`: a bar redrawn in place on a terminal,
    plain lines otherwise (CI logs, files, pipes). Neither rich nor tqdm is a dependency: the
    bar is a `\r` counter of its own."""
    isatty = getattr(stream, "isatty", None)
    try:
        return "bar" if callable(isatty) and bool(isatty()) else "lines"
    except (OSError, ValueError):  # a closed or detached stream
        return "lines"


def _progress_bar(stream: Any, width: int = 30) -> Callable[[int, int], None]:
    """`simulate: [#######.......]  412/1000 trials  41%`, redrawn in place with `\r` when the
    whole percent changes (at most ~100 writes, whatever the trials); a newline at the end."""
    shown = [-1]

    def show(done: int, total: int) -> None:
        total = max(total, 1)
        done = min(max(done, 0), total)
        percent = done * 100 // total
        if percent == shown[0] and done != total:
            return
        shown[0] = percent
        filled = done * width // total
        bar = "#" * filled + "." * (width - filled)
        end = "\n" if done == total else ""
        stream.write(
            f"\rsimulate: [{bar}] {done:>{len(str(total))}}/{total} trials {percent:3d}%{end}"
        )
        stream.flush()

    return show


def _progress_printer(trials: int, stream: Any = None) -> Callable[[int, int], None] | None:
    """On a terminal, a progress bar; otherwise a line on stderr about every 10% of a long
    campaign, and nothing for a short one."""
    stream = sys.stderr if stream is None else stream
    if _progress_kind(stream) == "bar":
        return _progress_bar(stream)
    if trials < 100:
        return None
    step = max(1, trials // 10)
    next_line = [step]

    def show(done: int, total: int) -> None:
        if done >= next_line[0] or done == total:
            print(f"simulate: {done} of {total} trials", file=stream)
            next_line[0] = (done // step + 1) * step

    return show


def _cmd_run(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _dry_run(args, "run")
    from harness.live.drill import (
        LiveDrill,
        LiveDrillError,
        LiveSettings,
        sigterm_as_interrupt,
        write_outputs,
    )
    from harness.render.markdown import render_markdown
    from harness.report import exit_code

    scenario = _load_scenario(args.file, args.profile)
    settings = LiveSettings(
        time_scale=args.time_scale,
        creation_delay_s=args.creation_delay,
        work_dir=args.work_dir,
        keep_work_dir=args.work_dir is not None,
        emulator=args.backend,
        airflow_version=args.airflow_version,
    )
    try:
        drill = LiveDrill(
            scenario,
            settings,
            progress=_live_progress,
            on_event=_live_event if args.verbose else None,
        )
    except LiveDrillError as err:
        raise Unjudged(str(err)) from None
    with sigterm_as_interrupt():
        outcome = drill.run()
    stem = f"{scenario.name}-{scenario.profile.value}"
    paths = write_outputs(outcome, args.report_dir, stem)
    if args.junit is not None:
        from harness.render.junit import render_junit

        args.junit.write_text(render_junit(outcome.report), encoding="utf-8")
        paths["junit"] = args.junit
    sys.stdout.write(render_markdown(outcome.report))
    print(
        "\nwritten: " + ", ".join(str(path) for path in paths.values()),
        file=sys.stderr,
    )
    return exit_code(outcome.report)


def _live_progress(line: str) -> None:
    print(f"mwaa-drill run: {line}", file=sys.stderr, flush=True)


def _live_event(line: str) -> None:
    print(f"mwaa-drill run: event {line}", file=sys.stderr, flush=True)


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.render.html import render_html
    from harness.render.markdown import render_markdown
    from harness.report import ReportError, load_report

    try:
        report = load_report(args.file)
    except (OSError, ReportError) as err:
        raise UsageError(f"{args.file}: {err}") from None
    if args.format == "junit":
        from harness.render.junit import render_junit

        text = render_junit(report)
    else:
        text = render_html(report) if args.format == "html" else render_markdown(report)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_PASS


def _cmd_compare(args: argparse.Namespace) -> int:
    import json

    from harness.compare import (
        CompareError,
        compare_files,
        parse_tolerance,
        render_comparison_markdown,
    )

    try:
        comparison = compare_files(args.base, args.new, parse_tolerance(args.tolerance))
    except CompareError as err:
        raise UsageError(str(err)) from None
    for warning in comparison.warnings:
        print(f"mwaa-drill compare: warning: {warning}", file=sys.stderr)
    sys.stdout.write(render_comparison_markdown(comparison))
    if args.json is not None:
        text = json.dumps(comparison.to_json(), indent=2, allow_nan=False)
        args.json.write_text(text + "\n", encoding="utf-8")
    return EXIT_FAIL if comparison.regression else EXIT_PASS


def _dry_run(args: argparse.Namespace, mode: Literal["simulate", "run"]) -> int:
    """`simulate`/`run` with --dry-run: check the inputs, print the plan, start nothing."""
    from harness.plan import describe_plan

    scenario = _load_scenario(args.file, args.profile)
    outputs = []
    for option, what in (("json", "the JSON report"), ("junit", "the JUnit XML report")):
        path = getattr(args, option, None)
        if path is not None:
            outputs.append(f"{what}: {path}")
    if mode == "simulate":
        calibration = _calibration(args.calibration)  # a bad file is an error now, not later
        if getattr(args, "history_dir", None) is not None:
            outputs.append(f"histories of the first {HISTORIES_KEPT} trials: {args.history_dir}/")
        text = describe_plan(
            scenario,
            "simulate",
            trials=args.trials,
            seed=args.seed,
            calibration=calibration.source,
            outputs=outputs,
        )
    else:
        text = describe_plan(
            scenario,
            "run",
            backend=args.backend,
            report_dir=str(args.report_dir),
            outputs=outputs,
            time_scale=args.time_scale,
            airflow_version=args.airflow_version,
        )
    sys.stdout.write(text)
    return EXIT_PASS


_VERBS = {
    "validate": _cmd_validate,
    "scenarios": _cmd_scenarios,
    "simulate": _cmd_simulate,
    "sweep": _cmd_sweep,
    "run": _cmd_run,
    "report": _cmd_report,
    "compare": _cmd_compare,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)  # exits 2 with a usage line on bad usage
    try:
        return _VERBS[args.verb](args)
    except UsageError as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    except Unjudged as err:
        print(f"mwaa-drill: cannot complete: {err}", file=sys.stderr)
        return EXIT_UNJUDGED
    except BrokenPipeError:  # `mwaa-drill scenarios | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PASS
    except KeyboardInterrupt:
        print("mwaa-drill: interrupted", file=sys.stderr)
        return EXIT_UNJUDGED
    except Exception as err:  # a bug of ours: one line, the traceback only on request
        if args.debug:
            traceback.print_exc()
        print(
            f"mwaa-drill: internal error: {type(err).__name__}: {err} (rerun with --debug)",
            file=sys.stderr,
        )
        return EXIT_UNJUDGED


if __name__ == "__main__":
    sys.exit(main())
