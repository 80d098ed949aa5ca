"""Study 1: the energy / speed / accuracy trade-off of ZAP on two accelerators.

ResNet-20 and ResNet-56 on the exact CIFAR-10 images (1017), the four computed-first patterns, uniform and
per-layer thresholds, simulated on ``eyeriss_like`` (row-stationary) and on a weight-stationary systolic array
(``tpu_like_ws_32x32``).  Writes figures (PNG + PDF) and ``report.md`` under ``experiments/out/exp1/``.

    export ZAPSIM_DATA=/path/to/data
    python experiments/exp1_tradeoff.py                 # the full study
    python experiments/exp1_tradeoff.py --images 64 --models resnet20 --patterns checkerboard   # smoke run
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import common as C  # noqa: I001  (experiments/common.py, beside this script)

from zapsim import plot
from zapsim.trace_format import read_trace

NAME = "exp1"


def main(argv: Sequence[str] | None = None) -> int:
    ap = C.base_args(__doc__.splitlines()[0], NAME)
    ap.add_argument("--models", default="resnet20,resnet56", help="comma-separated CIFAR-10 ResNets")
    ap.add_argument("--patterns", default=",".join(C.ALL_PATTERNS), help="comma-separated computed-first patterns")
    ap.add_argument("--archs", default=f"eyeriss_like,{C.WS_SYSTOLIC}", help="comma-separated arch_configs names")
    ap.add_argument("--no-variants", action="store_true",
                    help="skip the variants of the weight-stationary array (ZAP unit size, skip granularity)")
    args = ap.parse_args(argv)
    clock, out = C.start(args, NAME)
    models = args.models.split(",")
    patterns = args.patterns.split(",")
    archs = args.archs.split(",")

    # trace -> simulate, cached; results[(model, pattern, arch)]
    results: dict[tuple[str, str, str], dict] = {}
    traces_of: dict[tuple[str, str], Path] = {}
    missing: list[str] = []
    for model in models:
        for pattern in patterns:
            trace = C.ensure_trace(model, pattern, args.images, args.trace_images, clock, fresh=args.fresh,
                                   trace_root=args.trace_root, no_trace=args.no_trace)
            if trace is None:
                missing.append(f"{model} with {pattern}")
                continue
            traces_of[(model, pattern)] = trace
            for arch in archs:
                results[(model, pattern, arch)] = C.ensure_results(
                    arch, trace, clock, fresh=args.fresh or args.resimulate, sim_images=args.sim_images)

    figs: list[Path] = []
    clock.log("drawing figures")
    for model in models:
        pats = [p for p in patterns if (model, p) in traces_of]
        if not pats:
            continue
        # keep the figures on the useful region: within 10 points of dense top-1 (the tables list every point)
        floor = plot.top1_percent(plot.baseline_op(results[(model, pats[0], archs[0])])) - 10.0
        for arch in archs:
            uni = {p: plot.select_ops(results[(model, p, arch)], kinds=["uniform"]) for p in pats}
            title = f"{model} on {arch} (uniform threshold)"
            figs += plot.plot_energy_accuracy(uni, out / f"energy_{model}_{arch}", overwrite=True,
                                              title=f"Energy vs accuracy, {title}", min_top1=floor)
            figs += plot.plot_speedup_accuracy(uni, out / f"speedup_{model}_{arch}", overwrite=True,
                                               title=f"Speedup vs accuracy, {title}", min_top1=floor)
            figs += plot.plot_energy_accuracy({pats[0]: results[(model, pats[0], arch)]},
                                              out / f"energy_kinds_{model}_{arch}", overwrite=True,
                                              title=f"{model} on {arch}, {pats[0]}: uniform vs per-layer",
                                              min_top1=floor)
        # the method's own view, as the tracer counted it on all evaluation images (no hardware involved)
        traces = {p: read_trace(traces_of[(model, p)], verify=False) for p in pats}
        figs += plot.plot_mac_accuracy(traces, out / f"macs_{model}", overwrite=True, kinds=["uniform"],
                                       title=f"{model}: MAC reduction vs top-1 change (uniform threshold)")
        per_arch = {a: plot.select_ops(results[(model, pats[0], a)], kinds=["uniform"]) for a in archs}
        figs += plot.plot_energy_accuracy(per_arch, out / f"energy_archs_{model}", overwrite=True,
                                          title=f"{model}, {pats[0]}: one curve per accelerator", min_top1=floor)
        head = results[(model, pats[0], archs[0])]
        figs += plot.plot_layer_energy(head, out / f"layers_{model}_{archs[0]}", overwrite=True)

    mac_net = {(m, p): {o.id: o.stats.get("mac_reduction_net_of_zap") for o in read_trace(t, verify=False)
                        .operating_points} for (m, p), t in traces_of.items()}
    report = make_report(results, mac_net, models, patterns, archs, args.images, figs)
    if C.WS_SYSTOLIC in archs and not args.no_variants:
        report += ws_variants(results, traces_of, models, patterns, clock, args)
    report += "\n## Traces\n\n" + C.traces_table({f"{m} / {p}": t for (m, p), t in traces_of.items()},
                                                 args.sim_images)
    if missing:
        report += "\n## Not run\n\nNo trace (run without --no-trace to make them): " + "; ".join(missing) + ".\n"
    return C.finish(args, NAME, out, report, {f"{m}|{p}|{a}": C.summary(r) for (m, p, a), r in results.items()},
                    figs, clock)


# What limits ZAP on the weight-stationary array: the ZAP unit's throughput and what a lock-step array can skip.
WS_VARIANTS = (
    ("as shipped (ZAP unit 32 MACs/cycle, row granularity)", {}),
    ("ZAP unit 256 MACs/cycle", {"zap_unit.macs_per_cycle": 256}),
    ("ZAP on the array itself", {"zap_unit.placement": "array"}),
    ("compact granularity", {"systolic.zap_granularity": "compact"}),
    ("ZAP on the array + compact", {"zap_unit.placement": "array", "systolic.zap_granularity": "compact"}),
    ("gate only (no cycles saved by design)", {"systolic.zap_granularity": "gate"}),
)


def ws_variants(results, traces_of, models, patterns, clock, args) -> str:
    """Variants of the weight-stationary array on the first pattern, at its best uniform threshold within
    1 point: speedup, energy saving and array cycles by phase against dense."""
    out = [f"\n## Why the weight-stationary array does not speed up: variants of `{C.WS_SYSTOLIC}`\n",
           "Same trace and operating point; only the named keys differ from the shipped config. Phase cycles "
           "are the array's busy cycles of phases A and C and the ZAP unit's of Z, as multiples of the dense "
           "run's cycles.\n"]
    rows = []
    for model in models:
        pattern = next((p for p in patterns if (model, p) in traces_of), None)
        if pattern is None:
            continue
        pick = C.best_within(C.summary(results[(model, pattern, C.WS_SYSTOLIC)]), 1.0, "uniform")
        if pick is None:
            continue
        for i, (name, ov) in enumerate(WS_VARIANTS):
            res = C.ensure_results(C.WS_SYSTOLIC, traces_of[(model, pattern)], clock,
                                   fresh=args.fresh or args.resimulate, sim_images=args.sim_images,
                                   overrides=ov, tag=f"variant{i}") if ov else results[(model, pattern, C.WS_SYSTOLIC)]
            d = plot.baseline_op(res)["total"]["cycles"]
            op = plot._op_by_id(res, pick["id"])
            ph = op["total"]["cycles_by_phase"]
            rows.append([model, pattern, pick["label"], name, f"{op['vs_baseline']['speedup']:.3f}x",
                         C.pct(op["vs_baseline"]["energy_saving"]), f"{ph['A'] / d:.2f}", f"{ph['Z'] / d:.2f}",
                         f"{ph['C'] / d:.2f}", f"{ph['overlap'] / d:.2f}"])
    out.append(C.md_table(["model", "pattern", "operating point", "variant", "speedup", "energy saved",
                           "A / dense", "Z / dense", "C / dense", "overlap / dense"], rows))
    return "\n".join(out) + "\n"


def make_report(results, mac_net, models, patterns, archs, images: int, figs: Sequence[Path]) -> str:
    """The markdown report: per model, accelerator, pattern and threshold kind, the best operating point within
    0.5 and 1 point of dense top-1, and every operating point that costs energy or cycles."""
    lines = [f"# Study 1: energy / speed / accuracy trade-off ({images} CIFAR-10 test images)\n",
             "Energy and cycles are against the dense baseline on the same accelerator, simulated on the traced "
             "images; top-1 is measured on all evaluation images. *MACs saved (net)* is the tracer's count on all "
             "evaluation images: skipped MACs minus the ZAPs' own, over all MACs of the network (conv and FC), "
             "as the paper counts them.\n"]
    for budget in (0.5, 1.0):
        lines.append(f"\n## Best operating point within {budget} point(s) of dense top-1\n")
        rows = []
        for model in models:
            for arch in archs:
                for pattern in patterns:
                    if (model, pattern, arch) not in results:
                        continue
                    res = results[(model, pattern, arch)]
                    base = plot.baseline_op(res)
                    summ = C.summary(res)
                    for kind in sorted({r["kind"] for r in summ}):
                        b = C.best_within(summ, budget, kind)
                        if b is None:
                            rows.append([model, arch, pattern, kind, "none within budget", "", "", "", "", ""])
                            continue
                        rows.append([model, arch, pattern, kind, b["label"],
                                     f"{plot.top1_percent(base):.2f}%", f"{b['dtop1']:+.2f}",
                                     C.pct(b["energy_saving"]), C.pct(b["cycle_saving"]),
                                     C.pct(mac_net[(model, pattern)].get(b["id"]))])
        lines.append(C.md_table(["model", "accelerator", "pattern", "thresholds", "operating point", "dense top-1",
                                 "Δ top-1 (points)", "energy saved", "cycles saved", "MACs saved (net)"], rows))
    lines.append("\n## Operating points where ZAP does not pay off (more energy or more cycles than dense)\n")
    bad = []
    for (model, pattern, arch), res in results.items():
        for r in C.summary(res):
            if r["energy_saving"] < 0 or r["speedup"] < 1:
                bad.append([model, arch, pattern, r["label"], C.pct(r["energy_saving"]), C.pct(r["cycle_saving"]),
                            C.pct(mac_net[(model, pattern)].get(r["id"]))])
    lines.append(C.md_table(["model", "accelerator", "pattern", "operating point", "energy saved", "cycles saved",
                             "MACs saved (net)"], bad) if bad else "None.\n")
    lines.append("\n## Figures\n")
    lines += [f"- [{p.name}]({p.name})" for p in figs if p.suffix == ".png"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    C.run_main(main)
