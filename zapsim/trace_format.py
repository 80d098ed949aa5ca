"""Read and write zapsim traces (format versions 1 and 2).

The trace is the contract between the PyTorch tracer and the simulator; the
full specification is ``docs/trace-format.md``.  This module needs only NumPy
(the simulator never imports torch).

A trace is a directory::

    TRACE/
      manifest.json                      # everything but the masks
      masks/<op_id>/<layer:03d>.in.bin   # input nonzeros the layer received
      masks/<op_id>/<layer:03d>.out.bin  # output nonzeros if computed in full
      masks/<op_id>/<layer:03d>.computed.bin  # outputs computed (absent = all)

Each mask file holds, for every image of the trace in order, the layer's
(C, H, W) boolean map flattened in C order, bit-packed most significant bit
first, each image padded to a whole byte, then zlib-compressed (version 1);
version 2 may store a file instead as the residual against masks of earlier
files (:mod:`zapsim.trace_codec`), several times smaller.

A trace is a closed world: the reader opens only regular files inside the
trace directory, never through a symlink, checks the manifest against its
schema before using any of it, and inflates no file past the size its layer
table gives (``docs/security.md``).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import limits
from .atomic import TempDir, check_output_dir, fault_point, publish_dir
from .errors import TraceError, short
from .jsonio import loads_strict
from .patterns import computed_first_mask, pattern_matrix
from .safepath import SAFE_ID, check_id, check_rel_path, file_size_inside, read_inside
from .trace_codec import (
    MAX_BASE_DEPTH,
    MAX_BASES,
    POSITIONS,
    RESIDUAL,
    V1_ENCODINGS,
    V2_ENCODINGS,
    WRITER_MAX_DEPTH,
    ZLIB_LEVEL,
    bytes_per_image,
    choose_base,
    decode_residual,
    encode_residual,
    inflate_exact,
    max_stored_bytes,
    outside_mask,
    pack_masks,
    residual_bits,
    unpack_masks,
)

FORMAT_NAME = "zapsim-trace"
FORMAT_VERSION = 2  # what the writer writes by default
READ_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
MASK_KINDS = ("in", "out", "computed")
ENCODINGS = V2_ENCODINGS
LAYER_KINDS = ("conv", "fc")
OP_KINDS = ("dense", "uniform", "per_layer", "custom")
_OP_ID = SAFE_ID
MAX_MANIFEST_BYTES = 256 * 2**20
MAX_PATTERN_SIDE = 64
# Decoded masks kept for use as residual bases (a layer's masks of all operating points fit many times over).
CACHE_BYTES = 512 * 2**20

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "MANIFEST", "MASK_KINDS", "ENCODINGS", "LAYER_KINDS", "OP_KINDS",
    "conv_out_size", "ZapSpec", "TraceLayer", "make_layer", "OperatingPoint", "bytes_per_image", "pack_masks",
    "unpack_masks", "Trace", "read_trace", "TraceWriter", "iter_ops", "is_trace_dir", "check_trace_target",
    "convert_trace",
]

# --------------------------------------------------------------------------- layers


def conv_out_size(size_in: int, kernel: int, stride: int, padding: int) -> int:
    """PyTorch's output size for a convolution (dilation 1): floor((H + 2p - K) / s) + 1."""
    return (size_in + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class ZapSpec:
    """The ZAP attached to a layer: its computed-first pattern and its own cost."""

    pattern: str
    pattern_matrix: tuple[tuple[int, ...], ...]  # period rows x period cols, 1 = computed first
    params: int
    macs: int  # per image, dense upper bound: 2 depthwise 3x3 convs = 18 * C * H * W

    def computed_first(self, height: int, width: int) -> np.ndarray:
        """The (height, width) boolean map of the set I_s (anchored at (0, 0))."""
        return computed_first_mask(self.pattern_matrix, height, width)


@dataclass(frozen=True)
class TraceLayer:
    """One layer of the layer table: every shape the simulator needs."""

    name: str
    kind: str  # "conv" or "fc" (an fc layer is a 1x1 conv on a 1x1 map)
    c_in: int
    h_in: int
    w_in: int
    c_out: int
    h_out: int
    w_out: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    groups: int
    macs: int  # per image, algorithmic (dense)
    relu: bool  # the layer's output goes through a ReLU (possibly after a residual add)
    zap: ZapSpec | None = None

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return (self.c_in, self.h_in, self.w_in)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.c_out, self.h_out, self.w_out)

    @property
    def macs_per_output(self) -> int:
        """MACs in one output element's dot product: K_h * K_w * C_in / groups."""
        return self.kernel[0] * self.kernel[1] * (self.c_in // self.groups)

    def shape(self, kind: str) -> tuple[int, int, int]:
        return self.in_shape if kind == "in" else self.out_shape

    def to_json(self) -> dict[str, Any]:
        d = {
            "name": self.name,
            "kind": self.kind,
            "c_in": self.c_in,
            "h_in": self.h_in,
            "w_in": self.w_in,
            "c_out": self.c_out,
            "h_out": self.h_out,
            "w_out": self.w_out,
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "groups": self.groups,
            "macs": self.macs,
            "relu": self.relu,
            "zap": None,
        }
        if self.zap is not None:
            d["zap"] = {
                "pattern": self.zap.pattern,
                "pattern_matrix": [list(r) for r in self.zap.pattern_matrix],
                "params": self.zap.params,
                "macs": self.zap.macs,
            }
        return d


def make_layer(
    name: str,
    c_in: int,
    h_in: int,
    w_in: int,
    c_out: int,
    kernel: int | Sequence[int] = 3,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    groups: int = 1,
    kind: str = "conv",
    relu: bool = True,
    zap_pattern: str | None = None,
    zap_matrix: Sequence[Sequence[int]] | None = None,
) -> TraceLayer:
    """Build a :class:`TraceLayer`, deriving output sizes and MACs by PyTorch's rules."""
    kh, kw = _pair(kernel)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    h_out = conv_out_size(h_in, kh, sh, ph)
    w_out = conv_out_size(w_in, kw, sw, pw)
    macs = kh * kw * (c_in // groups) * c_out * h_out * w_out
    zap = None
    if zap_pattern is not None or zap_matrix is not None:
        matrix = zap_matrix if zap_matrix is not None else pattern_matrix(zap_pattern)
        zap = ZapSpec(
            pattern=zap_pattern or "custom",
            pattern_matrix=tuple(tuple(int(v) for v in row) for row in matrix),
            params=24 * c_out,
            macs=18 * c_out * h_out * w_out,
        )
    return TraceLayer(name, kind, c_in, h_in, w_in, c_out, h_out, w_out, (kh, kw), (sh, sw), (ph, pw), groups, macs, relu, zap)


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    a, b = v
    return (int(a), int(b))


# --------------------------------------------------------------------------- operating points


@dataclass
class OperatingPoint:
    """One operating point: thresholds plus what the tracer measured for it."""

    id: str
    kind: str  # dense | uniform | per_layer | custom
    thresholds: dict[str, float] | None = None  # ZAP layer name -> threshold (None for dense)
    accuracy: dict[str, Any] | None = None  # e.g. {"top1": 0.91, "top5": 0.99, "num_images": 1017}
    stats: dict[str, Any] = field(default_factory=dict)  # free-form, e.g. per-layer prediction categories
    label: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "thresholds": self.thresholds,
            "accuracy": self.accuracy,
            "stats": self.stats,
        }




# --------------------------------------------------------------------------- manifest schema

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list",
               dict: "an object"}


