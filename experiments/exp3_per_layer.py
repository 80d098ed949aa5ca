"""Study 3: where the energy goes: which layers gain from ZAP and which lose, by channel count.

Per layer of ResNet-20 and ResNet-56 (checkerboard, ``eyeriss_like`` and the weight-stationary systolic array),
at the lowest-energy uniform threshold within 1 point of dense top-1: the energy the skipped work saves, what
the ZAP itself costs, and the net, against the layer's input and output channel counts.  A ZAP's MACs are
18 per output element against 9 * C_in for the layer's own, so its relative cost falls as 2 / C_in.  Writes
figures and ``report.md`` under ``experiments/out/exp3/``.

    export ZAPSIM_DATA=/path/to/data
    python experiments/exp3_per_layer.py
    python experiments/exp3_per_layer.py --images 64 --models resnet20 --archs eyeriss_like   # smoke run
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import common as C  # noqa: I001  (experiments/common.py, beside this script)
import numpy as np
from matplotlib.figure import Figure

from zapsim import plot
from zapsim.trace_format import read_trace

NAME = "exp3"


def main(argv: Sequence[str] | None = None) -> int:
    ap = C.base_args(__doc__.splitlines()[0], NAME)
    ap.add_argument("--models", default="resnet20,resnet56", help="comma-separated CIFAR-10 ResNets")
    ap.add_argument("--pattern", default="checkerboard")
    ap.add_argument("--archs", default=f"eyeriss_like,{C.WS_SYSTOLIC}", help="comma-separated arch_configs names")
    ap.add_argument("--max-drop", type=float, default=1.0, help="top-1 budget (points) for the operating point")
    ap.add_argument("--timeline-layer", default="layer2.1.conv1",
                    help="layer whose per-PE timeline (image 0, dense and ZAP) is drawn on each accelerator")
    args = ap.parse_args(argv)
    clock, out = C.start(args, NAME)
    figs: list[Path] = []
    used: dict[str, Path] = {}
    report = [f"# Study 3: per-layer ZAP cost against saving ({args.images} CIFAR-10 test images)\n",
              f"Pattern `{args.pattern}`; the operating point is the lowest-energy uniform threshold within "
              f"{args.max_drop} point(s) of dense top-1. Per layer: *saved* = dense energy - (ZAP-run energy - ZAP "
              "unit energy), *ZAP cost* = the ZAP unit's energy, *net* = saved - cost; all in % of the layer's "
              "dense energy. Layers without a ZAP (the first conv, the FC) are left out of the statistics.\n"]
    summary = {}
    for model in args.models.split(","):
        trace = C.ensure_trace(model, args.pattern, args.images, args.trace_images, clock, fresh=args.fresh,
                               trace_root=args.trace_root, no_trace=args.no_trace)
        if trace is None:
            report.append(f"\n## {model}\n\nNot run: no trace of {model} with {args.pattern} (--no-trace).\n")
            continue
        used[model] = trace
        layers = {layer.name: layer for layer in read_trace(trace, verify=False).layers}
        for arch in args.archs.split(","):
            res = C.ensure_results(arch, trace, clock, fresh=args.fresh or args.resimulate,
                                   sim_images=args.sim_images)
            pick = C.best_within(C.summary(res), args.max_drop, "uniform")
            if pick is None:
                raise C.ZapsimError(f"{model} on {arch}: no uniform operating point within {args.max_drop} points")
            rows = per_layer(res, pick["id"], layers)
            summary[f"{model}|{arch}"] = {"op": pick, "layers": rows}
            figs += plot.plot_layer_gain(res, out / f"gain_{model}_{arch}", op_id=pick["id"],
                                         channels={n: l.c_out for n, l in layers.items()}, overwrite=True,
                                         title=f"{model} on {arch}, '{pick['label']}': energy saved vs ZAP cost")
            figs += draw_scatter(rows, out / f"by_channels_{model}_{arch}", f"{model} on {arch}, '{pick['label']}'")
            if args.timeline_layer in layers:
                figs += draw_timelines(arch, trace, args.timeline_layer, pick, out / f"timeline_{model}_{arch}")
            report.append(f"\n## {model} on {arch} ('{pick['label']}', top-1 {pick['dtop1']:+.2f} points, "
                          f"{C.pct(pick['energy_saving'])} energy saved overall)\n")
            report.append(group_table(rows))
            report.append("\nBy place in the residual block:\n")
            report.append(group_table(rows, key="role"))
            losers = [r for r in rows if r["zap"] and r["net"] < 0]
            if losers:
                report.append("\nLayers where ZAP costs more energy than it saves:\n")
                report.append(C.md_table(
                    ["layer", "C_in", "C_out", "map", "outputs skipped", "saved", "ZAP cost", "net",
                     "ZAP MACs / layer MACs", "2 / C_in"],
                    [[r["name"], r["c_in"], r["c_out"], f"{r['h']}x{r['w']}", C.pct(r["skip_frac"]),
                      C.pct(r["saved"]), C.pct(r["cost"]), C.pct(r["net"]), C.pct(r["zap_mac_ratio"], 2),
                      C.pct(2 / r["c_in"], 2)] for r in losers]))
            else:
                report.append("\nEvery ZAP layer saves more energy than its ZAP costs at this operating point.\n")
    report.append(C.traces_and_figures(used, args.sim_images, figs))
    return C.finish(args, NAME, out, "\n".join(report), summary, figs, clock)


def draw_timelines(arch_name: str, trace: Path, layer_name: str, pick: dict, out_base: Path) -> list[Path]:
    """Per-PE timelines of one layer on image 0: dense, then the ZAP operating point."""
    from zapsim.sim.arch import load_arch
    from zapsim.sim.timeline import layer_timeline

    arch = load_arch(C.ARCH_DIR / f"{arch_name}.yaml")
    tr = read_trace(trace, verify=False)
    li = tr.layer_index(layer_name)
    figs = []
    for op_id, what in (("dense", "dense"), (pick["id"], pick["label"])):
        tl = layer_timeline(arch, tr.layers[li], trace=tr, layer_index=li, op_id=op_id, image=0)
        states = plot.runs_to_matrix(tl["runs"], tl["cycles"])
        name = out_base.with_name(f"{out_base.name}_{'dense' if op_id == 'dense' else 'zap'}")
        figs += plot.plot_pe_timeline(states, name, overwrite=True, phase_starts=tl.get("phase_starts"),
                                      title=f"{layer_name} on {arch_name}, image 0, {what}: {tl['cycles']} cycles")
    return figs


def per_layer(res: dict, op_id: str, layers: dict) -> list[dict]:
    """Saved / ZAP cost / net energy of each layer, as fractions of the layer's dense energy."""
    base = plot.baseline_op(res)
    op = plot._op_by_id(res, op_id)
    rows = []
    for lb, lo in zip(base["layers"], op["layers"]):
        tl = layers[lb["name"]]
        e0 = lb["energy_pj"]["total"]
        zap_pj = lo["energy_pj"]["by_component"].get("zap", 0.0)
        e1 = lo["energy_pj"]["total"]
        alg = lb["macs"]["algorithmic"]
        rows.append({
            "name": lb["name"], "c_in": tl.c_in, "c_out": tl.c_out, "h": tl.h_out, "w": tl.w_out,
            "zap": tl.zap is not None,
            "saved": (e0 - (e1 - zap_pj)) / e0, "cost": zap_pj / e0, "net": (e0 - e1) / e0,
            "saved_pj": e0 - (e1 - zap_pj), "cost_pj": zap_pj, "dense_pj": e0,
            "skip_frac": (lo["macs"].get("skipped", 0.0) + lo["macs"].get("gated", 0.0)
                          - lb["macs"].get("skipped", 0.0) - lb["macs"].get("gated", 0.0)) / alg,
            "zap_mac_ratio": lo["macs"]["zap"] / alg,
        })
    return rows


