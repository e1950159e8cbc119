"""Small, dependency-free statistics for reports: percentiles and exact binomial bounds.

Pure Python on purpose: the harness installs with PyYAML and jsonschema only. The tests
cross-check both functions against numpy's and scipy's definitions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (q in [0, 100]) of `values`, numpy's default "linear" method.

    With the values sorted as v[0..n-1], the percentile sits at rank h = (n - 1) * q / 100 and
    is interpolated linearly between v[floor(h)] and v[floor(h) + 1]. +inf is allowed (a trial
    that never recovered): a percentile that touches an infinite value is infinite, except when
    h lands exactly on a finite rank.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    ordered = sorted(float(v) for v in values)
    if any(math.isnan(v) for v in ordered):
        raise ValueError("percentile of values containing NaN")
    rank = (len(ordered) - 1) * q / 100.0
    low_index = math.floor(rank)
    fraction = rank - low_index
    low = ordered[low_index]
    if fraction == 0.0:
        return low
    high = ordered[low_index + 1]
    # Interpolating towards an infinity gives that infinity (and inf - inf would be NaN).
    if high == math.inf:
        return math.inf
    if low == -math.inf:
        return -math.inf
    # Clamped so that rounding never steps outside [low, high]; keeps the result monotone in q.
    return min(max(low + (high - low) * fraction, low), high)


def summarize(values: Sequence[float]) -> dict[str, float | int] | None:
    """{"p50", "p95", "p99", "max", "n"} of `values`, or None when there are none."""
    if not values:
        return None
    return {
        "p50": percentile(values, 50.0),
        "p95": percentile(values, 95.0),
        "p99": percentile(values, 99.0),
        "max": max(float(v) for v in values),
        "n": len(values),
    }


def binomial_upper_95(k: int, n: int) -> float:
    """The exact one-sided 95% upper confidence bound on a rate seen k times in n trials."""
    return binomial_upper(k, n, 0.95)


def binomial_upper(k: int, n: int, confidence: float) -> float:
    """Exact (Clopper-Pearson) one-sided upper confidence bound on a binomial rate.

    Returns the p for which P(X <= k; n, p) = 1 - confidence, i.e. the largest rate that
    would still produce k or fewer successes with probability 1 - confidence. 1.0 when k == n
    (including 0 of 0: no evidence at all). Equal to scipy.stats.beta.ppf(confidence, k + 1,
    n - k). Found by bisection on the binomial CDF, which decreases in p.
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if k == n:
        return 1.0
    alpha = 1.0 - confidence
    if k == 0:
        # P(X = 0) = (1 - p)^n = alpha has a closed form; expm1/log1p keep it exact for large n.
        return -math.expm1(math.log(alpha) / n)
    log_coefficients = _log_binomial_coefficients(n)
    low, high = 0.0, 1.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if _binomial_cdf(k, n, mid, log_coefficients) > alpha:
            low = mid  # still too likely to see <= k: the bound is higher
        else:
            high = mid
        if high - low <= 1e-15 * high:
            break
    return (low + high) / 2.0


def _log_binomial_coefficients(n: int) -> list[float]:
    """log C(n, i) for i = 0..n, built up as ratios: more exact than lgamma differences."""
    logs = [0.0]
    for i in range(1, n + 1):
        logs.append(logs[-1] + math.log((n - i + 1) / i))
    return logs


def _binomial_cdf(k: int, n: int, p: float, log_coefficients: Sequence[float]) -> float:
    """P(X <= k) for X ~ Binomial(n, p), 0 < p < 1, summed in log space.

    Sums whichever tail has fewer terms; the other tail is 1 minus it, which is accurate
    because the bisection only compares the CDF with alpha (0.05), far from 0.
    """
    log_p, log_q = math.log(p), math.log1p(-p)
    if k + 1 <= n - k:
        return _sum_exp([log_coefficients[i] + i * log_p + (n - i) * log_q for i in range(k + 1)])
    upper_tail = _sum_exp(
        [log_coefficients[i] + i * log_p + (n - i) * log_q for i in range(k + 1, n + 1)]
    )
    return 1.0 - upper_tail


def _sum_exp(logs: Sequence[float]) -> float:
    """exp(logs[0]) + exp(logs[1]) + ... without underflow on the way."""
    top = max(logs)
    if top == -math.inf:
        return 0.0
    return math.exp(top) * math.fsum(math.exp(x - top) for x in logs)
