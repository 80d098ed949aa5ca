"""The per-PE ifmap FIFO between the multicast bus and the ifmap scratchpad.

Conventions (the stepping model in ``stepping.py`` follows them cycle by cycle):

* a word accepted from the bus in cycle ``t`` sits in the FIFO and moves
  to the scratchpad in cycle ``t+1`` at the earliest, one word per cycle
  (the scratchpad's write port), when the scratchpad has room;
* the FIFO takes word ``n`` in cycle ``t`` only if it holds fewer than
  ``depth`` words once this cycle's word has left for the scratchpad (a
  full FIFO can push and pop in the same cycle): ``t >= S(n - depth)``;
* depth 0: no FIFO; the bus writes the word straight into the
  scratchpad, so it leaves only in a cycle in which the scratchpad can
  take it;
* the scratchpad (``ifmap_spad_words = K``) takes word ``n`` once the words
  freed by finished outputs leave ``n - freed < K``.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def earliest_accept(n, depth, K, t0, s_prev, s_back, free_done):
    """First cycle the PE can take its word ``n`` from the bus.

    ``s_prev`` = S(n-1) (scratchpad entry of the previous word, or -1),
    ``s_back`` = S(n - depth) (when ``n >= depth``), ``free_done`` = the
    cycle the scratchpad has room for word n (0 if it always had).
    """
    if depth > 0:
        if n >= depth:
            return max(t0, s_back)
        return t0
    t = t0
    if n >= 1:
        t = max(t, s_prev + 1)
    return max(t, free_done)


@njit(cache=True)
def spad_entry(accept, depth, s_prev, free_done):
    """Cycle word n enters the scratchpad, given the cycle it left the bus."""
    if depth == 0:
        return accept
    t = accept + 1
    t = max(t, s_prev + 1)
    return max(t, free_done)
