"""Trace format (v2 by default, v1 still written on request): bit-exact round trips, and a clear error for each kind of damage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from zapsim.errors import TraceError, ZapsimError
from zapsim.trace_format import (
    FORMAT_VERSION,
    OperatingPoint,
    TraceWriter,
    bytes_per_image,
    make_layer,
    pack_masks,
    read_trace,
    unpack_masks,
)

# Odd shapes on purpose: 1x1 maps, widths that are not a multiple of 8, stride 2
# with padding, a grouped conv, and an FC layer.
LAYERS = [
    make_layer("first", 3, 5, 7, 4, kernel=3, stride=1, padding=1),
    make_layer("zap1", 4, 5, 7, 6, kernel=3, stride=2, padding=1, zap_pattern="checkerboard"),
    make_layer("grouped", 6, 3, 4, 6, kernel=(1, 3), stride=1, padding=(0, 1), groups=3, zap_pattern="p33"),
    make_layer("one", 6, 1, 1, 3, kernel=1),
    make_layer("fc", 3, 1, 1, 10, kernel=1, kind="fc", relu=False),
]
N = 5


def _random_masks(seed: int = 0):
    rng = np.random.default_rng(seed)
    masks = {}
    for op in ("dense", "t0.10"):
        for li, layer in enumerate(LAYERS):
            masks[op, li, "in"] = rng.random((N, *layer.in_shape)) < 0.6
            masks[op, li, "out"] = rng.random((N, *layer.out_shape)) < 0.4
            if op != "dense" and layer.zap is not None:
                masks[op, li, "computed"] = rng.random((N, *layer.out_shape)) < 0.7
    return masks


def _write(path: Path, masks, compress: bool = True, batch: int = 2) -> Path:
    with TraceWriter(path, layers=LAYERS, num_images=N, model={"name": "toy"}, dataset={"name": "toy"}, compress=compress) as tw:
        tw.add_operating_point(OperatingPoint("dense", "dense"))
        tw.add_operating_point(OperatingPoint("t0.10", "uniform", thresholds={"zap1": 0.1, "grouped": 0.1}))
        # Append in uneven batches: streaming must not change the bytes.
        for start in range(0, N, batch):
            for (op, li, kind), m in masks.items():
                tw.append(op, li, kind, m[start : start + batch])
    return path


@pytest.fixture
def trace_dir(tmp_path):
    return _write(tmp_path / "t", _random_masks())


def _manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_pack_unpack_roundtrip_odd_sizes():
    rng = np.random.default_rng(1)
    for shape in [(1, 1, 1), (3, 1, 1), (2, 3, 5), (1, 7, 9), (5, 8, 8)]:
        m = rng.random((4, *shape)) < 0.5
        packed = pack_masks(m)
        assert packed.shape == (4, bytes_per_image(shape))
        assert np.array_equal(unpack_masks(packed, shape), m)


def test_packing_is_msb_first_and_byte_padded():
    # One image, 10 bits: 1000000001 -> 0b10000000, 0b01000000 (padding zeros at the end).
    m = np.zeros((1, 1, 1, 10), dtype=bool)
    m[0, 0, 0, 0] = m[0, 0, 0, 9] = True
    assert pack_masks(m).tolist() == [[0b10000000, 0b01000000]]


@pytest.mark.parametrize("compress", [True, False])
def test_roundtrip_bit_for_bit(tmp_path, compress):
    masks = _random_masks()
    t = read_trace(_write(tmp_path / "t", masks, compress=compress))
    assert t.num_images == N and [l.name for l in t.layers] == [l.name for l in LAYERS]
    assert t.layers == LAYERS
    for (op, li, kind), m in masks.items():
        assert np.array_equal(t.mask(op, li, kind), m), (op, li, kind)
    # Layers without a ZAP, and the dense op, compute every output.
    assert t.mask_file("dense", "zap1", "computed") is None
    assert t.mask("t0.10", "first", "computed").all()
    assert t.op("t0.10").thresholds == {"zap1": 0.1, "grouped": 0.1}


def test_same_inputs_give_identical_files(tmp_path):
    masks = _random_masks()
    a = _write(tmp_path / "a", masks, batch=1)
    b = _write(tmp_path / "b", masks, batch=5)
    for f in sorted(a.rglob("*")):
        if f.is_file():
            assert f.read_bytes() == (b / f.relative_to(a)).read_bytes(), f


def test_flipped_byte_fails_checksum(trace_dir):
    f = trace_dir / "masks" / "t0.10" / "001.computed.bin"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x01
    f.write_bytes(bytes(data))
    with pytest.raises(TraceError, match=r"001\.computed\.bin.*checksum"):
        read_trace(trace_dir)


def test_truncated_file(trace_dir):
    f = trace_dir / "masks" / "dense" / "000.in.bin"
    f.write_bytes(f.read_bytes()[:-3])
    with pytest.raises(TraceError, match=r"000\.in\.bin.*truncated"):
        read_trace(trace_dir)


def test_missing_file(trace_dir):
    (trace_dir / "masks" / "dense" / "002.out.bin").unlink()
    with pytest.raises(TraceError, match=r"002\.out\.bin: mask file is missing"):
        read_trace(trace_dir)


def test_newer_version_is_refused(trace_dir):
    man = _manifest(trace_dir)
    man["format_version"] = FORMAT_VERSION + 1
    (trace_dir / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(TraceError, match=rf"version {FORMAT_VERSION + 1} is newer.*upgrade zapsim"):
        read_trace(trace_dir)


def test_mask_shape_disagreeing_with_layer_table(trace_dir):
    man = _manifest(trace_dir)
    man["layers"][1]["c_out"] = 7  # the masks were written for 6 channels
    man["layers"][1]["macs"] = 3 * 3 * 4 * 7 * 3 * 4
    man["layers"][1]["zap"]["params"] = 24 * 7
    (trace_dir / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(TraceError, match=r"001\.out\.bin: mask shape \[5, 6, 3, 4\] disagrees with the layer table"):
        read_trace(trace_dir)


def test_decoded_length_must_match_shape(tmp_path, trace_dir):
    # A file whose checksum is right but whose content decodes to the wrong size.
    f = trace_dir / "masks" / "dense" / "003.in.bin"
    data = zlib.compress(b"\x00" * 3)
    f.write_bytes(data)
    man = _manifest(trace_dir)
    import hashlib

    man["files"]["masks/dense/003.in.bin"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (trace_dir / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(TraceError, match=r"003\.in\.bin: decoded 3 bytes, expected 5"):
        read_trace(trace_dir)


def test_layer_table_shapes_are_checked(trace_dir):
    man = _manifest(trace_dir)
    man["layers"][0]["h_out"] = 4  # 5 in, k3 s1 p1 gives 5
    (trace_dir / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(TraceError, match=r"layers\[0\] \('first'\): h_out=4 disagrees.*gives 5"):
        read_trace(trace_dir)


def test_missing_manifest_is_not_a_trace(tmp_path, trace_dir):
    (trace_dir / "manifest.json").unlink()
    with pytest.raises(TraceError, match="not a trace: manifest.json is missing"):
        read_trace(trace_dir)


def test_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "t"
    with pytest.raises(RuntimeError):
        with TraceWriter(target, layers=LAYERS, num_images=N, model={}, dataset={}) as tw:
            tw.add_operating_point(OperatingPoint("dense", "dense"))
            tw.append("dense", 0, "in", np.ones((1, *LAYERS[0].in_shape), bool))
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_incomplete_trace_is_refused_at_commit(tmp_path):
    with pytest.raises(TraceError, match=r"layer 'first': 2 of 5 'in' masks written"):
        with TraceWriter(tmp_path / "t", layers=LAYERS, num_images=N, model={}, dataset={}) as tw:
            tw.add_operating_point(OperatingPoint("dense", "dense"))
            tw.append("dense", 0, "in", np.ones((2, *LAYERS[0].in_shape), bool))
    assert list(tmp_path.iterdir()) == []


def test_existing_trace_not_overwritten_unless_asked(tmp_path, trace_dir):
    with pytest.raises(ZapsimError, match="already exists.*--overwrite"):
        _write(trace_dir, _random_masks())
    masks = _random_masks(seed=7)
    with TraceWriter(trace_dir, layers=LAYERS, num_images=N, model={}, dataset={}, overwrite=True) as tw:
        tw.add_operating_point(OperatingPoint("dense", "dense"))
        for (op, li, kind), m in masks.items():
            if op == "dense":
                tw.append(op, li, kind, m)
    t = read_trace(trace_dir)
    assert [o.id for o in t.operating_points] == ["dense"]
    assert np.array_equal(t.mask("dense", 2, "out"), masks["dense", 2, "out"])


def test_append_rejects_wrong_shape(tmp_path):
    with TraceWriter(tmp_path / "t", layers=LAYERS, num_images=N, model={}, dataset={}) as tw:
        tw.add_operating_point(OperatingPoint("dense", "dense"))
        with pytest.raises(TraceError, match=r"layer 'zap1' out masks must have shape"):
            tw.append("dense", 1, "out", np.ones((1, 6, 4, 4), bool))
        tw.abort()


def test_reader_needs_no_torch(trace_dir):
    # The simulator side must never pull in torch through the trace reader.
    code = (
        "import sys; from zapsim.trace_format import read_trace; from zapsim.synthetic import build_synthetic_trace; "
        f"read_trace({str(trace_dir)!r}); assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})
