"""The Timeloop export: every file holds to Timeloop's documented 0.4 format (tests/timeloop_schema.py, written
apart from the exporter) and says what the zapsim layer and architecture say."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import timeloop_schema as schema

from zapsim.errors import ZapsimError
from zapsim.sim.arch import load_arch
from zapsim.sim.timeloop_export import export, main
from zapsim.sim.workload import load_workload
from zapsim.trace_format import make_layer

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "arch_configs").glob("*.yaml"))
LAYERS = [
    *load_workload(ROOT / "experiments" / "workloads" / "alexnet_conv.yaml"),
    make_layer("dw", 32, 14, 14, 32, kernel=3, padding=1, groups=32),
    make_layer("rect", 8, 16, 34, 16, kernel=(3, 5), stride=(1, 2), padding=(1, 2)),
    make_layer("fc", 256, 1, 1, 10, kernel=1, kind="fc", relu=False),
]


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda p: p.stem)
def exported(request, tmp_path_factory):
    arch = load_arch(request.param)
    out = tmp_path_factory.mktemp("tl") / arch.name
    export(arch, LAYERS, out, batch=4)
    return arch, out


def test_problems_hold_to_the_schema_and_the_layers(exported):
    _, out = exported
    rows = list(csv.DictReader((out / "layers.csv").open()))
    assert [r["layer"] for r in rows] == [l.name for l in LAYERS]
    for layer, row in zip(LAYERS, rows):
        doc = schema.load((out / row["problem"]).read_text())
        assert schema.check_problem(doc) == [], row["problem"]
        inst = doc["problem"]["instance"]
        dims = doc["problem"]["shape"]["dimensions"]
        prod = 1
        for d in dims:
            prod *= inst[d]
        assert prod == layer.macs * 4 == int(row["macs"])  # Timeloop's computes: N = 4 images
        # Timeloop reads the padded map: the input extent its projection spans fits the padded input exactly
        for out_n, k, s, n_in, pad in ((inst["P"], inst["R"], inst["Wstride"], layer.w_in, layer.padding[1]),
                                       (inst["Q"], inst["S"], inst["Hstride"], layer.h_in, layer.padding[0])):
            extent = (out_n - 1) * s + k
            assert extent <= n_in + 2 * pad < extent + s
        assert inst.get("G", 1) == layer.groups and inst["C"] * inst.get("G", 1) == layer.c_in


def test_architecture_holds_to_the_schema_and_the_config(exported):
    arch, out = exported
    problem = schema.load(next((out / "problems").glob("*dw.yaml")).read_text())
    doc = schema.load((out / "arch.yaml").read_text())
    assert schema.check_architecture(doc, problem) == []
    nodes = schema._walk(doc["architecture"]["nodes"], [])
    by = {n.get("name"): n for n in nodes if "name" in n}
    mesh = 1
    for n in nodes:
        for v in n.get("spatial", {}).values():
            mesh *= v
    assert mesh == arch.num_pes
    glb = by["shared_glb"]["attributes"]
    assert glb["depth"] * glb["width"] == arch.global_buffer.size_bytes * 8 and glb["n_banks"] == arch.global_buffer.banks
    ds = by["shared_glb"]["constraints"]["dataspace"]
    assert ("Weights" in ds.get("bypass", [])) == arch.global_buffer.weight_bypass
    if arch.dataflow == "row_stationary":
        for name, words, t in (("ifmap_spad", arch.pe_array.ifmap_spad_words, "ifmap"),
                               ("weights_spad", arch.pe_array.weight_spad_words, "weight"),
                               ("psum_spad", arch.pe_array.psum_spad_words, "psum")):
            assert by[name]["attributes"]["depth"] == words and by[name]["attributes"]["datawidth"] == arch.tensor_bits(t)
    if arch.name == "timeloop_eyeriss_like":  # the round trip to Timeloop's own numbers
        assert (glb["depth"], glb["width"], glb["read_bandwidth"], glb["write_bandwidth"]) == (16384, 64, 16, 16)
        assert "read_bandwidth" not in by["DRAM"]["attributes"]  # unlimited, as in Timeloop's design
        assert by["mac"]["attributes"] == {"multiplier_width": 8, "adder_width": 16}


def test_the_checker_catches_broken_files(exported):
    _, out = exported
    text = (out / "arch.yaml").read_text()
    assert schema.check_architecture(schema.load(text.replace("class: DRAM", "klass: DRAM", 1)))
    assert schema.check_architecture(schema.load(text.replace("bypass: [Weights]", "bypass: [Psums]")
                                                 .replace("keep: [Inputs, Outputs, Weights]", "keep: [Inputs, Bogus]")))
    assert schema.check_architecture(schema.load(text.replace("meshY: ", "meshY: -", 1)))
    prob = (out / "layers.csv").read_text().splitlines()[1].split(",")[2]
    ptext = (out / prob).read_text()
    assert schema.check_problem(schema.load(ptext.replace("read_write: true", "read_write: false")))
    assert schema.check_problem(schema.load(ptext.replace("    C: ", "    C: -", 1)))


def test_export_is_deterministic_and_refuses_to_overwrite(tmp_path):
    arch = load_arch(ROOT / "arch_configs" / "eyeriss_like.yaml")
    a, b = tmp_path / "a", tmp_path / "b"
    export(arch, LAYERS, a)
    export(arch, LAYERS, b)
    for p in a.rglob("*"):
        if p.is_file():
            assert p.read_bytes() == (b / p.relative_to(a)).read_bytes(), p
    with pytest.raises(ZapsimError, match="exists"):
        export(arch, LAYERS, a)
    export(arch, LAYERS, a, overwrite=True)


def test_cli(tmp_path, capsys):
    wl = ROOT / "experiments" / "workloads" / "alexnet_conv.yaml"
    assert main(["timeloop_eyeriss_like", "--workload", str(wl), "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out.split()
    assert str(tmp_path / "o" / "arch.yaml") in printed and len(printed) == 2 + 5  # arch, csv, 5 problems
