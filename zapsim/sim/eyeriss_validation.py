"""Row-stationary validation against the Eyeriss chip on AlexNet CONV1-5, batch 4 (docs/validation.md).

``python -m zapsim.sim.eyeriss_validation [CONFIG] [--input-density D] [--output-density D]``
prints, per layer, the active PEs, cycles and milliseconds for the batch at
the config's clock, and DRAM accesses per MAC, beside the published figures.
Without ``--input-density`` the inputs are dense (the chip ran real images,
whose ReLU zeros shrink its run-length-coded DRAM traffic); with it, every
ifmap after CONV1 gets a random mask of that density (seed 0); likewise
``--output-density`` for the ofmaps written back (post-ReLU zeros).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..errors import cli_main
from ..trace_format import make_layer

# Eyeriss (Chen et al., JSSC 2017): AlexNet CONV1-5 at 200 MHz, batch 4
PUBLISHED = {
    "active_pes": {"conv1": 154, "conv2": 135, "conv3": 156, "conv4": 156, "conv5": 156},
    "frames_per_s": 34.7,  # 115.3 ms per batch of 4
    "dram_accesses_per_mac": 0.0029,
}
BATCH = 4


def alexnet_conv_layers() -> list:
    """AlexNet's five conv layers as Krizhevsky et al. define them (CONV2, 4, 5 in two groups)."""
    return [
        make_layer("conv1", 3, 227, 227, 96, kernel=11, stride=4),
        make_layer("conv2", 96, 27, 27, 256, kernel=5, padding=2, groups=2),
        make_layer("conv3", 256, 13, 13, 384, kernel=3, padding=1),
        make_layer("conv4", 384, 13, 13, 384, kernel=3, padding=1, groups=2),
        make_layer("conv5", 384, 13, 13, 256, kernel=3, padding=1, groups=2),
    ]


def run(arch, input_density: float | None = None, output_density: float | None = None) -> list[dict]:
    """Per layer: active PEs, cycles for the batch, ms at the clock, DRAM words, MACs (batch of 4)."""
    from .row_stationary import rs_mapping
    from .simulate import simulate_layer_batch

    rng = np.random.default_rng(0)
    rows = []
    for i, layer in enumerate(alexnet_conv_layers()):
        in_m = None
        if input_density is not None and i > 0:
            in_m = rng.random((BATCH, *layer.in_shape)) < input_density
        out_m = None
        if output_density is not None:
            out_m = rng.random((BATCH, *layer.out_shape)) < output_density
        s = simulate_layer_batch(arch, layer, in_m, out_m, None, zap=False, batch=BATCH, num_images=BATCH)
        cycles = float(s.cycles.sum())
        dram = float(sum(s[f"acc:dram:{t}"].sum() for t in ("ifmap", "weight", "psum")))
        rows.append({"layer": layer.name, "active_pes": rs_mapping(arch, layer).active_pes,
                     "published_active_pes": PUBLISHED["active_pes"][layer.name],
                     "cycles": cycles, "compute_cycles": float(s["compute_cycles"].sum()),
                     "ms": cycles / (arch.clock_mhz * 1e3), "dram_words": dram, "macs": float(layer.macs * BATCH)})
    return rows


def format_rows(rows: list[dict], arch) -> str:
    lines = [f"{'layer':6} {'PEs':>4} {'Eyeriss':>7} {'Mcycles':>8} {'stall%':>6} {'ms':>7} {'DRAM/MAC':>9}"]
    for r in rows:
        stall = 100 * (r["cycles"] - r["compute_cycles"]) / r["cycles"]
        lines.append(f"{r['layer']:6} {r['active_pes']:4d} {r['published_active_pes']:7d} {r['cycles'] / 1e6:8.3f} "
                     f"{stall:6.1f} {r['ms']:7.2f} {r['dram_words'] / r['macs']:9.5f}")
    tot_ms = sum(r["ms"] for r in rows)
    dpm = sum(r["dram_words"] for r in rows) / sum(r["macs"] for r in rows)
    lines.append(f"total: {tot_ms:.1f} ms per batch of {BATCH} = {BATCH * 1e3 / tot_ms:.1f} frames/s at "
                 f"{arch.clock_mhz:g} MHz (Eyeriss: {PUBLISHED['frames_per_s']} frames/s); "
                 f"DRAM accesses/MAC {dpm:.5f} (Eyeriss: {PUBLISHED['dram_accesses_per_mac']})")
    return "\n".join(lines)


def main(argv=None) -> int:
    from .arch import load_arch

    ap = argparse.ArgumentParser(prog="python -m zapsim.sim.eyeriss_validation", description=__doc__.split("\n\n")[0])
    ap.add_argument("config", nargs="?", default=str(Path(__file__).resolve().parents[2] / "arch_configs"
                                                    / "eyeriss_like.yaml"))
    ap.add_argument("--input-density", type=float, default=None, help="density of ifmaps after CONV1 (default dense)")
    ap.add_argument("--output-density", type=float, default=None, help="density of the ofmaps (default dense)")
    args = ap.parse_args(argv)
    arch = load_arch(args.config)
    print(format_rows(run(arch, args.input_density, args.output_density), arch))
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
