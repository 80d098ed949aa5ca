"""The trace reader treats a trace as hostile: a closed world, a schema, bounded decoding (issue 12.1, 12.3, 12.6)."""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from zapsim.errors import TraceError
from zapsim.trace_format import OperatingPoint, TraceWriter, make_layer, read_trace

LAYERS = [
    make_layer("conv1", 3, 6, 6, 4, kernel=3, padding=1),
    make_layer("conv2", 4, 6, 6, 4, kernel=3, padding=1, zap_pattern="checkerboard"),
    make_layer("fc", 4 * 6 * 6, 1, 1, 3, kernel=1, kind="fc", relu=False),
]
N = 3


def _write(path: Path, version: int = 2, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with TraceWriter(path, layers=LAYERS, num_images=N, model={"name": "toy"}, dataset={"name": "toy"},
                     format_version=version) as tw:
        tw.add_operating_point(OperatingPoint("dense", "dense"))
        tw.add_operating_point(OperatingPoint("t0.10", "uniform", thresholds={"conv2": 0.1}))
        for op in ("dense", "t0.10"):
            for li, layer in enumerate(LAYERS):
                tw.append(op, li, "in", rng.random((N, *layer.in_shape)) < 0.6)
                out = rng.random((N, *layer.out_shape)) < 0.4
                tw.append(op, li, "out", out)
                if op != "dense" and layer.zap is not None:
                    first = layer.zap.computed_first(layer.h_out, layer.w_out)
                    tw.append(op, li, "computed", out | first | (rng.random((N, *layer.out_shape)) < 0.2))
    return path


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def trace(tmp_path, request) -> Path:
    return _write(tmp_path / "t", request.param)


def _man(t: Path) -> dict:
    return json.loads((t / "manifest.json").read_text())


def _save(t: Path, man: dict) -> None:
    (t / "manifest.json").write_text(json.dumps(man))


def _refused(t: Path, pattern: str) -> str:
    with pytest.raises(TraceError, match=pattern) as e:
        read_trace(t)
    assert len(str(e.value)) < 600, str(e.value)  # one readable line, whatever the input
    return str(e.value)


def _first_file(man: dict, kind: str = "out", op: str = "dense") -> str:
    return next(r for r in man["files"] if f"/{op}/" in r and r.endswith(f".{kind}.bin"))


def _repoint(t: Path, man: dict, old: str, new: str) -> None:
    """Make every mask entry that names ``old`` name ``new``, with ``old``'s file entry."""
    man["files"][new] = man["files"].pop(old)
    for op in man["operating_points"]:
        for entry in op["masks"]:
            for k, v in entry.items():
                if v == old:
                    entry[k] = new
    _save(t, man)


# --------------------------------------------------------------------------- a closed world


@pytest.mark.parametrize("bad", ["../../../../tmp/x", "/etc/passwd", "masks/../../x", "masks//x", "masks/./x",
                                 "C:/x", "masks\\x", "", "masks/" + "a" * 600])
def test_paths_leaving_the_trace_are_refused(trace, bad):
    man = _man(trace)
    _repoint(trace, man, _first_file(man), bad)
    _refused(trace, "file path|must have 1 to")


def test_symlinked_mask_file_is_refused_even_inside(trace, tmp_path):
    man = _man(trace)
    rel = _first_file(man)
    target = tmp_path / "outside.bin"
    (trace / rel).rename(target)
    (trace / rel).symlink_to(target)
    _refused(trace, "is a symlink")
    (trace / rel).unlink()
    (trace / rel).symlink_to(trace / _first_file(man, "in"))  # a symlink to another file of the trace itself
    _refused(trace, "is a symlink")


def test_symlinked_directory_is_refused(trace, tmp_path):
    (trace / "masks" / "dense").rename(tmp_path / "elsewhere")
    (trace / "masks" / "dense").symlink_to(tmp_path / "elsewhere")
    _refused(trace, "masks/dense is a symlink")


def test_symlinked_manifest_is_refused(trace, tmp_path):
    (trace / "manifest.json").rename(tmp_path / "m.json")
    (trace / "manifest.json").symlink_to(tmp_path / "m.json")
    _refused(trace, "manifest.json is a symlink")


def test_fifo_and_directory_are_refused_without_blocking(trace):
    man = _man(trace)
    rel = _first_file(man)
    (trace / rel).unlink()
    os.mkfifo(trace / rel)
    t0 = time.perf_counter()
    _refused(trace, "special file")
    assert time.perf_counter() - t0 < 10  # opening a FIFO for reading would block forever
    os.unlink(trace / rel)
    (trace / rel).mkdir()
    _refused(trace, "is a directory")


def test_huge_file_is_refused_before_reading_it(trace):
    man = _man(trace)
    rel = _first_file(man)
    with open(trace / rel, "r+b") as f:
        f.truncate(6 * 2**30)  # sparse: 6 GiB on paper, nothing on disk
    _refused(trace, "6,442,450,944 bytes but the manifest says")


def test_operating_point_id_with_a_path_is_refused(trace):
    man = _man(trace)
    man["operating_points"][1]["id"] = "../../evil"
    _save(trace, man)
    _refused(trace, r"id '\.\./\.\./evil' is not allowed")
    man["operating_points"][1]["id"] = ".."
    _save(trace, man)
    _refused(trace, r"id '\.\.' is not allowed")


# --------------------------------------------------------------------------- the schema


@pytest.mark.parametrize("edit, pattern", [
    (lambda m: m["files"].__setitem__(next(iter(m["files"])), 7), r"files\['masks/dense/000.in.bin'\] = 7: must be an object"),
    (lambda m: m["operating_points"][1]["thresholds"].__setitem__("conv2", "0.1"),
     r"thresholds: key 'conv2' = '0.1': must be a number"),
    (lambda m: m["layers"][1].__setitem__("zap", 3), r"layers\[1\] \('conv2'\): key 'zap' = 3: must be an object or null"),
    (lambda m: m["layers"][0].__setitem__("c_in", "3"), r"key 'c_in' = '3': must be an integer"),
    (lambda m: m["layers"][0].__setitem__("c_in", 10**9), r"key 'c_in' = 1000000000: out of range"),
    (lambda m: m.__setitem__("num_images", True), r"key 'num_images' = True: must be an integer"),
    (lambda m: m.__setitem__("layers", {}), r"key 'layers' = \{\}: must be a list"),
    (lambda m: m["operating_points"].__setitem__(0, "dense"), r"operating_points\[0\]: must be an object"),
    (lambda m: m["operating_points"][0]["masks"].__setitem__(0, None), r"masks\[0\] \('conv1'\): must be an object"),
    (lambda m: m["operating_points"][0]["masks"][0].__setitem__("in", 5), r"key 'in' = 5: must be a string"),
    (lambda m: m["operating_points"][1].__setitem__("thresholds", {"nope": 0.1}), r"thresholds names layer 'nope'"),
    (lambda m: m["files"][next(iter(m["files"]))].__setitem__("sha256", "xyz"), r"key 'sha256' = 'xyz': must be 64"),
    (lambda m: m["files"][next(iter(m["files"]))].__setitem__("bytes", -1), r"key 'bytes' = -1: out of range"),
    (lambda m: m["layers"][1]["zap"].__setitem__("pattern_matrix", [[1, 0], [2, 1]]), "pattern_matrix"),
    (lambda m: m["layers"][0].__setitem__("name", "x" * 10_000), r"must have 1 to 256 characters"),
    (lambda m: m["operating_points"][1].__setitem__("accuracy", {"top1": "high"}), r"key 'top1' = 'high': must be a number"),
    (lambda m: m["files"][next(iter(m["files"]))].__setitem__("bytes", 10**12), r"key 'bytes' = 1000000000000: out of range"),
])
def test_wrong_json_types_name_the_key_and_value(trace, edit, pattern):
    man = _man(trace)
    edit(man)
    _save(trace, man)
    _refused(trace, pattern)


def test_deep_nesting_and_non_json_numbers(trace):
    text = (trace / "manifest.json").read_text()
    man = json.loads(text)
    man["dataset"]["x"] = json.loads("[" * 200 + "]" * 200)
    _save(trace, man)
    _refused(trace, "nested 20[0-9] levels deep; at most 64")
    (trace / "manifest.json").write_text(text[:-2] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    _refused(trace, "nested too deeply")
    (trace / "manifest.json").write_text(text.replace('"num_images": 3', '"num_images": NaN'))
    _refused(trace, "NaN is not a JSON number")
    (trace / "manifest.json").write_text(text.replace('"num_images": 3', '"num_images": 3, "num_images": 4'))
    _refused(trace, "key 'num_images' appears twice")


def test_uppercase_sha256_from_another_writer_is_accepted(trace):
    man = _man(trace)
    for meta in man["files"].values():
        meta["sha256"] = meta["sha256"].upper()
    _save(trace, man)
    t = read_trace(trace)
    assert t.mask("t0.10", 1, "computed").shape == (N, 4, 6, 6)


# --------------------------------------------------------------------------- bounded decoding


def _replace_file(t: Path, rel: str, data: bytes) -> None:
    (t / rel).write_bytes(data)
    man = _man(t)
    man["files"][rel].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    _save(t, man)


def test_zlib_bomb_is_refused_without_inflating(tmp_path):
    t = _write(tmp_path / "t", version=1)
    rel = _first_file(_man(t))
    shape = _man(t)["files"][rel]["shape"]
    raw = shape[0] * ((shape[1] * shape[2] * shape[3] + 7) // 8)
    small_bomb = zlib.compress(b"\0" * (raw * 1000), 9)  # fits the manifest's bytes bound, inflates 1000x
    assert len(small_bomb) <= raw + (raw >> 10) + 1024
    _replace_file(t, rel, small_bomb)
    t0 = time.perf_counter()
    _refused(t, "inflates to more than the .* bytes the layer table gives")
    assert time.perf_counter() - t0 < 5


def test_trailing_data_and_truncated_stream(trace):
    man = _man(trace)
    rel = _first_file(man)
    data = (trace / rel).read_bytes()
    _replace_file(trace, rel, data + b"garbage")
    _refused(trace, "7 bytes of trailing data after the zlib stream")
    _replace_file(trace, rel, data[:-6])
    _refused(trace, "truncated|cannot decompress")


# --------------------------------------------------------------------------- version 2


def test_v2_reads_the_same_masks_as_v1(tmp_path):
    a = read_trace(_write(tmp_path / "a", version=1, seed=3))
    b = read_trace(_write(tmp_path / "b", version=2, seed=3))
    assert a.format_version == 1 and b.format_version == 2
    for op in ("dense", "t0.10"):
        for li in range(len(LAYERS)):
            for kind in ("in", "out", "computed"):
                assert np.array_equal(a.mask(op, li, kind), b.mask(op, li, kind)), (op, li, kind)


def test_v2_residual_rules(tmp_path):
    t = _write(tmp_path / "t", version=2)
    man = _man(t)
    res = [r for r, m in man["files"].items() if m["encoding"] == "residual-zlib" and m["residual"]["base"]]
    assert res, "the writer made no residual with a base"
    rel = res[0]
    good = json.dumps(man)
    later = [r for r in man["files"] if r.startswith("masks/t0.10/")][-1]
    man["files"][rel]["residual"]["base"] = [later]
    _save(t, man)
    _refused(t, "does not come before this file|has shape")
    man = json.loads(good)
    man["files"][rel]["residual"]["base"] = ["masks/x/none.bin"]
    _save(t, man)
    _refused(t, "is not a mask file of any operating point")
    man = json.loads(good)
    man["files"][rel]["residual"]["positions"] = "outside_computed_first"
    if rel.endswith(".computed.bin"):
        man["files"][rel]["residual"]["positions"] = "some"
    _save(t, man)
    _refused(t, "outside_computed_first' applies only|key 'positions'")
    man = json.loads(good)
    man["format_version"] = 1
    _save(t, man)
    _refused(t, "needs format_version 2")


def test_v1_bundled_trace_still_reads():
    root = Path(__file__).resolve().parents[1] / "traces" / "default"
    if not (root / "manifest.json").is_file():
        pytest.skip("no bundled trace in this checkout")
    t = read_trace(root)
    assert t.mask("dense", 0, "in").shape[0] == t.num_images


@pytest.mark.parametrize("pattern", ["checkerboard", "p60", "p33", "p40"])
def test_v2_round_trip_on_every_pattern_with_and_without_numba(tmp_path, monkeypatch, pattern):
    """Computed masks stored on I_t only (gather on write, scatter on read), odd map sizes, both code paths."""
    import zapsim.trace_codec as codec

    layers = [make_layer("a", 3, 7, 9, 5, kernel=3, padding=1),
              make_layer("b", 5, 7, 9, 6, kernel=3, padding=1, zap_pattern=pattern),
              make_layer("c", 6, 7, 9, 6, kernel=3, stride=2, padding=1, zap_pattern=pattern)]
    rng = np.random.default_rng(11)
    masks = {}
    for op in ("dense", "t0", "t1"):
        prev = None
        for li, layer in enumerate(layers):
            inp = prev if prev is not None and prev.shape[1:] == layer.in_shape else rng.random((4, *layer.in_shape)) < 0.7
            out = rng.random((4, *layer.out_shape)) < 0.5
            masks[op, li, "in"], masks[op, li, "out"] = inp, out
            prev = out
            if op != "dense" and layer.zap is not None:
                first = layer.zap.computed_first(layer.h_out, layer.w_out)
                comp = first | (out & (rng.random(out.shape) < 0.9)) | (rng.random(out.shape) < 0.1)
                masks[op, li, "computed"] = comp
                prev = out & comp
    for kernels in (None, False):  # None: Numba kernels; False: the NumPy fallback
        monkeypatch.setattr(codec, "_KERNELS", kernels)
        path = tmp_path / f"t{kernels}"
        with TraceWriter(path, layers=layers, num_images=4, model={}, dataset={}) as tw:
            for op in ("dense", "t0", "t1"):
                tw.add_operating_point(OperatingPoint(op, "dense" if op == "dense" else "uniform"))
            for (op, li, kind), m in masks.items():
                tw.append(op, li, kind, m)
        man = _man(path)
        encs = {m["encoding"] + ":" + m.get("residual", {}).get("positions", "") for m in man["files"].values()}
        assert "residual-zlib:outside_computed_first" in encs and "residual-zlib:all" in encs, encs
        t = read_trace(path)
        for (op, li, kind), m in masks.items():
            assert np.array_equal(t.mask(op, li, kind), m), (kernels, op, li, kind)
    assert (tmp_path / "tNone" / "manifest.json").read_bytes() == (tmp_path / "tFalse" / "manifest.json").read_bytes()


def test_convert_and_check_command(tmp_path, capsys):
    from zapsim.errors import cli_main
    from zapsim.trace_format import convert_trace, main

    src = _write(tmp_path / "src", version=1, seed=2)
    v2 = convert_trace(src, tmp_path / "v2", format_version=2)
    back = convert_trace(v2, tmp_path / "v1", format_version=1)
    assert _man(back)["files"] == _man(src)["files"]  # the same bytes again, file for file
    assert cli_main(main, ["check", str(v2)]) == 0
    assert "a valid zapsim trace, format version 2" in capsys.readouterr().out
    (v2 / "manifest.json").write_text("{}")
    assert cli_main(main, ["check", str(v2)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
