"""Property-based fuzzing of every reader of user files (issue 12.7).

Each test mutates a valid input (an architecture config, a YAML or CSV
workload, a trace's manifest or mask bytes) and asserts the one property
the readers promise: the input is either refused with a :class:`ZapsimError`
(a message, never a traceback), or accepted, and then it simulates and its
results hold only finite numbers (``results_json`` refuses anything else).

Hypothesis runs derandomized (the same examples on every machine) with a
bounded number of examples, so the whole file stays within seconds in CI.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="the fuzz tests need hypothesis (pip install -e .[dev])")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from zapsim.errors import ZapsimError  # noqa: E402
from zapsim.limits import check_run_budget  # noqa: E402
from zapsim.sim.arch import arch_from_dict, load_arch  # noqa: E402
from zapsim.trace_format import OperatingPoint, TraceWriter, make_layer, read_trace  # noqa: E402
from zapsim.yamlio import load_yaml_text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# ZAPSIM_FUZZ_EXAMPLES raises the count for a longer local hunt; CI runs the default.
FUZZ = settings(max_examples=int(os.environ.get("ZAPSIM_FUZZ_EXAMPLES", "40")), deadline=None, derandomize=True,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TINY = [make_layer("c1", 3, 6, 6, 4, kernel=3, padding=1),
        make_layer("c2", 4, 6, 6, 4, kernel=3, padding=1, zap_pattern="checkerboard")]
# Fuzzed inputs may be valid but huge: simulate only what fits a small budget (a larger one is refused: fine).
BUDGET = {"max_memory_gib": 1.0, "max_work_macs": 2e8}

# Values a hostile file might hold where a valid one holds something else.
SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-3, max_value=300),
    st.sampled_from([0, -1, 2**31, 2**53 + 1, 10**20, 10**30, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-320, 1e-300, 5e-324, 1e308, 0.5, 1e-3]),
    st.text(max_size=12), st.sampled_from(["", "../../x", "dense", "checkerboard", "\x00", "1e999"]),
)
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids,
                                                                                          max_size=3), max_leaves=8)


def _near(v: Any) -> st.SearchStrategy:
    """Values of the same type as ``v`` around it and at its edges."""
    if isinstance(v, bool):
        return st.booleans()
    if isinstance(v, int):
        return st.one_of(st.integers(max(0, v - 3), v + 3), st.sampled_from([0, 1, 2 * v, v * 64, 4096, 4097]))
    if isinstance(v, float):
        return st.one_of(st.floats(0.0, 2 * v + 1), st.sampled_from([v * 1e3, v / 1e3, 1e-3, 1e6, 0.0]))
    if isinstance(v, str):
        return st.sampled_from([v, v.upper(), v + "x", "", "gate", "skip", "row_stationary", "weight_stationary"])
    return VALUES


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a JSON-like tree (including the root's children)."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _mutate(data, obj: Any, rounds: int = 3) -> Any:
    """Replace, delete or add values at random places of a JSON-like tree (a copy)."""
    obj = json.loads(json.dumps(obj))
    for _ in range(data.draw(st.integers(1, rounds))):
        paths = _paths(obj)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = obj
        for k in path[:-1]:
            parent = parent[k]
        action = data.draw(st.sampled_from(["perturb", "perturb", "perturb", "replace", "replace", "delete", "add"]))
        if action == "perturb":  # a value of the same type nearby or at an edge: valid inputs near the limits
            parent[path[-1]] = data.draw(_near(parent[path[-1]]))
        elif action == "replace":
            parent[path[-1]] = data.draw(VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=8))] = data.draw(VALUES)
        else:
            parent.append(data.draw(VALUES))
    return obj


def _simulates(arch, layers, trace=None) -> None:
    """Simulate (analytical engine) and render the results; any ZapsimError on the way is a clean refusal."""
    from zapsim.run import _check_layers_map
    from zapsim.sim.report import results_csv, results_json
    from zapsim.sim.simulate import simulate

    n_img = 1 if trace is None else trace.num_images
    n_ops = 1 if trace is None else len(trace.operating_points)
    check_run_budget(layers, num_ops=n_ops, images=n_img, trace_images=None if trace is None else n_img, **BUDGET)
    _check_layers_map(arch, layers)
    res = simulate(arch, layers, trace=trace, progress=False, engine="analytical")
    text = results_json(res)  # refuses NaN / infinity
    results_csv(res)
    assert "Infinity" not in text and "NaN" not in text


def _accepted_or_refused(fn) -> bool:
    from hypothesis import event

    try:
        fn()
    except ZapsimError as exc:
        assert str(exc) and len(str(exc)) < 5000, str(exc)[:200]
        event(f"refused: {type(exc).__name__}")
        return False
    event("accepted and simulated")
    return True


# --------------------------------------------------------------------------- architecture configs


ARCH_BASE = load_yaml_text((ROOT / "arch_configs" / "eyeriss_like.yaml").read_text(), "eyeriss_like.yaml")


@FUZZ
@given(st.data())
def test_fuzz_arch_loader(data):
    import yaml

    d = _mutate(data, ARCH_BASE)

    def go():
        try:
            text = yaml.safe_dump(d)  # through YAML text, as a user's file would be
        except (yaml.YAMLError, ValueError, OverflowError):
            text = None
        arch = arch_from_dict(load_yaml_text(text, "fuzz.yaml") if text is not None else d, "fuzz.yaml")
        _simulates(arch, TINY)

    _accepted_or_refused(go)


# --------------------------------------------------------------------------- workloads


WL_BASE = [{"name": "c1", "c_in": 3, "h_in": 12, "c_out": 8, "kernel": 3, "padding": 1},
           {"name": "c2", "c_in": 8, "h_in": 12, "c_out": 8, "kernel": 3, "stride": 2, "padding": 1,
            "zap": "checkerboard"},
           {"name": "fc", "kind": "fc", "c_in": 8 * 36, "c_out": 10}]
CSV_BASE = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "C1, 12, 12, 3, 3, 3, 8, 1,\nC2, 10, 10, 3, 3, 8, 8, 2,\nFC, 1, 1, 1, 1, 32, 10, 1,\n")
EYERISS = load_arch(ROOT / "arch_configs" / "eyeriss_like.yaml")


@FUZZ
@given(st.data())
def test_fuzz_yaml_workload(tmp_path_factory, data):
    import yaml

    from zapsim.sim.workload import load_workload

    d = _mutate(data, {"name": "w", "layers": WL_BASE})
    p = tmp_path_factory.mktemp("wl") / "w.yaml"
    try:
        p.write_text(yaml.safe_dump(d))
    except (yaml.YAMLError, ValueError, OverflowError, UnicodeEncodeError):
        return
    _accepted_or_refused(lambda: _simulates(EYERISS, load_workload(p)))


@FUZZ
@given(st.data())
def test_fuzz_csv_workload(tmp_path_factory, data):
    from zapsim.sim.workload import load_workload

    if data.draw(st.booleans()):  # a cell replaced by a nearby or edge value: mostly valid topologies
        rows = [r.split(",") for r in CSV_BASE.splitlines()]
        r = data.draw(st.integers(1, len(rows) - 1))
        c = data.draw(st.integers(0, 7))
        cell = rows[r][c].strip()
        new = data.draw(_near(int(cell)) if cell.isdigit() else st.sampled_from(["C9", "", "x y", "1"]))
        rows[r][c] = f" {new}"
        text = bytearray("\n".join(",".join(row) for row in rows).encode() + b"\n")
    else:
        text = bytearray(CSV_BASE.encode())
    for _ in range(data.draw(st.integers(0 if text != bytearray(CSV_BASE.encode()) else 1, 3))):
        i = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "digit"]))
        if op == "flip":
            text[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            text[i:i] = data.draw(st.sampled_from([b",", b"\n", b"9999999", b"-1", b"\xef\xbb\xbf", b"#", b" "]))
        elif op == "delete":
            del text[i]
        else:
            text[i:i] = str(data.draw(st.integers(0, 10**6))).encode()
    p = tmp_path_factory.mktemp("wl") / "w.csv"
    p.write_bytes(bytes(text))
    _accepted_or_refused(lambda: _simulates(EYERISS, load_workload(p)))


# --------------------------------------------------------------------------- traces


def _valid_trace(root: Path, version: int) -> Path:
    path = root / f"base-v{version}"
    if path.is_dir():
        return path
    rng = np.random.default_rng(5)
    with TraceWriter(path, layers=TINY, num_images=2, model={"name": "toy"}, dataset={"name": "toy"},
                     format_version=version) as tw:
        for op in ("dense", "t0.10"):
            tw.add_operating_point(OperatingPoint(op, "dense" if op == "dense" else "uniform",
                                                  thresholds=None if op == "dense" else {"c2": 0.1}))
        for op in ("dense", "t0.10"):
            produced = None
            for li, layer in enumerate(TINY):
                inp = produced if produced is not None else rng.random((2, *layer.in_shape)) < 0.9
                out = rng.random((2, *layer.out_shape)) < 0.5
                tw.append(op, li, "in", inp)
                tw.append(op, li, "out", out)
                produced = out
                if op != "dense" and layer.zap is not None:
                    comp = layer.zap.computed_first(layer.h_out, layer.w_out) | out
                    tw.append(op, li, "computed", comp)
                    produced = out & comp
    return path


@pytest.fixture(scope="module")
def trace_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("traces")
    for v in (1, 2):
        _valid_trace(root, v)
    return root


def _read_and_simulate(path: Path) -> None:
    t = read_trace(path)
    for op in t.operating_points:
        for li in range(len(t.layers)):
            for kind in ("in", "out", "computed"):
                t.mask(op.id, li, kind)
    if "dense" in [o.id for o in t.operating_points]:
        _simulates(EYERISS, t.layers, t)


def _copy(trace_root: Path, tmp_path_factory, version: int) -> tuple[Path, dict]:
    """A fresh copy of the valid trace of ``version`` and its manifest."""
    dst = tmp_path_factory.mktemp("t") / "t"
    shutil.copytree(trace_root / f"base-v{version}", dst)
    return dst, json.loads((dst / "manifest.json").read_text())


@FUZZ
@given(st.data(), st.sampled_from([1, 2]))
def test_fuzz_trace_manifest(trace_root, tmp_path_factory, data, version):
    dst, man = _copy(trace_root, tmp_path_factory, version)
    man = _mutate(data, man, rounds=2)
    (dst / "manifest.json").write_text(json.dumps(man))  # NaN/Infinity written as such: the reader refuses them
    _accepted_or_refused(lambda: _read_and_simulate(dst))


@FUZZ
@given(st.data(), st.sampled_from([1, 2]))
def test_fuzz_trace_mask_bytes(trace_root, tmp_path_factory, data, version):
    """Damage to the mask files, with the manifest's size and checksum updated to match (so decoding is reached)."""
    import hashlib

    dst, man = _copy(trace_root, tmp_path_factory, version)
    rel = data.draw(st.sampled_from(sorted(man["files"])))
    raw = bytearray((dst / rel).read_bytes())
    op = data.draw(st.sampled_from(["flip", "truncate", "append", "replace"]))
    if op == "flip" and raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    elif op == "truncate":
        del raw[data.draw(st.integers(0, len(raw))):]
    elif op == "append":
        raw += data.draw(st.binary(min_size=1, max_size=16))
    else:
        import zlib

        raw = bytearray(zlib.compress(data.draw(st.binary(max_size=200))))
    (dst / rel).write_bytes(bytes(raw))
    if data.draw(st.booleans()):  # a consistent manifest, so the decoder itself meets the damage
        man["files"][rel].update(bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest())
        (dst / "manifest.json").write_text(json.dumps(man))
    _accepted_or_refused(lambda: _read_and_simulate(dst))


def test_fuzz_helpers_find_every_path():
    assert _paths({"a": [1, {"b": 2}]}) == [("a",), ("a", 0), ("a", 1), ("a", 1, "b")]
    assert math.isfinite(BUDGET["max_work_macs"])
