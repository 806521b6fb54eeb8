"""Statistics of the demo over seeds: mean, std and a paired 95% t-interval of the difference of two algorithms.

    paired_difference([0.7, 0.5, 0.9], [0.3, 0.4, 0.2])
    # {"n": 3, "per_seed": [0.4, 0.1, 0.7], "mean": 0.4, "std": 0.3, "ci95": [-0.345, 1.145]}

Paired: seed k of both algorithms shares its world, start model and bench, so the per-seed differences are the
sample, and their spread (not the spread of each algorithm's scores) sets the interval's width. With n seeds the
interval is mean +- t_{0.975, n-1} * std / sqrt(n), std with n - 1 in the denominator; one seed gives no interval.
Pure functions of lists of numbers; the Student t quantile is computed here (no scipy in the environment).
"""
from __future__ import annotations

import math


def t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with an integer number of degrees of freedom (closed form, Abramowitz & Stegun
    26.7.3 and 26.7.4: finite sums in the angle theta = atan(t / sqrt(df)))."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    theta = math.atan(abs(t) / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2:  # odd: 2/pi (theta + sin cos (1 + 2/3 c2 + (2*4)/(3*5) c2^2 + ...)), (df - 1) / 2 terms
        series, term = 0.0, 1.0
        for k in range(1, (df - 1) // 2 + 1):
            series += term
            term *= c2 * (2 * k) / (2 * k + 1)
        inside = 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * series)
    else:  # even: sin (1 + 1/2 c2 + (1*3)/(2*4) c2^2 + ...), df / 2 terms
        series, term = 0.0, 1.0
        for k in range(1, df // 2 + 1):
            series += term
            term *= c2 * (2 * k - 1) / (2 * k)
        inside = math.sin(theta) * series
    return 0.5 + math.copysign(inside / 2, t)


def t_quantile(p: float, df: int) -> float:
    """The t with t_cdf(t, df) = p, by bisection (monotone; to 1e-10)."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    low, high = -1e6, 1e6
    for _ in range(200):
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-10:
            break
    return (low + high) / 2


def mean_std(values: list[float]) -> dict:
    """{"n", "mean", "std"}: std with n - 1 in the denominator (0 for one value); None when there are no values."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    n, mean = len(vals), sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "mean": mean, "std": std}


def paired_difference(a: list[float], b: list[float], level: float = 0.95) -> dict | None:
    """a - b seed by seed: the per-seed differences, their mean and std, and the two-sided t-interval at `level`
    for the mean difference (None with fewer than two seeds). Seeds where either value is missing are dropped."""
    if len(a) != len(b):
        raise ValueError(f"paired samples must have one value per seed each, got {len(a)} and {len(b)}")
    diffs = [float(x) - float(y) for x, y in zip(a, b) if x is not None and y is not None]
    stats = mean_std(diffs)
    if stats is None:
        return None
    ci = None
    if stats["n"] > 1:
        half = t_quantile(0.5 + level / 2, stats["n"] - 1) * stats["std"] / math.sqrt(stats["n"])
        ci = [stats["mean"] - half, stats["mean"] + half]
    return {**stats, "per_seed": diffs, f"ci{round(100 * level)}": ci}
