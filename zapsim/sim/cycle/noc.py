"""The on-chip network: filter bus, ifmap multicast bus, psum path up a column and the psum drain bus.

* **filter bus** (``noc.filter_bus_words_per_cycle``): a pass whose slot
  holds other filters than before reloads ``r_len * p * q * S`` words into
  that slot's filter scratchpads (multicast along a PE row; without
  multicast once per PE): ``ceil(words / width)`` cycles.
* **ifmap bus** (``noc.ifmap_bus_words_per_cycle``): words go in order
  (column, slot, channel, ifmap row), each multicast to every PE of the
  slot that reads that row (Eyeriss' row/column ID match); a word leaves
  only in a cycle in which every destination can take it (``fifo.py``),
  at most ``width`` words per cycle, in order (``control.py``).
* **psum path**: the psum of output x at PE row r of a column is ready
  ``mac_pipeline_depth - 1`` cycles after the PE finished x; it is added to
  the psum coming from below, which took ``noc.psum_hop_cycles`` to arrive.
  The psum FIFOs are deep enough not to back-pressure (not modelled).
* **psum drain bus** (``noc.psum_bus_words_per_cycle``): the top PE of a
  column sends the ``p`` psums of each output to the GLB; requests are
  served in order of readiness, ``width`` words per cycle.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def transfer_cycles(words, width):
    """Cycles to move ``words`` over a bus of ``width`` words per cycle."""
    return (words + width - 1) // width


@njit(cache=True)
def psum_column(done, j0, rl, F, depth, hop, ready):
    """Psum of each output x at the top of the column of PEs j0..j0+rl-1 (row rl-1 the bottom): ``ready[x]``."""
    for x in range(F):
        t = done[j0 + rl - 1, x] + depth - 1
        for r in range(rl - 2, -1, -1):
            t = max(done[j0 + r, x] + depth - 1, t + hop)
        ready[x] = t


@njit(cache=True)
def drain(req_ready, req_words, nreq, width, state):
    """Serve psum drain requests in order of readiness over a ``width``-word bus; returns the last completion.

    ``state`` = [cycle, words already sent in that cycle], carried from
    request to request and pass to pass.  A request ready in cycle t can
    use cycle t.  Ties go in request order.
    """
    if nreq == 0:
        return 0
    key = np.empty(nreq, dtype=np.int64)
    for i in range(nreq):
        key[i] = req_ready[i] * nreq + i
    order = np.argsort(key)
    end = 0
    for oi in range(nreq):
        i = order[oi]
        w = req_words[i]
        if w <= 0:
            continue
        if req_ready[i] > state[0]:
            state[0] = req_ready[i]
            state[1] = 0
        pos = state[1] + w
        last = state[0] + (pos - 1) // width  # cycle of the request's last word
        state[0] += pos // width
        state[1] = pos % width
        end = max(end, last + 1)
    return end