def _get(d: Any, key: str, where: str, tp: type, *, required: bool = True, default: Any = None,
         lo: float | None = None, hi: float | None = None, nullable: bool = False) -> Any:
    """``d[key]`` checked for type (and range); a problem raises TraceError naming where, the key and the value."""
    if not isinstance(d, dict):
        raise TraceError(f"{where}: must be an object, got {short(d)}")
    if key not in d:
        if required:
            raise TraceError(f"{where}: missing key '{key}'")
        return default
    v = d[key]
    if v is None and nullable:
        return None
    if tp is int:
        ok = isinstance(v, int) and not isinstance(v, bool)
    elif tp is float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    else:
        ok = isinstance(v, tp)
    if not ok:
        raise TraceError(f"{where}: key '{key}' = {short(v)}: must be {_TYPE_NAMES[tp]}{' or null' if nullable else ''}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f"{lo:,}..{hi:,}" if lo is not None and hi is not None else (f">= {lo:,}" if lo is not None else f"<= {hi:,}")
        raise TraceError(f"{where}: key '{key}' = {short(v)}: out of range; allowed {rng}")
    return float(v) if tp is float else v


def _need(d: Any, key: str, where: str, types: type | tuple[type, ...]) -> Any:
    """Kept for callers of the version-1 reader: ``_get`` with a type or a tuple of types."""
    return _get(d, key, where, types if isinstance(types, type) else types[0])


def _parse_layer(d: Any, where: str) -> TraceLayer:
    if not isinstance(d, dict):
        raise TraceError(f"{where}: a layer must be an object, got {short(d)}")
    name = _get(d, "name", where, str)
    where = f"{where} ({short(name, 60)})"
    if not 1 <= len(name) <= limits.MAX_NAME_CHARS:
        raise TraceError(f"{where}: key 'name' must have 1 to {limits.MAX_NAME_CHARS} characters")
    kind = _get(d, "kind", where, str)
    if kind not in LAYER_KINDS:
        raise TraceError(f"{where}: kind {short(kind)} is not one of {', '.join(LAYER_KINDS)}")
    bounds = {"c_in": limits.MAX_CHANNELS, "c_out": limits.MAX_CHANNELS, "h_in": limits.MAX_SPATIAL,
              "w_in": limits.MAX_SPATIAL, "h_out": limits.MAX_SPATIAL, "w_out": limits.MAX_SPATIAL,
              "groups": limits.MAX_CHANNELS, "macs": limits.MAX_LAYER_MACS}
    ints = {k: _get(d, k, where, int, lo=1, hi=hi) for k, hi in bounds.items()}
    pairs = {}
    for k, lo, hi in (("kernel", 1, limits.MAX_KERNEL), ("stride", 1, limits.MAX_STRIDE),
                      ("padding", 0, limits.MAX_PADDING)):
        v = _get(d, k, where, list)
        if len(v) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi for x in v):
            raise TraceError(f"{where}: key '{k}' = {short(v)}: must be a list of two integers {lo}..{hi:,}")
        pairs[k] = (v[0], v[1])
    relu = _get(d, "relu", where, bool)
    layer = TraceLayer(name=name, kind=kind, **ints, **pairs, relu=relu, zap=None)  # type: ignore[arg-type]
    if layer.c_in % layer.groups or layer.c_out % layer.groups:
        raise TraceError(f"{where}: groups={layer.groups} must divide c_in={layer.c_in} and c_out={layer.c_out}")
    for axis, (n_in, n_out, k, s, p) in {
        "h": (layer.h_in, layer.h_out, layer.kernel[0], layer.stride[0], layer.padding[0]),
        "w": (layer.w_in, layer.w_out, layer.kernel[1], layer.stride[1], layer.padding[1]),
    }.items():
        expect = conv_out_size(n_in, k, s, p)
        if n_out != expect:
            raise TraceError(
                f"{where}: {axis}_out={n_out} disagrees with {axis}_in={n_in}, kernel {k}, stride {s}, padding {p} "
                f"(PyTorch's rule gives {expect})"
            )
    problem = limits.layer_problem(layer)
    if problem:
        raise TraceError(f"{where}: {problem}")
    expect_macs = layer.macs_per_output * layer.c_out * layer.h_out * layer.w_out
    if layer.macs != expect_macs:
        raise TraceError(f"{where}: macs={layer.macs} but the shapes give {expect_macs}")
    z = _get(d, "zap", where, dict, required=False, nullable=True)
    if z is not None:
        zw = f"{where} zap"
        m = _get(z, "pattern_matrix", zw, list)
        if (not m or len(m) > MAX_PATTERN_SIDE or not all(
                isinstance(r, list) and len(r) == len(m[0]) and 0 < len(r) <= MAX_PATTERN_SIDE
                and all(v in (0, 1) and not isinstance(v, (bool, float)) for v in r) for r in m)):
            raise TraceError(f"{zw}: key 'pattern_matrix' = {short(m)}: must be a non-empty rectangular list of 0/1 "
                             f"rows, at most {MAX_PATTERN_SIDE}x{MAX_PATTERN_SIDE}")
        pattern = _get(z, "pattern", zw, str)
        if len(pattern) > limits.MAX_NAME_CHARS:
            raise TraceError(f"{zw}: key 'pattern' = {short(pattern)}: at most {limits.MAX_NAME_CHARS} characters")
        zap = ZapSpec(
            pattern=pattern,
            pattern_matrix=tuple(tuple(int(v) for v in r) for r in m),
            params=_get(z, "params", zw, int, lo=0, hi=limits.MAX_LAYER_MACS),
            macs=_get(z, "macs", zw, int, lo=0, hi=limits.MAX_LAYER_MACS),
        )
        layer = TraceLayer(**{**layer.__dict__, "zap": zap})
    return layer


