"""Study 2: ZAP together with zero-input gating and zero-input skipping: how much of the saving comes from each.

ZAP's skipped outputs are written as zeros, so the next layer receives extra zero inputs; an accelerator that
gates or skips zero inputs (Eyeriss v1 gates, Cnvlutin skips) turns them into further savings.  The same trace
(ResNet-20 and ResNet-56, checkerboard) is simulated on ``eyeriss_like`` with ``sparsity.zero_inputs`` set to
ignore, gate and skip; every configuration's dense and ZAP operating points are compared against one reference:
dense, zero inputs ignored.  Writes figures and ``report.md`` under ``experiments/out/exp2/``.

    export ZAPSIM_DATA=/path/to/data
    python experiments/exp2_input_sparsity.py
    python experiments/exp2_input_sparsity.py --images 64 --models resnet20    # smoke run
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import common as C  # noqa: I001  (experiments/common.py, beside this script)
import numpy as np
from matplotlib.figure import Figure

from zapsim import plot

NAME = "exp2"
MODES = ("ignore", "gate", "skip")


def main(argv: Sequence[str] | None = None) -> int:
    ap = C.base_args(__doc__.splitlines()[0], NAME)
    ap.add_argument("--models", default="resnet20,resnet56", help="comma-separated CIFAR-10 ResNets")
    ap.add_argument("--pattern", default="checkerboard")
    ap.add_argument("--arch", default="eyeriss_like", help="arch_configs name whose zero_inputs mode is varied")
    ap.add_argument("--max-drop", type=float, default=1.0,
                    help="the ZAP operating point studied is the lowest-energy one within this many top-1 points "
                         "of dense (chosen on the zero-inputs-ignored run)")
    args = ap.parse_args(argv)
    clock, out = C.start(args, NAME)
    figs: list[Path] = []
    used: dict[str, Path] = {}
    report = [f"# Study 2: ZAP with zero-input gating and skipping ({args.images} CIFAR-10 test images)\n",
              f"Accelerator `{args.arch}` with `sparsity.zero_inputs` = ignore / gate / skip; pattern "
              f"`{args.pattern}`. Every number is against one reference: the dense network with zero inputs "
              "ignored. 'ZAP' is the lowest-energy uniform threshold within "
              f"{args.max_drop} point(s) of dense top-1.\n"]
    table = {}
    for model in args.models.split(","):
        trace = C.ensure_trace(model, args.pattern, args.images, args.trace_images, clock, fresh=args.fresh,
                               trace_root=args.trace_root, no_trace=args.no_trace)
        if trace is None:
            report.append(f"\n## {model}\n\nNot run: no trace of {model} with {args.pattern} (--no-trace).\n")
            continue
        used[model] = trace
        runs = {m: C.ensure_results(args.arch, trace, clock, fresh=args.fresh or args.resimulate,
                                    sim_images=args.sim_images, overrides={"sparsity.zero_inputs": m},
                                    tag=f"in-{m}") for m in MODES}
        pick = C.best_within(C.summary(runs["ignore"]), args.max_drop, "uniform")
        if pick is None:
            raise C.ZapsimError(f"{model}: no uniform operating point within {args.max_drop} points of dense")
        ref = plot.baseline_op(runs["ignore"])["total"]
        rows = decompose(runs, pick["id"], ref)
        table[model] = rows
        figs += draw(rows, out / f"input_sparsity_{model}", f"{model}, {args.pattern} at '{pick['label']}' "
                     f"(top-1 {pick['dtop1']:+.2f} points)")
        report.append(f"\n## {model} (ZAP operating point '{pick['label']}', top-1 {pick['top1']:.2f}%, "
                      f"{pick['dtop1']:+.2f} points)\n")
        report.append(C.md_table(
            ["configuration", "energy saved", "cycles saved", "MACs performed", "MACs gated", "MACs skipped",
             "ZAP MACs"],
            [[r["name"], C.pct(r["energy_saving"]), C.pct(r["cycle_saving"]), C.pct(r["actual"]),
              C.pct(r["gated"]), C.pct(r["skipped"]), C.pct(r["zap_macs"], 2)] for r in rows]))
        report.append(attribution(rows))
    report.append("\nMAC columns are fractions of the dense network's algorithmic MACs.\n")
    report.append(C.traces_and_figures(used, args.sim_images, figs))
    return C.finish(args, NAME, out, "\n".join(report), table, figs, clock)


def decompose(runs: dict[str, dict], zap_id: str, ref: dict) -> list[dict]:
    """Energy / cycle savings of dense and ZAP under each zero-input mode, against dense-with-inputs-ignored."""
    e0, c0, alg = ref["energy_pj"]["total"], ref["cycles"], ref["macs"]["algorithmic"]
    rows = []
    for zap in (False, True):
        for m in MODES:
            res = runs[m]
            op = plot._op_by_id(res, zap_id) if zap else plot.baseline_op(res)
            t = op["total"]
            rows.append({
                "name": ("ZAP" if zap else "dense") + ("" if m == "ignore" else f" + zero-input {m}"),
                "with_zap": zap, "mode": m,
                "energy_saving": 1 - t["energy_pj"]["total"] / e0, "cycle_saving": 1 - t["cycles"] / c0,
                "actual": t["macs"]["actual"] / alg, "gated": t["macs"].get("gated", 0.0) / alg,
                "skipped": t["macs"].get("skipped", 0.0) / alg, "zap_macs": t["macs"]["zap"] / alg,
            })
    return rows


def attribution(rows: list[dict]) -> str:
    """Split each combined saving into: the input mode alone, ZAP alone, and the interaction (ZAP's extra zeros
    exploited downstream, or double counting when negative)."""
    by = {(r["with_zap"], r["mode"]): r for r in rows}
    out = ["\nAttribution of the combined saving (energy / cycles, points of the dense reference):\n"]
    tab = []
    for m in ("gate", "skip"):
        for key, what in (("energy_saving", "energy"), ("cycle_saving", "cycles")):
            both = by[(True, m)][key]
            zap_only = by[(True, "ignore")][key]
            inp_only = by[(False, m)][key]
            tab.append([f"ZAP + zero-input {m}", what, C.pct(both), C.pct(zap_only), C.pct(inp_only),
                        C.pct(both - zap_only - inp_only)])
    out.append(C.md_table(["combination", "", "combined", "ZAP alone", "input mode alone",
                           "interaction (combined - sum)"], tab))
    return "\n".join(out)


def draw(rows: list[dict], out_base: Path, title: str) -> list[Path]:
    """Grouped bars: energy and cycles saved for dense / ZAP under each zero-input mode."""
    fig = Figure(figsize=(8.0, 4.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=False)
    x = np.arange(len(MODES))
    w = 0.38
    for ax, key, label in ((axes[0], "energy_saving", "energy saved (% of dense, inputs ignored)"),
                           (axes[1], "cycle_saving", "cycles saved (% of dense, inputs ignored)")):
        for k, (zap, colour) in enumerate(((False, "#8c8c8c"), (True, "#dd8452"))):
            vals = [100 * next(r[key] for r in rows if r["with_zap"] == zap and r["mode"] == m)
                    for m in MODES]
            bars = ax.bar(x + (k - 0.5) * w, vals, w, color=colour, label="with ZAP" if zap else "dense (no ZAP)")
            ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.set_xticks(x, [f"zero inputs\n{m}" for m in MODES])
        ax.set_ylabel(label)
        ax.axhline(0, color="black", lw=0.8)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    return plot.save_figure(fig, out_base, overwrite=True)


if __name__ == "__main__":
    C.run_main(main)
