"""Workload files: YAML layer lists and SCALE-Sim topology CSVs, shipped workloads, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from zapsim.errors import ConfigError
from zapsim.sim.workload import load_workload, workload_name

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ROOT / "experiments" / "workloads"


def write(tmp_path: Path, text: str, name: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(tmp_path: Path, text: str, name: str = "w.yaml") -> str:
    p = write(tmp_path, text, name)
    with pytest.raises(ConfigError) as exc:
        load_workload(p)
    msg = str(exc.value)
    assert str(p) in msg, msg
    return msg


# --------------------------------------------------------------------------- shipped workloads


def test_alexnet_conv_matches_eyeriss_table():
    layers = load_workload(WORKLOADS / "alexnet_conv.yaml")
    assert [l.name for l in layers] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    # Eyeriss (ISCA 2016) table: E (output size), C per filter, M filters
    assert [l.h_out for l in layers] == [55, 27, 13, 13, 13]
    assert [l.c_in // l.groups for l in layers] == [3, 48, 256, 192, 192]
    assert [l.c_out for l in layers] == [96, 256, 384, 384, 256]
    assert [l.macs for l in layers] == [
        55 * 55 * 96 * 11 * 11 * 3,
        27 * 27 * 256 * 5 * 5 * 48,
        13 * 13 * 384 * 3 * 3 * 256,
        13 * 13 * 384 * 3 * 3 * 192,
        13 * 13 * 256 * 3 * 3 * 192,
    ]
    assert abs(sum(l.macs for l in layers) - 666e6) < 1e6  # AlexNet's conv layers: ~666M MACs
    assert all(l.zap is None for l in layers)
    assert workload_name(WORKLOADS / "alexnet_conv.yaml") == "alexnet_conv"


def test_resnet18_imagenet_shapes_and_zap_placement():
    layers = load_workload(WORKLOADS / "resnet18_imagenet.yaml")
    assert len(layers) == 21  # 20 convs (1 + 16 block convs + 3 downsamples) and the fc
    by = {l.name: l for l in layers}
    assert by["conv1"].macs == 112 * 112 * 64 * 7 * 7 * 3
    assert (by["layer4.1.conv2"].h_out, by["layer4.1.conv2"].c_out) == (7, 512)
    assert by["layer2.0.downsample.0"].macs == 28 * 28 * 128 * 64
    assert (by["fc"].kind, by["fc"].macs) == ("fc", 512 * 1000)
    # He et al. 2016 Table 1: 1.8e9 multiply-adds
    assert abs(sum(l.macs for l in layers) / 1.8e9 - 1) < 0.01
    # placement rules: ZAP after every conv with a ReLU except the first; none on 1x1 downsample or fc
    zap = {l.name for l in layers if l.zap is not None}
    expected = {f"layer{s}.{b}.conv{c}" for s in range(1, 5) for b in range(2) for c in (1, 2)}
    assert zap == expected and len(zap) == 16
    assert all(by[n].zap.pattern == "checkerboard" for n in zap)
    # consecutive main-branch layers chain: each conv's input is its predecessor's output
    main = [l for l in layers if "downsample" not in l.name and l.kind == "conv"]
    for a, b in zip(main[1:], main[2:]):
        assert a.out_shape == b.in_shape, (a.name, b.name)


# --------------------------------------------------------------------------- YAML


def test_yaml_defaults_and_pairs(tmp_path):
    p = write(tmp_path, """
