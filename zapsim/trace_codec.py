"""Mask-file encodings of the trace format: bit packing, bounded inflation, and version 2's residuals.

``docs/trace-format.md`` is the specification; this module implements it
with NumPy and the standard library only.

- ``bits-msb``: each image's (C, H, W) map flattened in C order, packed most
  significant bit first, padded to a whole byte per image; images concatenated.
- ``bits-msb-zlib``: the same bytes as one zlib stream.
- ``residual-zlib`` (version 2): a zlib stream of the packed bits of a
  *residual* R, the exclusive-or of the mask with a *base* mask B that the
  reader rebuilds from earlier files of the trace (the AND of the files in
  ``residual.base``; all zeros for an empty list).  With ``positions:
  "all"``, R covers every element; with ``"outside_computed_first"`` (a
  ``computed`` mask of a ZAP layer, which is 1 on the whole computed-first
  set I_s by definition) R covers only the predicted positions I_t, in C
  order, and the mask is 1 on I_s.

Masks of one layer differ little between operating points, and a layer's
input is (mostly exactly) what the layer before it emitted, so residuals
against those are sparse and deflate to a fraction of the masks' own size.

Decoding never inflates past the size the layer table gives, and refuses
trailing bytes after the zlib stream.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

from .errors import TraceError

V1_ENCODINGS = ("bits-msb", "bits-msb-zlib")
RESIDUAL = "residual-zlib"
V2_ENCODINGS = (*V1_ENCODINGS, RESIDUAL)
POSITIONS = ("all", "outside_computed_first")
MAX_BASES = 4  # files in one residual's base
MAX_BASE_DEPTH = 16  # longest chain of residuals a reader follows
WRITER_MAX_DEPTH = 8  # the chains our writer makes (short, so random access stays cheap); an 'in' file may
# always take the last step, so the nearly free base "what the layer before emitted" is never out of reach
ZLIB_LEVEL = 6

if hasattr(np, "bitwise_count"):  # NumPy >= 2.0

    def popcount(a: np.ndarray) -> int:
        """Set bits in a uint8 array."""
        return int(np.bitwise_count(a).sum(dtype=np.int64))
else:  # pragma: no cover (old NumPy)
    _POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def popcount(a: np.ndarray) -> int:
        """Set bits in a uint8 array."""
        return int(_POP[a].sum(dtype=np.int64))


# --------------------------------------------------------------------------- bit packing


def bytes_per_image(shape: Sequence[int]) -> int:
    """Bytes one image's packed (C, H, W) mask occupies (padded to a whole byte)."""
    return (math.prod(int(s) for s in shape) + 7) // 8


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """Pack a boolean array (N, C, H, W) into uint8 (N, bytes_per_image), MSB first."""
    m = np.asarray(masks)
    if m.dtype != np.bool_:
        m = m != 0
    return np.packbits(m.reshape(m.shape[0], -1), axis=1, bitorder="big")


