"""The dedicated ZAP unit: its rate, its buffer (enforced), and the transfers in and out.

The unit scores one chunk (row band of a filter group) at a time, per
channel with line buffers: the two depthwise 3x3 convs need three rows of
the phase-A map and three rows of the hidden map, ``6 * F`` words, plus the
channel's 24 parameters.  A layer whose line buffers do not fit
``zap_unit.buffer_words`` is refused (:func:`check_buffer`).  A chunk
takes the longer of its MACs at ``macs_per_cycle`` and its transfers at
``transfer_words_per_cycle``: the chunk's phase-A outputs in, one decision
bit per scored output out (packed in words); the two overlap (the unit
streams).  It starts once the phase-A outputs it needs are drained to the
GLB (this band's and the next band's, as in the analytical engine).
"""

from __future__ import annotations

from ...errors import ZapsimError
from ..arch import ZAP_MIN_BUFFER_WORDS

LINE_ROWS = 6  # 3 rows of the phase-A map for conv 1, 3 of the hidden map for conv 2


def working_set_words(layer) -> int:
    """Buffer words the unit needs for one channel of ``layer``'s output map."""
    return LINE_ROWS * layer.w_out + ZAP_MIN_BUFFER_WORDS


def check_buffer(arch, layer) -> None:
    """Refuse a ZAP layer whose working set does not fit the dedicated unit's buffer."""
    if arch.zap_unit.placement != "dedicated":
        return
    need = working_set_words(layer)
    if need > arch.zap_unit.buffer_words:
        raise ZapsimError(
            f"{arch.source}: zap_unit.buffer_words = {arch.zap_unit.buffer_words}: layer '{layer.name}' "
            f"(output {layer.c_out}x{layer.h_out}x{layer.w_out}) needs {need} words in the ZAP unit "
            f"({LINE_ROWS} rows of {layer.w_out} plus {ZAP_MIN_BUFFER_WORDS} parameters); allowed: a buffer of at "
            f"least {need} words, or zap_unit.placement: array")


def chunk_cycles(zmacs: int, words_in: int, decisions: int, rate: int, transfer: int, word_bits: int) -> int:
    """Cycles of one chunk: the longer of its MACs and its transfers (plain-Python form of the kernel's)."""
    words_out = -(-decisions // word_bits)
    return max(-(-zmacs // rate), -(-(words_in + words_out) // transfer))
