"""The report: tables, JSON and CSV from a hand-made results dict whose numbers are derived by hand."""

from __future__ import annotations

import copy
import csv
import io
import json

import numpy as np
import pytest

from zapsim.errors import ZapsimError
from zapsim.sim.arch import arch_from_dict, arch_to_dict
from zapsim.sim.report import (
    check_result,
    format_layers,
    format_summary,
    results_csv,
    results_json,
    write_results,
)


def layer(name, cycles, macs, comp, tens, stall=0.0):
    alg, act, gated, skipped, zap = macs
    return {
        "name": name,
        "cycles": float(cycles),
        "cycles_std": 0.0,
        "cycles_by_phase": {"A": float(cycles), "Z": 0.0, "C": 0.0, "overlap": 0.0},
        "pe_cycles": {"busy": float(act), "gated": float(gated), "idle": 168.0 * cycles - act - gated - 168 * stall,
                      "stalled": 168.0 * stall},  # the toy arch below has the default 12 x 14 PEs
        "stall_cycles": float(stall),
        "utilization": act / (168 * cycles),  # 168 PEs, 1 MAC per cycle
        "macs": {"algorithmic": float(alg), "actual": float(act), "gated": float(gated), "skipped": float(skipped),
                 "zap": float(zap)},
        "energy_pj": {"total": float(sum(comp.values())), "by_component": comp, "by_tensor": tens},
        "accesses": {"dram": {"ifmap": 10.0, "weight": 20.0, "psum": 5.0}, "glb": {"ifmap": 1.0, "weight": 2.0, "psum": 3.0},
                     "noc": {"ifmap": 1.0, "weight": 1.0, "psum": 1.0}, "spad": {"ifmap": 9.0, "weight": 9.0, "psum": 9.0}},
    }


def comp(mac, spad, noc, glb, dram, zap=0.0):
    return {"mac": float(mac), "spad": float(spad), "noc": float(noc), "glb": float(glb), "dram": float(dram),
            "zap": float(zap), "leakage": 0.0}


def total(layers):
    t = copy.deepcopy(layers[0])
    t.pop("name")
    for key in ("cycles", "stall_cycles"):
        t[key] = sum(l[key] for l in layers)
    for group in ("macs", "pe_cycles", "cycles_by_phase"):
        t[group] = {k: sum(l[group][k] for l in layers) for k in layers[0][group]}
    t["energy_pj"] = {
        "total": sum(l["energy_pj"]["total"] for l in layers),
        "by_component": {k: sum(l["energy_pj"]["by_component"][k] for l in layers) for k in layers[0]["energy_pj"]["by_component"]},
        "by_tensor": {k: sum(l["energy_pj"]["by_tensor"][k] for l in layers) for k in layers[0]["energy_pj"]["by_tensor"]},
    }
    t["utilization"] = t["macs"]["actual"] / (168 * t["cycles"])
    t["energy_pj_per_algorithmic_mac"] = t["energy_pj"]["total"] / t["macs"]["algorithmic"]
    return t


def hand_result():
    """Two layers; dense vs one ZAP operating point.

    dense: L1 1000 cycles, 50,000 pJ (8,000 actual + 2,000 gated MACs); L2 3000 cycles, 150,000 pJ.
    t0.00: L1 unchanged; L2 1400 cycles, 70,000 pJ, 18,000 MACs skipped, 900 ZAP MACs.
    Totals: dense 4000 cycles / 200,000 pJ; t0.00 2400 cycles / 120,000 pJ
    -> speedup 4000/2400 = 1.667, saving 1 - 120/200 = 40%; L2 alone 3000/1400 = 2.143, saving 53.3%.
    """
    l1 = layer("conv1", 1000, (10000, 8000, 2000, 0, 0), comp(8200, 20000, 6000, 6000, 9800),
               {"ifmap": 20000.0, "weight": 15000.0, "psum": 15000.0, "zap": 0.0})
    l2 = layer("conv2", 3000, (30000, 30000, 0, 0, 0), comp(30000, 60000, 20000, 20000, 20000),
               {"ifmap": 50000.0, "weight": 50000.0, "psum": 50000.0, "zap": 0.0}, stall=250)
    l2z = layer("conv2", 1400, (30000, 12000, 0, 18000, 900), comp(12000, 24000, 8000, 8000, 16000, zap=2000),
                {"ifmap": 20000.0, "weight": 24000.0, "psum": 24000.0, "zap": 2000.0})
    dense = {"id": "dense", "label": "no ZAP", "kind": "dense", "thresholds": None,
             "accuracy": {"top1": 0.9164, "num_images": 2}, "layers": [l1, l2], "total": total([l1, l2]),
             "vs_baseline": {"speedup": 1.0, "energy_saving": 0.0}}
    zap = {"id": "t0.00", "label": "threshold 0.00", "kind": "uniform", "thresholds": {"conv2": 0.0},
           "accuracy": {"top1": 0.9050, "num_images": 2}, "layers": [copy.deepcopy(l1), l2z],
           "total": total([l1, l2z]), "vs_baseline": {"speedup": 4000 / 2400, "energy_saving": 0.4}}
    arch = arch_to_dict(arch_from_dict({"name": "toy", "clock_mhz": 200}))
    return {"schema": "zapsim-results", "schema_version": 1, "zapsim_version": "0.1.0", "arch": arch,
            "workload": {"source": "traces/toy", "model": "toynet", "num_images": 2, "synthetic": False},
            "baseline": "dense", "operating_points": [dense, zap]}