- {name: a, c_in: 3, h_in: 32, c_out: 16}
- {name: b, c_in: 16, h_in: 31, w_in: 17, c_out: 8, kernel: [3, 1], stride: [2, 1], padding: [1, 0]}
- {name: g, c_in: 8, h_in: 8, c_out: 8, groups: 8, relu: false, zap: [[1, 0], [0, 1]]}
- {name: f, kind: fc, c_in: 128, c_out: 10}
""", "w.yaml")
    a, b, g, f = load_workload(p)
    assert (a.kernel, a.stride, a.padding, a.groups, a.w_in, a.relu) == ((3, 3), (1, 1), (0, 0), 1, 32, True)
    assert (a.h_out, a.w_out) == (30, 30)
    # h: (31 + 2 - 3) // 2 + 1 = 16; w: (17 + 0 - 1) // 1 + 1 = 17
    assert (b.h_out, b.w_out) == (16, 17) and b.macs == 16 * 17 * 8 * 3 * 1 * 16
    assert g.macs == 6 * 6 * 8 * 9 * 1 and not g.relu and g.zap.pattern_matrix == ((1, 0), (0, 1))
    assert (f.kind, f.in_shape, f.out_shape, f.macs, f.relu) == ("fc", (128, 1, 1), (10, 1, 1), 1280, False)


def test_yaml_mapping_form(tmp_path):
    p = write(tmp_path, "name: tiny\nlayers:\n  - {name: a, c_in: 1, h_in: 4, c_out: 1}\n", "w.yml")
    assert len(load_workload(p)) == 1 and workload_name(p) == "tiny"


def test_yaml_unknown_key_names_line_and_suggests(tmp_path):
    msg = error_of(tmp_path, "- {name: a, c_in: 1, h_in: 4, c_out: 1}\n- name: b\n  c_in: 1\n  h_in: 4\n  c_out: 1\n  strides: 2\n")
    assert "layer 1 (line 2) ('b')" in msg and "unknown key 'strides'" in msg and "did you mean 'stride'" in msg


def test_yaml_missing_key(tmp_path):
    msg = error_of(tmp_path, "- {name: a, h_in: 4, c_out: 1}\n")
    assert "layer 0 (line 1) ('a'): missing key 'c_in'" in msg


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ("{name: a, c_in: '3', h_in: 4, c_out: 1}", "c_in = '3': wrong type; allowed: an integer >= 1"),
        ("{name: a, c_in: 3, h_in: 0, c_out: 1}", "h_in = 0: out of range; allowed: an integer >= 1"),
        ("{name: a, c_in: 3, h_in: 4, c_out: 1, padding: -1}", "padding = -1: out of range; allowed: an integer >= 0"),
        ("{name: a, c_in: 3, h_in: 4, c_out: 1, kernel: [3, 3, 3]}", "kernel = [3, 3, 3]: wrong length"),
        ("{name: a, c_in: 3, h_in: 4, c_out: 1, stride: 1.5}", "stride = 1.5: wrong type"),
        ("{name: a, c_in: 6, h_in: 4, c_out: 4, groups: 4}", "groups = 4: must divide c_in = 6 and c_out = 4"),
        ("{name: a, c_in: 3, h_in: 4, c_out: 1, kernel: 7, padding: 1}", "kernel = 7 is larger than the padded input (h_in 4"),
        ("{name: a, kind: pool, c_in: 3, h_in: 4, c_out: 1}", "kind = 'pool': not a known layer kind; allowed: one of conv, fc"),
        ("{name: a, kind: fc, c_in: 3, c_out: 1, kernel: 3}", "kernel = 3: an fc layer is a 1x1 conv on a 1x1 map"),
        ("{name: a, kind: fc, c_in: 3, c_out: 1, zap: checkerboard}", "zap = 'checkerboard': the method puts no ZAP on fully"),
        ("{name: a, c_in: 3, h_in: 4, c_out: 1, zap: chess}", "zap = 'chess': unknown pattern 'chess'"),
        ("{name: a, c_in: 3, h_in: 4, c_out: 1, zap: [[1, 1], [1, 1]]}", "all ones given"),
        ("{name: a, c_in: 3, h_in: 4, c_out: 1, relu: 1}", "relu = 1: wrong type; allowed: true or false"),
        ("{c_in: 3, h_in: 4, c_out: 1}", "name = None: a layer needs a non-empty string 'name'"),
        ("[3, 4]", "a layer must be a mapping"),
    ],
)
def test_yaml_bad_layer(tmp_path, entry, fragment):
    msg = error_of(tmp_path, f"- {entry}\n")
    assert "layer 0 (line 1)" in msg and fragment in msg, msg


def test_yaml_duplicate_names(tmp_path):
    msg = error_of(tmp_path, "- {name: a, c_in: 1, h_in: 4, c_out: 1}\n- {name: a, c_in: 1, h_in: 5, c_out: 1}\n")
    assert "layer 1 name 'a' repeats layer 0" in msg


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "the workload has no layers"),
        ("{name: a, c_in: 1}", "unknown top-level key 'c_in'"),
        ("name: x\n", "needs a 'layers' list"),
        ("42\n", "must be a list of layers"),
        ("- {name: a, c_in: 1\n", "not valid YAML at line"),
    ],
)
def test_yaml_bad_file(tmp_path, text, fragment):
    if text == "":
        msg = error_of(tmp_path, "[]\n")
    else:
        msg = error_of(tmp_path, text)
    assert fragment in msg, msg


def test_missing_and_unknown_format(tmp_path):
    with pytest.raises(ConfigError, match="no such workload file"):
        load_workload(tmp_path / "nope.yaml")
    msg = error_of(tmp_path, "x", "w.txt")
    assert "unknown workload format '.txt'" in msg and ".csv (SCALE-Sim topology)" in msg


# --------------------------------------------------------------------------- SCALE-Sim CSV

# Layers derived by hand: conv (227-11)//4+1 = 55; 1x1; strided 3x3 (15-3)//2+1 = 7; FC as a 1x1 on 1x1.
CSV_TRAILING = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv1, 227, 227, 11, 11, 3, 96, 4,
PW, 14, 14, 1, 1, 64, 128, 1,
Strided, 15, 15, 3, 3, 8, 16, 2,
FC, 1, 1, 1, 1, 4096, 1000, 1,
"""