def unpack_masks(packed: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`pack_masks`: uint8 (N, nbytes) -> bool (N, C, H, W)."""
    n = packed.shape[0]
    count = math.prod(int(s) for s in shape)
    bits = np.unpackbits(packed, axis=1, count=count, bitorder="big")
    return bits.view(np.bool_).reshape((n, *shape))


def max_stored_bytes(raw_bytes: int, encoding: str) -> int:
    """The most bytes a file of ``raw_bytes`` decoded bytes can take in ``encoding`` (zlib's own bound, generous)."""
    if encoding == "bits-msb":
        return raw_bytes
    return raw_bytes + (raw_bytes >> 10) + 1024


# --------------------------------------------------------------------------- bounded inflation


def inflate_exact(data: bytes, expect: int, where: str) -> bytes:
    """Inflate one zlib stream that must decode to exactly ``expect`` bytes and be all of ``data``.

    Stops after ``expect + 1`` bytes of output, so a small file that would
    inflate to gigabytes (a zlib bomb) costs nothing; refuses a truncated
    stream and any bytes after its end.
    """
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, expect + 1)
    except zlib.error as exc:
        raise TraceError(f"{where}: cannot decompress ({exc})") from None
    if len(out) > expect or d.unconsumed_tail:
        raise TraceError(f"{where}: inflates to more than the {expect:,} bytes the layer table gives "
                         "(refused without inflating it all)")
    if not d.eof:
        raise TraceError(f"{where}: the zlib stream ends early (truncated): {len(out):,} of {expect:,} bytes")
    if d.unused_data:
        raise TraceError(f"{where}: {len(d.unused_data):,} bytes of trailing data after the zlib stream")
    if len(out) != expect:
        raise TraceError(f"{where}: decoded {len(out):,} bytes, expected {expect:,}")
    return out


# --------------------------------------------------------------------------- residuals


def outside_mask(pattern_matrix: Sequence[Sequence[int]], c: int, h: int, w: int) -> np.ndarray:
    """Flat bool (C*H*W,) of the predicted positions I_t (pattern 0), C order, anchored at (0, 0)."""
    from .patterns import computed_first_mask

    first = computed_first_mask(pattern_matrix, h, w)
    return np.broadcast_to(~first, (c, h, w)).reshape(-1)


def residual_bits(shape: Sequence[int], positions: str, outside: np.ndarray | None) -> int:
    """Bits of one image's residual: C*H*W, or the count of I_t positions."""
    return math.prod(int(s) for s in shape) if positions == "all" else int(outside.sum())


def _numba_kernels():
    """The bit gather/scatter kernels in Numba, or None (NumPy fallback) where Numba is not installed.

    Imported on first use, so reading a trace whose files need no scatter
    (and importing this module) never loads Numba.
    """
    global _KERNELS
    if _KERNELS is None:
        try:
            from numba import njit
        except ImportError:  # pragma: no cover (numba is a core dependency)
            _KERNELS = False
            return None

        lead = _LEADING  # position of the first set bit of a byte, counted from the MSB

        @njit(cache=True)
        def scatter_toggle(out, r, tbyte, tmask):  # toggles out[i, tbyte[j]] by tmask[j] where bit j of r[i] is set
            k = tbyte.shape[0]
            for i in range(out.shape[0]):
                for jb in range(r.shape[1]):
                    byte = r[i, jb]
                    while byte:  # visit the set bits only: residuals are sparse
                        b = lead[byte]
                        j = jb * 8 + b
                        if j < k:
                            out[i, tbyte[j]] ^= tmask[j]
                        byte ^= np.uint8(0x80 >> b)

        @njit(cache=True)
        def gather(m, idx, out):  # bit j of out[i] = bit idx[j] of m[i]
            for i in range(m.shape[0]):
                for j in range(idx.shape[0]):
                    p = idx[j]
                    if (m[i, p >> 3] >> (7 - (p & 7))) & 1:
                        out[i, j >> 3] |= np.uint8(1 << (7 - (j & 7)))

        _KERNELS = (scatter_toggle, gather)
    return _KERNELS or None


_KERNELS = None
_LEADING = np.array([0] + [7 - int(b).bit_length() + 1 for b in range(1, 256)], dtype=np.int64)


def _gather_bits(packed: np.ndarray, outside: np.ndarray, total: int) -> np.ndarray:
    """The bits of packed masks (n, nb) at the I_t positions, packed per image (n, ceil(K'/8))."""
    idx = np.flatnonzero(outside)
    k = _numba_kernels()
    if k is not None:
        out = np.zeros((packed.shape[0], (idx.size + 7) // 8), dtype=np.uint8)
        k[1](np.ascontiguousarray(packed), idx, out)
        return out
    m = np.unpackbits(packed, axis=1, count=total, bitorder="big").view(np.bool_)[:, idx]
    return np.packbits(m, axis=1, bitorder="big")


def decode_residual(raw: bytes, n: int, shape: Sequence[int], positions: str, base: np.ndarray | None,
                    outside: np.ndarray | None) -> np.ndarray:
    """The packed mask (n, bytes_per_image) from an inflated residual and the packed base (None: zeros)."""
    if positions == "all":
        r = np.frombuffer(raw, dtype=np.uint8).reshape(n, bytes_per_image(shape))
        return r.copy() if base is None else np.bitwise_xor(r, base)
    # M = I_s OR (B XOR R on I_t) = (B OR S) with R's bits toggled at the I_t positions (S: I_s, packed)
    total = math.prod(int(s) for s in shape)
    idx = np.flatnonzero(outside)
    nbr = (idx.size + 7) // 8
    r = np.frombuffer(raw, dtype=np.uint8).reshape(n, nbr)
    s_row = np.packbits(~outside, bitorder="big")[None, :]
    out = np.repeat(s_row, n, axis=0) if base is None else np.bitwise_or(base, s_row)
    k = _numba_kernels()
    if k is not None:
        k[0](out, r, (idx >> 3).astype(np.int64), (np.uint8(0x80) >> (idx & 7).astype(np.uint8)).astype(np.uint8))
        return out
    full = np.unpackbits(out, axis=1, count=total, bitorder="big").view(np.bool_)
    toggles = np.zeros_like(full)
    np.place(toggles, np.broadcast_to(outside, full.shape),
             np.unpackbits(r, axis=1, count=idx.size, bitorder="big").view(np.bool_))
    return np.packbits(full ^ toggles, axis=1, bitorder="big")


def encode_residual(mask: np.ndarray, base: np.ndarray | None, shape: Sequence[int], positions: str,
                    outside: np.ndarray | None, level: int = ZLIB_LEVEL) -> bytes:
    """The zlib-compressed residual of a packed mask (n, nb) against a packed base (None: zeros)."""
    r = mask if base is None else np.bitwise_xor(mask, base)
    if positions != "all":
        r = _gather_bits(r, outside, math.prod(int(s) for s in shape))
    return zlib.compress(np.ascontiguousarray(r).tobytes(), level)


def _entropy_bits(ones: int, total: int) -> float:
    if total <= 0 or ones <= 0 or ones >= total:
        return 0.0
    p = ones / total
    return total * -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def choose_base(mask: np.ndarray, candidates: Sequence[tuple[tuple[str, ...], np.ndarray]],
                outside_packed: np.ndarray | None = None) -> int:
    """Index of the candidate base whose residual looks cheapest (binary entropy of its set bits); -1: none.

    ``candidates`` are (paths, packed base); ``outside_packed`` (packed I_t,
    broadcast over images) restricts the count to the stored positions.
    Ties keep the earlier candidate, and no base wins a tie, so the choice is
    deterministic.
    """
    sel = outside_packed

    def cost(x: np.ndarray) -> float:
        if sel is not None:
            x = np.bitwise_and(x, sel)
            total = popcount(sel) * x.shape[0]
        else:
            total = x.size * 8
        return _entropy_bits(popcount(x), total)

    best, best_cost = -1, cost(mask)
    for i, (_, base) in enumerate(candidates):
        c = cost(np.bitwise_xor(mask, base))
        if c < best_cost * 0.98:  # a base must save something to be worth the dependency
            best, best_cost = i, c
    return best
