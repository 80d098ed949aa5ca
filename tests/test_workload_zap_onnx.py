"""Workloads with ZAPs (simulated on stated synthetic masks, or refused) and ONNX models as dense workloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zapsim.errors import ConfigError, cli_main
from zapsim.run import main
from zapsim.sim.arch import load_arch
from zapsim.sim.simulate import simulate
from zapsim.sim.synthetic_workload import synthetic_spec
from zapsim.sim.workload import load_workload
from zapsim.synthetic import build_synthetic_trace
from zapsim.trace_format import read_trace

ROOT = Path(__file__).resolve().parents[1]
EYERISS = ROOT / "arch_configs" / "eyeriss_like.yaml"
LAYERS = """  - {name: c1, c_in: 3, h_in: 12, c_out: 8, padding: 1, zap: checkerboard}
  - {name: c2, c_in: 8, h_in: 12, c_out: 8, padding: 1, zap: checkerboard}
  - {name: down, c_in: 8, h_in: 12, c_out: 16, stride: 2, padding: 1}
"""
SYNTH = "synthetic: {density: 0.4, correlation: 1.5, noise: 0.2, thresholds: [0.0, 0.5], images: 3, seed: 7}\n"


def run(argv, capsys):
    rc = cli_main(main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_zap_workload_runs_on_the_stated_synthetic_masks(tmp_path, capsys):
    wl = tmp_path / "net.yaml"
    wl.write_text("name: tiny\n" + SYNTH + "layers:\n" + LAYERS)
    rc, out, err = run([EYERISS, "--workload", wl, "--json", "--quiet"], capsys)
    assert rc == 0, err
    res = json.loads(out)
    w = res["workload"]
    assert (w["source"], w["model"], w["synthetic"], w["num_images"], w["pattern"]) == (str(wl), "tiny", True, 3,
                                                                                          "checkerboard")
    assert w["synthetic_params"]["density"] == 0.4 and w["synthetic_params"]["correlation"] == 1.5
    assert "SYNTHETIC masks (density 0.4, correlation 1.5 px" in err
    ids = [o["id"] for o in res["operating_points"]]
    assert ids == ["dense", "t0.00", "t0.50"]
    zap = res["operating_points"][1]["total"]["macs"]
    assert zap["zap"] > 0 and zap["skipped"] > 0  # the ZAP ran and skipped work: not a dense run
    # the same as building that synthetic trace by hand and simulating it
    tr = read_trace(build_synthetic_trace(tmp_path / "t", load_workload(wl), num_images=3, density=0.4,
                                          correlation=1.5, noise=0.2, thresholds=(0.0, 0.5), seed=7))
    ref = simulate(load_arch(EYERISS), tr.layers, trace=tr, progress=False)
    assert [o["total"] for o in ref["operating_points"]] == [o["total"] for o in res["operating_points"]]
    # the text report says so too
    rc, out, _ = run([EYERISS, "--workload", wl, "--quiet", "--op", "t0.50", "--images", "2"], capsys)
    assert rc == 0 and "SYNTHETIC masks: density 0.4, correlation 1.5 px" in out and "2 image(s)" in out


def test_zap_without_masks_is_refused(tmp_path, capsys):
    wl = tmp_path / "net.yaml"
    wl.write_text("layers:\n" + LAYERS)
    rc, _, err = run([EYERISS, "--workload", wl], capsys)
    assert rc == 2 and "c1, c2 have a 'zap:' but the workload states no synthetic masks" in err
    wl.write_text("layers:\n" + LAYERS.replace(", zap: checkerboard", ""))
    rc, _, _ = run([EYERISS, "--workload", wl, "--quiet"], capsys)
    assert rc == 0  # no zap: dense, as before


@pytest.mark.parametrize("section, fragment", [
    ("synthetic: {correlation: 1}", "synthetic.density is missing"),
    ("synthetic: {density: 1.5, correlation: 1}", "synthetic.density = 1.5: allowed: a number 0..1"),
    ("synthetic: {density: 0.5, corelation: 1}", "unknown key 'synthetic.corelation'; did you mean 'correlation'?"),
    ("synthetic: {density: 0.5, correlation: 1, images: 0}", "synthetic.images = 0"),
    ("synthetic: {density: 0.5, correlation: 1, thresholds: [0.001, 0.002]}", "differ in their first two decimals"),
    ("synthetic: 3", "expected a mapping"),
])
def test_synthetic_section_mistakes(tmp_path, section, fragment):
    wl = tmp_path / "net.yaml"
    wl.write_text(section + "\nlayers:\n" + LAYERS)
    with pytest.raises(ConfigError) as exc:
        synthetic_spec(wl)
    assert str(wl) in str(exc.value) and fragment in str(exc.value), str(exc.value)


def test_synthetic_masks_without_zap_give_dense_on_zeros(tmp_path, capsys):
    wl = tmp_path / "net.yaml"
    wl.write_text(SYNTH + "layers:\n" + LAYERS.replace(", zap: checkerboard", ""))
    rc, out, err = run([EYERISS, "--workload", wl, "--json", "--quiet"], capsys)
    assert rc == 0, err
    res = json.loads(out)
    assert [o["id"] for o in res["operating_points"]] == ["dense"] and res["workload"]["pattern"] is None
    # eyeriss_like gates zero inputs: the synthetic zeros are gated, far beyond the padding a dense run gates
    wl.write_text("layers:\n" + LAYERS.replace(", zap: checkerboard", ""))
    rc, out3, _ = run([EYERISS, "--workload", wl, "--json", "--quiet"], capsys)
    gated_synth = res["operating_points"][0]["total"]["macs"]["gated"]
    gated_dense = json.loads(out3)["operating_points"][0]["total"]["macs"]["gated"]
    assert gated_synth > 2 * gated_dense


# --------------------------------------------------------------------------- ONNX


def _tiny_onnx(path: Path, pads=(1, 1, 1, 1), dilations=(1, 1)):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name, shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=list(pads),
                         dilations=list(dilations)),
        helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["bn1"], name="bn1"),
        helper.make_node("Relu", ["bn1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="dw2", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         strides=[2, 2], group=8),
        helper.make_node("Conv", ["c2", "w3"], ["c3"], name="", kernel_shape=[1, 1]),
        helper.make_node("GlobalAveragePool", ["c3"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flat"),
        helper.make_node("Gemm", ["flat", "wfc", "bfc"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [init("w1", (8, 3, 3, 3)), init("s", (8,)), init("b", (8,)), init("m", (8,)), init("v", (8,)),
         init("w2", (8, 1, 3, 3)), init("w3", (16, 8, 1, 1)), init("wfc", (10, 16)), init("bfc", (10,))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_onnx_model_as_a_dense_workload(tmp_path, capsys):
    model = _tiny_onnx(tmp_path / "tiny.onnx")
    layers = load_workload(model)
    assert [l.name for l in layers] == ["conv1", "dw2", "c3", "fc"]
    c1, dw, pw, fc = layers
    assert (c1.in_shape, c1.out_shape, c1.padding, c1.relu) == ((3, 16, 16), (8, 16, 16), (1, 1), True)  # via BN
    assert (dw.groups, dw.stride, dw.out_shape, dw.relu) == (8, (2, 2), (8, 8, 8), False)
    assert dw.macs == 8 * 8 * 8 * 9  # depthwise: one 3x3 per channel
    assert (pw.kernel, pw.out_shape, pw.name) == ((1, 1), (16, 8, 8), "c3")  # unnamed node: its output's name
    assert (fc.kind, fc.in_shape, fc.c_out, fc.macs) == ("fc", (16, 1, 1), 10, 160)  # transB honoured
    rc, out, err = run([EYERISS, "--workload", model, "--json", "--quiet"], capsys)
    assert rc == 0, err
    assert json.loads(out)["workload"]["model"] == "tiny"


def test_onnx_refuses_what_zapsim_cannot_map(tmp_path):
    pytest.importorskip("onnx")
    with pytest.raises(ConfigError, match=r"pads \[0, 0, 1, 1\] are not symmetric"):
        load_workload(_tiny_onnx(tmp_path / "a.onnx", pads=(0, 0, 1, 1)))
    with pytest.raises(ConfigError, match=r"dilations \[2, 2\]"):
        load_workload(_tiny_onnx(tmp_path / "b.onnx", dilations=(2, 2)))
    bad = tmp_path / "c.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a readable ONNX model"):
        load_workload(bad)
