"""SCALE-Sim's inputs: topology CSVs in every form SCALE-Sim reads, and .cfg files as architectures.

The files under tests/data/scalesim/ are written in SCALE-Sim's forms (its PyPI package ships none of its
example topologies or configs; tests/data/scalesim/README.md says what each file exercises).  Every number
asserted below is worked out by hand from the row it comes from.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from zapsim.errors import ConfigError
from zapsim.sim.arch import arch_from_dict
from zapsim.sim.scalesim import cfg_to_yaml, load_scalesim_cfg, read_scalesim_cfg, read_topology
from zapsim.sim.simulate import simulate_layer
from zapsim.sim.workload import load_workload

DATA = Path(__file__).resolve().parent / "data" / "scalesim"
TOPOLOGIES = sorted(p for p in DATA.glob("*.csv") if p.name != "conv_sparsity_24.csv")


def without_trailing_commas(text: str) -> str:
    return "\n".join(line.split("#")[0].rstrip().rstrip(",") for line in text.splitlines()) + "\n"


def with_trailing_commas(text: str) -> str:
    return "\n".join((line.rstrip() + ",") if line.strip() and not line.rstrip().endswith(",") else line
                     for line in text.splitlines()) + "\n"


@pytest.mark.parametrize("path", TOPOLOGIES, ids=lambda p: p.stem)
def test_every_topology_reads_the_same_with_and_without_trailing_commas(path, tmp_path):
    topo = read_topology(path)
    assert topo.layers and len({l.name for l in topo.layers}) == len(topo.layers)
    for variant in (without_trailing_commas, with_trailing_commas):
        q = tmp_path / path.name
        q.write_text(variant(path.read_text()))
        other = read_topology(q)
        assert [(l.name, l.in_shape, l.out_shape, l.kernel, l.stride, l.groups, l.macs) for l in other.layers] == \
               [(l.name, l.in_shape, l.out_shape, l.kernel, l.stride, l.groups, l.macs) for l in topo.layers]
    assert load_workload(path) == topo.layers  # the --workload reader is this one


def test_alexnet_eight_columns():
    topo = read_topology(DATA / "alexnet.csv")
    assert topo.form == "conv" and [l.name for l in topo.layers] == [f"Conv{i}" for i in range(1, 6)] + ["FC6", "FC7", "FC8"]
    c1, c2 = topo.layers[:2]
    assert (c1.out_shape, c1.macs) == ((96, 55, 55), 55 * 55 * 11 * 11 * 3 * 96)  # (227 - 11) // 4 + 1 = 55
    assert (c2.out_shape, c2.macs) == ((256, 27, 27), 27 * 27 * 5 * 5 * 96 * 256)
    fc6 = topo.layers[5]
    assert (fc6.kind, fc6.in_shape, fc6.macs) == ("fc", (9216, 1, 1), 9216 * 4096)
    # (227 - 11 + 4) / 4 = 55 exactly: SCALE-Sim's ceil form agrees, so no note
    assert not any("SCALE-Sim computes" in n for n in topo.notes)


def test_mobilenet_comments_tabs_and_blank_lines():
    topo = read_topology(DATA / "mobilenet_dw_comments.csv")
    names = [l.name for l in topo.layers]
    assert names == ["Conv1", "Conv2_dw", "Conv3", "Conv4_dw", "Conv5", "Conv6_dw", "Conv7", "Conv8_dw_0", "Conv9_0",
                     "Conv8_dw_1", "Conv9_1", "FC"]
    by = {l.name: l for l in topo.layers}
    # a `#dw` row is read as written: one channel, one filter (as SCALE-Sim simulates it), and a note says so
    dw = by["Conv2_dw"]
    assert (dw.in_shape, dw.out_shape, dw.groups, dw.macs) == ((1, 114, 114), (1, 112, 112), 1, 112 * 112 * 9)
    dw_notes = [n for n in topo.notes if "#dw" in n]
    assert len(dw_notes) == 3 and all("read as written" in n for n in dw_notes)
    assert by["Conv7"].stride == (1, 1)  # the row without a trailing comma keeps its last value
    assert by["Conv9_0"].in_shape == (512, 14, 14)  # tab-indented row
    # stride 2 that does not divide H - K: floor here, ceil in SCALE-Sim, and a note names the layer
    assert by["Conv1"].out_shape == (32, 112, 112)  # (226 - 3) // 2 + 1
    assert any("'Conv1': output 112x112" in n and "SCALE-Sim computes 113x113" in n for n in topo.notes)
    assert by["Conv4_dw"].out_shape == (1, 56, 56)


def test_nine_columns_separate_strides():
    topo = read_topology(DATA / "resnet18_strides.csv")
    assert topo.form == "conv-9"
    wide = topo.layers[-1]
    assert (wide.stride, wide.out_shape) == ((1, 2), (16, 14, 16))  # h: (16-3)/1+1 = 14, w: (34-3)//2+1 = 16
    assert wide.macs == 14 * 16 * 9 * 8 * 16
    assert topo.layers[0].out_shape == (64, 112, 112)  # (230 - 7) // 2 + 1


def test_depthwise_dp_rows_are_grouped_convolutions():
    topo = read_topology(DATA / "depthwise_dp.csv")
    by = {l.name: l for l in topo.layers}
    dp2, dp4 = by["DP_conv2"], by["DP_conv4"]
    # 16 channels, one 3x3 filter each: groups 16, 16 outputs of 16x16
    assert (dp2.groups, dp2.in_shape, dp2.out_shape, dp2.macs) == (16, (16, 18, 18), (16, 16, 16), 16 * 16 * 9 * 16)
    # 32 channels, Num Filter 2 per channel, stride 2: 64 outputs of (18-3)//2+1 = 8
    assert (dp4.groups, dp4.out_shape, dp4.macs) == (32, (64, 8, 8), 8 * 8 * 9 * 64)
    # SCALE-Sim runs one layer per channel, each 1 channel x Num Filter filters: the same MACs
    assert dp4.macs == 32 * (8 * 8 * 3 * 3 * 1 * 2)
    assert by["Conv1"].groups == by["PW_conv3"].groups == 1


def test_gemm_form_and_its_systolic_cycles():
    topo = read_topology(DATA / "gemm_mnk.csv")
    assert topo.form == "gemm" and [l.name for l in topo.layers] == ["1", "2", "3"]
    g = topo.layers[0]
    assert g.macs == 2048 * 4096 * 32 and (g.in_shape, g.out_shape) == ((32, 2048, 1), (4096, 2048, 1))
    # SCALE-Sim's os closed form on a 32x32 array, off-by-one on: folds ceil(M/32) * ceil(N/32), each
    # 32 + 32 + K - 2 cycles, minus 1 for the layer
    arch = arch_from_dict({"name": "os", "dataflow": "output_stationary", "pe_array": {"rows": 32, "cols": 32},
                           "global_buffer": {"size_kb": 512}, "systolic": {"scalesim_off_by_one": True}})
    small = read_topology(DATA / "gemm_mnk_sparsity.csv").layers[0]  # M 128, N 768, K 256
    s = simulate_layer(arch, small, None, None, None)
    assert s["compute_cycles"][0] == math.ceil(128 / 32) * math.ceil(768 / 32) * (32 + 32 + 256 - 2) - 1
    assert s["mac_actual"][0] == 128 * 768 * 256


def test_sparsity_column_dense_ratios_only(tmp_path):
    topo = read_topology(DATA / "gemm_mnk_sparsity.csv")
    assert [l.macs for l in topo.layers] == [128 * 768 * 256, 128 * 256 * 768]
    with pytest.raises(ConfigError, match=r"conv_sparsity_24.csv: line 3, column 9 \(Sparsity\): 2:4: zapsim models dense"):
        read_topology(DATA / "conv_sparsity_24.csv")
    # v3 reads a ratio cell even when the header has no Sparsity column
    q = tmp_path / "extra.csv"
    q.write_text((DATA / "alexnet.csv").read_text().replace("Conv1, 227, 227, 11, 11, 3, 96, 4,",
                                                            "Conv1, 227, 227, 11, 11, 3, 96, 4, 1:1,"))
    assert read_topology(q).layers[0].macs == 55 * 55 * 11 * 11 * 3 * 96


@pytest.mark.parametrize("text, fragment", [
    ("Layer, M, N, K\nA, 4, 4\n", "line 2: 3 values, expected 4 (Layer, M, N, K)"),
    ("A, 4, 4, 4, 4, 4\n", "line 1: 6 values; a SCALE-Sim topology row has 8"),
    ("Layer, M, N, Q\n", "line 1: the header has 4 columns, a SCALE-Sim topology has 8"),
    ("Layer, M, N, K\nA, 4, 0, 4\n", "line 2, column 3 (N): 0 is out of range"),
    ("Layer, M, N, K\nA, 4, 99999999, 4\n", "out of range; allowed: an integer 1..16777216"),
    ("A, 8, 8, 3, 3, 4, 4, 1, 2, x,\n", "line 1, column 10 (Sparsity): 'x' is not an N:M ratio"),
    ("Layer name,IFMAP height,IFMAP width,Filter height,Filter width,Channels,Num filter,Stride height,Stride width\n"
     "A, 8, 8, 3, 3, 4, 4, 1,\n", "line 2: 8 values, expected 9"),
    ("# only a comment\n\n", "the topology has no layers"),
])
def test_topology_mistakes_name_the_line_and_column(tmp_path, text, fragment):
    q = tmp_path / "t.csv"
    q.write_text(text)
    with pytest.raises(ConfigError) as exc:
        read_topology(q)
    assert str(q) in str(exc.value) and fragment in str(exc.value), str(exc.value)


# --------------------------------------------------------------------------- .cfg


def test_v3_cfg_maps_each_key_and_reports_the_rest():
    arch, notes = load_scalesim_cfg(DATA / "scale_v3.cfg")
    assert (arch.name, arch.dataflow, arch.pe_array.rows, arch.pe_array.cols) == \
           ("scale_example_run_32x32_os", "output_stationary", 32, 32)
    assert arch.word_bits == 8 and arch.global_buffer.size_bytes == 3 * 64 * 1024 and arch.global_buffer.double_buffer
    # v3 USER: ifmap and filter fills at their SRAM bank bandwidths (8 + 16), the ofmap at Bandwidth (10)
    assert arch.dram.read_bandwidth_bytes_per_cycle == 24.0 and arch.dram.write_bandwidth_bytes_per_cycle == 10.0
    assert arch.systolic.scalesim_off_by_one and arch.global_buffer.banks == 1
    text = "\n".join(notes)
    for key in ("ifmapoffset", "readrequestbuffer", "onchipmemorybankports", "ifmapcustomlayout", "ifmapsrambanknum",
                "sparserep", "blocksize", "useramulatortrace"):
        assert f"] {key} = " in text and "not used" in text, key
    assert "sparsitysupport" not in text.lower().replace("must be false", "")  # read, not reported
    assert all(n.startswith(str(DATA / "scale_v3.cfg")) for n in notes)


def test_v2_cfg_calc_and_user():
    calc, notes = load_scalesim_cfg(DATA / "eyeriss_v2_calc.cfg")
    assert (calc.dataflow, calc.num_pes, calc.global_buffer.size_bytes) == ("weight_stationary", 168, 108 * 1024)
    assert calc.dram.bandwidth_bytes_per_cycle == 1e6 and any("CALC" in n and "never stalls" in n for n in notes)
    assert any("sram_row_size" in n for n in notes)
    user, notes = load_scalesim_cfg(DATA / "tpu_v2_user.cfg")
    # v2 USER: all three interfaces at Bandwidth = 20 words (1 byte) per cycle -> reads 20 + 20, writes 20
    assert (user.dram.read_bandwidth_bytes_per_cycle, user.dram.write_bandwidth_bytes_per_cycle) == (40.0, 20.0)
    assert user.global_buffer.size_bytes == (6144 + 6144 + 2048) * 1024


@pytest.mark.parametrize("edit, fragment", [
    (("ArrayHeight:    12\n", ""), "[architecture_presets] ArrayHeight is missing"),
    (("Dataflow : ws", "Dataflow : wx"), "Dataflow = 'wx': not a SCALE-Sim dataflow (did you mean 'ws'?)"),
    (("ArrayWidth:     14", "ArrayWidth:     0"), "ArrayWidth = 0: out of range"),
    (("MemoryBanks: 1", "MemoryBanks: 1\nMemoryBanks: 2"), "memorybanks is given twice"),
    (("CALC", "FAST"), "InterfaceBandwidth = 'FAST'; allowed: USER or CALC"),
    (("[run_presets]", "[run_presets]\nSparsitySupport: true\n[sparsity]\nSparsitySupport: true"),
     "SparsitySupport = true: zapsim models dense weights"),
    (("[general]", "garbage line\n[general]"), "not a SCALE-Sim config"),
])
def test_cfg_mistakes(tmp_path, edit, fragment):
    q = tmp_path / "bad.cfg"
    q.write_text((DATA / "eyeriss_v2_calc.cfg").read_text().replace(*edit))
    with pytest.raises(ConfigError) as exc:
        load_scalesim_cfg(q)
    assert str(q) in str(exc.value) and fragment in str(exc.value), str(exc.value)


def test_cfg_typo_is_reported_with_a_hint(tmp_path):
    q = tmp_path / "typo.cfg"
    q.write_text((DATA / "eyeriss_v2_calc.cfg").read_text().replace("IfmapOffset", "IfmapOfset"))
    _, notes = load_scalesim_cfg(q)
    assert any("ifmapofset" in n and "not a key SCALE-Sim reads (did you mean 'ifmapoffset'?)" in n for n in notes)


def test_cfg_to_yaml_round_trips_through_the_arch_loader(tmp_path):
    cfg = read_scalesim_cfg(DATA / "scale_v3.cfg")
    q = tmp_path / "from_cfg.yaml"
    q.write_text(cfg_to_yaml(cfg))
    from zapsim.sim.arch import load_arch

    a = load_arch(q)
    b, _ = load_scalesim_cfg(DATA / "scale_v3.cfg")
    assert (a.pe_array, a.dram, a.global_buffer, a.systolic, a.word_bits) == \
        (b.pe_array, b.dram, b.global_buffer, b.systolic, b.word_bits)


# --------------------------------------------------------------------------- the run command


def _run(argv, capsys):
    from zapsim.errors import cli_main
    from zapsim.run import main

    rc = cli_main(main, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_run_takes_a_cfg_by_extension_or_flag_and_a_topology(capsys):
    import json

    wl = DATA / "depthwise_dp.csv"
    rc, out, err = _run([DATA / "scale_v3.cfg", "--workload", wl, "--json", "--quiet"], capsys)
    assert rc == 0, err
    res = json.loads(out)
    assert res["arch"]["name"] == "scale_example_run_32x32_os" and res["arch"]["source"].endswith("scale_v3.cfg")
    assert [l["name"] for l in res["operating_points"][0]["layers"]] == ["Conv1", "DP_conv2", "PW_conv3", "DP_conv4"]
    assert "note: " in err and "ifmapoffset = '0': no meaning (trace addresses); not used" in err
    assert "'DP_conv4': output 8x8" in err  # the topology's notes are printed too
    rc2, out2, _ = _run(["--scalesim-cfg", DATA / "scale_v3.cfg", "--workload", wl, "--json", "--quiet"], capsys)
    assert rc2 == 0 and json.loads(out2)["operating_points"] == res["operating_points"]
    rc3, _, err3 = _run(["eyeriss_like", "--scalesim-cfg", DATA / "scale_v3.cfg", "--workload", wl], capsys)
    assert rc3 == 2 and "either CONFIG or --scalesim-cfg" in err3


def test_docs_map_every_cfg_key():
    from zapsim.sim.scalesim import CFG_KEYS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "interop.md").read_text().lower()
    for _, key in CFG_KEYS:
        assert f"`{key}`" in doc, f"docs/interop.md does not say what SCALE-Sim's {key} becomes"
