"""simulate() over a synthetic trace: schema identities, baseline, determinism, ZAP savings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zapsim.sim.arch import arch_from_dict
from zapsim.sim.report import check_result
from zapsim.sim.simulate import simulate, simulate_layer_batch
from zapsim.synthetic import build_synthetic_trace
from zapsim.trace_format import make_layer, read_trace

LAYERS = [
    make_layer("conv1", 3, 8, 8, 8, kernel=3, padding=1, zap_pattern="checkerboard"),
    make_layer("conv2", 8, 8, 8, 8, kernel=3, padding=1, zap_pattern="checkerboard"),
    make_layer("down", 8, 8, 8, 16, kernel=3, stride=2, padding=1),
    make_layer("fc", 16 * 4 * 4, 1, 1, 10, kernel=1, kind="fc", relu=False),
]


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    p = tmp_path_factory.mktemp("tr") / "trace"
    build_synthetic_trace(p, LAYERS, num_images=3, density=0.4, thresholds=(0.0, 0.5), seed=3)
    return read_trace(p)


@pytest.mark.parametrize("df", ["row_stationary", "weight_stationary"])
def test_trace_run_is_sound(trace, df):
    arch = arch_from_dict({"name": "a", "dataflow": df, "pe_array": {"rows": 4, "cols": 6},
                           "sparsity": {"zero_inputs": "gate"}, "dram": {"zero_compression": True}})
    res = simulate(arch, trace.layers, trace=trace, progress=False)
    assert check_result(res) == []
    ids = [o["id"] for o in res["operating_points"]]
    assert ids[0] == "dense" and len(ids) == 3
    dense, *zaps = res["operating_points"]
    assert dense["vs_baseline"]["speedup"] == 1.0 and dense["vs_baseline"]["energy_saving"] == 0.0
    assert res["workload"]["num_images"] == 3 and res["workload"]["synthetic"] is True
    for op in zaps:
        t = op["total"]
        assert t["macs"]["zap"] > 0
        assert t["macs"]["actual"] < dense["total"]["macs"]["actual"]
        # only ZAP layers gain skipped MACs; the fc layer has no ZAP
        fc = op["layers"][3]
        assert fc["macs"]["zap"] == 0 and fc["cycles_by_phase"]["Z"] == 0
    # the higher threshold computes a subset of the lower one's outputs
    assert zaps[1]["total"]["macs"]["actual"] <= zaps[0]["total"]["macs"]["actual"]
    json.dumps(res)  # JSON-ready


def test_same_inputs_same_numbers(trace):
    arch = arch_from_dict({"name": "a"})
    a = simulate(arch, trace.layers, trace=trace, op_ids=["t0.50"], images=2, progress=False)
    b = simulate(arch, trace.layers, trace=trace, op_ids=["t0.50"], images=2, progress=False)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert [o["id"] for o in a["operating_points"]] == ["dense", "t0.50"]  # dense always added as baseline
    assert a["workload"]["num_images"] == 2


def test_means_and_spread_over_images(trace):
    arch = arch_from_dict({"name": "a", "sparsity": {"zero_inputs": "skip"}})
    li = 1
    s = simulate_layer_batch(arch, LAYERS[li], trace.mask("t0.00", li, "in"), trace.mask("t0.00", li, "out"),
                             trace.mask("t0.00", li, "computed"))
    res = simulate(arch, trace.layers, trace=trace, op_ids=["t0.00"], progress=False)
    lay = res["operating_points"][1]["layers"][li]
    assert lay["cycles"] == pytest.approx(float(np.mean(s.cycles)))
    assert lay["cycles_std"] == pytest.approx(float(np.std(s.cycles)))
    assert lay["cycles_std"] > 0  # zero-input skipping makes images differ


def test_dense_workload_without_trace():
    arch = arch_from_dict({"name": "a", "dataflow": "output_stationary", "pe_array": {"rows": 8, "cols": 8},
                           "global_buffer": {"size_bytes": 1 << 22, "bandwidth_words_per_cycle": 1e9},
                           "noc": {"bandwidth_words_per_cycle": 1e9}, "dram": {"bandwidth_bytes_per_cycle": 1e9}})
    res = simulate(arch, LAYERS, progress=False, source="shapes.yaml")
    assert check_result(res) == []
    (op,) = res["operating_points"]
    assert op["id"] == "dense" and res["workload"]["source"] == "shapes.yaml"
    # conv1 lowered: K = 27, N = 8, Npx = 64 -> ceil(64/8) * ceil(8/8) = 8 folds of 8+8+27-2 = 41
    assert op["layers"][0]["cycles"] == 8 * 41
    assert op["total"]["macs"]["actual"] == sum(l.macs for l in LAYERS)
