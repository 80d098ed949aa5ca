"""Read and write zapsim traces (format version 1).

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
first, each image padded to a whole byte, then (by default) zlib-compressed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import check_target, replace_into, temp_sibling
from .errors import TraceError
from .patterns import computed_first_mask, pattern_matrix

FORMAT_NAME = "zapsim-trace"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MASK_KINDS = ("in", "out", "computed")
ENCODINGS = ("bits-msb", "bits-msb-zlib")
LAYER_KINDS = ("conv", "fc")
OP_KINDS = ("dense", "uniform", "per_layer", "custom")
_OP_ID = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")


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


# --------------------------------------------------------------------------- bit packing


def bytes_per_image(shape: Sequence[int]) -> int:
    """Bytes one image's packed (C, H, W) mask occupies (padded to a whole byte)."""
    return (int(np.prod(shape)) + 7) // 8


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """Pack a boolean array (N, C, H, W) into uint8 (N, bytes_per_image), MSB first."""
    m = np.asarray(masks)
    if m.dtype != np.bool_:
        m = m != 0
    return np.packbits(m.reshape(m.shape[0], -1), axis=1, bitorder="big")


def unpack_masks(packed: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`pack_masks`: uint8 (N, nbytes) -> bool (N, C, H, W)."""
    n = packed.shape[0]
    count = int(np.prod(shape))
    bits = np.unpackbits(packed, axis=1, count=count, bitorder="big")
    return bits.view(np.bool_).reshape((n, *shape))


# --------------------------------------------------------------------------- reading


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _need(d: Mapping[str, Any], key: str, where: str, types: type | tuple[type, ...]) -> Any:
    if key not in d:
        raise TraceError(f"{where}: missing key '{key}'")
    v = d[key]
    if types is int and isinstance(v, bool):
        raise TraceError(f"{where}: key '{key}' must be an integer, got {v!r}")
    if not isinstance(v, types):
        names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise TraceError(f"{where}: key '{key}' must be {names}, got {v!r}")
    return v


def _parse_layer(d: Mapping[str, Any], where: str) -> TraceLayer:
    if not isinstance(d, Mapping):
        raise TraceError(f"{where}: a layer must be an object, got {d!r}")
    name = _need(d, "name", where, str)
    where = f"{where} ('{name}')"
    kind = _need(d, "kind", where, str)
    if kind not in LAYER_KINDS:
        raise TraceError(f"{where}: kind '{kind}' is not one of {', '.join(LAYER_KINDS)}")
    ints = {k: _need(d, k, where, int) for k in ("c_in", "h_in", "w_in", "c_out", "h_out", "w_out", "groups", "macs")}
    for k, v in ints.items():
        if v < 1:
            raise TraceError(f"{where}: {k} must be >= 1, got {v}")
    pairs = {}
    for k in ("kernel", "stride", "padding"):
        v = _need(d, k, where, list)
        if len(v) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise TraceError(f"{where}: {k} must be a list of two integers, got {v!r}")
        pairs[k] = (v[0], v[1])
    relu = _need(d, "relu", where, bool)
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
    expect_macs = layer.macs_per_output * layer.c_out * layer.h_out * layer.w_out
    if layer.macs != expect_macs:
        raise TraceError(f"{where}: macs={layer.macs} but the shapes give {expect_macs}")
    z = d.get("zap")
    if z is not None:
        zw = f"{where} zap"
        m = _need(z, "pattern_matrix", zw, list)
        if not m or not all(isinstance(r, list) and len(r) == len(m[0]) and all(v in (0, 1) for v in r) for r in m):
            raise TraceError(f"{zw}: pattern_matrix must be a non-empty rectangular list of 0/1 rows, got {m!r}")
        zap = ZapSpec(
            pattern=_need(z, "pattern", zw, str),
            pattern_matrix=tuple(tuple(int(v) for v in r) for r in m),
            params=_need(z, "params", zw, int),
            macs=_need(z, "macs", zw, int),
        )
        layer = TraceLayer(**{**layer.__dict__, "zap": zap})
    return layer


class Trace:
    """A trace opened for reading; see :func:`read_trace`."""

    def __init__(self, path: Path, manifest: dict[str, Any], layers: list[TraceLayer], ops: list[OperatingPoint]):
        self.path = path
        self.manifest = manifest
        self.layers = layers
        self.operating_points = ops
        self.num_images: int = manifest["num_images"]
        self.synthetic: bool = bool(manifest.get("synthetic", False))
        self._layer_index = {l.name: i for i, l in enumerate(layers)}
        self._op_index = {o.id: i for i, o in enumerate(ops)}
        self._op_masks: dict[str, list[dict[str, str | None]]] = {
            o["id"]: o["masks"] for o in manifest["operating_points"]
        }

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
            raise TraceError(f"{self.path}: no operating point '{op_id}'; the trace has {', '.join(self._op_index)}")
        return self.operating_points[self._op_index[op_id]]

    def layer_index(self, layer: int | str) -> int:
        if isinstance(layer, str):
            if layer not in self._layer_index:
                raise TraceError(f"{self.path}: no layer '{layer}'")
            return self._layer_index[layer]
        if not 0 <= layer < len(self.layers):
            raise TraceError(f"{self.path}: layer index {layer} out of range 0..{len(self.layers) - 1}")
        return int(layer)

    def mask_file(self, op_id: str, layer: int | str, kind: str) -> str | None:
        """Relative path of a mask file, or None for a 'computed' mask that is all ones."""
        self.op(op_id)
        return self._op_masks[op_id][self.layer_index(layer)][kind]

    def packed(self, op_id: str, layer: int | str, kind: str) -> np.ndarray:
        """Packed masks uint8 (num_images, bytes_per_image); for an absent 'computed' file, all ones."""
        li = self.layer_index(layer)
        shape = self.layers[li].shape(kind)
        rel = self.mask_file(op_id, li, kind)
        if rel is None:
            return pack_masks(np.ones((self.num_images, *shape), dtype=bool))
        raw = _read_mask_bytes(self.path, rel, self.manifest["files"][rel])
        return np.frombuffer(raw, dtype=np.uint8).reshape(self.num_images, bytes_per_image(shape))

    def mask(self, op_id: str, layer: int | str, kind: str) -> np.ndarray:
        """Boolean masks (num_images, C, H, W) of ``kind`` ('in', 'out' or 'computed')."""
        if kind not in MASK_KINDS:
            raise TraceError(f"mask kind '{kind}' is not one of {', '.join(MASK_KINDS)}")
        li = self.layer_index(layer)
        return unpack_masks(self.packed(op_id, li, kind), self.layers[li].shape(kind))

    def verify(self) -> None:
        """Check every file's size, checksum and decoded length (read_trace(verify=True) calls this)."""
        for o in self.operating_points:
            for entry in self._op_masks[o.id]:
                for kind in MASK_KINDS:
                    rel = entry.get(kind)
                    if rel is not None:
                        _read_mask_bytes(self.path, rel, self.manifest["files"][rel])


def _read_mask_bytes(root: Path, rel: str, meta: Mapping[str, Any]) -> bytes:
    p = root / rel
    if not p.is_file():
        raise TraceError(f"{p}: mask file is missing (listed in {root / MANIFEST})")
    data = p.read_bytes()
    if len(data) != meta["bytes"]:
        raise TraceError(
            f"{p}: file is {len(data)} bytes but the manifest says {meta['bytes']} (truncated or overwritten)"
        )
    if _sha256(data) != meta["sha256"]:
        raise TraceError(f"{p}: sha256 checksum does not match the manifest (the file is corrupted)")
    if meta["encoding"] == "bits-msb-zlib":
        try:
            data = zlib.decompress(data)
        except zlib.error as exc:
            raise TraceError(f"{p}: cannot decompress ({exc})") from None
    n, c, h, w = meta["shape"]
    expect = n * bytes_per_image((c, h, w))
    if len(data) != expect:
        raise TraceError(f"{p}: decoded {len(data)} bytes, expected {expect} for shape {meta['shape']}")
    return data


def read_trace(path: str | Path, verify: bool = True) -> Trace:
    """Open and validate a trace directory.

    Checks the format name and version, the layer table (shapes follow
    PyTorch's rules, MACs match), that every operating point lists an input
    and output mask for every layer, that each mask file's recorded shape
    matches the layer table, and (``verify=True``) every file's size and
    sha256.  Any problem raises :class:`TraceError` naming the file.
    """
    root = Path(path)
    mpath = root / MANIFEST
    if not root.is_dir():
        raise TraceError(f"{root}: no such trace directory")
    if not mpath.is_file():
        hint = " (an interrupted write leaves a '.NAME.tmp-*' directory, never a trace)" if root.name.startswith(".") else ""
        raise TraceError(f"{root}: not a trace: {MANIFEST} is missing{hint}")
    try:
        man = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TraceError(f"{mpath}: not valid JSON ({exc})") from None
    if not isinstance(man, dict) or man.get("format") != FORMAT_NAME:
        raise TraceError(f"{mpath}: 'format' must be '{FORMAT_NAME}'")
    ver = man.get("format_version")
    if not isinstance(ver, int) or isinstance(ver, bool):
        raise TraceError(f"{mpath}: 'format_version' must be an integer, got {ver!r}")
    if ver > FORMAT_VERSION:
        raise TraceError(
            f"{mpath}: trace format version {ver} is newer than this zapsim reads (up to {FORMAT_VERSION}); upgrade zapsim"
        )
    if ver < 1:
        raise TraceError(f"{mpath}: format_version {ver} is not valid (versions start at 1)")
    w = str(mpath)
    n = _need(man, "num_images", w, int)
    if n < 1:
        raise TraceError(f"{w}: num_images must be >= 1, got {n}")
    layers = [_parse_layer(d, f"{w}: layers[{i}]") for i, d in enumerate(_need(man, "layers", w, list))]
    if not layers:
        raise TraceError(f"{w}: the layer table is empty")
    names = [l.name for l in layers]
    if len(set(names)) != len(names):
        raise TraceError(f"{w}: layer names must be unique")
    files = _need(man, "files", w, dict)
    ops: list[OperatingPoint] = []
    for i, od in enumerate(_need(man, "operating_points", w, list)):
        ow = f"{w}: operating_points[{i}]"
        oid = _need(od, "id", ow, str)
        kind = _need(od, "kind", ow, str)
        if kind not in OP_KINDS:
            raise TraceError(f"{ow}: kind '{kind}' is not one of {', '.join(OP_KINDS)}")
        masks = _need(od, "masks", ow, list)
        if len(masks) != len(layers):
            raise TraceError(f"{ow} ('{oid}'): masks lists {len(masks)} layers, the layer table has {len(layers)}")
        for li, entry in enumerate(masks):
            for kind_m in MASK_KINDS:
                rel = entry.get(kind_m) if isinstance(entry, dict) else None
                if rel is None:
                    if kind_m != "computed":
                        raise TraceError(f"{ow} ('{oid}'): layer '{layers[li].name}' has no '{kind_m}' mask file")
                    continue
                if rel not in files:
                    raise TraceError(f"{ow} ('{oid}'): mask file {rel} is not listed under 'files'")
                meta = files[rel]
                fw = f"{w}: files['{rel}']"
                _need(meta, "sha256", fw, str)
                _need(meta, "bytes", fw, int)
                if meta.get("encoding") not in ENCODINGS:
                    raise TraceError(f"{fw}: encoding {meta.get('encoding')!r} is not one of {', '.join(ENCODINGS)}")
                expect = [n, *layers[li].shape(kind_m)]
                if meta.get("shape") != expect:
                    raise TraceError(
                        f"{root / rel}: mask shape {meta.get('shape')} disagrees with the layer table "
                        f"('{layers[li].name}' {kind_m} needs {expect})"
                    )
        thr = od.get("thresholds")
        ops.append(
            OperatingPoint(
                id=oid,
                kind=kind,
                thresholds=None if thr is None else {str(k): float(v) for k, v in thr.items()},
                accuracy=od.get("accuracy"),
                stats=od.get("stats") or {},
                label=od.get("label", ""),
            )
        )
    ids = [o.id for o in ops]
    if len(set(ids)) != len(ids):
        raise TraceError(f"{w}: operating point ids must be unique, got {ids}")
    if not ops:
        raise TraceError(f"{w}: the trace has no operating points")
    trace = Trace(root, man, layers, ops)
    if verify:
        trace.verify()
    return trace


# --------------------------------------------------------------------------- writing


class TraceWriter:
    """Write a trace atomically, streaming masks a batch of images at a time.

    Usage::

        with TraceWriter(path, layers=..., num_images=N, model={...}, dataset={...}) as tw:
            tw.add_operating_point(OperatingPoint("dense", "dense"))
            for batch in ...:
                tw.append("dense", layer_index, "in", in_masks)   # bool (B, C, H, W)
                ...

    Everything goes into a temporary directory beside ``path``; on a clean
    exit the manifest is written and the directory renamed to ``path``.  On an
    exception the temporary directory is removed, so an interrupted write
    never looks like a trace.
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
    ):
        self.path = Path(path)
        check_target(self.path, overwrite, "trace directory")
        if num_images < 1:
            raise TraceError(f"num_images must be >= 1, got {num_images}")
        self.layers = list(layers)
        self.num_images = num_images
        self.overwrite = overwrite
        self.compress = compress
        self._header = {
            "model": dict(model),
            "dataset": dict(dataset),
            "synthetic": bool(synthetic),
            **(dict(extra) if extra else {}),
        }
        self._ops: dict[str, OperatingPoint] = {}
        self._counts: dict[str, int] = {}  # rel path -> images written
        self._tmp = temp_sibling(self.path, is_dir=True)
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
        if not _OP_ID.match(op.id):
            raise TraceError(f"operating point id {op.id!r} must match {_OP_ID.pattern}")
        if op.id in self._ops:
            raise TraceError(f"operating point '{op.id}' declared twice")
        if op.kind not in OP_KINDS:
            raise TraceError(f"operating point kind '{op.kind}' is not one of {', '.join(OP_KINDS)}")
        self._ops[op.id] = op
        (self._tmp / "masks" / op.id).mkdir(parents=True, exist_ok=True)

    @staticmethod
    def rel_path(op_id: str, layer_index: int, kind: str) -> str:
        return f"masks/{op_id}/{layer_index:03d}.{kind}.bin"

    def append(self, op_id: str, layer_index: int, kind: str, masks: np.ndarray) -> None:
        """Append boolean masks (B, C, H, W) for the next B images of one layer and kind."""
        if op_id not in self._ops:
            raise TraceError(f"operating point '{op_id}' was not declared")
        if kind not in MASK_KINDS:
            raise TraceError(f"mask kind '{kind}' is not one of {', '.join(MASK_KINDS)}")
        layer = self.layers[layer_index]
        shape = layer.shape(kind)
        m = np.asarray(masks)
        if m.ndim != 4 or tuple(m.shape[1:]) != shape:
            raise TraceError(f"layer '{layer.name}' {kind} masks must have shape (B, {shape}), got {m.shape}")
        rel = self.rel_path(op_id, layer_index, kind)
        done = self._counts.get(rel, 0)
        if done + m.shape[0] > self.num_images:
            raise TraceError(f"{rel}: more than num_images={self.num_images} images appended")
        with open(self._tmp / rel, "ab") as f:
            f.write(pack_masks(m).tobytes())
        self._counts[rel] = done + m.shape[0]

    def abort(self) -> None:
        """Remove the temporary directory; nothing is left behind."""
        if not self._done:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._done = True

    def commit(self) -> Path:
        """Check completeness, compress, checksum, write the manifest and rename into place."""
        if self._done:
            raise TraceError("trace writer already closed")
        try:
            return self._commit()
        except BaseException:
            self.abort()
            raise

    def _commit(self) -> Path:
        if not self._ops:
            raise TraceError("a trace needs at least one operating point")
        files: dict[str, Any] = {}
        op_json = []
        for op in self._ops.values():
            masks = []
            for li, layer in enumerate(self.layers):
                entry: dict[str, str | None] = {}
                for kind in MASK_KINDS:
                    rel = self.rel_path(op.id, li, kind)
                    count = self._counts.get(rel, 0)
                    if count == 0 and kind == "computed":
                        entry[kind] = None
                        continue
                    if count != self.num_images:
                        raise TraceError(
                            f"operating point '{op.id}', layer '{layer.name}': {count} of {self.num_images} "
                            f"'{kind}' masks written"
                        )
                    p = self._tmp / rel
                    data = p.read_bytes()
                    if self.compress:
                        data = zlib.compress(data, 6)
                        p.write_bytes(data)
                    files[rel] = {
                        "sha256": _sha256(data),
                        "bytes": len(data),
                        "encoding": "bits-msb-zlib" if self.compress else "bits-msb",
                        "shape": [self.num_images, *layer.shape(kind)],
                    }
                    entry[kind] = rel
                masks.append(entry)
            op_json.append({**op.to_json(), "masks": masks})
        from . import __version__

        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "created_by": f"zapsim {__version__}",
            **self._header,
            "num_images": self.num_images,
            "layers": [l.to_json() for l in self.layers],
            "operating_points": op_json,
            "files": files,
        }
        (self._tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
        replace_into(self._tmp, self.path, overwrite=self.overwrite)
        self._done = True
        return self.path


def iter_ops(trace: Trace, ids: Iterable[str] | None = None) -> list[OperatingPoint]:
    """The trace's operating points, or the ones named in ``ids`` (in that order)."""
    if ids is None:
        return list(trace.operating_points)
    return [trace.op(i) for i in ids]