def _parse_file_entry(meta: Any, rel: str, where: str, version: int) -> None:
    """Types and ranges of one ``files`` entry (its shape against the layer table is checked by the caller)."""
    fw = f"{where}: files[{short(rel)}]"
    if not isinstance(meta, dict):
        raise TraceError(f"{fw} = {short(meta)}: must be an object with sha256, bytes, encoding and shape")
    sha = _get(meta, "sha256", fw, str)
    if len(sha) != 64 or any(ch not in "0123456789abcdefABCDEF" for ch in sha):
        raise TraceError(f"{fw}: key 'sha256' = {short(sha)}: must be 64 hexadecimal digits")
    shape = _get(meta, "shape", fw, list)
    if len(shape) != 4 or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in shape):
        raise TraceError(f"{fw}: key 'shape' = {short(shape)}: must be a list of four integers >= 1 [N, C, H, W]")
    encs = V1_ENCODINGS if version == 1 else V2_ENCODINGS
    enc = _get(meta, "encoding", fw, str)
    if enc not in encs:
        extra = f" (encoding {RESIDUAL} needs format_version 2)" if enc == RESIDUAL else ""
        raise TraceError(f"{fw}: key 'encoding' = {short(enc)}: not one of {', '.join(encs)}{extra}")
    if shape[0] > limits.MAX_IMAGES or math.prod(shape[1:]) > limits.MAX_TENSOR_ELEMENTS:
        raise TraceError(f"{fw}: key 'shape' = {short(shape)}: larger than zapsim reads")
    _get(meta, "bytes", fw, int, lo=0, hi=max_stored_bytes(shape[0] * bytes_per_image(shape[1:]), enc))
    if enc == RESIDUAL:
        res = _get(meta, "residual", fw, dict)
        rw = f"{fw} residual"
        base = _get(res, "base", rw, list)
        if len(base) > MAX_BASES:
            raise TraceError(f"{rw}: key 'base' lists {len(base)} files; at most {MAX_BASES}")
        for b in base:
            check_rel_path(b, f"{rw}: base", error=TraceError)
        pos = _get(res, "positions", rw, str)
        if pos not in POSITIONS:
            raise TraceError(f"{rw}: key 'positions' = {short(pos)}: not one of {', '.join(POSITIONS)}")


def _manifest_shape_check(root: Path, rel: str, meta: dict, expect: list[int], layer: TraceLayer, kind: str) -> None:
    if meta["shape"] != expect:
        raise TraceError(f"{root / rel}: mask shape {short(meta['shape'])} disagrees with the layer table "
                         f"('{layer.name}' {kind} needs {expect})")


def _check_residuals(w: str, files: dict, canon: dict[str, tuple[int, int, int]], layers: list[TraceLayer]) -> set[str]:
    """Bases of version-2 residuals: listed, referenced, same shape, strictly earlier, chains not too deep.
    Returns the set of files some residual uses as a base."""
    depth: dict[str, int] = {}
    used: set[str] = set()
    for rel in sorted(canon, key=canon.get):
        meta = files[rel]
        if meta["encoding"] != RESIDUAL:
            depth[rel] = 0
            continue
        fw = f"{w}: files[{short(rel)}] residual"
        res = meta["residual"]
        for b in res["base"]:
            if b not in canon:
                raise TraceError(f"{fw}: base {short(b)} is not a mask file of any operating point")
            if canon[b] >= canon[rel]:
                raise TraceError(f"{fw}: base {short(b)} does not come before this file (operating points in order, "
                                 "then layers, then in/out/computed); a base must be an earlier file")
            if files[b]["shape"] != meta["shape"]:
                raise TraceError(f"{fw}: base {short(b)} has shape {files[b]['shape']}, this file {meta['shape']}")
            used.add(b)
        if res["positions"] == "outside_computed_first":
            _, li, ki = canon[rel]
            if MASK_KINDS[ki] != "computed" or layers[li].zap is None:
                raise TraceError(f"{fw}: positions 'outside_computed_first' applies only to a 'computed' mask of a "
                                 "layer with a ZAP")
        depth[rel] = 1 + max((depth[b] for b in res["base"]), default=0)
        if depth[rel] > MAX_BASE_DEPTH:
            raise TraceError(f"{fw}: residuals chain {depth[rel]} files deep; at most {MAX_BASE_DEPTH}")
    return used


