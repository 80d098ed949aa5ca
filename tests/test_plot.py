"""Figures (zapsim.plot): files are produced, the Pareto front is right, axes carry units, bad input fails cleanly."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zapsim import plot
from zapsim.errors import ZapsimError

LAYERS = [("conv1", 16), ("layer1.0.conv1", 16), ("layer1.0.conv2", 16), ("layer2.0.conv1", 32), ("linear", 10)]


def _layer(name: str, scale: float, zap_pj: float, cycles: float, actual: float, zap_macs: float) -> dict:
    comp = {"mac": 100.0 * scale, "spad": 50.0 * scale, "noc": 20.0 * scale, "glb": 30.0 * scale,
            "dram": 80.0 * scale, "zap": zap_pj, "leakage": 5.0}
    total = sum(comp.values())
    return {
        "name": name, "cycles": cycles, "cycles_std": 0.0,
        "cycles_by_phase": {"A": cycles, "Z": 0.0, "C": 0.0, "overlap": 0.0},
        "pe_cycles": {"busy": cycles, "gated": 0.0, "idle": 0.0, "stalled": 0.0},
        "stall_cycles": 0.0, "utilization": 1.0,
        "macs": {"algorithmic": 1000.0, "actual": actual, "gated": 0.0, "skipped": 1000.0 - actual, "zap": zap_macs},
        "energy_pj": {"total": total, "by_component": comp,
                      "by_tensor": {"ifmap": total - zap_pj, "weight": 0.0, "psum": 0.0, "zap": zap_pj}},
        "accesses": {},
    }


def _op(op_id: str, kind: str, top1: float | None, skip: float, thr: float | None) -> dict:
    """An operating point whose ZAP layers skip a fraction ``skip`` of their work (first and last layer dense)."""
    layers = []
    for i, (name, _c) in enumerate(LAYERS):
        zapped = 0 < i < len(LAYERS) - 1 and kind != "dense"
        s = skip if zapped else 0.0
        layers.append(_layer(name, 1 - s, 10.0 if zapped else 0.0, 100.0 * (1 - s), 1000.0 * (1 - s),
                             20.0 if zapped else 0.0))
    total = copy.deepcopy(layers[0])
    total["name"] = "total"
    for key in ("cycles",):
        total[key] = sum(layer[key] for layer in layers)
    for k in total["macs"]:
        total["macs"][k] = sum(layer["macs"][k] for layer in layers)
    total["energy_pj"]["total"] = sum(layer["energy_pj"]["total"] for layer in layers)
    for k in total["energy_pj"]["by_component"]:
        total["energy_pj"]["by_component"][k] = sum(layer["energy_pj"]["by_component"][k] for layer in layers)
    return {"id": op_id, "label": op_id, "kind": kind,
            "thresholds": None if thr is None else {n: thr for n, _ in LAYERS[1:-1]},
            "accuracy": None if top1 is None else {"top1": top1, "num_images": 1017},
            "layers": layers, "total": total, "vs_baseline": {}}


def fake_results(points=((0.0, 0.9164), (0.2, 0.915), (0.4, 0.90), (0.6, 0.85)), arch="eyeriss_like",
                 kinds=("uniform",)) -> dict:
    ops = [_op("dense", "dense", 0.9164, 0.0, None)]
    for kind in kinds:
        for j, (skip, top1) in enumerate(points):
            ops.append(_op(f"{kind[0]}{j}", kind, top1, skip, 0.1 * j))
    return {"schema": "zapsim-results", "schema_version": 1, "zapsim_version": "0.1.0",
            "arch": {"name": arch}, "workload": {"source": "x", "model": "resnet20", "num_images": 1017,
                                                 "synthetic": False},
            "baseline": "dense", "operating_points": ops}


# --------------------------------------------------------------------------- Pareto front


def test_pareto_front_hand_derived():
    # (cost, benefit): (0.9, 88) is dominated by (0.8, 89); (0.7, 85) by (0.7, 86); the second (0.6, 80) is a
    # duplicate of the first and is dropped.
    cost = [1.0, 0.8, 0.9, 0.7, 0.7, 0.6, 0.6]
    benefit = [90, 89, 88, 85, 86, 80, 80]
    assert plot.pareto_front(cost, benefit).tolist() == [5, 4, 1, 0]


def test_pareto_front_single_and_all_dominated_by_one():
    assert plot.pareto_front([3.0], [1.0]).tolist() == [0]
    # One point is cheapest and best: it dominates all others.
    assert plot.pareto_front([2, 1, 3], [5, 9, 1]).tolist() == [1]


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(0)
    c = rng.integers(0, 6, 40).astype(float)
    b = rng.integers(0, 6, 40).astype(float)
    front = set(plot.pareto_front(c, b).tolist())
    for i in range(40):
        dominated = any((c[j] <= c[i] and b[j] >= b[i] and (c[j] < c[i] or b[j] > b[i])) for j in range(40))
        duplicate_of_earlier = any(c[j] == c[i] and b[j] == b[i] for j in range(i))
        assert (i in front) == (not dominated and not duplicate_of_earlier), i


# --------------------------------------------------------------------------- derived numbers


def test_op_points_hand_derived():
    res = plot.validate_results(fake_results(points=((0.5, 0.90),)))
    base, (p,) = plot.op_points(res)
    assert base.energy_norm == 1.0 and base.speedup == 1.0 and base.mac_reduction == 0.0
    # Three ZAP layers skip half: each saves 0.5 * 280 pJ (mac+spad+noc+glb+dram = 280 per unit) and
    # costs 10 pJ of ZAP; dense total = 5 * (280 + 5) = 1425 pJ.
    assert p.energy_norm == pytest.approx((1425 - 3 * 140 + 3 * 10) / 1425)
    # cycles: dense 500, op 500 - 3 * 50 = 350
    assert p.speedup == pytest.approx(500 / 350)
    # MACs: 5000 algorithmic, 1500 not performed, 60 ZAP MACs
    assert p.mac_reduction == pytest.approx(1500 / 5000)
    assert p.mac_reduction_net == pytest.approx(1440 / 5000)
    assert p.top1 == pytest.approx(90.0)


def test_top1_fraction_or_percent():
    assert plot.top1_percent({"accuracy": {"top1": 0.5}}) == 50.0
    assert plot.top1_percent({"accuracy": {"top1": 91.6}}) == 91.6
    assert plot.top1_percent({"accuracy": None}) is None


# --------------------------------------------------------------------------- figures


def _check_files(paths, out_base: Path):
    assert [p.name for p in paths] == [f"{out_base.name}.png", f"{out_base.name}.pdf"]
    for p in paths:
        data = p.read_bytes()
        assert len(data) > 1000
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert not list(out_base.parent.glob(".*.tmp-*")), "temporary files left behind"


def test_all_figures_written(tmp_path):
    a = plot.validate_results(fake_results(kinds=("uniform", "per_layer")))
    b = plot.validate_results(fake_results(points=((0.1, 0.916), (0.3, 0.91)), arch="ws_systolic"))
    series = {"eyeriss_like": a, "ws_systolic": b}
    for fn, name in ((plot.plot_energy_accuracy, "e"), (plot.plot_speedup_accuracy, "s"),
                     (plot.plot_mac_accuracy, "m")):
        _check_files(fn(series, tmp_path / name), tmp_path / name)
    _check_files(plot.plot_layer_energy(a, tmp_path / "le"), tmp_path / "le")
    _check_files(plot.plot_layer_gain(a, tmp_path / "lg", channels=dict(LAYERS)), tmp_path / "lg")
    states = np.zeros((12, 500), dtype=np.uint8)
    states[:, 300:] = 2
    states[3, 100:150] = 3
    _check_files(plot.plot_pe_timeline(states, tmp_path / "t", phase_starts={"A": 0, "C": 200}), tmp_path / "t")


def test_figures_are_deterministic_and_not_overwritten(tmp_path):
    res = plot.validate_results(fake_results())
    p1 = plot.plot_energy_accuracy({"x": res}, tmp_path / "a")
    p2 = plot.plot_energy_accuracy({"x": res}, tmp_path / "b")
    assert p1[0].read_bytes() == p2[0].read_bytes()
    assert p1[1].read_bytes() == p2[1].read_bytes()
    with pytest.raises(ZapsimError, match="already exists"):
        plot.plot_energy_accuracy({"x": res}, tmp_path / "a")
    plot.plot_energy_accuracy({"x": res}, tmp_path / "a", overwrite=True)


def _axes_labels(monkeypatch, fn, *args, **kw) -> list[tuple[str, str]]:
    """Run a plot function and capture the x/y labels of every axes of the figure it saves."""
    seen = []
    orig = plot.save_figure

    def spy(fig, out_base, overwrite=False):
        seen.extend((ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes)
        return orig(fig, out_base, overwrite)

    monkeypatch.setattr(plot, "save_figure", spy)
    fn(*args, **kw)
    return seen


@pytest.mark.parametrize("which", ["energy", "speedup", "mac", "layer", "gain", "timeline"])
def test_axis_labels_carry_units(tmp_path, monkeypatch, which):
    res = plot.validate_results(fake_results())
    calls = {
        "energy": (plot.plot_energy_accuracy, {"x": res}),
        "speedup": (plot.plot_speedup_accuracy, {"x": res}),
        "mac": (plot.plot_mac_accuracy, {"x": res}),
        "layer": (plot.plot_layer_energy, res),
        "gain": (plot.plot_layer_gain, res),
        "timeline": (plot.plot_pe_timeline, np.zeros((4, 10), dtype=np.uint8)),
    }
    fn, arg = calls[which]
    labels = _axes_labels(monkeypatch, fn, arg, tmp_path / which)
    units = ("(%)", "(×", "(pJ)", "(nJ)", "(µJ)", "(percentage points)", "cycle", "(% of", "layer", "index",
             "dense energy", "MAC-equivalents)")
    for xl, yl in labels:
        assert xl and any(u in xl for u in units), xl
        # the y axis of the timeline's totals panel is shared with the heatmap (no own label)
        assert yl == "" or any(u in yl for u in units), yl
    assert any(yl for _, yl in labels)


def test_layer_energy_units_scale(tmp_path, monkeypatch):
    res = plot.validate_results(fake_results())
    (_, yl), = _axes_labels(monkeypatch, plot.plot_layer_energy, res, tmp_path / "x")
    assert yl == "energy per image (pJ)"  # peaks of a few hundred pJ stay in pJ
    assert plot._energy_unit(2.5e6) == (1e6, "µJ")
    assert plot._energy_unit(999.0) == (1.0, "pJ")


def test_default_zap_op_is_lowest_energy_within_one_point():
    res = plot.validate_results(fake_results())  # top1 91.64, 91.5, 90.0, 85.0 at skip 0, .2, .4, .6
    assert plot.default_zap_op(res) == "u1"


def test_timeline_binning_majority_and_runs():
    runs = [[(0, 3), (2, 1)], [(1, 2)], [(3, 4)]]
    m = plot.runs_to_matrix(runs)
    assert m.tolist() == [[0, 0, 0, 2], [1, 1, 2, 2], [3, 3, 3, 3]]
    binned, per = plot.bin_states(m, max_columns=2)
    assert per == 2
    # bins of 2 cycles: PE0 (0,0),(0,2) -> 0, 0 (tie goes to the lower code); PE1 (1,1),(2,2) -> 1, 2
    assert binned.tolist() == [[0, 0], [1, 2], [3, 3]]
    with pytest.raises(ZapsimError, match="state code 7"):
        plot.runs_to_matrix([[(7, 1)]])


def test_no_accuracy_is_a_clean_error(tmp_path):
    res = plot.validate_results(fake_results(points=((0.2, None),)))
    for op in res["operating_points"]:
        op["accuracy"] = None
    with pytest.raises(ZapsimError, match="no operating point has a top-1 accuracy"):
        plot.plot_energy_accuracy({"x": res}, tmp_path / "e")
    # the layer figures do not need accuracy
    plot.plot_layer_energy(res, tmp_path / "le")


# --------------------------------------------------------------------------- bad input


def _write(tmp_path: Path, obj, name="r.json") -> Path:
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def test_bad_inputs(tmp_path):
    with pytest.raises(ZapsimError, match="no such results file"):
        plot.load_results(tmp_path / "missing.json")
    with pytest.raises(ZapsimError, match="not valid JSON"):
        plot.load_results(_write(tmp_path, "{not json"))
    with pytest.raises(ZapsimError, match="'schema' is 'zapsim-trace'"):
        plot.load_results(_write(tmp_path, {"schema": "zapsim-trace"}))
    r = fake_results()
    r["schema_version"] = 2
    with pytest.raises(ZapsimError, match="schema_version 2 is not supported.*upgrade"):
        plot.load_results(_write(tmp_path, r))
    r = fake_results()
    del r["operating_points"][1]["total"]["energy_pj"]["total"]
    with pytest.raises(ZapsimError, match=r"operating_points\[1\] \('u0'\) total energy_pj: missing key 'total'"):
        plot.load_results(_write(tmp_path, r))
    r = fake_results()
    r["operating_points"][2]["layers"][0]["cycles"] = "many"
    with pytest.raises(ZapsimError, match=r"layers\[0\]: key 'cycles' has 'many'; expected int or float"):
        plot.load_results(_write(tmp_path, r))
    r = fake_results()
    r["operating_points"] = r["operating_points"][1:]
    with pytest.raises(ZapsimError, match="no baseline operating point"):
        plot.load_results(_write(tmp_path, r))
    (tmp_path / "d").mkdir()
    with pytest.raises(ZapsimError, match="without results.json"):
        plot.load_results(tmp_path / "d")


def test_cli(tmp_path):
    good = _write(tmp_path, fake_results(), "good.json")
    bad = _write(tmp_path, {"schema": "zapsim-results", "schema_version": 9}, "bad.json")
    out = tmp_path / "figs"
    run = [sys.executable, "-m", "zapsim.plot"]
    r = subprocess.run([*run, str(good), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{n}.{e}" for n in ("energy_accuracy", "speedup_accuracy", "mac_accuracy",
                                                  "layer_energy", "layer_gain") for e in ("png", "pdf"))
    r = subprocess.run([*run, str(good), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*run, str(good), "--out", str(tmp_path / "one"), "--only", "energy_accuracy"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["energy_accuracy.pdf", "energy_accuracy.png"]
    r = subprocess.run([*run, str(good), "--only", "energy"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown figure(s) energy; choose from energy_accuracy" in r.stderr
    r = subprocess.run([*run, str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and str(bad) in r.stderr
    assert "Traceback" not in r.stderr


def test_select_ops_keeps_baseline_and_kind():
    res = plot.validate_results(fake_results(kinds=("uniform", "per_layer")))
    sub = plot.select_ops(res, kinds=["per_layer"])
    assert [op["id"] for op in sub["operating_points"]] == ["dense", "p0", "p1", "p2", "p3"]
    assert len(res["operating_points"]) == 9  # the original is untouched
    assert [op["id"] for op in plot.select_ops(res, ids=["u2"])["operating_points"]] == ["dense", "u2"]


def test_mac_figure_from_a_trace_uses_tracer_stats(tmp_path, monkeypatch):
    from zapsim.trace_format import OperatingPoint

    class FakeTrace:  # what read_trace returns, as far as the figure is concerned
        path = "fake-trace"
        operating_points = [
            OperatingPoint("dense", "dense", None, {"top1": 0.92}),
            OperatingPoint("t0.10", "uniform", {"a": 0.1}, {"top1": 0.915},
                           {"mac_reduction": 0.20, "mac_reduction_net_of_zap": 0.15}),
        ]

    base, (p,) = plot.trace_op_points(FakeTrace())
    assert (p.mac_reduction, p.mac_reduction_net, p.top1 - base.top1) == (0.20, 0.15, pytest.approx(-0.5))
    seen = []
    orig = plot.save_figure
    monkeypatch.setattr(plot, "save_figure", lambda fig, out, overwrite=False: (
        seen.extend(list(np.asarray(line.get_ydata(), dtype=float)) for line in fig.axes[0].lines if len(line.get_ydata())),
        orig(fig, out, overwrite))[1])
    plot.plot_mac_accuracy({"x": FakeTrace()}, tmp_path / "m")
    assert [pytest.approx(15.0)] in seen and [pytest.approx(20.0)] in seen
    with pytest.raises(ZapsimError, match="needs simulated results"):
        plot.plot_energy_accuracy({"x": FakeTrace()}, tmp_path / "e")
    FakeTrace.operating_points[1].stats = {}
    with pytest.raises(ZapsimError, match="no stats 'mac_reduction'"):
        plot.trace_op_points(FakeTrace())


def test_plot_all_with_traces_uses_channels_and_checks_count(tmp_path, monkeypatch):
    from types import SimpleNamespace

    res = plot.validate_results(fake_results())
    seen = {}
    orig = plot.plot_layer_gain

    def spy(r, out_base, **kw):
        seen.update(kw.get("channels") or {})
        return orig(r, out_base, **kw)

    monkeypatch.setattr(plot, "plot_layer_gain", spy)
    tr = SimpleNamespace(layers=[SimpleNamespace(name=n, c_out=c, zap=None) for n, c in LAYERS], operating_points=[])
    with pytest.raises(ZapsimError, match="one trace per results file"):
        plot.plot_all([res], tmp_path / "a", traces=[tr, tr])
    # a trace without operating points cannot feed the MAC figure; give the figure functions only the layers
    monkeypatch.setattr(plot, "plot_mac_accuracy", lambda *a, **k: [])
    plot.plot_all([res], tmp_path / "b", traces=[tr])
    assert seen == dict(LAYERS)


def test_min_top1_hides_points_and_says_so(tmp_path, monkeypatch):
    res = plot.validate_results(fake_results())  # top-1 91.5, 90.0, 85.0 (and dense 91.64)
    (xl, _), = _axes_labels(monkeypatch, plot.plot_energy_accuracy, {"x": res}, tmp_path / "e", min_top1=88.0)
    assert xl == ("top-1 accuracy (%); axis reversed: accuracy falls to the right\n"
                  "1 operating point(s) below 88.0% not shown")


# --------------------------------------------------------------------------- fronts, error bars, units, labels


def _with_spread(res: dict, e_std: float = 40.0, c_std: float = 5.0, n_sim: int = 16) -> dict:
    res = copy.deepcopy(res)
    res["workload"]["num_images"] = n_sim
    for op in res["operating_points"]:
        op["total"]["energy_pj_std"] = e_std
        op["total"]["cycles_std"] = c_std
    return res


def _capture(monkeypatch):
    """Record (name, figure) of every figure saved."""
    seen = []
    orig = plot.save_figure

    def spy(fig, out_base, overwrite=False):
        seen.append((Path(out_base).name, fig))
        return orig(fig, out_base, overwrite)

    monkeypatch.setattr(plot, "save_figure", spy)
    return seen


def test_two_architectures_get_two_labelled_fronts_with_error_bars(tmp_path, monkeypatch):
    from matplotlib.container import ErrorbarContainer

    a = _with_spread(fake_results(arch="eyeriss_like"))
    b = _with_spread(fake_results(points=((0.1, 0.916), (0.3, 0.91)), arch="tpu_like_ws_32x32"))
    files = []
    for name, r in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(r))
        files.append(str(tmp_path / name))
    seen = _capture(monkeypatch)
    assert plot.main([*files, "--out", str(tmp_path / "plots"), "--only", "energy_accuracy,energy_accuracy_absolute"]) == 0
    fig = dict(seen)["energy_accuracy"]
    ax = fig.axes[0]
    labels = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert "Pareto front: eyeriss_like" in labels and "Pareto front: tpu_like_ws_32x32" in labels
    assert "eyeriss_like" in labels and "tpu_like_ws_32x32" in labels
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2 and all(c.has_xerr and c.has_yerr for c in bars)
    # the bars are what the docstring says: top-1 binomial s.e. over 1017 images, energy s.e. over 16 images
    base_e = a["operating_points"][0]["total"]["energy_pj"]["total"]
    seg = bars[0].lines[2][1].get_segments()[0]  # the first point's y error bar
    assert abs(seg[1][1] - seg[0][1]) == pytest.approx(2 * 40.0 / 4 / base_e)
    xseg = bars[0].lines[2][0].get_segments()[0]
    p = 0.9164  # the first uniform point's top-1 in fake_results
    assert abs(xseg[1][0] - xseg[0][0]) == pytest.approx(2 * 100 * math.sqrt(p * (1 - p) / 1017), rel=1e-6)
    assert "axis reversed" in ax.get_xlabel()
    assert any(lab.startswith("bars: ±1 std. error (top-1 over 1017 eval. images, energy over 16 simulated")
               for lab in labels)
    # both tables in pJ: the absolute figure puts them on one axis
    assert "energy_accuracy_absolute" in dict(seen)


def test_mac_equivalent_tables_are_labelled_so_and_get_no_absolute_axis(tmp_path, monkeypatch):
    a, b = _with_spread(fake_results(arch="a")), _with_spread(fake_results(arch="b"))
    a["arch"]["energy"] = {"name": "eyeriss_normalized", "unit": "MAC-equivalent"}
    seen = _capture(monkeypatch)
    plot.plot_all([plot.validate_results(a), plot.validate_results(b)], tmp_path,
                  only=("energy_accuracy", "energy_accuracy_absolute", "layer_energy"))
    names = dict(seen)
    assert "energy_accuracy_absolute" not in names
    assert "MAC-equivalents" in names["layer_energy_a"].axes[0].get_ylabel()
    assert "MAC-eq" not in names["layer_energy_b"].axes[0].get_ylabel()
    with pytest.raises(ZapsimError, match="every series in pJ"):
        plot.plot_energy_accuracy_absolute({"a": a, "b": b}, tmp_path / "x")


def test_dense_only_result_gets_its_layer_figure(tmp_path, monkeypatch):
    res = fake_results()
    res["operating_points"] = res["operating_points"][:1]
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "results.json").write_text(json.dumps(res))
    seen = _capture(monkeypatch)
    assert plot.main([str(tmp_path / "r"), "--out", str(tmp_path / "p")]) == 0
    assert [n for n, _ in seen] == ["layer_energy"]
    assert "dense" in seen[0][1].axes[0].get_title()
    with pytest.raises(ZapsimError, match="nothing drawn"):
        plot.main([str(tmp_path / "r"), "--out", str(tmp_path / "q"), "--only", "energy_accuracy"])


@pytest.mark.parametrize("names, labels, caption", [
    (["conv1", "conv2", "fc8"], ["conv1", "conv2", "fc8"], "layer"),
    (["conv1", "layer1.0.conv1", "layer3.2.conv2", "linear"], ["c1", "1.0.c1", "3.2.c2", "fc"],
     "layer (layerS.B.x = S.B.x; convK = cK; linear = fc)"),
    (["features.0", "features.3", "classifier"], ["f.0", "f.3", "fc"], "layer (classifier = fc; features. = f.)"),
    (["layer1.conv1", "1.conv1"], ["layer1.conv1", "1.conv1"], "layer"),  # shortening would merge two: kept
    (["layer2.0.downsample.0"], ["2.0.ds0"], "layer (layerS.B.x = S.B.x; downsample = ds)"),
])
def test_layer_captions_come_from_the_names(names, labels, caption):
    assert plot.layer_labels(names) == (labels, caption)


def test_top1_standard_error_by_hand():
    assert plot.top1_stderr({"accuracy": {"top1": 0.9, "num_images": 100}}) == pytest.approx(3.0)
    assert math.isnan(plot.top1_stderr({"accuracy": {"top1": 0.9}}))


def test_two_series_figures_are_byte_identical(tmp_path):
    a = plot.validate_results(_with_spread(fake_results(arch="x")))
    b = plot.validate_results(_with_spread(fake_results(points=((0.1, 0.916),), arch="y")))
    only = ("energy_accuracy", "layer_gain")
    p1 = plot.plot_all([a, b], tmp_path / "1", only=only)
    p2 = plot.plot_all([a, b], tmp_path / "2", only=only)
    assert [p.name for p in p1] == [p.name for p in p2] and len(p1) == 6
    for x, y in zip(p1, p2):
        assert x.read_bytes() == y.read_bytes(), x.name
