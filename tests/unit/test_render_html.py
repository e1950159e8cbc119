"""The HTML report without a browser: the timeline model and RTO split (pure functions of a
history), the histogram bins, the page's structure, escaping and self-containment, and the
`timeline` a report can carry (build_report's `timelines`, `simulate --history-dir`).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from harness.checkers import measure_trial
from harness.cli import HISTORIES_KEPT, main
from harness.history import Event
from harness.render.html import TIMELINES_SHOWN, flatten, histogram, render_html
from harness.render.timeline import (
    DETECTION,
    FIRST_RUN,
    NOTHING_TO_PROVISION,
    PROVISIONING,
    TRACKS,
    build_timeline,
    events_from_json,
    rto_split,
    time_ticks,
)
from harness.report import TrialResult, build_report, load_report, timeline_json, validate_report
from harness.scenario import load_scenario
from harness.sim.calibration import default_calibration
from harness.sim.trial import run_trial
from tests.unit.history_builders import HistoryBuilder, P, S
from tests.unit.test_render import parse
from tests.unit.test_report import never_recovered, outage_scenario, recovered, trials_of

REPO = Path(__file__).resolve().parents[2]


# Hand-built histories ------------------------------------------------------------------------


def backup_restore_history() -> HistoryBuilder:
    """Outage at 10m; failover at 15m; a new environment (CREATING 15m10s, AVAILABLE 45m);
    a restore that fails once and then completes at 50m; the first run due after the fault
    ends at 52m."""
    return (
        HistoryBuilder(duration_s=7200.0)
        .env_state(0, P, "AVAILABLE")
        .active(1, P, until=600)
        .run(300, P, "workload_0", "d1", due_t=240)
        .add(400, "backup", region=P, backup_id="b1", state="started")
        .add(420, "backup", region=P, backup_id="b1", state="completed")
        .add(450, "replication", source=P, dest=S, backup_id="b1", state="arrived")
        .add(500, "probe", region=P, result="healthy", detail="ok")
        .outage(600, until=5400)
        .add(700, "probe", region=P, result="unknown", detail="CloudWatch error")
        .add(800, "probe", region=P, result="unhealthy", detail="no heartbeat")
        .failover(900)
        .env_state(910, S, "CREATING")
        .env_state(2700, S, "AVAILABLE")
        .restore(2720, S, "started")
        .restore(2750, S, "failed", reason="timeout")
        .restore(2760, S, "started")
        .restore(3000, S, "completed")
        .active(3010, S)
        .run(3120, S, "workload_0", "d2", due_t=3060)
        .run(3130, S, "workload_1", "d2", due_t=3060, state="failed")
        .inventory(7000, runs=(("workload_0", "d1"), ("workload_0", "d2")))
        .end(7200)
    )


def test_rto_split_of_a_backup_and_restore():
    history = backup_restore_history()
    split = rto_split(history.events())
    assert (split.t_fault, split.t_decision, split.t_ready, split.t_recovered) == (
        600.0,
        900.0,
        3000.0,
        3120.0,
    )
    assert split.ready_basis == "restore completed"
    assert (split.detection_s, split.provisioning_s, split.first_run_s) == (300.0, 2100.0, 120.0)
    assert [s.name for s in split.segments] == [DETECTION, PROVISIONING, FIRST_RUN]
    assert split.complete and split.note == ""
    measures = history.measure()
    assert split.rto_s == measures.rto_s == 2520.0
    assert split.detection_s == measures.detection_s


def test_rto_split_of_a_warm_standby_with_nothing_to_restore():
    history = (
        HistoryBuilder()
        .env_state(0, P, "AVAILABLE")
        .env_state(0, S, "AVAILABLE")
        .outage(600)
        .failover(780)
        .active(800, S)
        .run(960, S, "workload_0", "d", due_t=900)
        .end(3600)
    )
    split = rto_split(history.events())
    assert split.t_ready == 780.0  # the standby was AVAILABLE before the decision
    assert split.ready_basis == NOTHING_TO_PROVISION
    assert (split.detection_s, split.provisioning_s, split.first_run_s) == (180.0, 0.0, 180.0)
    assert split.rto_s == history.measure().rto_s


def test_rto_split_ready_is_an_environment_available_after_the_last_restore():
    history = (
        HistoryBuilder()
        .outage(100)
        .failover(200)
        .restore(300, S, "completed")
        .env_state(400, S, "UPDATING")
        .env_state(500, S, "AVAILABLE")
        .run(700, S, "workload_0", "d", due_t=600)
        .end(3600)
    )
    split = rto_split(history.events())
    assert (split.t_ready, split.ready_basis) == (500.0, "environment AVAILABLE")


def test_rto_split_ignores_what_happens_after_the_recovery():
    history = (
        HistoryBuilder()
        .outage(100)
        .failover(200)
        .restore(250, S, "completed")
        .run(400, S, "workload_0", "d", due_t=300)
        .restore(900, S, "completed")  # a later restore is not part of this RTO
        .env_state(950, S, "AVAILABLE")
        .end(3600)
    )
    split = rto_split(history.events())
    assert split.t_ready == 250.0
    assert sum(s.seconds for s in split.segments) == split.rto_s == 300.0


def test_rto_split_ignores_catch_up_runs_due_before_the_fault():
    history = (
        HistoryBuilder()
        .outage(600)
        .failover(700)
        .run(800, S, "workload_0", "early", due_t=500)  # due before the fault: catch-up
        .run(1000, S, "workload_0", "late", due_t=900)
        .end(3600)
    )
    assert rto_split(history.events()).t_recovered == 1000.0


def test_rto_split_when_never_recovered():
    history = (
        HistoryBuilder()
        .outage(600)
        .failover(800)
        .env_state(810, S, "CREATING")
        .env_state(2000, S, "CREATE_FAILED")
        .end(3600)
    )
    split = rto_split(history.events())
    assert split.detection_s == 200.0
    assert split.provisioning_s == 0.0  # nothing became ready: the decision stands for it
    assert split.first_run_s is None and split.rto_s is None
    assert not split.complete
    assert "never recovered" in split.note


def test_rto_split_without_a_fault_or_a_decision():
    quiet = HistoryBuilder().failover(100).end(3600)
    split = rto_split(quiet.events())
    assert split.t_fault is None and split.segments == ()
    assert split.note == "no fault stopped the primary"
    undecided = HistoryBuilder().failover(100).outage(600).end(3600)  # spurious, then a fault
    split = rto_split(undecided.events())
    assert split.t_fault == 600.0 and split.t_decision is None
    assert split.detection_s is None and split.segments == ()
    assert split.note == "no failover was decided after the fault"
    no_start = HistoryBuilder(start=False).outage(10).end(20)
    assert rto_split(no_start.events()).note == "the history has no drill_start"


def test_rto_split_when_the_secondary_ran_before_the_decision():
    history = (
        HistoryBuilder()
        .active(0, S)
        .outage(600)
        .run(700, S, "workload_0", "d", due_t=650)
        .failover(900)
        .end(3600)
    )
    split = rto_split(history.events())
    assert split.rto_s == 100.0 and split.detection_s == 300.0
    assert [s.name for s in split.segments] == [DETECTION]
    assert "before the failover decision" in split.note


@pytest.mark.parametrize(
    "name", ["regional-outage-warm-standby", "regional-outage-backup-restore", "failed-restore"]
)
def test_rto_split_adds_up_to_the_checkers_rto_on_simulated_trials(name):
    scenario = load_scenario(REPO / "scenarios" / f"{name}.yaml")
    calibration = default_calibration()
    for index in range(3):
        trial = run_trial(scenario, calibration, index, keep_history=True)
        assert trial.history is not None
        split = rto_split(trial.history.events)
        measures = measure_trial(trial.history)
        assert split.t_fault == measures.t_fault
        assert split.detection_s == measures.detection_s
        if measures.rto_s is None:
            assert split.rto_s is None
            continue
        assert split.rto_s == pytest.approx(measures.rto_s)
        assert split.complete, split
        assert sum(s.seconds for s in split.segments) == pytest.approx(measures.rto_s)
        assert all(s.seconds >= 0 for s in split.segments)


# The timeline model --------------------------------------------------------------------------


def test_build_timeline_puts_each_event_in_its_regions_lane():
    timeline = build_timeline(backup_restore_history().events())
    assert (timeline.start, timeline.end) == (0.0, 7200.0)
    assert timeline.regions == (P, S)
    primary, secondary = timeline.lanes
    assert (primary.role, secondary.role) == ("primary", "secondary")
    assert [(f.start, f.end, f.state) for f in primary.faults] == [(600, 5400, "region_outage")]
    assert secondary.faults == ()
    assert [p.state for p in primary.probes] == ["healthy", "unknown", "unhealthy"]
    assert [(i.start, i.end) for i in primary.scheduling] == [(1, 600)]
    assert [(i.start, i.end) for i in secondary.scheduling] == [(3010, 7200)]
    assert [(i.start, i.end, i.state) for i in primary.backups] == [(400, 420, "completed")]
    assert [(m.t, m.label) for m in secondary.replication] == [(450, "b1 arrived")]
    assert primary.replication == ()
    assert [(i.start, i.end, i.state) for i in secondary.restores] == [
        (2720, 2750, "failed"),
        (2760, 3000, "completed"),
    ]
    assert [(i.state, i.start, i.end) for i in secondary.environment] == [
        ("CREATING", 910, 2700),
        ("AVAILABLE", 2700, 7200),
    ]
    assert [(i.start, i.end, i.state) for i in secondary.runs] == [
        (3060, 3120, "success"),
        (3060, 3130, "failed"),
    ]
    assert [(d.t, d.state) for d in timeline.decisions] == [(900, "failover")]
    assert timeline.split.t_ready == 3000.0
    for lane in timeline.lanes:
        assert [lane.track(name) for name in TRACKS]  # every track is readable by name


def test_build_timeline_unfinished_things_last_until_the_end():
    history = (
        HistoryBuilder(duration_s=1000.0)
        .outage(100)  # never switched off
        .add(200, "backup", region=P, backup_id="b", state="started")
        .add(300, "phase", name="provision", state="started")
        .add(400, "phase", name="provision", state="done")
        .add(500, "phase", name="inject", state="started")
        .note(600, "hello")
        .add(700, "restore", region="eu-west-1", backup_id="x", state="completed", reason="")
        .end(1000)
    )
    timeline = build_timeline(history.events())
    primary = timeline.lanes[0]
    assert [(f.start, f.end) for f in primary.faults] == [(100, 1000)]
    assert [(b.start, b.end, b.state) for b in primary.backups] == [(200, 1000, "running")]
    assert [(p.label, p.state, p.end) for p in timeline.phases] == [
        ("provision", "done", 400),
        ("inject", "running", 1000),
    ]
    assert [n.detail for n in timeline.notes] == ["hello"]
    assert timeline.regions == (P, S, "eu-west-1")  # another Region gets a lane of its own
    assert timeline.lanes[2].role == ""
    assert [(r.start, r.end) for r in timeline.lanes[2].restores] == [(700, 700)]


def test_build_timeline_of_an_empty_or_headless_history():
    empty = build_timeline([])
    assert empty.lanes == () and empty.end > empty.start
    headless = build_timeline(
        [Event(5.0, "probe", {"region": P, "result": "healthy", "detail": ""})]
    )
    assert headless.primary is None and headless.regions == (P,)
    assert headless.end > headless.start


def test_events_from_json_skips_what_it_cannot_read():
    good = [e.to_json() for e in backup_restore_history().events()]
    items = [
        good[-1],  # drill_end first: reading sorts by time
        *good[:-1],
        {"t": 5, "kind": "from_the_future", "x": 1},
        {"t": "soon", "kind": "note", "message": "m"},
        {"kind": "note", "message": "no time"},
        {
            "t": 6,
            "kind": "run",
            "region": P,
            "dag_id": "d",
            "logical_date": "l",
            "due_t": None,
            "start_t": 1,
            "state": "success",
        },
        "not an object",
    ]
    events, skipped = events_from_json(items)
    assert skipped == 5
    assert [e.to_json() for e in events] == good


def test_time_ticks_are_round():
    assert time_ticks(0, 10800) == [i * 1800.0 for i in range(7)]
    assert time_ticks(0, 100) == [i * 10.0 for i in range(11)]
    assert time_ticks(35, 95, most=6) == [40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    ticks = time_ticks(0, 40 * 86400)
    assert len(ticks) <= 11 and ticks[0] == 0


# Histograms ----------------------------------------------------------------------------------


def test_histogram_bins():
    assert histogram([]) == []
    assert [(b.low, b.high, b.count) for b in histogram([7.0, 7.0])] == [(7.0, 7.0, 2)]
    values = [float(v) for v in range(100, 200)]
    bins = histogram(values)
    assert sum(b.count for b in bins) == 100
    assert bins[0].low <= 100 < bins[0].high and bins[-1].low <= 199 < bins[-1].high
    widths = {round(b.high - b.low, 9) for b in bins}
    assert widths == {10.0}  # sqrt(100) = 10 bins of a round width
    assert histogram([1.0, math.inf, 2.0])[0].low == 1.0  # non-finite values are left out


@pytest.mark.parametrize("n", [2, 3, 17, 50, 400, 5000])
def test_histogram_never_exceeds_max_bins(n):
    values = [(i * 7919) % 1000 + 0.5 * i for i in range(n)]
    bins = histogram(values, max_bins=20)
    assert 1 <= len(bins) <= 20
    assert sum(b.count for b in bins) == n


# The page ------------------------------------------------------------------------------------


def timeline_report(**changes: Any) -> dict[str, Any]:
    """Three trials; trials 0 and 2 carry a timeline."""
    history = backup_restore_history()
    report = build_report(
        mode="simulate",
        scenario=outage_scenario(**changes),
        seed=3,
        trials=trials_of(recovered(), never_recovered(), recovered(rto_s=1000.0)),
        settings={"profile": {"detector": {"check_interval": 60.0}}, "simulator": {"trials": 3}},
        timelines={0: history.events(), 2: history.events()},
    )
    validate_report(report)
    return report


def count(page: str, pattern: str) -> int:
    return len(re.findall(pattern, page))


def test_html_draws_a_timeline_per_trial_that_carries_one():
    page = render_html(timeline_report())
    checker = parse(page)
    assert "script" not in checker.tags
    assert count(page, r'<svg class="chart timeline"') == 2
    assert count(page, r'<section class="trial-timeline"') == 2
    assert 'id="timeline-0"' in page and 'id="timeline-2"' in page and 'id="timeline-1"' not in page
    assert count(page, r'<g class="swimlane"') == 4  # two Regions in each of two timelines
    assert count(page, r'data-track="') == 4 * len(TRACKS)
    assert count(page, r'class="fault"') == 2
    assert count(page, r'class="probe probe-unhealthy"') == 2
    assert count(page, r'class="decision decision-failover"') == 2
    assert count(page, r'class="runs runs-failed"') == 2
    assert count(page, r'class="restores restores-failed"') == 2
    # The RTO split: a row in the timeline and a chart of its own, three segments each.
    for name in (DETECTION, PROVISIONING, FIRST_RUN):
        assert count(page, rf'class="segment" data-segment="{re.escape(name)}"') == 4
    text = " ".join(checker.text)
    assert "decision → secondary ready (restore completed)" in text
    assert "35m" in text  # provisioning/restore 2100 s
    assert "Events (" in text


def test_html_distributions_for_a_campaign():
    page = render_html(timeline_report())
    assert '<h2 id="distributions">Distributions over 3 trials</h2>' in page
    for key in ("rto_s", "rpo_s", "detection_s"):
        assert count(page, rf'<svg class="chart histogram" data-measure="{key}"') == 1
    bars = re.findall(r'<svg class="chart histogram" data-measure="rto_s".*?</svg>', page)[0]
    counts = [int(n) for n in re.findall(r'class="bar" data-count="(\d+)"', bars)]
    assert sum(counts) == 2  # the trial that never recovered has no RTO
    assert "measured in 2 of 3 trials; 1 not measured" in page
    assert count(page, r'class="target"') >= 2  # rto and rpo targets, and the rate's
    assert '<svg class="chart rate"' in page
    assert "one-sided 95% upper bound" in page


def test_html_single_trial_has_no_distributions_and_a_live_timeline():
    history = backup_restore_history().add(100, "phase", name="provision", state="started")
    history.add(500, "phase", name="provision", state="done")
    report = build_report(
        mode="live",
        scenario=outage_scenario(),
        seed=1,
        trials=[TrialResult(0, 1, history.measure())],
        timelines={0: history.events()},
    )
    validate_report(report)
    page = render_html(report)
    parse(page)
    assert "Distributions" not in page
    assert "live · strategy warm_standby" in page
    assert count(page, r'<g class="swimlane"') == 2
    assert count(page, r'class="phase phase-done"') == 1


def test_html_without_timelines_has_no_timeline_section():
    report = build_report(
        mode="simulate", scenario=outage_scenario(), seed=1, trials=trials_of(recovered())
    )
    page = render_html(report)
    assert "Timelines" not in page and "swimlane" not in page


def test_html_limits_the_timelines_drawn():
    events = backup_restore_history().events()
    n = TIMELINES_SHOWN + 2
    report = build_report(
        mode="simulate",
        scenario=outage_scenario(),
        seed=1,
        trials=trials_of(*[recovered() for _ in range(n)]),
        timelines=dict.fromkeys(range(n), events),
    )
    page = render_html(report)
    assert count(page, r'<svg class="chart timeline"') == TIMELINES_SHOWN
    assert f"The first {TIMELINES_SHOWN} are drawn" in page


def test_html_timeline_with_unreadable_events_still_renders():
    report = timeline_report()
    report["trials"][0]["timeline"].append({"t": 1, "kind": "from_the_future"})
    report["trials"][2]["timeline"] = [{"t": 1, "kind": "nothing_known"}]
    page = render_html(report)
    parse(page)
    assert "1 events could not be read and are left out." in page
    assert "The timeline holds no readable event." in page


def test_html_escapes_user_text_in_timelines_and_settings():
    evil = '<script>alert("x")</script>'
    history = (
        HistoryBuilder(primary='us-east-1"><img src=x>', secondary=S)
        .outage(100, region='us-east-1"><img src=x>')
        .add(150, "probe", region=S, result="unknown", detail=evil)
        .failover(200, from_region='us-east-1"><img src=x>')
        .note(250, evil)
        .run(400, S, evil, "d & e", due_t=300)
        .end(3600)
    )
    report = build_report(
        mode="live",
        scenario=outage_scenario(name=evil),
        seed=1,
        trials=[TrialResult(0, 1, history.measure())],
        settings={evil: {"a<b": evil}},
        timelines={0: history.events()},
    )
    page = render_html(report)
    checker = parse(page)
    assert "<script" not in page and "<img" not in page
    assert "script" not in checker.tags and "img" not in checker.tags
    assert 'data-region="us-east-1&quot;&gt;&lt;img src=x&gt;"' in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert evil in "".join(checker.text)


def test_html_is_self_contained():
    page = render_html(timeline_report())
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"https?://", page)
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert "@import" not in page and "url(" not in page
    assert page.count("<style>") == 1


def test_html_lists_the_scenario_and_the_settings():
    page = render_html(timeline_report())
    checker = parse(page)
    text = "\n".join(checker.text)
    assert '<h2 id="scenario">Scenario</h2>' in page
    assert "faults[0].kind" in text and "region_outage" in text
    assert '<h2 id="settings">Settings</h2>' in page
    assert "profile.detector.check_interval" in text and "60.0" in text


def test_flatten():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": [{"e": None}], "f": {}, "g": True}) == [
        ("a.b", "1"),
        ("a.c", "1, 2"),
        ("d[0].e", "—"),
        ("f", "{}"),
        ("g", "true"),
    ]


# The report's timeline -----------------------------------------------------------------------


def test_build_report_embeds_timelines_as_json_lines_objects():
    history = HistoryBuilder().outage(10).end(20)
    events = [*history.events()]
    # A producer may hand read-only mappings: they become plain JSON.
    events[1] = Event(
        events[1].t,
        "fault_on",
        MappingProxyType({**events[1].data, "params": MappingProxyType({})}),
    )
    report = build_report(
        mode="live",
        scenario=outage_scenario(),
        seed=1,
        trials=trials_of(recovered()),
        timelines={0: events},
    )
    validate_report(report)
    timeline = report["trials"][0]["timeline"]
    assert timeline == [e.to_json() for e in history.events()]
    assert json.loads(json.dumps(timeline)) == timeline
    assert timeline_json(history.events()) == timeline


def test_build_report_timelines_are_optional_and_checked():
    report = build_report(
        mode="simulate", scenario=outage_scenario(), seed=1, trials=trials_of(recovered())
    )
    assert "timeline" not in report["trials"][0]
    with pytest.raises(ValueError, match=r"not in the report: \[4\]"):
        build_report(
            mode="simulate",
            scenario=outage_scenario(),
            seed=1,
            trials=trials_of(recovered()),
            timelines={4: []},
        )
    clash = [TrialResult(0, 1, recovered(), {"timeline": []})]
    with pytest.raises(ValueError, match="timeline given twice"):
        build_report(
            mode="simulate", scenario=outage_scenario(), seed=1, trials=clash, timelines={0: []}
        )


def test_schema_checks_the_timeline():
    report = timeline_report()
    report["trials"][0]["timeline"].append({"kind": "note", "message": "no t"})
    with pytest.raises(Exception, match=r"trials\[0\]\.timeline\[\d+\].*'t' is a required"):
        validate_report(report)
    report = timeline_report()
    report["trials"][0]["timeline"] = {"not": "a list"}
    with pytest.raises(Exception, match=r"trials\[0\]\.timeline"):
        validate_report(report)


def test_simulate_with_history_dir_embeds_the_timelines(tmp_path, capsys):
    data = yaml.safe_load((REPO / "scenarios/regional-outage-warm-standby.yaml").read_text())
    data["duration"] = "90m"
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "r.json"
    html = tmp_path / "r.html"
    args = ["simulate", str(scenario), "--trials", "7", "--workers", "1", "--json", str(out)]
    main([*args, "--history-dir", str(tmp_path / "h")])
    report = load_report(out)
    with_timeline = [t["index"] for t in report["trials"] if "timeline" in t]
    assert with_timeline == list(range(HISTORIES_KEPT))
    first = (tmp_path / "h" / "trial-0000.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in first] == report["trials"][0]["timeline"]
    assert main(["report", str(out), "--format", "html", "-o", str(html)]) == 0
    page = html.read_text(encoding="utf-8")
    assert page.count('<svg class="chart timeline"') == HISTORIES_KEPT
    main(args)  # without --history-dir: no timeline
    capsys.readouterr()
    assert all("timeline" not in t for t in load_report(out)["trials"])
