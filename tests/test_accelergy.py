"""Accelergy ERTs as energy tables: every form Timeloop and Accelergy write, the component mapping, and
Timeloop's eyeriss_like stated in zapsim's keys (arch_configs/timeloop_eyeriss_like.yaml) against its ERT."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from zapsim.errors import ConfigError
from zapsim.sim.accelergy import infer_level, infer_tensors, instances, load_ert_table, read_ert
from zapsim.sim.arch import load_arch
from zapsim.sim.energy import ACTIONS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "accelergy"
TENSORS = ("ifmap", "weight", "psum", "zap")


def costs(table):
    return {(a, t): table.cost(a, t) for a in ACTIONS for t in TENSORS}


def test_names_instances_levels_tensors():
    assert instances("system_top_level.ifmap_spad[1..168]") == 168 and instances("eyeriss_like.PE[0..167].mac") == 168
    assert instances("a.b") == 1 and instances("x[0..3].y[1..2]") == 8
    assert [infer_level(n) for n in ("system_top_level.DRAM[1..1]", "eyeriss_like.weights_spad", "x.shared_glb",
                                     "x.psum_write_NoC", "x.mac[1..4]", "x.clock_tree")] == \
        ["dram", "spad", "glb", "noc", "mac", None]
    assert infer_tensors("x.weights_spad") == ("weight",) and infer_tensors("x.psum_read_NoC") == ("psum",)
    assert infer_tensors("x.shared_glb") == ("ifmap", "weight", "psum")


def test_ert_and_summary_forms_read_alike():
    full = read_ert(DATA / "timeloop_eyeriss_like.ERT.yaml")
    summ = read_ert(DATA / "timeloop_eyeriss_like.ERT_summary.yaml")
    assert full == summ and full["system_top_level.shared_glb[1..1]"]["read"] == 18.183829


def test_timeloop_eyeriss_like_config_is_its_reference_ert():
    """The shipped config states the ERT per word (per access / block_size); loading the ERT with Timeloop's
    block sizes gives the same price for every action and tensor."""
    shipped = load_arch(ROOT / "arch_configs" / "timeloop_eyeriss_like.yaml")
    from_ert = load_arch(DATA / "timeloop_from_ert.yaml")
    a, b = costs(shipped.energy), costs(from_ert.energy)
    for key in a:
        if key in (("spad_read", "zap"), ("spad_write", "zap")):  # the plain spad entry prices no tensor
            continue
        assert a[key] == pytest.approx(b[key], rel=1e-12, abs=1e-12), key
    t = from_ert.energy
    assert t.unit == "pJ" and shipped.energy.unit == "pJ"
    assert (t.cost("glb_read", "ifmap"), t.cost("dram_read", "weight")) == (18.183829 / 8, 512.0 / 8)
    assert t.cost("spad_read", "weight") == 1.976602 / 2 and t.cost("spad_read", "psum") == 0.2513
    # leak per cycle: the GLB once, each of the 168 PEs' three spads and MAC
    assert t["leakage_cycle"] == pytest.approx(0.005652 + 168 * (0.000101 + 0.001592 + 0.000134 + 0.002374))
    # the shipped config's other keys are the Timeloop design's
    assert (shipped.pe_array.rows, shipped.pe_array.cols, shipped.global_buffer.size_bytes) == (12, 14, 128 * 1024)
    assert shipped.global_buffer.weight_bypass and shipped.tensor_bits("psum") == 16 and shipped.word_bits == 8
    assert (shipped.global_buffer.read_bandwidth_words_per_cycle, shipped.global_buffer.write_bandwidth_words_per_cycle) \
        == (16.0, 16.0)


def test_accelergy_03_hand_derived(tmp_path):
    with pytest.raises(ConfigError, match=r"prices no dram_read, dram_write: give them in energy.actions"):
        load_ert_table(DATA / "accelergy_v03.ERT.yaml")
    t = load_ert_table(DATA / "accelergy_v03.ERT.yaml", actions={"dram_read": 100, "dram_write": 120})
    # argument-dependent entries: their mean
    assert t.cost("spad_read", "ifmap") == (0.25 + 0.75) / 2 and t.cost("spad_write", "ifmap") == (0.5 + 1.5) / 2
    assert (t.cost("spad_read", "weight"), t.cost("spad_write", "weight")) == (2.0, 3.0)  # fill is the write
    assert (t.cost("spad_read", "psum"), t.cost("spad_write", "psum")) == (0.5, 0.5)
    assert (t["mac"], t["mac_gated"], t["zap_mac"]) == (2.0, 0.125, 2.0)
    # shared_glb names no tensor: the plain entry; weights_glb prices weights only
    assert (t["glb_read"], t["glb_write"]) == (24.0, 32.0)
    assert (t.cost("glb_read", "weight"), t.cost("glb_write", "weight"), t.cost("glb_read", "psum")) == (8.0, 16.0, 24.0)
    assert t.cost("noc_word", "ifmap") == (0.5 + 1.5) / 2
    assert (t["dram_read"], t["dram_write"], t["leakage_cycle"]) == (100.0, 120.0, 0.0)
    text = "\n".join(t.notes)
    assert "clock_tree' is none of DRAM, GLB, scratchpad, NoC or MAC" in text
    assert "words per access not given" in text and "mac.mac_reused" in text and "ifmap_spad.idle" in text


def test_components_override_and_mistakes(tmp_path):
    t = load_ert_table(DATA / "accelergy_v03.ERT.yaml", {"clock_tree": {"level": "ignore"},
                                                          "shared_glb": {"tensors": ["ifmap", "psum"], "words_per_access": 4}},
                       actions={"dram_read": 1, "dram_write": 1})
    assert t.cost("glb_read", "ifmap") == 6.0 and t.cost("glb_read", "psum") == 6.0 and t.cost("glb_read", "weight") == 8.0
    assert not any("clock_tree" in n for n in t.notes)
    for comps, fragment in (({"no_such": {}}, "no such component"), ({"shared_glb": {"level": "sram"}}, "level = 'sram'"),
                            ({"shared_glb": {"words_per_access": 0}}, "words_per_access = 0"),
                            ({"shared_glb": {"tensors": ["filters"]}}, r"tensors = \['filters'\]")):
        with pytest.raises(ConfigError, match=fragment):
            load_ert_table(DATA / "accelergy_v03.ERT.yaml", comps, actions={"dram_read": 1, "dram_write": 1})
    bad = tmp_path / "bad.yaml"
    for text, fragment in (("x: 1\n", "not an Accelergy ERT"), ("ERT: {tables: 3}\n", "ERT.tables: expected"),
                           ("ERT: {tables: {a.dram: {read: {energy: -1}}}}\n", "not an energy"),
                           ("ERT: {tables: {a.dram: {read: {arguments: null}}}}\n", "no 'energy'")):
        bad.write_text(text)
        with pytest.raises(ConfigError, match=fragment):
            load_ert_table(bad)


def test_config_ert_path_stays_in_its_folder(tmp_path):
    (tmp_path / "cfg").mkdir()
    shutil.copy(DATA / "timeloop_eyeriss_like.ERT_summary.yaml", tmp_path / "e.yaml")
    for ert, fragment in (("../e.yaml", "outside the config's folder"), (str(tmp_path / "e.yaml"), "outside")):
        c = tmp_path / "cfg" / "a.yaml"
        c.write_text(f"energy: {{ert: {ert}}}\n")
        with pytest.raises(ConfigError, match=fragment):
            load_arch(c)
    c.write_text("energy: {ert: e.yaml, preset: 65nm}\n")
    with pytest.raises(ConfigError, match="given together with energy.ert"):
        load_arch(c)


def test_run_with_an_ert(capsys):
    from zapsim.errors import cli_main
    from zapsim.run import main

    wl = ROOT / "experiments" / "workloads" / "alexnet_conv.yaml"
    rc = cli_main(main, ["timeloop_eyeriss_like", "--workload", str(wl), "--json", "--quiet",
                         "--ert", str(DATA / "timeloop_eyeriss_like.ERT_summary.yaml")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    res = json.loads(out)
    assert res["arch"]["energy"]["name"] == "ERT timeloop_eyeriss_like.ERT_summary.yaml"
    assert res["arch"]["energy"]["unit"] == "pJ" and "words per access not given" in err
    assert res["arch"]["energy"]["actions"]["dram_read"] == 512.0  # one word per access without block sizes
