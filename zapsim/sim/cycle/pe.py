"""A row-stationary PE: the 1-D row primitive of Eyeriss v1, its MAC pipeline and its skip check.

PE ``(r, y)`` of an item holds ``q`` channels of filter row ``r`` for ``p``
filters and slides over ifmap row ``y*U + r - pad``.  For output column
``x`` it needs the ifmap words of columns ``< hi(x) = x*V - pw + S``
(clipped to the map) of its ``q`` channels in its scratchpad, spends
``ceil(work / macs_per_cycle)`` cycles on them (``work`` = scheduled
filters x taps: ``S*q`` each, fewer with ``zero_inputs: skip``), and
then frees the columns ``< lo(x+1) = (x+1)*V - pw`` (the window slides).
Words arrive column by column, channel-minor: word ``n`` of the row is
column ``n // q``, channel ``n % q``.  An output whose every filter the
ZAP predicted zero (``zap_outputs: skip``, phase C) costs
``skip_check_cycles``: the controller reads the decision and advances.
The psum of output ``x`` leaves the PE ``mac_pipeline_depth - 1`` cycles
after its last MAC issued.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def output_cycles(work, mpc, skip_checked, skip_check_cycles):
    """Cycles the PE spends on one output column: its MACs, or the skip check when all were predicted zero."""
    if work > 0:
        return (work + mpc - 1) // mpc
    return skip_check_cycles if skip_checked else 0


@njit(cache=True)
def window(x, V, pw, S, W):
    """(lo, hi): the ifmap columns ``[lo, hi)`` output column ``x`` reads, clipped to the map."""
    lo = min(max(x * V - pw, 0), W)
    hi = min(max(x * V - pw + S, 0), W)
    return lo, hi


@njit(cache=True)
def row_primitive(need, free, cost, j, F, V, pw, S, W, q, in_map, work_row, mpc, chk_row, skip_check_cycles):
    """Fill PE ``j``'s per-output words needed (``need``), words freed when done (``free``) and cycles (``cost``).

    ``work_row[x]``: the MACs of output column x; ``chk_row[x]``: 1 if an
    empty output there costs the skip check.  A PE on a padding row
    (``in_map`` False) receives no words.  Returns the words it receives.
    """
    _, hi_last = window(F - 1, V, pw, S, W)
    nw = q * hi_last if in_map else 0
    for x in range(F):
        lo1, _ = window(x + 1, V, pw, S, W)
        _, hi = window(x, V, pw, S, W)
        need[j, x] = q * hi if in_map else 0
        free[j, x] = min(q * lo1, nw) if x < F - 1 else nw
        cost[j, x] = output_cycles(work_row[x], mpc, chk_row[x] != 0, skip_check_cycles)
    return nw
