from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.stats import binomial_upper, binomial_upper_95, percentile, summarize

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)
value_lists = st.lists(finite, min_size=1, max_size=60)
qs = st.floats(min_value=0.0, max_value=100.0)


# percentile ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 0, 5.0),
        ([5.0], 99, 5.0),
        ([1, 2, 3, 4], 0, 1.0),
        ([1, 2, 3, 4], 100, 4.0),
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 95, 3.85),  # rank 2.85: 3 + 0.85 * (4 - 3)
        ([4, 1, 3, 2], 25, 1.75),  # unsorted input
        (list(range(1, 101)), 99, 99.01),
        ([10, 20], 50, 15.0),
    ],
)
def test_percentile_known_values(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_with_infinity():
    never = math.inf
    assert percentile([1.0, 2.0, never], 50) == 2.0  # lands exactly on a finite rank
    assert percentile([1.0, 2.0, never], 51) == math.inf
    assert percentile([1.0, 2.0, never, never], 100) == math.inf
    assert percentile([1.0, 2.0, 3.0, never], 50) == 2.5


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 100.5), ([math.nan], 50)])
def test_percentile_rejects(values, q):
    with pytest.raises(ValueError):
        percentile(values, q)


@given(value_lists, qs, qs)
def test_percentile_monotone_in_q(values, q1, q2):
    low, high = sorted((q1, q2))
    assert percentile(values, low) <= percentile(values, high)


@given(value_lists, qs)
def test_percentile_between_min_and_max(values, q):
    assert min(values) <= percentile(values, q) <= max(values)


@given(value_lists)
def test_percentile_ends_are_min_and_max(values):
    assert percentile(values, 0) == min(values)
    assert percentile(values, 100) == max(values)


@given(value_lists, qs)
def test_percentile_matches_numpy(values, q):
    numpy = pytest.importorskip("numpy")
    expected = float(numpy.percentile(values, q))
    assert percentile(values, q) == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_summarize():
    assert summarize([]) is None
    summary = summarize([3.0, 1.0, 2.0])
    assert summary == {
        "p50": 2.0,
        "p95": pytest.approx(2.9),
        "p99": pytest.approx(2.98),
        "max": 3.0,
        "n": 3,
    }


# binomial bound ------------------------------------------------------------------------------


def test_zero_of_300_is_under_one_percent():
    bound = binomial_upper_95(0, 300)
    assert bound == pytest.approx(1 - 0.05 ** (1 / 300), rel=1e-12)
    assert bound == pytest.approx(0.009936, abs=1e-6)
    assert bound <= 0.01


def test_all_successes_give_one():
    assert binomial_upper_95(7, 7) == 1.0
    assert binomial_upper_95(0, 0) == 1.0


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (1, 300, 0.0157146),  # scipy.stats.beta.ppf(0.95, 2, 299)
        (5, 10, 0.7775589),
        (0, 1, 0.95),
    ],
)
def test_known_bounds(k, n, expected):
    assert binomial_upper_95(k, n) == pytest.approx(expected, abs=1e-7)


def test_the_bound_is_the_rate_that_makes_k_or_fewer_5_percent_likely():
    k, n = 3, 50
    p = binomial_upper_95(k, n)
    cdf = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
    assert cdf == pytest.approx(0.05, rel=1e-9)


@given(
    st.integers(min_value=1, max_value=400).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n - 1), st.just(n))
    )
)
def test_bound_is_monotone_in_k_and_above_the_rate(kn):
    k, n = kn
    bound = binomial_upper_95(k, n)
    assert k / n < bound <= binomial_upper_95(k + 1, n)


@pytest.mark.parametrize(
    ("k", "n", "confidence"), [(-1, 5, 0.95), (6, 5, 0.95), (1, 5, 0.0), (1, 5, 1.0)]
)
def test_bound_rejects(k, n, confidence):
    with pytest.raises(ValueError):
        binomial_upper(k, n, confidence)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=3000).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n - 1), st.just(n))
    ),
    st.sampled_from([0.8, 0.9, 0.95, 0.99, 0.999]),
)
def test_bound_matches_scipy(kn, confidence):
    scipy_stats = pytest.importorskip("scipy.stats")
    k, n = kn
    expected = float(scipy_stats.beta.ppf(confidence, k + 1, n - k))
    assert binomial_upper(k, n, confidence) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("k", "n"), [(0, 100_000), (3, 100_000), (5_000, 10_000)])
def test_bound_matches_scipy_for_large_n(k, n):
    scipy_stats = pytest.importorskip("scipy.stats")
    expected = float(scipy_stats.beta.ppf(0.95, k + 1, n - k))
    assert binomial_upper_95(k, n) == pytest.approx(expected, rel=1e-9)