def test_hand_result_is_sound():
    assert check_result(hand_result()) == []


@pytest.mark.parametrize(
    "corrupt, fragment",
    [
        (lambda r: r["operating_points"][1]["layers"][1]["macs"].update(skipped=17000.0), "algorithmic 30000.0 != actual"),
        (lambda r: r["operating_points"][0]["layers"][0]["energy_pj"]["by_tensor"].update(zap=1.0),
         "by_tensor sums to 50001.0, total is 50000.0"),
        (lambda r: r["operating_points"][1]["vs_baseline"].update(speedup=1.5), "vs_baseline.speedup 1.5"),
        (lambda r: r["operating_points"][1]["vs_baseline"].update(energy_saving=0.5), "vs_baseline.energy_saving 0.5"),
        (lambda r: r["operating_points"][1]["total"].update(cycles=2500.0), "cycles 2500.0 is not the sum"),
        (lambda r: r["operating_points"][0]["layers"][0].pop("accesses"), "layer conv1: missing 'accesses'"),
        (lambda r: r.update(baseline="nope"), "no baseline operating point 'nope'"),
        (lambda r: r["operating_points"][1]["layers"][0]["pe_cycles"].update(idle=0.0), "pe_cycles sum to"),
        (lambda r: r.update(schema_version=2), "schema must be"),
    ],
)
def test_check_result_catches(corrupt, fragment):
    r = hand_result()
    corrupt(r)
    problems = check_result(r)
    assert any(fragment in p for p in problems), problems


def _row(text: str, first: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if line.split()[:1] == [first])


def test_summary_shows_hand_numbers():
    text = format_summary(hand_result())
    assert "toy (row_stationary, 12x14 PEs, 200.0 MHz" in text and "toynet" in text
    z = _row(text, "t0.00")
    # op, top-1, d top-1, cycles, speedup, latency ms, energy uJ, saving %, pJ/alg MAC
    assert z[:9] == ["t0.00", "90.50", "-1.14", "2,400", "1.667", "0.012", "0.12", "+40.0", "3.000"]
    d = _row(text, "dense")
    assert d[:9] == ["dense", "91.64", "+0.00", "4,000", "1.000", "0.020", "0.20", "+0.0", "5.000"]
    # MAC table: algorithmic 0.040 M, actual 0.020, gated 0.002, skipped 0.018, zap 0.0009, skipped 45%,
    # zap 2.25%, utilization 20000 / (168 * 2400) = 4.96%
    macs = [line.split() for line in text.splitlines() if line.startswith("t0.00")][1]
    assert macs == ["t0.00", "0.040", "0.020", "0.002", "0.018", "0.001", "45.0", "2.25", "5.0"]
    assert "t0.00: threshold 0.00" in text


def test_summary_without_accuracy_shows_dashes():
    r = hand_result()
    for op in r["operating_points"]:
        op["accuracy"] = None
    z = _row(format_summary(r), "t0.00")
    assert z[1:3] == ["-", "-"]


def test_layers_table():
    text = format_layers(hand_result())
    blocks = text.split("\n\n")
    assert blocks[0].startswith("operating point dense (no ZAP)") and blocks[1].startswith("operating point t0.00")
    conv2 = _row(blocks[1], "conv2")
    # layer, cycles, std, speedup, util, stall, actual, gated, skipped, zap, energy uJ, saving
    assert conv2 == ["conv2", "1,400", "0", "2.143", "5.1", "0", "0.012", "0.000", "0.018", "0.001", "0.070", "+53.3"]
    assert _row(blocks[0], "conv2")[5] == "250"  # stall cycles
    assert _row(blocks[1], "total")[3] == "1.667"
    only = format_layers(hand_result(), op_ids=["t0.00"])
    assert "operating point dense" not in only and "operating point t0.00" in only


def test_table_columns_align():
    text = format_layers(hand_result())
    lines = [l for l in text.split("\n\n")[1].splitlines()[1:] if l]
    assert len({len(l) for l in lines}) == 1  # right-aligned numeric columns end at the same place


def test_csv_rows_and_columns():
    rows = list(csv.DictReader(io.StringIO(results_csv(hand_result()))))
    assert [(r["op_id"], r["name"]) for r in rows] == [
        ("dense", "conv1"), ("dense", "conv2"), ("dense", "total"),
        ("t0.00", "conv1"), ("t0.00", "conv2"), ("t0.00", "total"),
    ]
    z2 = rows[4]
    assert float(z2["macs.skipped"]) == 18000 and float(z2["energy_pj.by_component.zap"]) == 2000
    assert float(z2["accesses.dram.weight"]) == 20
    assert float(rows[5]["energy_pj.total"]) == 120000 and float(rows[5]["energy_pj_per_algorithmic_mac"]) == 3.0
    assert rows[4]["energy_pj_per_algorithmic_mac"] == ""  # only totals carry it