# --------------------------------------------------------------------------- reading


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Trace:
    """A trace opened for reading; see :func:`read_trace`."""

    def __init__(self, path: Path, manifest: dict[str, Any], layers: list[TraceLayer], ops: list[OperatingPoint],
                 bases: set[str] | None = None, canon: dict[str, tuple[int, int, int]] | None = None):
        self.path = path
        self.manifest = manifest
        self.layers = layers
        self.operating_points = ops
        self.num_images: int = manifest["num_images"]
        self.synthetic: bool = bool(manifest.get("synthetic", False))
        self.format_version: int = manifest.get("format_version", 1)
        self._layer_index = {l.name: i for i, l in enumerate(layers)}
        self._op_index = {o.id: i for i, o in enumerate(ops)}
        self._op_masks: dict[str, list[dict[str, str | None]]] = {
            o["id"]: o["masks"] for o in manifest["operating_points"]
        }
        self._bases = bases or set()
        self._canon = canon or {}  # rel path -> (op index, layer index, kind index) of its first use
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_bytes = 0
        self._outside: dict[int, np.ndarray] = {}

    def __repr__(self) -> str:
        return f"Trace({str(self.path)!r}, {len(self.layers)} layers, {self.num_images} images, ops={list(self._op_index)})"

    @property
    def model(self) -> dict[str, Any]:
        return self.manifest.get("model", {})

    @property
    def dataset(self) -> dict[str, Any]:
        return self.manifest.get("dataset", {})

    def op(self, op_id: str) -> OperatingPoint:
        """The operating point with id ``op_id``."""
        if op_id not in self._op_index:
            raise TraceError(f"{self.path}: no operating point {short(op_id)}; the trace has {', '.join(self._op_index)}")
        return self.operating_points[self._op_index[op_id]]

    def layer_index(self, layer: int | str) -> int:
        if isinstance(layer, str):
            if layer not in self._layer_index:
                raise TraceError(f"{self.path}: no layer {short(layer)}")
            return self._layer_index[layer]
        if not 0 <= layer < len(self.layers):
            raise TraceError(f"{self.path}: layer index {layer} out of range 0..{len(self.layers) - 1}")
        return int(layer)

    def mask_file(self, op_id: str, layer: int | str, kind: str) -> str | None:
        """Relative path of a mask file, or None for a 'computed' mask that is all ones."""
        self.op(op_id)
        return self._op_masks[op_id][self.layer_index(layer)].get(kind)

    def packed(self, op_id: str, layer: int | str, kind: str) -> np.ndarray:
        """Packed masks uint8 (num_images, bytes_per_image); for an absent 'computed' file, all ones."""
        li = self.layer_index(layer)
        shape = self.layers[li].shape(kind)
        rel = self.mask_file(op_id, li, kind)
        if rel is None:
            return pack_masks(np.ones((self.num_images, *shape), dtype=bool))
        return self._decode(rel, li)

    def mask(self, op_id: str, layer: int | str, kind: str) -> np.ndarray:
        """Boolean masks (num_images, C, H, W) of ``kind`` ('in', 'out' or 'computed')."""
        if kind not in MASK_KINDS:
            raise TraceError(f"mask kind {short(kind)} is not one of {', '.join(MASK_KINDS)}")
        li = self.layer_index(layer)
        return unpack_masks(self.packed(op_id, li, kind), self.layers[li].shape(kind))

    def _read_raw(self, rel: str) -> bytes:
        """The file's decoded (inflated) bytes, after checking its size and checksum against the manifest."""
        meta = self.manifest["files"][rel]
        p = self.path / rel
        size = file_size_inside(self.path, rel, f"{p}: mask file", error=TraceError)
        if size != meta["bytes"]:
            raise TraceError(f"{p}: file is {size:,} bytes but the manifest says {meta['bytes']:,} "
                             "(truncated or overwritten)")
        data = read_inside(self.path, rel, max_bytes=meta["bytes"], where=f"{p}: mask file", error=TraceError)
        if _sha256(data) != meta["sha256"].lower():
            raise TraceError(f"{p}: sha256 checksum does not match the manifest (the file is corrupted)")
        n, c, h, w = meta["shape"]
        if meta["encoding"] == RESIDUAL:
            pos = meta["residual"]["positions"]
            bits = residual_bits((c, h, w), pos, None if pos == "all" else self._outside_of(self._canon[rel][1]))
            expect = n * ((bits + 7) // 8)
        else:
            expect = n * bytes_per_image((c, h, w))
        if meta["encoding"] == "bits-msb":
            if len(data) != expect:
                raise TraceError(f"{p}: decoded {len(data):,} bytes, expected {expect:,} for shape {meta['shape']}")
            return data
        return inflate_exact(data, expect, str(p))

    def _outside_of(self, li: int) -> np.ndarray:
        if li not in self._outside:
            layer = self.layers[li]
            self._outside[li] = outside_mask(layer.zap.pattern_matrix, *layer.out_shape)
        return self._outside[li]

    def _decode(self, rel: str, li: int) -> np.ndarray:
        if rel in self._cache:
            self._cache.move_to_end(rel)
            return self._cache[rel]
        meta = self.manifest["files"][rel]
        n, c, h, w = meta["shape"]
        raw = self._read_raw(rel)
        if meta["encoding"] == RESIDUAL:
            res = meta["residual"]
            base = None
            for b in res["base"]:
                pb = self._decode(b, self._canon[b][1])
                base = pb if base is None else np.bitwise_and(base, pb)
            outside = self._outside_of(li) if res["positions"] != "all" else None
            packed = decode_residual(raw, n, (c, h, w), res["positions"], base, outside)
        else:
            packed = np.frombuffer(raw, dtype=np.uint8).reshape(n, bytes_per_image((c, h, w)))
        packed.flags.writeable = False  # cached and shared: nobody may change it in place
        if rel in self._bases:
            self._cache[rel] = packed
            self._cache_bytes += packed.nbytes
            while self._cache_bytes > CACHE_BYTES and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cache_bytes -= old.nbytes
        return packed

    def verify(self) -> None:
        """Check every mask file's size, checksum and decoded length (read_trace(verify=True) calls this)."""
        for o in self.operating_points:
            for entry in self._op_masks[o.id]:
                for kind in MASK_KINDS:
                    rel = entry.get(kind)
                    if rel is not None:
                        self._read_raw(rel)


def _missing_dir_hint(root: Path) -> str:
    try:
        olds = [q.name for q in root.parent.iterdir() if q.name.startswith(f".{root.name}.old-")]
    except OSError:
        olds = []
    if olds:
        return (f" (an interrupted --overwrite left the earlier trace at {root.parent / olds[0]}; the next write "
                "to this path restores it, or rename it back)")
    return ""


def read_trace(path: str | Path, verify: bool = True) -> Trace:
    """Open and validate a trace directory.

    Checks, before reading any mask: the manifest against the schema of
    ``docs/trace-format.md`` (types, ranges, nesting depth), the layer table
    (shapes follow PyTorch's rules, MACs match), that every operating point
    lists an input and output mask for every layer, that every path stays
    inside the trace directory, and that each mask file's recorded shape
    matches the layer table; then (``verify=True``) every file's size,
    sha256 and decoded length.  Any problem raises :class:`TraceError`
    naming the file, the key and the value.
    """
    root = Path(path)
    mpath = root / MANIFEST
    if not root.is_dir():
        raise TraceError(f"{root}: no such trace directory{_missing_dir_hint(root)}")
    if not os.path.lexists(mpath):
        hint = " (an interrupted write leaves a '.NAME.tmp-*' directory, never a trace)" if root.name.startswith(".") else ""
        raise TraceError(f"{root}: not a trace: {MANIFEST} is missing{hint}")
    text = read_inside(root, MANIFEST, max_bytes=MAX_MANIFEST_BYTES, where=str(mpath), error=TraceError)
    man = loads_strict(text, str(mpath), max_bytes=MAX_MANIFEST_BYTES, error=TraceError)
    if not isinstance(man, dict) or man.get("format") != FORMAT_NAME:
        got = man.get("format") if isinstance(man, dict) else man
        raise TraceError(f"{mpath}: 'format' must be '{FORMAT_NAME}', got {short(got)}")
    ver = man.get("format_version")
    if not isinstance(ver, int) or isinstance(ver, bool):
        raise TraceError(f"{mpath}: 'format_version' must be an integer, got {short(ver)}")
    if ver > max(READ_VERSIONS):
        raise TraceError(
            f"{mpath}: trace format version {ver} is newer than this zapsim reads (up to {max(READ_VERSIONS)}); "
            "upgrade zapsim"
        )
    if ver < 1:
        raise TraceError(f"{mpath}: format_version {ver} is not valid (versions start at 1)")
    w = str(mpath)
    for key, tp in (("created_by", str), ("model", dict), ("dataset", dict), ("synthetic", bool)):
        _get(man, key, w, tp, required=False, nullable=key != "synthetic")
    n = _get(man, "num_images", w, int, lo=1, hi=limits.MAX_IMAGES)
    raw_layers = _get(man, "layers", w, list)
    if not raw_layers:
        raise TraceError(f"{w}: the layer table is empty")
    if len(raw_layers) > limits.MAX_LAYERS:
        raise TraceError(f"{w}: {len(raw_layers):,} layers; at most {limits.MAX_LAYERS:,}")
    layers = [_parse_layer(d, f"{w}: layers[{i}]") for i, d in enumerate(raw_layers)]
    names = [l.name for l in layers]
    if len(set(names)) != len(names):
        dup = next(x for x in names if names.count(x) > 1)
        raise TraceError(f"{w}: layer names must be unique; {short(dup)} appears twice")
    files = _get(man, "files", w, dict)
    raw_ops = _get(man, "operating_points", w, list)
    if not raw_ops:
        raise TraceError(f"{w}: the trace has no operating points")
    if len(raw_ops) > limits.MAX_OPERATING_POINTS:
        raise TraceError(f"{w}: {len(raw_ops):,} operating points; at most {limits.MAX_OPERATING_POINTS:,}")
    if len(files) > 3 * len(raw_ops) * len(layers):
        raise TraceError(f"{w}: 'files' lists {len(files):,} entries, more than the operating points' masks")
    for rel, meta in files.items():
        check_rel_path(rel, f"{w}: files", error=TraceError)
        _parse_file_entry(meta, rel, w, ver)
    canon: dict[str, tuple[int, int, int]] = {}
    ops: list[OperatingPoint] = []
    for i, od in enumerate(raw_ops):
        ow = f"{w}: operating_points[{i}]"
        if not isinstance(od, dict):
            raise TraceError(f"{ow}: must be an object, got {short(od)}")
        oid = check_id(_get(od, "id", ow, str), ow, "id", error=TraceError)
        ow = f"{ow} ('{oid}')"
        kind = _get(od, "kind", ow, str)
        if kind not in OP_KINDS:
            raise TraceError(f"{ow}: kind {short(kind)} is not one of {', '.join(OP_KINDS)}")
        label = _get(od, "label", ow, str, required=False, default="", nullable=True) or ""
        thr = _get(od, "thresholds", ow, dict, required=False, nullable=True)
        if thr is not None:
            for lname in thr:
                if lname not in names:
                    raise TraceError(f"{ow}: thresholds names layer {short(lname)}, which is not in the layer table")
                _get(thr, lname, f"{ow} thresholds", float)
        acc = _get(od, "accuracy", ow, dict, required=False, nullable=True)
        if acc is not None:
            for key in ("top1", "top5", "top1_change", "top5_change"):
                _get(acc, key, f"{ow} accuracy", float, required=False, nullable=True)
        stats = _get(od, "stats", ow, dict, required=False, nullable=True) or {}
        masks = _get(od, "masks", ow, list)
        if len(masks) != len(layers):
            raise TraceError(f"{ow}: masks lists {len(masks)} layers, the layer table has {len(layers)}")
        for li, entry in enumerate(masks):
            mw = f"{ow} masks[{li}] ('{layers[li].name}')"
            if not isinstance(entry, dict):
                raise TraceError(f"{mw}: must be an object {{\"in\": PATH, \"out\": PATH, \"computed\": PATH or null}}, "
                                 f"got {short(entry)}")
            for ki, kind_m in enumerate(MASK_KINDS):
                rel = _get(entry, kind_m, mw, str, required=kind_m != "computed", nullable=kind_m == "computed")
                if rel is None:
                    continue
                check_rel_path(rel, f"{mw}: '{kind_m}'", error=TraceError)
                if rel not in files:
                    raise TraceError(f"{ow}: mask file {short(rel)} is not listed under 'files'")
                _manifest_shape_check(root, rel, files[rel], [n, *layers[li].shape(kind_m)], layers[li], kind_m)
                canon.setdefault(rel, (i, li, ki))
        ops.append(OperatingPoint(id=oid, kind=kind, label=label, accuracy=acc, stats=stats,
                                  thresholds=None if thr is None else {str(k): float(v) for k, v in thr.items()}))
    ids = [o.id for o in ops]
    if len(set(ids)) != len(ids):
        raise TraceError(f"{w}: operating point ids must be unique, got {short(ids)}")
    bases = _check_residuals(w, files, canon, layers) if ver >= 2 else set()
    trace = Trace(root, man, layers, ops, bases, canon)
    if verify:
        trace.verify()
    return trace


def is_trace_dir(path: str | Path) -> bool:
    """Whether ``path`` holds a trace (a regular ``manifest.json`` naming the format), for ``--overwrite``."""
    p = Path(path) / MANIFEST
    try:
        if p.is_symlink() or not p.is_file():
            return False
        with open(p, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return f'"format": "{FORMAT_NAME}"'.encode() in head


def check_trace_target(path: str | Path, overwrite: bool, what: str = "trace directory") -> Path:
    """Check, before any work, that a trace can be written to ``path`` (for the trace command's ``--out``).

    Refuses an empty path, one that cannot be created (under a file, /proc,
    /dev, an unwritable directory), an existing non-empty directory without
    ``overwrite``, and with ``overwrite`` a directory that holds no trace.
    """
    return check_output_dir(path, overwrite, what, looks_ours=is_trace_dir, kind="zapsim trace (manifest.json)")


# --------------------------------------------------------------------------- writing


class TraceWriter:
    """Write a trace atomically, streaming masks a batch of images at a time.

    Usage::

        with TraceWriter(path, layers=..., num_images=N, model={...}, dataset={...}) as tw:
            tw.add_operating_point(OperatingPoint("dense", "dense"))
            for batch in ...:
                tw.append("dense", layer_index, "in", in_masks)   # bool (B, C, H, W)
                ...

    Everything goes into a locked temporary directory beside ``path``; on a
    clean exit the masks are encoded (version 2: residuals where they are
    smaller), the manifest is written and the directory published to
    ``path`` (:func:`zapsim.atomic.publish_dir`: an old trace is replaced in
    one step, only with ``overwrite``).  On an exception the temporary
    directory is removed, so an interrupted write never looks like a trace.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        layers: Sequence[TraceLayer],
        num_images: int,
        model: Mapping[str, Any],
        dataset: Mapping[str, Any],
        synthetic: bool = False,
        overwrite: bool = False,
        compress: bool = True,
        extra: Mapping[str, Any] | None = None,
        format_version: int = FORMAT_VERSION,
    ):
        self.path = Path(path)
        check_trace_target(self.path, overwrite)
        if not 1 <= num_images <= limits.MAX_IMAGES:
            raise TraceError(f"num_images must be within 1..{limits.MAX_IMAGES:,}, got {num_images}")
        if format_version not in READ_VERSIONS:
            raise TraceError(f"format_version {format_version} is not one of {READ_VERSIONS}")
        self.layers = list(layers)
        if not self.layers:
            raise TraceError("a trace needs at least one layer")
        for layer in self.layers:
            problem = limits.layer_problem(layer)
            if problem:
                raise TraceError(f"layer {short(layer.name)}: {problem}")
        self.num_images = num_images
        self.overwrite = overwrite
        self.compress = compress
        self.format_version = format_version
        self._header = {
            "model": dict(model),
            "dataset": dict(dataset),
            "synthetic": bool(synthetic),
            **(dict(extra) if extra else {}),
        }
        self._ops: dict[str, OperatingPoint] = {}
        self._counts: dict[str, int] = {}  # rel path -> images written
        self._tmpdir = TempDir(self.path)
        self._tmp = self._tmpdir.path
        self._done = False

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._done:  # already committed or aborted explicitly
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def add_operating_point(self, op: OperatingPoint) -> None:
        """Declare an operating point; its accuracy and stats may be filled in until commit."""
        check_id(op.id, "operating point", "id", error=TraceError)
        if op.id in self._ops:
            raise TraceError(f"operating point '{op.id}' declared twice")
        if op.kind not in OP_KINDS:
            raise TraceError(f"operating point kind {short(op.kind)} is not one of {', '.join(OP_KINDS)}")
        self._ops[op.id] = op
        (self._tmp / "masks" / op.id).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def rel_path(op_id: str, layer_index: int, kind: str) -> str:
        return f"masks/{op_id}/{layer_index:03d}.{kind}.bin"

    def append(self, op_id: str, layer_index: int, kind: str, masks: np.ndarray) -> None:
        """Append boolean masks (B, C, H, W) for the next B images of one layer and kind."""
        if op_id not in self._ops:
            raise TraceError(f"operating point {short(op_id)} was not declared")
        if kind not in MASK_KINDS:
            raise TraceError(f"mask kind {short(kind)} is not one of {', '.join(MASK_KINDS)}")
        layer = self.layers[layer_index]
        shape = layer.shape(kind)
        m = np.asarray(masks)
        if m.ndim != 4 or tuple(m.shape[1:]) != shape:
            raise TraceError(f"layer '{layer.name}' {kind} masks must have shape (B, {shape}), got {m.shape}")
        self._append_packed(op_id, layer_index, kind, pack_masks(m))

    def _append_packed(self, op_id: str, layer_index: int, kind: str, packed: np.ndarray) -> None:
        """Append already packed masks (B, bytes_per_image) (what :meth:`append` and :func:`convert_trace` do)."""
        rel = self.rel_path(op_id, layer_index, kind)
        done = self._counts.get(rel, 0)
        if done + packed.shape[0] > self.num_images:
            raise TraceError(f"{rel}: more than num_images={self.num_images} images appended")
        with open(self._tmp / rel, "ab") as f:
            f.write(np.ascontiguousarray(packed).tobytes())
        self._counts[rel] = done + packed.shape[0]

    def abort(self) -> None:
        """Remove the temporary directory; nothing is left behind."""
        if not self._done:
            self._tmpdir.discard()
            self._done = True

    def commit(self) -> Path:
        """Check completeness, encode, checksum, write the manifest and publish the directory."""
        if self._done:
            raise TraceError("trace writer already closed")
        try:
            return self._commit()
        except BaseException:
            self.abort()
            raise

    def _present(self) -> dict[tuple[int, int, str], str]:
        """(op index, layer index, kind) -> rel path of every file written; checks completeness."""
        present = {}
        for oi, op in enumerate(self._ops.values()):
            for li, layer in enumerate(self.layers):
                for kind in MASK_KINDS:
                    rel = self.rel_path(op.id, li, kind)
                    count = self._counts.get(rel, 0)
                    if count == 0 and kind == "computed":
                        continue
                    if count != self.num_images:
                        raise TraceError(
                            f"operating point '{op.id}', layer '{layer.name}': {count} of {self.num_images} "
                            f"'{kind}' masks written"
                        )
                    present[oi, li, kind] = rel
        return present

    def _entry(self, layer: TraceLayer, kind: str, data: bytes, encoding: str) -> dict[str, Any]:
        return {"sha256": _sha256(data), "bytes": len(data), "encoding": encoding,
                "shape": [self.num_images, *layer.shape(kind)]}

    def _encode_v1(self, present: dict[tuple[int, int, str], str]) -> dict[str, Any]:
        files: dict[str, Any] = {}
        for (_, li, kind), rel in present.items():
            p = self._tmp / rel
            data = p.read_bytes()
            if self.compress:
                import zlib

                data = zlib.compress(data, ZLIB_LEVEL)
                p.write_bytes(data)
            files[rel] = self._entry(self.layers[li], kind, data, "bits-msb-zlib" if self.compress else "bits-msb")
        return files

    def _candidates(self, oi: int, li: int, kind: str, present, window, depth) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """Bases worth trying for one file, all earlier in the format's order (see trace_codec)."""
        layer = self.layers[li]
        cands: list[tuple[tuple[str, ...], np.ndarray]] = []
        earlier_ops = sorted({0, oi - 1, oi - 2, oi - 3} & set(range(oi)))

        def add(keys: list[tuple[int, int, str]]) -> None:
            rels = tuple(present[k] for k in keys)
            if any(depth[r] >= WRITER_MAX_DEPTH - (kind != "in") for r in rels):
                return
            base = window[keys[0]]
            for k in keys[1:]:
                base = np.bitwise_and(base, window[k])
            cands.append((rels, base))

        if kind == "in":
            # what an earlier layer of the same operating point emitted (out AND computed)
            for lj in range(li - 1, max(-1, li - 5), -1):
                if self.layers[lj].out_shape == layer.in_shape:
                    add([(oi, lj, "out")] + ([(oi, lj, "computed")] if (oi, lj, "computed") in present else []))
        if kind == "computed":
            add([(oi, li, "out")])
        for oj in earlier_ops:
            if (oj, li, kind) in present:
                add([(oj, li, kind)])
        return cands

    def _encode_v2(self, present: dict[tuple[int, int, str], str]) -> dict[str, Any]:
        import zlib

        files: dict[str, Any] = {}
        depth: dict[str, int] = {}
        window: dict[tuple[int, int, str], np.ndarray] = {}
        n_ops = len(self._ops)
        for li, layer in enumerate(self.layers):
            for key in [k for k in window if k[1] < li - 4]:
                del window[key]
            for oi in range(n_ops):
                for kind in MASK_KINDS:
                    if (oi, li, kind) in present:
                        raw = np.fromfile(self._tmp / present[oi, li, kind], dtype=np.uint8)
                        window[oi, li, kind] = raw.reshape(self.num_images, bytes_per_image(layer.shape(kind)))
            outside = None
            if layer.zap is not None:
                outside = outside_mask(layer.zap.pattern_matrix, *layer.out_shape)
            for oi in range(n_ops):
                for kind in MASK_KINDS:
                    if (oi, li, kind) not in present:
                        continue
                    rel = present[oi, li, kind]
                    m = window[oi, li, kind]
                    shape = layer.shape(kind)
                    positions, sel = "all", None
                    if kind == "computed" and outside is not None:
                        full = unpack_masks(m, shape).reshape(self.num_images, -1)
                        if full[:, ~outside].all():  # 1 on all of I_s, as the method's decision always is
                            positions = "outside_computed_first"
                            sel = np.packbits(outside, bitorder="big")[None, :]
                    cands = self._candidates(oi, li, kind, present, window, depth)
                    best = choose_base(m, cands, sel)
                    if best < 0 and positions == "all":
                        data = zlib.compress(np.ascontiguousarray(m).tobytes(), ZLIB_LEVEL)
                        entry = self._entry(layer, kind, data, "bits-msb-zlib")
                        depth[rel] = 0
                    else:
                        rels, base = cands[best] if best >= 0 else ((), None)
                        data = encode_residual(m, base, shape, positions, outside)
                        entry = self._entry(layer, kind, data, RESIDUAL)
                        entry["residual"] = {"base": list(rels), "positions": positions}
                        depth[rel] = 1 + max((depth[r] for r in rels), default=0)
                    (self._tmp / rel).write_bytes(data)
                    files[rel] = entry
        return {rel: files[rel] for rel in present.values()}  # manifest order: op, layer, kind

    def _commit(self) -> Path:
        if not self._ops:
            raise TraceError("a trace needs at least one operating point")
        present = self._present()
        if self.format_version >= 2 and self.compress:
            files = self._encode_v2(present)
        else:
            files = self._encode_v1(present)
        op_json = []
        for oi, op in enumerate(self._ops.values()):
            masks = [{kind: present.get((oi, li, kind)) for kind in MASK_KINDS} for li in range(len(self.layers))]
            op_json.append({**op.to_json(), "masks": masks})
        from . import __version__

        manifest = {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "created_by": f"zapsim {__version__}",
            **self._header,
            "num_images": self.num_images,
            "layers": [l.to_json() for l in self.layers],
            "operating_points": op_json,
            "files": files,
        }
        from .jsonio import dumps_finite

        text = dumps_finite(manifest, f"{self.path}: manifest", indent=1, sort_keys=False) + "\n"
        (self._tmp / MANIFEST).write_text(text)
        fault_point("trace:manifest")
        publish_dir(self._tmpdir, self.path, self.overwrite, "trace directory", looks_ours=is_trace_dir)
        self._done = True
        return self.path


def iter_ops(trace: Trace, ids: Iterable[str] | None = None) -> list[OperatingPoint]:
    """The trace's operating points, or the ones named in ``ids`` (in that order)."""
    if ids is None:
        return list(trace.operating_points)
    return [trace.op(i) for i in ids]


_FORMAT_KEYS = ("format", "format_version", "created_by", "num_images", "layers", "operating_points", "files",
                "model", "dataset", "synthetic")


def convert_trace(src: str | Path, dst: str | Path, format_version: int = FORMAT_VERSION,
                  overwrite: bool = False) -> Path:
    """Rewrite the trace ``src`` as ``dst`` in ``format_version`` (same masks, bit for bit; checked)."""
    t = read_trace(src)
    extra = {k: v for k, v in t.manifest.items() if k not in _FORMAT_KEYS}
    with TraceWriter(dst, layers=t.layers, num_images=t.num_images, model=t.model, dataset=t.dataset,
                     synthetic=t.synthetic, overwrite=overwrite, extra=extra, format_version=format_version) as tw:
        for op in t.operating_points:
            tw.add_operating_point(op)
        for op in t.operating_points:
            for li in range(len(t.layers)):
                for kind in MASK_KINDS:
                    if t.mask_file(op.id, li, kind) is not None:
                        tw._append_packed(op.id, li, kind, t.packed(op.id, li, kind))
    return Path(dst)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m zapsim.trace_format check TRACE`` / ``convert SRC DST [--format-version N] [--overwrite]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m zapsim.trace_format",
                                 description="Check a trace against the format, or convert it between versions.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="validate a trace: manifest schema, every file's size, sha256 and length")
    c.add_argument("trace")
    v = sub.add_parser("convert", help="rewrite a trace in another format version (masks unchanged)")
    v.add_argument("src")
    v.add_argument("dst")
    v.add_argument("--format-version", type=int, default=FORMAT_VERSION, choices=READ_VERSIONS)
    v.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    if args.cmd == "check":
        t = read_trace(args.trace)
        print(f"{t.path}: a valid zapsim trace, format version {t.format_version}: {len(t.layers)} layers, "
              f"{t.num_images} images, operating points {', '.join(o.id for o in t.operating_points)}")
    else:
        convert_trace(args.src, args.dst, args.format_version, args.overwrite)
        print(f"wrote {args.dst} (format version {args.format_version})")
    return 0


if __name__ == "__main__":
    from .errors import cli_main

    raise SystemExit(cli_main(main))
