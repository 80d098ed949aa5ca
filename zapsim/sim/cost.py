"""Energy = action counts x the energy table, broken down by component and by tensor.

Action counts come per tensor (``ifmap``, ``weight``, ``psum``, ``zap``);
each count is multiplied by the table's pJ per action (its per-tensor
entry where the table has one: :meth:`EnergyTable.cost`).  ``by_component``
groups actions (mac = mac + mac_gated, spad = spad_read + spad_write,
noc, glb = glb_read + glb_write, dram = dram_read + dram_write,
zap = zap_mac + zap_buffer_access, leakage); ``by_tensor`` groups the same
products by tensor.  MACs, gated MACs and leakage are attributed to
``psum`` (the output they produce).  Both sum to ``total``.
"""

from __future__ import annotations

from .energy import ACTIONS

COMPONENT_OF = {
    "mac": "mac", "mac_gated": "mac",
    "spad_read": "spad", "spad_write": "spad",
    "noc_word": "noc",
    "glb_read": "glb", "glb_write": "glb",
    "dram_read": "dram", "dram_write": "dram",
    "zap_mac": "zap", "zap_buffer_access": "zap",
    "leakage_cycle": "leakage",
}
COMPONENTS = ("mac", "spad", "noc", "glb", "dram", "zap", "leakage")
TENSORS = ("ifmap", "weight", "psum", "zap")


def energy_breakdown(table, actions: dict[str, dict[str, float]]) -> dict:
    """``actions[tensor][action]`` counts -> {"total", "by_component", "by_tensor"} in pJ (floats or arrays)."""
    by_c = {c: 0.0 for c in COMPONENTS}
    by_t = {t: 0.0 for t in TENSORS}
    for tensor, counts in actions.items():
        if tensor not in by_t:
            raise ValueError(f"unknown tensor {tensor!r}")
        for action, n in counts.items():
            if action not in ACTIONS:
                raise ValueError(f"unknown action {action!r}")
            e = n * table.cost(action, tensor)
            by_c[COMPONENT_OF[action]] = by_c[COMPONENT_OF[action]] + e
            by_t[tensor] = by_t[tensor] + e
    total = sum(by_t.values())
    return {"total": total, "by_component": by_c, "by_tensor": by_t}