def _check_csv_layers(layers):
    conv, pw, strided, fc = layers
    assert (conv.name, conv.h_out, conv.w_out, conv.padding, conv.kind) == ("Conv1", 55, 55, (0, 0), "conv")
    assert conv.macs == 55 * 55 * 96 * 11 * 11 * 3
    assert (pw.kernel, pw.h_out, pw.macs) == ((1, 1), 14, 14 * 14 * 128 * 64)
    assert (strided.stride, strided.h_out, strided.macs) == ((2, 2), 7, 7 * 7 * 16 * 9 * 8)
    assert (fc.kind, fc.in_shape, fc.macs) == ("fc", (4096, 1, 1), 4096 * 1000)


def test_csv_with_trailing_commas(tmp_path):
    _check_csv_layers(load_workload(write(tmp_path, CSV_TRAILING, "t.csv")))


def test_csv_without_trailing_commas(tmp_path):
    text = "\n".join(line.rstrip(",") for line in CSV_TRAILING.splitlines()) + "\n"
    assert not any(line.endswith(",") for line in text.splitlines())
    _check_csv_layers(load_workload(write(tmp_path, text, "t.csv")))


def test_csv_header_whitespace_and_no_header(tmp_path):
    lines = CSV_TRAILING.splitlines()
    squeezed = "Layer name,IFMAP Height,  IFMAP   Width,Filter Height,Filter Width,Channels,Num Filter,Strides\n"
    _check_csv_layers(load_workload(write(tmp_path, squeezed + "\n".join(lines[1:]) + "\n\n", "a.csv")))
    _check_csv_layers(load_workload(write(tmp_path, "\n".join(lines[1:]) + "\n", "b.csv")))


@pytest.mark.parametrize(
    "row, fragment",
    [
        ("Conv2, 27, 27, 5, 5, 96, x256, 1,", "line 3, column 7 (Num Filter): 'x256' is not an integer"),
        ("Conv2, 27, 27, 5, 5, 96, 256,", "line 3: 7 values, expected 8"),
        ("Conv2, 27, 27, 5, 5, 96, 256, 1, 0.5,", "line 3: 9 values, expected 8"),
        ("Conv2, 27, 27, 5, 5, 0, 256, 1,", "line 3, column 6 (Channels): 0 is out of range"),
        ("Conv2, 4, 27, 5, 5, 96, 256, 1,", "line 3, column 4 (Filter Height): 5 is larger than IFMAP Height 4"),
        (", 27, 27, 5, 5, 96, 256, 1,", "line 3, column 1 (Layer name): empty"),
        ("Conv1, 27, 27, 5, 5, 96, 256, 1,", "layer 1 name 'Conv1' repeats layer 0"),
    ],
)
def test_csv_bad_row(tmp_path, row, fragment):
    lines = CSV_TRAILING.splitlines()
    msg = error_of(tmp_path, "\n".join([lines[0], lines[1], row]) + "\n", "bad.csv")
    assert fragment in msg, msg


def test_csv_bad_header(tmp_path):
    msg = error_of(tmp_path, "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channel, Num Filter, Strides,\n",
                   "h.csv")
    assert "line 1, column 6: header 'Channel' should be 'Channels'" in msg
    msg = error_of(tmp_path, "Layer, Height\n", "h.csv")
    assert "line 1: the header has 2 columns" in msg
