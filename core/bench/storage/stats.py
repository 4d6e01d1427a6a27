"""Medians and spread of a target's samples of one workload."""

from __future__ import annotations

import statistics


def summary(values: list[float]) -> dict[str, float]:
    """n, median, quartiles (inclusive method), min, max, and the spread as IQR / median."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    median = statistics.median(ordered)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = median
    return {"n": len(ordered), "median": median, "q1": q1, "q3": q3, "min": ordered[0], "max": ordered[-1],
            "spread": (q3 - q1) / median if median else 0.0}
