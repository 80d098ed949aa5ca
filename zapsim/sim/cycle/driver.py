"""The cycle engine's per-layer entry: ``simulate_layer_batch(..., engine="cycle")`` calls :func:`layer_core`.

A dataflow's sequencer is a module with a function (``SEQUENCERS``)

    run_layer(arch, layer, in_masks, out_masks, comp_masks, zap, n, batch) -> dict[str, np.ndarray]

(row-stationary) or ``systolic_layer(arch, layer, in_masks, out_masks,
comp_masks, *, zap)`` (systolic), returning, for each of
the ``n`` images, the analytical engine's per-layer core counters
(``zapsim.sim.analytical.kernels.RS_CORE``: ``compute``, ``A``, ``Z``,
``C``, ``actual``, ``gated``, ``busy_pe``, ``gated_pe``, ``noc_i``,
``noc_w``, ``noc_po``, ``noc_pi``, ``noc_hop``, ``zmacs``, ``dram_in``,
``dram_out``), each a float64 array of length ``n``, plus optionally ``stall``: the
cycles the array waited for DRAM beyond ``compute`` (the cycle engine's
own memory timing; the analytical roofline is then not used).  Without
``stall`` the driver adds it from ``dram.layer_dram_stall`` (DRAM tiles
double-buffered through the GLB, each with its request latency).
``compute`` is the layer's cycles without those DRAM stalls; ``A``, ``C``
the array's busy time in each phase, ``Z`` the ZAP's.  When images of a
batch share the array (batch N inside the PE), each image reports the
batch's time divided by N.  ``simulate._finish`` turns the counters into
the results schema (results.json / layers.csv / energy / timelines stay
the same), so a sequencer adds no output code.
"""

from __future__ import annotations

import numpy as np

from ...errors import ZapsimError

#: dataflow -> module (under zapsim.sim.cycle) whose ``run_layer`` sequences it
SEQUENCERS = {
    "row_stationary": ("row_stationary", "run_layer"),
    "output_stationary": ("systolic_array", "systolic_layer"),
    "weight_stationary": ("systolic_array", "systolic_layer"),
    "input_stationary": ("systolic_array", "systolic_layer"),
}


def layer_core(arch, layer, in_masks: np.ndarray | None, out_masks: np.ndarray | None,
               comp_masks: np.ndarray | None, zap: bool, n: int, batch: int) -> dict[str, np.ndarray]:
    """Core counters of ``n`` images of one layer on the cycle engine (see the module docstring).

    Masks: ``in_masks`` (n, C, H, W), ``out_masks`` / ``comp_masks`` (n, M, E, F) bool or None;
    ``zap``: run phases A / Z / C; ``batch``: images processed together (filters reused across them).
    """
    import importlib

    mod_name, fn = SEQUENCERS[arch.dataflow]
    try:
        mod = importlib.import_module(f"{__package__}.{mod_name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.{mod_name}":
            raise
        raise ZapsimError(f"{arch.source}: dataflow = {arch.dataflow}: the cycle engine has no sequencer for it yet; "
                          f"use --engine analytical") from None
    if fn == "run_layer":
        core = mod.run_layer(arch, layer, in_masks, out_masks, comp_masks, zap, n, max(1, int(batch)))
    else:  # the systolic sequencer times the array only; DRAM tiles are added here
        core = getattr(mod, fn)(arch, layer, in_masks, out_masks, comp_masks, zap=zap)
    core = {k: np.asarray(v, dtype=np.float64) for k, v in core.items()}
    if "stall" not in core:
        from .dram import layer_dram_stall

        core["stall"] = layer_dram_stall(arch, layer, core, max(1, int(batch)))
    return core
