"""Architecture configs: shipped files, defaults, round trips, and one test per kind of mistake."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zapsim.errors import ConfigError
from zapsim.sim.arch import (
    DATAFLOWS,
    ArchConfig,
    arch_from_dict,
    arch_to_dict,
    field_docs,
    load_arch,
    min_glb_words,
    replace_arch,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "arch_configs").glob("*.yaml"))


def write(tmp_path: Path, text: str, name: str = "arch.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(tmp_path: Path, text: str) -> str:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_arch(p)
    msg = str(exc.value)
    assert str(p) in msg, f"message does not name the file: {msg}"
    return msg


# --------------------------------------------------------------------------- shipped configs


def test_ships_the_four_dataflows():
    names = {p.stem for p in CONFIGS}
    assert {"eyeriss_like", "tpu_like_ws_32x32", "systolic_os_16x16", "systolic_is_32x32"} <= names
    flows = {load_arch(p).dataflow for p in CONFIGS}
    assert flows == set(DATAFLOWS)


def test_eyeriss_like_matches_the_chip():
    a = load_arch(ROOT / "arch_configs" / "eyeriss_like.yaml")
    assert a.dataflow == "row_stationary"
    assert (a.pe_array.rows, a.pe_array.cols) == (12, 14) and a.num_pes == 168
    assert (a.pe_array.ifmap_spad_words, a.pe_array.weight_spad_words, a.pe_array.psum_spad_words) == (12, 224, 24)
    assert a.global_buffer.size_bytes == 108 * 1024 and a.glb_words == 108 * 1024 // 2
    assert a.word_bits == 16 and a.clock_mhz == 200.0
    assert a.sparsity.zero_inputs == "gate"
    assert a.zap_unit.placement == "dedicated"
    assert a.energy.name == "eyeriss_normalized"
    assert a.name == "eyeriss_like" and a.source.endswith("eyeriss_like.yaml")


def test_systolic_shapes():
    by_name = {load_arch(p).name: load_arch(p) for p in CONFIGS}
    tpu = by_name["tpu_like_ws_32x32"]
    assert (tpu.dataflow, tpu.pe_array.rows, tpu.pe_array.cols) == ("weight_stationary", 32, 32)
    os16 = by_name["systolic_os_16x16"]
    assert (os16.dataflow, os16.pe_array.rows, os16.pe_array.cols) == ("output_stationary", 16, 16)
    is32 = by_name["systolic_is_32x32"]
    assert (is32.dataflow, is32.num_pes) == ("input_stationary", 1024)
    assert all(a.is_systolic for a in (tpu, os16, is32))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_value_has_a_comment(path):
    """Each `key: value` line of a shipped config (but `name`) says what the value is or where it comes from."""
    for i, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"^\s*([a-z_]+):\s*([^#\s][^#]*)?(#.*)?$", line)
        if not m or m.group(2) is None or m.group(1) == "name":
            continue
        assert m.group(3), f"{path.name}:{i}: '{m.group(1)}' has no comment"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_round_trip_and_json(path):
    a = load_arch(path)
    d = arch_to_dict(a)
    assert json.loads(json.dumps(d)) == d
    assert arch_from_dict(d, source=a.source) == a


def test_defaults_are_eyeriss_and_every_section_optional(tmp_path):
    a = load_arch(write(tmp_path, "name: minimal\n"))
    assert a.name == "minimal" and a.dataflow == "row_stationary"
    assert (a.pe_array.rows, a.pe_array.cols, a.global_buffer.size_bytes) == (12, 14, 110592)
    assert a.energy.name == "eyeriss_normalized"
    assert load_arch(write(tmp_path, "", "empty.yaml")).name == "empty"  # name defaults to the file stem


def test_partial_section_keeps_other_defaults(tmp_path):
    a = load_arch(write(tmp_path, "pe_array: {rows: 8}\nclock_mhz: 100\n"))
    assert (a.pe_array.rows, a.pe_array.cols, a.pe_array.weight_spad_words) == (8, 14, 224)
    assert a.clock_mhz == 100.0 and isinstance(a.clock_mhz, float)


def test_size_kb_is_kib(tmp_path):
    a = load_arch(write(tmp_path, "global_buffer: {size_kb: 64}\n"))
    assert a.global_buffer.size_bytes == 65536


def test_energy_string_shorthand_and_overrides(tmp_path):
    a = load_arch(write(tmp_path, "energy: 65nm\n"))
    assert a.energy.name == "65nm"
    b = load_arch(write(tmp_path, "energy: {preset: 65nm, actions: {dram_read: 100, leakage_cycle: 3.5}}\n"))
    assert b.energy["dram_read"] == 100.0 and b.energy["leakage_cycle"] == 3.5
    assert b.energy["mac"] == a.energy["mac"]  # the rest comes from the preset
    assert b.energy.name == "65nm (modified)"
    c = load_arch(write(tmp_path, "energy: {actions: {mac: 2}}\n"))
    assert c.energy["glb_read"] == 6.0 and c.energy["mac"] == 2.0  # no preset: overrides the default preset


def test_replace_arch_validates_and_edits():
    a = load_arch(ROOT / "arch_configs" / "eyeriss_like.yaml")
    b = replace_arch(a, **{"sparsity.zero_inputs": "skip", "pe_array.rows": 6, "energy.actions.mac": 3.0})
    assert (b.sparsity.zero_inputs, b.pe_array.rows, b.energy["mac"]) == ("skip", 6, 3.0)
    assert b.energy.name == "eyeriss_normalized (modified)"
    assert (a.sparsity.zero_inputs, a.pe_array.rows, a.energy["mac"]) == ("gate", 12, 1.0)  # the original is untouched
    assert replace_arch(a, **{"energy.preset": "65nm"}).energy.name == "65nm"
    assert replace_arch(a, **{"global_buffer.size_kb": 64}).global_buffer.size_bytes == 65536
    with pytest.raises(ConfigError, match=r"pe_array\.rows = 0"):
        replace_arch(a, **{"pe_array.rows": 0})
    with pytest.raises(ConfigError, match=r"did you mean 'zero_inputs'"):
        replace_arch(a, **{"sparsity.zero_input": "gate"})


def test_configs_are_frozen_and_hashable():
    a = arch_from_dict({})
    with pytest.raises(AttributeError):
        a.pe_array.rows = 3  # type: ignore[misc]
    assert hash(a) == hash(arch_from_dict({}))
    assert isinstance(a, ArchConfig)


# --------------------------------------------------------------------------- mistakes, one per kind


def test_unknown_top_level_key_suggests(tmp_path):
    msg = error_of(tmp_path, "clock_mhzz: 200\n")
    assert "unknown key 'clock_mhzz'" in msg and "did you mean 'clock_mhz'" in msg and "dataflow" in msg


def test_unknown_section_key_suggests_and_lists(tmp_path):
    msg = error_of(tmp_path, "pe_array:\n  rwos: 12\n")
    assert "unknown key 'pe_array.rwos'" in msg and "did you mean 'rows'" in msg
    assert "weight_spad_words" in msg  # lists what is allowed


def test_unknown_key_without_close_match(tmp_path):
    msg = error_of(tmp_path, "global_buffer:\n  qqqq: 1\n")
    assert "unknown key 'global_buffer.qqqq'" in msg and "did you mean" not in msg and "banks" in msg


@pytest.mark.parametrize(
    "text, path, value, allowed",
    [
        ("pe_array: {rows: '12'}", "pe_array.rows", "'12'", "an integer >= 1"),
        ("pe_array: {cols: 12.5}", "pe_array.cols", "12.5", "an integer >= 1"),
        ("pe_array: {rows: true}", "pe_array.rows", "True", "an integer >= 1"),
        ("clock_mhz: fast", "clock_mhz", "'fast'", "a number >= 0.001 <= 100000"),
        ("noc: {multicast: 1}", "noc.multicast", "1", "true or false"),
        ("dataflow: 3", "dataflow", "3", "one of row_stationary"),
        ("pe_array: [12, 14]", "pe_array", "[12, 14]", "a mapping of rows, cols"),
        ("energy: {actions: {mac: cheap}}", "energy.actions.mac", "'cheap'", "a number >= 0"),
        ("clock_mhz: .nan", "clock_mhz", "nan", "a number >= 0.001 <= 100000"),
    ],
)
def test_wrong_types(tmp_path, text, path, value, allowed):
    msg = error_of(tmp_path, text + "\n")
    assert f"{path} = {value}" in msg, msg
    assert "allowed: " + allowed in msg, msg


@pytest.mark.parametrize(
    "text, path, value, allowed",
    [
        ("pe_array: {rows: 0}", "pe_array.rows", "0", "an integer >= 1"),
        ("pe_array: {cols: -3}", "pe_array.cols", "-3", "an integer >= 1"),
        ("pe_array: {psum_spad_words: 0}", "pe_array.psum_spad_words", "0", "an integer >= 1"),
        ("clock_mhz: 0", "clock_mhz", "0", "a number >= 0.001 <= 100000"),
        ("word_bits: 128", "word_bits", "128", "an integer >= 1 <= 64"),
        ("dram: {bandwidth_bytes_per_cycle: -1}", "dram.bandwidth_bytes_per_cycle", "-1.0", "a number >= 0.001 <= 1e+12"),
        ("noc: {bandwidth_words_per_cycle: 0}", "noc.bandwidth_words_per_cycle", "0.0", "a number >= 0.001 <= 1e+12"),
        ("zap_unit: {macs_per_cycle: 0}", "zap_unit.macs_per_cycle", "0", "an integer >= 1"),
        ("energy: {actions: {dram_read: -5}}", "energy.actions.dram_read", "-5", "a number >= 0"),
        ("global_buffer: {size_kb: 0}", "global_buffer.size_kb", "0", "a number > 0"),
    ],
)
def test_impossible_values(tmp_path, text, path, value, allowed):
    msg = error_of(tmp_path, text + "\n")
    assert f"{path} = {value}" in msg, msg
    assert "allowed: " + allowed in msg, msg


@pytest.mark.parametrize(
    "text, path, value, suggestion",
    [
        ("dataflow: rowstationary", "dataflow", "'rowstationary'", "row_stationary"),
        ("dataflow: systolic", "dataflow", "'systolic'", None),
        ("sparsity: {zap_outputs: skipp}", "sparsity.zap_outputs", "'skipp'", "skip"),
        ("sparsity: {zero_inputs: drop}", "sparsity.zero_inputs", "'drop'", None),
        ("zap_unit: {placement: onchip}", "zap_unit.placement", "'onchip'", None),
        ("systolic: {zap_granularity: rows}", "systolic.zap_granularity", "'rows'", "row"),
        ("energy: {preset: 45nm}", "energy.preset", "'45nm'", "65nm"),
    ],
)
def test_unknown_choices(tmp_path, text, path, value, suggestion):
    msg = error_of(tmp_path, text + "\n")
    assert f"{path} = {value}" in msg and "allowed: one of" in msg, msg
    if suggestion:
        assert f"did you mean '{suggestion}'" in msg, msg


def test_unknown_energy_action(tmp_path):
    msg = error_of(tmp_path, "energy:\n  actions:\n    dram_reed: 100\n")
    assert "unknown key 'energy.actions.dram_reed'" in msg and "did you mean 'dram_read'" in msg


def test_glb_lower_bound_is_exact(tmp_path):
    # Eyeriss spads: one filter row set 12 x 224 + per column (12 + 24) x 14 = 2688 + 504 = 3192 words;
    # double buffered: 6384 words = 12768 bytes of 16-bit words.
    pe = arch_from_dict({}).pe_array
    assert min_glb_words("row_stationary", pe) == 3192
    ok = load_arch(write(tmp_path, "global_buffer: {size_bytes: 12768, banks: 1}\n"))
    assert ok.glb_words == 6384
    msg = error_of(tmp_path, "global_buffer: {size_bytes: 12766, banks: 1}\n")
    assert "global_buffer.size_bytes = 12766" in msg and "too small" in msg and "12768 bytes" in msg
    # single-buffered needs half; a 32 x 32 systolic array needs 32*32 + 64 = 1088 words
    load_arch(write(tmp_path, "global_buffer: {size_bytes: 6384, banks: 1, double_buffer: false}\n"))
    assert min_glb_words("weight_stationary", arch_from_dict({"pe_array": {"rows": 32, "cols": 32}}).pe_array) == 1088
    msg = error_of(tmp_path, "dataflow: output_stationary\npe_array: {rows: 32, cols: 32}\n"
                             "global_buffer: {size_bytes: 2000, banks: 1, double_buffer: false}\n")
    assert "global_buffer.size_bytes = 2000" in msg and "2176 bytes" in msg


def test_size_kb_and_size_bytes_together(tmp_path):
    msg = error_of(tmp_path, "global_buffer: {size_kb: 108, size_bytes: 110592}\n")
    assert "global_buffer.size_kb = 108" in msg and "one of size_kb" in msg


def test_more_banks_than_words(tmp_path):
    msg = error_of(tmp_path, "global_buffer: {size_bytes: 20000, banks: 20000}\n")
    assert "global_buffer.banks = 20000" in msg and "an integer 1..10000" in msg


def test_dedicated_zap_buffer_too_small(tmp_path):
    msg = error_of(tmp_path, "zap_unit: {buffer_words: 10}\n")
    assert "zap_unit.buffer_words = 10" in msg and "an integer >= 24" in msg
    a = load_arch(write(tmp_path, "zap_unit: {placement: array, buffer_words: 0}\n"))  # unused on the array
    assert a.zap_unit.buffer_words == 0


def test_bad_yaml_names_line(tmp_path):
    msg = error_of(tmp_path, "pe_array:\n  rows: 12\n cols: [1, 2\n")
    assert "not valid YAML at line" in msg


def test_top_level_not_a_mapping(tmp_path):
    msg = error_of(tmp_path, "- rows: 12\n")
    assert "must be a mapping" in msg and "list" in msg


def test_missing_file_suggests_neighbour():
    with pytest.raises(ConfigError, match=r"no such architecture config file; did you mean .*eyeriss_like\.yaml"):
        load_arch(ROOT / "arch_configs" / "eyeris_like.yaml")


# --------------------------------------------------------------------------- the document stays honest


def test_doc_lists_every_key_with_its_default():
    doc = (ROOT / "docs" / "arch-config.md").read_text()
    for row in field_docs():
        assert f"`{row['key']}`" in doc, f"docs/arch-config.md does not document {row['key']}"
        default = row["default"]
        if default is None:
            shown = "null"
        elif isinstance(default, bool):
            shown = "true" if default else "false"
        else:
            shown = f"{default:g}" if isinstance(default, float) else str(default)
        line = next(l for l in doc.splitlines() if l.startswith(f"| `{row['key']}`"))
        assert f"`{shown}`" in line, f"docs/arch-config.md shows the wrong default for {row['key']}: {line}"
        want = f"| `{row['key']}` | {row['type']} | `{shown}` | {row['unit']} | {row['allowed']} | {row['doc']} |"
        assert line == want, f"docs/arch-config.md's row for {row['key']} drifted from the code:\n{line}\n{want}"


def test_doc_key_table_is_the_generated_one():
    from zapsim.sim.arch import KEYS_BEGIN, KEYS_END, keys_table

    doc = (ROOT / "docs" / "arch-config.md").read_text()
    block = doc.split(KEYS_BEGIN, 1)[1].split(KEYS_END, 1)[0].strip("\n")
    assert block == keys_table(), "regenerate: python -m zapsim.sim.arch --write-docs docs/arch-config.md"


def test_every_number_key_has_both_bounds_or_is_a_count():
    """New keys carry a minimum and a maximum; the older counts and sizes have a minimum at least."""
    for row in field_docs():
        if row["type"] in ("int", "float"):
            assert ">" in row["allowed"], row["key"]
    for key in ("precision.ifmap_bits", "precision.weight_bits", "precision.psum_bits",
                "dram.read_bandwidth_bytes_per_cycle", "dram.write_bandwidth_bytes_per_cycle",
                "global_buffer.read_bandwidth_words_per_cycle", "global_buffer.write_bandwidth_words_per_cycle"):
        row = next(r for r in field_docs() if r["key"] == key)
        assert ">" in row["allowed"] and "<=" in row["allowed"] and row["allowed"].endswith("or null"), row


@pytest.mark.parametrize("text, path, value, allowed", [
    ("precision: {psum_bits: 0}", "precision.psum_bits", "0", "an integer >= 1 <= 64 or null"),
    ("precision: {ifmap_bits: 65}", "precision.ifmap_bits", "65", "an integer >= 1 <= 64 or null"),
    ("precision: {weight_bits: 8.0}", "precision.weight_bits", "8.0", "an integer >= 1 <= 64 or null"),
    ("dram: {read_bandwidth_bytes_per_cycle: 0}", "dram.read_bandwidth_bytes_per_cycle", "0.0", "a number >= 1e-06 <= 1e+06 or null"),
    ("dram: {write_bandwidth_bytes_per_cycle: 2000000}", "dram.write_bandwidth_bytes_per_cycle", "2000000.0",
     "a number >= 1e-06 <= 1e+06 or null"),
    ("global_buffer: {weight_bypass: 1}", "global_buffer.weight_bypass", "1", "true or false"),
])
def test_new_keys_are_checked(tmp_path, text, path, value, allowed):
    msg = error_of(tmp_path, text + "\n")
    assert f"{path} = {value}" in msg and msg.endswith(f"allowed: {allowed}"), msg


def test_null_new_keys_take_the_shared_values(tmp_path):
    a = load_arch(write(tmp_path, "word_bits: 12\nprecision: {ifmap_bits: ~, weight_bits: 8}\n"))
    assert (a.tensor_bits("ifmap"), a.tensor_bits("weight"), a.tensor_bits("psum")) == (12, 8, 12)
    assert not a.uniform_words and arch_from_dict({}).uniform_words
    assert arch_from_dict(arch_to_dict(a), a.source) == a


def test_per_tensor_energy_parses_and_is_checked(tmp_path):
    a = load_arch(write(tmp_path, "energy: {per_tensor: {spad_read: {weight: 3}, dram_read: {ifmap: 150}}}\n"))
    t = a.energy
    assert t.cost("spad_read", "weight") == 3.0 and t.cost("spad_read", "ifmap") == t["spad_read"] == 1.0
    assert t.cost("dram_read", "ifmap") == 150.0 and t.cost("dram_read", "weight") == 200.0
    assert t.name == "eyeriss_normalized (modified)"
    assert arch_from_dict(arch_to_dict(a), a.source) == a
    assert "per_tensor" not in arch_to_dict(arch_from_dict({}))["energy"]  # results without it keep their keys
    msg = error_of(tmp_path, "energy: {per_tensor: {mac: {psum: 1}}}\n")
    assert "unknown key 'energy.per_tensor.mac'" in msg
    msg = error_of(tmp_path, "energy: {per_tensor: {spad_read: {filter: 1}}}\n")
    assert "unknown key 'energy.per_tensor.spad_read.filter'" in msg and "ifmap, weight, psum" in msg
    msg = error_of(tmp_path, "energy: {per_tensor: {spad_read: {psum: -1}}}\n")
    assert "energy.per_tensor.spad_read.psum = -1: out of range" in msg


def test_weight_bypass_drops_the_weights_share_of_the_glb_bound(tmp_path):
    pe = arch_from_dict({}).pe_array
    assert min_glb_words("row_stationary", pe, weight_bypass=True) == 14 * (12 + 24)  # 504 of the 3192
    # 504 words x 2 (double buffering) = 1008 words = 2016 bytes: fits with bypass, refused without
    ok = load_arch(write(tmp_path, "global_buffer: {size_bytes: 2016, banks: 1, weight_bypass: true}\n"))
    assert ok.glb_words == 1008
    with pytest.raises(ConfigError, match="lower bound is 6384 words"):
        load_arch(write(tmp_path, "global_buffer: {size_bytes: 2016, banks: 1}\n"))


def test_glb_bound_in_bits_with_per_tensor_widths(tmp_path):
    # rs bound by tensor: ifmap 14*12 = 168, weight 12*224 = 2688, psum 14*24 = 336 words;
    # 8/8/16 bits -> 168*8 + 2688*8 + 336*16 = 28224 bits, doubled: 56448 bits = 7056 bytes
    text = "precision: {ifmap_bits: 8, weight_bits: 8, psum_bits: 16}\nglobal_buffer: {banks: 1, size_bytes: %d}\n"
    load_arch(write(tmp_path, text % 7056))
    with pytest.raises(ConfigError, match="lower bound is 56448 bits"):
        load_arch(write(tmp_path, text % 7055))