def test_json_handles_numpy_and_round_trips():
    r = hand_result()
    r["operating_points"][0]["layers"][0]["cycles"] = np.float64(1000.0)
    r["operating_points"][0]["layers"][0]["macs"]["actual"] = np.int64(8000)
    back = json.loads(results_json(r))
    assert back["operating_points"][0]["layers"][0]["cycles"] == 1000.0
    assert back["operating_points"][0]["layers"][0]["macs"]["actual"] == 8000
    assert back == json.loads(results_json(hand_result()))


def test_write_results_atomic_and_refuses_overwrite(tmp_path):
    out = tmp_path / "res"
    written = write_results(hand_result(), out)
    assert sorted(p.name for p in written) == ["layers.csv", "results.json"]
    assert json.loads((out / "results.json").read_text()) == json.loads(results_json(hand_result()))
    (out / "timeline_old.json").write_text("stale")
    with pytest.raises(ZapsimError, match="already exists and is not empty; pass --overwrite"):
        write_results(hand_result(), out)
    r = hand_result()
    r["workload"]["model"] = "other"
    write_results(r, out, overwrite=True)
    assert json.loads((out / "results.json").read_text())["workload"]["model"] == "other"
    # the directory is replaced whole: no stale file of the earlier run survives, no temporaries are left
    assert sorted(p.name for p in out.iterdir()) == ["layers.csv", "results.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ZapsimError, match="is not a directory"):
        write_results(hand_result(), tmp_path / "file")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ZapsimError, match="does not hold a zapsim run result"):
        write_results(hand_result(), mine, overwrite=True)  # --overwrite never replaces a directory of other files
    assert (mine / "notes.txt").read_text() == "mine"


def test_write_results_interrupted_leaves_nothing(tmp_path, monkeypatch):
    import zapsim.atomic as atomic

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "publish_dir", boom)
    with pytest.raises(KeyboardInterrupt):
        write_results(hand_result(), tmp_path / "res")
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temporary directory


def test_header_tells_trace_from_layer_list(tmp_path):
    r = hand_result()
    assert "workload  toynet from traces/toy (trace), 2 image(s)" in format_summary(r)
    r["workload"]["synthetic"] = True
    assert "(synthetic trace, SYNTHETIC masks), 2 image(s)" in format_summary(r)
    r["workload"]["synthetic_params"] = {"density": 0.4, "correlation": 2.0, "noise": 0.3}
    assert "(synthetic trace, SYNTHETIC masks: density 0.4, correlation 2 px, ZAP score noise 0.3)" in format_summary(r)
    wl = tmp_path / "layers.yaml"
    wl.write_text("[]")
    r["workload"].update(source=str(wl), model="layers", num_images=1)
    assert f"workload  layers from {wl} (layer list, SYNTHETIC masks: density 0.4" in format_summary(r)
    r["workload"].update(synthetic=False)
    assert f"workload  layers from {wl} (layer list, dense)" in format_summary(r)


def test_energy_columns_name_the_tables_unit():
    r = hand_result()
    r["arch"]["energy"]["unit"] = "MAC-equivalent"
    text = format_summary(r) + format_layers(r)
    assert "energy [M MAC-eq]" in text and "MAC-eq/alg MAC" in text and "[uJ]" not in text and "in MAC-equivalent" in text
    r["arch"]["energy"]["unit"] = "pJ"
    text = format_summary(r) + format_layers(r)
    assert "energy [uJ]" in text and "pJ/alg MAC" in text and "MAC-eq" not in text


def test_csv_rows_carry_the_run_and_concatenate():
    r = hand_result()
    r["workload"].update(pattern="checkerboard", batch=4)
    rows = list(csv.DictReader(io.StringIO(results_csv(r))))
    assert all((row["arch"], row["model"], row["pattern"], row["batch"]) == ("toy", "toynet", "checkerboard", "4")
               for row in rows)
    assert {row["op_id"]: row["top1"] for row in rows if row["name"] == "total"} == \
        {op["id"]: repr(float(op["accuracy"]["top1"])) if op.get("accuracy") else "" for op in r["operating_points"]}
    header = results_csv(r).splitlines()[0].split(",")
    from zapsim.sim.report import RUN_COLUMNS

    assert header[:len(RUN_COLUMNS) + 4] == [*RUN_COLUMNS, "op_id", "op_label", "op_kind", "top1"]


def test_schema_doc_names_every_run_column():
    from pathlib import Path

    from zapsim.sim.report import RUN_COLUMNS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "results-schema.md").read_text()
    header = results_csv(hand_result()).splitlines()[0].split(",")
    ident = header[:header.index("name")]
    assert ident == [*RUN_COLUMNS, "op_id", "op_label", "op_kind", "top1"]
    for col in ident:
        assert f"`{col}`" in doc, f"docs/results-schema.md does not describe the layers.csv column {col}"