def role(name: str) -> str:
    """A ResNet layer's place in its block: 'conv2' outputs are block outputs (after the residual add)."""
    last = name.rsplit(".", 1)[-1]
    return {"conv1": "block-internal (conv1)", "conv2": "block output, after the add (conv2)"}.get(last, last)


def group_table(rows: list[dict], key: str = "c_in") -> str:
    """Per input-channel count (or per ``key`` = 'role'): layers, mean saved / cost / net, and how many lose."""
    out = []
    val = (lambda r: r["c_in"]) if key == "c_in" else (lambda r: role(r["name"]))
    for c in sorted({val(r) for r in rows if r["zap"]}):
        g = [r for r in rows if r["zap"] and val(r) == c]
        tot0 = sum(r["dense_pj"] for r in g)
        out.append([c, len(g), C.pct(np.mean([r["skip_frac"] for r in g])),
                    C.pct(sum(r["saved_pj"] for r in g) / tot0), C.pct(sum(r["cost_pj"] for r in g) / tot0),
                    C.pct(sum(r["saved_pj"] - r["cost_pj"] for r in g) / tot0),
                    C.pct(np.mean([r["zap_mac_ratio"] for r in g]), 2),
                    C.pct(2 / c, 2) if key == "c_in" else "–",
                    sum(r["net"] < 0 for r in g)])
    return C.md_table(["C_in" if key == "c_in" else "layer", "ZAP layers", "MACs removed (mean)", "saved", "ZAP cost", "net",
                       "ZAP MACs / layer MACs", "2 / C_in (bound)", "layers losing"], out)


def draw_scatter(rows: list[dict], out_base: Path, title: str) -> list[Path]:
    """Per ZAP layer: saved, ZAP cost and net (% of the layer's dense energy) against input channels."""
    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    z = [r for r in rows if r["zap"]]
    chans = sorted({r["c_in"] for r in z})
    pos = {c: i for i, c in enumerate(chans)}
    rng = np.random.default_rng(0)  # fixed jitter: same figure every run
    jit = rng.uniform(-0.18, 0.18, len(z))
    x = np.array([pos[r["c_in"]] for r in z]) + jit
    ax.scatter(x - 0.0, [100 * r["saved"] for r in z], marker="o", color="#4c72b0", label="saved by skipping",
               alpha=0.8)
    ax.scatter(x, [-100 * r["cost"] for r in z], marker="x", color="#dd8452", label="ZAP cost (negative)")
    ax.scatter(x, [100 * r["net"] for r in z], marker="_", s=120, color="black", label="net")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(chans)), [str(c) for c in chans])
    ax.set_xlabel("input channels C_in of the layer")
    ax.set_ylabel("% of the layer's dense energy")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return plot.save_figure(fig, out_base, overwrite=True)


if __name__ == "__main__":
    C.run_main(main)
