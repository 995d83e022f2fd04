"""Small numeric helpers of the 05 stage: summaries of per-frame lists that hold None where a frame has no value,
and how a number is written in a table (``fmt``, also used by the demo's headline).
"""

from __future__ import annotations

import numpy as np


def fmt(value, spec: str) -> str:
    """``value`` written with the format ``spec`` (".2f", ".0%"), or "n/a" for None."""
    return "n/a" if value is None else format(value, spec)


def mean_of(values) -> float | None:
    """The mean of the values that are not None; None when there are none."""
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def median_of(values) -> float | None:
    """The median of the values that are not None (a frame without texture does not swing it); None when none."""
    vals = [v for v in values if v is not None]
    return float(np.median(vals)) if vals else None


def ratio(num: float | None, den: float | None) -> float | None:
    """num / den, or None when either is missing or den is not positive."""
    return None if num is None or den is None or den <= 0 else float(num / den)


def pearson(x, y, least: int = 3) -> tuple[float | None, int, str | None]:
    """(correlation, pairs used, why None): Pearson's r over the pairs where neither value is None.

    None with a reason when fewer than ``least`` pairs remain or one side does not vary (a mouth that never
    opens has no timing to follow)."""
    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    if len(pairs) < least:
        return None, len(pairs), f"only {len(pairs)} frames have a value in both videos (at least {least} needed)"
    a, b = np.asarray(pairs, np.float64).T
    a, b = a - a.mean(), b - b.mean()
    sa, sb = float(np.sqrt((a * a).sum())), float(np.sqrt((b * b).sum()))
    if sa < 1e-9 or sb < 1e-9:
        which = "the input" if sa < 1e-9 else "the swap"
        return None, len(pairs), f"{which} does not change over the {len(pairs)} frames: nothing to correlate"
    return float((a * b).sum() / (sa * sb)), len(pairs), None
