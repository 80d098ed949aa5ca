"""Energy per action (Accelergy's model): presets and user tables, in pJ.

Energy of a run = sum over actions of (count x pJ per action).  Memory
actions are per word (of the tensor's width: ``precision``, else
``word_bits``); ``leakage_cycle`` is the whole chip's static energy per
clock cycle.  A table may also give a memory action a different cost per
tensor (``per_tensor``: Accelergy's separate ifmap / weight / psum
scratchpads, say); :meth:`EnergyTable.cost` looks it up.  Two presets
ship (their derivations and sources are in ``docs/arch-config.md``):

``eyeriss_normalized``
    Eyeriss' relative access costs (Chen et al., ISCA 2016, Fig. 1 / JSSC
    2017): a MAC and a register-file (scratchpad) access 1x, an inter-PE /
    NoC transfer 2x, a global-buffer access 6x, a DRAM access 200x.  Its unit
    is one MAC (``unit = "MAC-equivalent"``): the table has no absolute scale
    with a source, so results computed with it are labelled MAC-equivalents
    (reports, plots, docs), not pJ, though they sit in the ``energy_pj``
    fields of the results (``EYERISS_MAC_PJ = 1``).
``65nm``
    Absolute estimates for a 65 nm, 16-bit design, from Horowitz (ISSCC
    2014, 45 nm) scaled to 65 nm by ``NODE_SCALE_45_TO_65`` where the cost is
    on chip; every entry is an estimate and documented as such.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConfigError

ACTIONS = (
    "mac",
    "mac_gated",
    "spad_read",
    "spad_write",
    "noc_word",
    "glb_read",
    "glb_write",
    "dram_read",
    "dram_write",
    "zap_mac",
    "zap_buffer_access",
    "leakage_cycle",
)

# What each action counts; the unit of the table is pJ per one of these.
ACTION_DOCS = {
    "mac": "one multiply-accumulate performed on the PE array",
    "mac_gated": "one MAC slot clock-gated (the PE idles through it: Eyeriss' zero-input gating, or a gated ZAP skip)",
    "spad_read": "one word read from a PE scratchpad (register file)",
    "spad_write": "one word written to a PE scratchpad",
    "noc_word": "one word moved over the NoC / between PEs",
    "glb_read": "one word read from the global buffer",
    "glb_write": "one word written to the global buffer",
    "dram_read": "one word read from DRAM",
    "dram_write": "one word written to DRAM",
    "zap_mac": "one MAC of the ZAP predictor (on the dedicated unit or the array)",
    "zap_buffer_access": "one word read or written in the dedicated ZAP unit's buffer",
    "leakage_cycle": "static energy of the whole chip for one clock cycle",
}

# ----------------------------------------------------------------- eyeriss_normalized
# One MAC = 1 unit.  The table is relative (Eyeriss reports its costs in
# MAC-equivalents); EYERISS_MAC_PJ = 1 only lets the numbers sit in the
# results' energy_pj fields.  It is not an absolute scale with a source (a
# 16-bit MAC is ~0.85 pJ at 45 nm by Horowitz 2014, ~1.5 pJ at 65 nm), so the
# table's unit is "MAC-equivalent" and every report, plot and doc says so.
EYERISS_MAC_PJ = 1.0
EYERISS_RELATIVE = {
    "mac": 1.0,  # ALU: 1x (Chen et al. ISCA 2016, Fig. 1)
    "mac_gated": 0.1,  # estimate: a clock-gated slot still clocks its control; 10% of a MAC
    "spad_read": 1.0,  # RF (0.5 KB): 1x
    "spad_write": 1.0,
    "noc_word": 2.0,  # PE <-> PE / NoC: 2x
    "glb_read": 6.0,  # global buffer (100 KB): 6x
    "glb_write": 6.0,
    "dram_read": 200.0,  # DRAM: 200x
    "dram_write": 200.0,
    "zap_mac": 1.0,  # the ZAP's MACs are ordinary 16-bit MACs
    "zap_buffer_access": 2.0,  # estimate: a 4 KB SRAM sits between the RF (1x) and the 108 KB GLB (6x)
    "leakage_cycle": 0.0,  # Eyeriss' relative table has no static term
}

# ----------------------------------------------------------------- 65nm
# Horowitz, "Computing's energy problem", ISSCC 2014 (45 nm, 0.9 V) is the
# source; on-chip costs are scaled 45 -> 65 nm by CV^2: capacitance with the
# feature size (65/45 = 1.44) and a 1.0 V supply against 0.9 V (1.23x),
# about 1.8x.  DRAM is off chip, so it is not scaled.
NODE_SCALE_45_TO_65 = 1.8
_MAC_45 = 0.85  # 16-bit multiply ~0.8 pJ (between 8-bit 0.2 and 32-bit 3.1) + 16-bit add ~0.05 pJ
_SRAM_8KB_WORD_45 = 10.0 / 4  # 8 KB SRAM: 10 pJ per 64-bit read -> 2.5 pJ per 16-bit word
_SRAM_108KB_WORD_45 = 35.2 / 4  # log-interpolated between 32 KB (20 pJ/64 b) and 1 MB (100 pJ/64 b)
_DRAM_WORD = 2000.0 / 4  # DRAM: 1.3-2.6 nJ per 64-bit access; 2 nJ midpoint -> 500 pJ per 16-bit word
ABSOLUTE_65NM = {
    "mac": round(_MAC_45 * NODE_SCALE_45_TO_65, 3),  # 1.53 pJ
    "mac_gated": round(0.1 * _MAC_45 * NODE_SCALE_45_TO_65, 3),  # estimate: 10% of a MAC
    # A 0.5 KB register file costs about one MAC per access (Eyeriss' 1x); Horowitz
    # gives no number that small, so it follows the MAC.
    "spad_read": round(_MAC_45 * NODE_SCALE_45_TO_65, 3),
    "spad_write": round(_MAC_45 * NODE_SCALE_45_TO_65, 3),
    "noc_word": round(2 * _MAC_45 * NODE_SCALE_45_TO_65, 3),  # estimate: Eyeriss' 2x of a MAC
    "glb_read": round(_SRAM_108KB_WORD_45 * NODE_SCALE_45_TO_65, 3),  # 15.84 pJ
    "glb_write": round(_SRAM_108KB_WORD_45 * NODE_SCALE_45_TO_65, 3),
    "dram_read": _DRAM_WORD,
    "dram_write": _DRAM_WORD,
    "zap_mac": round(_MAC_45 * NODE_SCALE_45_TO_65, 3),
    "zap_buffer_access": round(_SRAM_8KB_WORD_45 * NODE_SCALE_45_TO_65, 3),  # a 4 KB buffer, at most an 8 KB SRAM's cost
    "leakage_cycle": 0.0,  # not modelled by default; set it in a user table
}

DEFAULT_PRESET = "eyeriss_normalized"

# Units of a table: absolute, or relative to one MAC (Eyeriss' normalised costs).
UNITS = ("pJ", "MAC-equivalent")
PRESET_UNITS = {"eyeriss_normalized": "MAC-equivalent", "65nm": "pJ"}

# Actions that can cost differently per tensor (``EnergyTable.per_tensor``), and the tensors.
PER_TENSOR_ACTIONS = ("spad_read", "spad_write", "noc_word", "glb_read", "glb_write", "dram_read", "dram_write")
PER_TENSOR_TENSORS = ("ifmap", "weight", "psum")


@dataclass(frozen=True)
class EnergyTable:
    """pJ per action for every action in :data:`ACTIONS`; ``table['mac']`` reads one.

    ``per_tensor[action][tensor]`` (optional) overrides ``pj[action]`` for one
    tensor (actions in :data:`PER_TENSOR_ACTIONS`, tensors in
    :data:`PER_TENSOR_TENSORS`); :meth:`cost` applies it.
    """

    name: str
    pj: Mapping[str, float]
    per_tensor: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    #: what one unit of the table is: "pJ", or "MAC-equivalent" for a table relative to one MAC
    #: (``eyeriss_normalized``): its numbers are pJ only nominally and are labelled as such everywhere
    unit: str = "pJ"
    #: how the table was derived, for the user (an ERT's mapping choices); not part of equality
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = [a for a in ACTIONS if a not in self.pj]
        extra = [a for a in self.pj if a not in ACTIONS]
        if missing or extra:
            raise ConfigError(
                f"energy table '{self.name}': "
                + (f"missing actions {', '.join(missing)}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unknown actions {', '.join(map(str, extra))}" if extra else "")
                + f" (actions are {', '.join(ACTIONS)})"
            )
        for a in ACTIONS:
            v = self.pj[a]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ConfigError(f"energy table '{self.name}': {a} = {v!r}; allowed: a number >= 0 (pJ)")
        if self.unit not in UNITS:
            raise ConfigError(f"energy table '{self.name}': unit {self.unit!r}; allowed: {', '.join(UNITS)}")
        object.__setattr__(self, "notes", tuple(self.notes))
        # Read-only and in ACTIONS order, so equal tables compare and hash equal.
        object.__setattr__(self, "pj", types.MappingProxyType({a: float(self.pj[a]) for a in ACTIONS}))
        per: dict[str, Mapping[str, float]] = {}
        for a, by_t in (self.per_tensor or {}).items():
            if a not in PER_TENSOR_ACTIONS:
                raise ConfigError(f"energy table '{self.name}': per_tensor action '{a}' cannot differ by tensor; "
                                  f"allowed: {', '.join(PER_TENSOR_ACTIONS)}")
            if not isinstance(by_t, Mapping):
                raise ConfigError(f"energy table '{self.name}': per_tensor.{a} = {by_t!r}; allowed: a mapping of "
                                  f"{', '.join(PER_TENSOR_TENSORS)} to pJ")
            for t, v in by_t.items():
                if t not in PER_TENSOR_TENSORS:
                    raise ConfigError(f"energy table '{self.name}': per_tensor.{a}.{t}: unknown tensor; allowed: "
                                      f"{', '.join(PER_TENSOR_TENSORS)}")
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or v == float("inf"):
                    raise ConfigError(f"energy table '{self.name}': per_tensor.{a}.{t} = {v!r}; allowed: a finite "
                                      "number >= 0 (pJ)")
            if by_t:
                per[a] = types.MappingProxyType({t: float(by_t[t]) for t in PER_TENSOR_TENSORS if t in by_t})
        object.__setattr__(self, "per_tensor", types.MappingProxyType({a: per[a] for a in PER_TENSOR_ACTIONS
                                                                        if a in per}))

    def cost(self, action: str, tensor: str | None = None) -> float:
        """pJ of one ``action`` on ``tensor``: its ``per_tensor`` entry if there is one, else ``pj[action]``."""
        by_t = self.per_tensor.get(action)
        if by_t is not None and tensor in by_t:
            return by_t[tensor]
        return self[action]

    def _per_tensor_items(self) -> tuple:
        return tuple((a, tuple(sorted(d.items()))) for a, d in self.per_tensor.items())

    def __getitem__(self, action: str) -> float:
        try:
            return self.pj[action]
        except KeyError:
            raise ConfigError(f"energy table '{self.name}': unknown action '{action}'; actions are {', '.join(ACTIONS)}") from None

    def __hash__(self) -> int:
        return hash((self.name, self.unit, tuple(self.pj[a] for a in ACTIONS), self._per_tensor_items()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EnergyTable):
            return NotImplemented
        return (self.name == other.name and self.unit == other.unit and dict(self.pj) == dict(other.pj)
                and self._per_tensor_items() == other._per_tensor_items())


PRESETS: dict[str, dict[str, float]] = {
    "eyeriss_normalized": {a: v * EYERISS_MAC_PJ for a, v in EYERISS_RELATIVE.items()},
    "65nm": dict(ABSOLUTE_65NM),
}


def preset(name: str) -> EnergyTable:
    """The named preset table (``eyeriss_normalized`` or ``65nm``)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown energy preset '{name}'; presets: {', '.join(PRESETS)}")
    return EnergyTable(name, PRESETS[name], unit=PRESET_UNITS[name])
