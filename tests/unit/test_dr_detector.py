"""The pure failover detector: tables of observation sequences per profile, and properties."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_impl.config import HARDENED, SEED, DetectorConfig
from reference_impl.detector import DetectorState, Observation, Verdict, step

SEED_D = SEED.detector
HARD_D = HARDENED.detector

OK = Observation("healthy")
NO_DATA = Observation("no_data")
ERROR = Observation("error", "ServiceUnavailable")
HANG = Observation("timed_out", "TimedOut")


def fresh(cw: Observation) -> Observation:
    return replace(cw, canary="read", canary_age=30.0)


def stale(cw: Observation) -> Observation:
    return replace(cw, canary="read", canary_age=900.0)


def absent(cw: Observation) -> Observation:
    return replace(cw, canary="absent")


def unreadable(cw: Observation) -> Observation:
    return replace(cw, canary="unreadable")


def run(config: DetectorConfig, observations: list[Observation]) -> list[Verdict]:
    state = DetectorState()
    verdicts = []
    for obs in observations:
        state, verdict = step(config, state, obs)
        verdicts.append(verdict)
    return verdicts


def decisions(config: DetectorConfig, observations: list[Observation]) -> list[int]:
    return [i for i, v in enumerate(run(config, observations)) if v.failover]


@pytest.mark.parametrize(
    ("name", "observations", "expected"),
    [
        ("healthy stays", [OK, OK, OK], []),
        ("no data fails over at once", [OK, NO_DATA], [1]),
        ("a 503 fails over at once (spurious)", [ERROR], [0]),
        ("refused connection too", [Observation("error", "ConnectionRefused")], [0]),
        ("throttling too", [Observation("error", "ThrottlingException")], [0]),
        ("a hang decides nothing", [HANG, HANG, HANG], []),
    ],
)
def test_seed_table(name: str, observations: list[Observation], expected: list[int]) -> None:
    assert decisions(SEED_D, observations) == expected, name


def test_seed_hang_is_a_failed_check() -> None:
    [verdict] = run(SEED_D, [HANG])
    assert verdict.probe == "unknown"
    assert verdict.detail == "check FAILED: timed out"


@pytest.mark.parametrize(
    ("name", "observations", "expected"),
    [
        ("CloudWatch outage, canary fresh", [fresh(ERROR)] * 10, []),
        ("late metrics, canary fresh", [fresh(NO_DATA)] * 10, []),
        ("replication stall alone", [stale(OK)] * 10, []),
        ("regional outage (refused)", [fresh(OK), stale(ERROR), stale(ERROR), stale(ERROR)], [3]),
        ("regional outage (hang)", [stale(HANG)] * 3, [2]),
        ("environment failure", [stale(NO_DATA)] * 4, [2, 3]),
        ("canary never arrived", [absent(NO_DATA)] * 3, [2]),
        (
            "a healthy check restarts the count",
            [stale(ERROR)] * 2 + [stale(OK)] + [stale(ERROR)] * 2,
            [],
        ),
        (
            "a fresh canary restarts the count",
            [stale(ERROR)] * 2 + [fresh(ERROR)] + [stale(ERROR)] * 3,
            [5],
        ),
        ("an unreadable canary proves nothing", [unreadable(ERROR)] * 5, []),
    ],
)
def test_hardened_table(name: str, observations: list[Observation], expected: list[int]) -> None:
    assert decisions(HARD_D, observations) == expected, name


def test_hardened_probe_results() -> None:
    verdicts = run(HARD_D, [fresh(OK), fresh(ERROR), stale(ERROR), stale(HANG)])
    assert [v.probe for v in verdicts] == ["healthy", "unknown", "unhealthy", "unhealthy"]


def test_without_second_signal_errors_are_unknown_but_missing_data_counts() -> None:
    config = replace(HARD_D, second_signal=False)
    assert decisions(config, [ERROR] * 5) == []
    assert decisions(config, [NO_DATA] * 3) == [2]


# Properties --------------------------------------------------------------------------------------
cloudwatch = st.sampled_from(["healthy", "no_data", "error", "timed_out"])
canaries = st.one_of(
    st.builds(
        lambda age: Observation("healthy", canary="read", canary_age=age),
        st.floats(min_value=0, max_value=5000),
    ),
    st.just(Observation("healthy", canary="absent")),
    st.just(Observation("healthy", canary="unreadable")),
)
observations = st.builds(lambda cw, c: replace(c, cloudwatch=cw), cloudwatch, canaries)
configs = st.builds(
    lambda base, confirmations, unknown, second, max_age: replace(
        base,
        confirmations=confirmations,
        unknown_is_unhealthy=unknown,
        second_signal=second,
        canary_max_age=max_age,
    ),
    st.sampled_from([SEED_D, HARD_D]),
    st.integers(min_value=1, max_value=5),
    st.booleans(),
    st.booleans(),
    st.floats(min_value=0, max_value=1000),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(observations, max_size=30))
def test_hardened_never_fails_over_while_cloudwatch_is_healthy(obs: list[Observation]) -> None:
    for o, verdict in zip(obs, run(HARD_D, obs), strict=True):
        if o.cloudwatch == "healthy":
            assert not verdict.failover and verdict.probe == "healthy"


@settings(max_examples=200, deadline=None)
@given(st.lists(observations, max_size=30))
def test_hardened_never_fails_over_on_a_fresh_canary(obs: list[Observation]) -> None:
    for o, verdict in zip(obs, run(HARD_D, obs), strict=True):
        if o.canary == "read" and o.canary_age <= HARD_D.canary_max_age:
            assert not verdict.failover


@settings(max_examples=200, deadline=None)
@given(observations)
def test_seed_decides_on_the_first_error_or_missing_data(obs: Observation) -> None:
    [verdict] = run(SEED_D, [obs])
    assert verdict.failover == (obs.cloudwatch in ("error", "no_data"))


@settings(max_examples=300, deadline=None)
@given(configs, st.lists(observations, max_size=30))
def test_confirmations_respected(config: DetectorConfig, obs: list[Observation]) -> None:
    """A failover needs `confirmations` counted checks in a row, and the state says how many."""
    streak = 0
    state = DetectorState()
    for o in obs:
        before = state
        state, verdict = step(config, state, o)
        if config.check_dies_on_timeout and o.cloudwatch == "timed_out":
            # A check that failed itself changes nothing.
            assert state == before and not verdict.failover
            continue
        streak = streak + 1 if verdict.counted else 0
        assert state.strikes == streak
        assert verdict.failover == (streak >= config.confirmations)
        if verdict.failover:
            assert verdict.probe == "unhealthy"


@settings(max_examples=100, deadline=None)
@given(configs, st.lists(observations, max_size=20))
def test_pure(config: DetectorConfig, obs: list[Observation]) -> None:
    assert run(config, obs) == run(config, obs)
