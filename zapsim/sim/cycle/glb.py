"""The global buffer's banks as the ifmap bus sees them.

The ifmap is stored word-interleaved over ``global_buffer.banks`` banks
(word ``(c, h, w)`` at address ``(c*H + h)*W + w``, bank = address mod
banks).  A bank serves ``ports_per_bank`` reads per cycle; a bus word whose
bank has served that many reads in the current cycle waits for the next
cycle (and, the bus being in order, so do the words behind it).  Filters
and psums sit in banks of their own (not modelled for conflicts); the
buses' widths bound the GLB's bandwidth (``bandwidth_words_per_cycle`` is
the analytical engine's key).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def ifmap_bank(c, h, w, H, W, banks):
    """Bank of ifmap word (c, h, w)."""
    return ((c * H + h) * W + w) % banks


@njit(cache=True)
def bank_cycle(cand, bank, last_cycle, count, ports):
    """The cycle (>= cand) in which a read of ``bank`` can go, and records it."""
    if last_cycle[bank] == cand and count[bank] >= ports:
        cand += 1
    if last_cycle[bank] != cand:
        last_cycle[bank] = cand
        count[bank] = 0
    count[bank] += 1
    return cand
