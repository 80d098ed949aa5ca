"""Energy tables: the presets hold their published ratios and documented derivations; tables are checked."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from zapsim.errors import ConfigError
from zapsim.sim.arch import load_arch
from zapsim.sim.energy import ACTIONS, PRESETS, EnergyTable, preset

ROOT = Path(__file__).resolve().parents[1]


def test_actions_are_the_agreed_ones():
    assert ACTIONS == ("mac", "mac_gated", "spad_read", "spad_write", "noc_word", "glb_read", "glb_write",
                       "dram_read", "dram_write", "zap_mac", "zap_buffer_access", "leakage_cycle")
    for name in PRESETS:
        assert set(preset(name).pj) == set(ACTIONS)


def test_eyeriss_normalized_has_the_published_ratios():
    t = preset("eyeriss_normalized")
    mac = t["mac"]
    # Chen et al. ISCA 2016 Fig. 1: RF 1x, inter-PE 2x, buffer 6x, DRAM 200x of a MAC.
    assert t["spad_read"] / mac == 1 and t["spad_write"] / mac == 1
    assert t["noc_word"] / mac == 2
    assert t["glb_read"] / mac == 6 and t["glb_write"] / mac == 6
    assert t["dram_read"] / mac == 200 and t["dram_write"] / mac == 200
    assert t["zap_mac"] == mac
    assert 0 < t["mac_gated"] < mac  # gating saves energy but is not free
    assert t["leakage_cycle"] == 0


def test_65nm_follows_its_documented_derivation():
    t = preset("65nm")
    scale = 1.8  # (65/45) * (1.0/0.9)^2 rounded, as documented
    assert math.isclose((65 / 45) * (1.0 / 0.9) ** 2, scale, rel_tol=0.01)
    assert math.isclose(t["mac"], (0.8 + 0.05) * scale, rel_tol=1e-3)
    # GLB: Horowitz 32 KB 20 pJ and 1 MB 100 pJ per 64 bits, log-interpolated to 108 KB, per 16-bit word
    frac = math.log(108 / 32) / math.log(1024 / 32)
    glb_64b = 20 * (100 / 20) ** frac
    assert math.isclose(t["glb_read"], glb_64b / 4 * scale, rel_tol=2e-3)
    assert t["dram_read"] == 2000 / 4  # 2 nJ per 64-bit access, not node-scaled
    # the hierarchy's order holds
    assert t["mac_gated"] < t["mac"] <= t["spad_read"] < t["noc_word"] < t["glb_read"] < t["dram_read"]


def test_lookup_and_unknown_action():
    t = preset("65nm")
    assert t["dram_write"] == t.pj["dram_write"]
    with pytest.raises(ConfigError, match=r"unknown action 'dram'.*actions are mac, mac_gated"):
        t["dram"]


def test_unknown_preset():
    with pytest.raises(ConfigError, match=r"unknown energy preset '45nm'; presets: eyeriss_normalized, 65nm"):
        preset("45nm")


def test_table_checks_its_actions():
    full = dict(PRESETS["65nm"])
    with pytest.raises(ConfigError, match=r"missing actions zap_mac"):
        EnergyTable("t", {k: v for k, v in full.items() if k != "zap_mac"})
    with pytest.raises(ConfigError, match=r"unknown actions sram_read"):
        EnergyTable("t", {**full, "sram_read": 1.0})
    with pytest.raises(ConfigError, match=r"mac = -1.0; allowed: a number >= 0"):
        EnergyTable("t", {**full, "mac": -1.0})
    with pytest.raises(ConfigError, match=r"mac = 'x'"):
        EnergyTable("t", {**full, "mac": "x"})


def test_table_is_immutable_hashable_and_independent_of_the_preset_dict():
    t = preset("eyeriss_normalized")
    with pytest.raises(TypeError):
        t.pj["mac"] = 5.0  # type: ignore[index]
    assert t == preset("eyeriss_normalized") and hash(t) == hash(preset("eyeriss_normalized"))
    assert t != preset("65nm")


def test_user_table_from_yaml(tmp_path):
    p = tmp_path / "custom.yaml"
    p.write_text("energy:\n  preset: 65nm\n  name: my_node\n  actions: {mac: 0.5, glb_read: 10, leakage_cycle: 1.25}\n")
    t = load_arch(p).energy
    assert t.name == "my_node"
    assert (t["mac"], t["glb_read"], t["leakage_cycle"]) == (0.5, 10.0, 1.25)
    assert t["dram_read"] == preset("65nm")["dram_read"]  # not overridden


def test_docs_list_every_preset_value():
    doc = (ROOT / "docs" / "arch-config.md").read_text()
    for action in ACTIONS:
        line = next(l for l in doc.splitlines() if l.startswith(f"| `{action}` |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert float(cells[1]) == PRESETS["eyeriss_normalized"][action], line
        assert float(cells[2]) == PRESETS["65nm"][action], line


def test_docs_describe_every_action_as_the_code_does():
    # docs/arch-config.md's action table must say what ACTION_DOCS says, for every action.
    from zapsim.sim.energy import ACTION_DOCS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "arch-config.md").read_text()
    assert set(ACTION_DOCS) == set(ACTIONS)
    for action, text in ACTION_DOCS.items():
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{action}` |")), None)
        assert row is not None and row.rstrip().endswith(f"| {text} |"), action
