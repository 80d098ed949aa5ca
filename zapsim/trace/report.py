"""Markdown tables of what a tracer run measured, read from trace manifests (no masks are decoded).

``python -m zapsim.trace.report TRACE [TRACE ...] [--ops t0.00,t0.20,budget0.2]`` prints, for each
trace, its operating-point table and then one per-layer table of skipped fractions.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import cli_main
from ..trace_format import Trace, read_trace


def _thr_text(op) -> str:
    if op.thresholds is None:
        return "-"
    vals = sorted(set(op.thresholds.values()))
    return f"{vals[0]:g}" if len(vals) == 1 else f"{min(vals):.2f}..{max(vals):.2f}"


def _actual(stats: dict) -> str:
    """The net MAC reduction minus the ZAPs' actual MACs ('-' for a trace from before the tracer counted them)."""
    v = stats.get("mac_reduction_net_of_zap_actual")
    return "-" if v is None else f"{100 * v:.1f}%"


def ops_table(trace: Trace) -> str:
    """One row per operating point: thresholds, top-1/top-5, change, MAC reductions, sum of Err_l.

    "Net of ZAP" has two definitions, both shown: minus the ZAPs' dense upper bound (18 MACs per position,
    ``mac_reduction_net_of_zap``, the paper's way) and minus the ZAPs' actual MACs with zero inputs skipped, as
    the simulator counts them (``mac_reduction_net_of_zap_actual``).
    """
    lines = [
        "| operating point | thresholds | top-1 | change | top-5 | MAC reduction | net of ZAP (dense bound) "
        "| net of ZAP (actual) | ZAP layers only | sum Err_l |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for op in trace.operating_points:
        a, s = op.accuracy or {}, op.stats or {}
        lines.append(
            f"| {op.id} | {_thr_text(op)} | {100 * a.get('top1', 0):.2f}% | {100 * a.get('top1_change', 0):+.2f} | "
            f"{100 * a.get('top5', 0):.2f}% | {100 * s.get('mac_reduction', 0):.1f}% | "
            f"{100 * s.get('mac_reduction_net_of_zap', 0):.1f}% | {_actual(s)} | "
            f"{100 * s.get('mac_reduction_zap_layers', 0):.1f}% | "
            f"{s.get('sum_err', 0):.3f} |"
        )
    return "\n".join(lines)


def layer_table(trace: Trace, op_ids: Sequence[str]) -> str:
    """Per ZAP layer: C_in, the ZAP's own MACs as a share of the layer, and the skipped fraction at each op."""
    ops = [trace.op(o) for o in op_ids]
    head = "| layer | C_in x H x W | ZAP MACs / layer MACs | " + " | ".join(f"skipped {o.id}" for o in ops) + " |"
    lines = [head, "|" + "---|" * (3 + len(ops))]
    for l in trace.layers:
        if l.zap is None:
            continue
        cells = [f"{100 * o.stats['layers'][l.name]['skipped_fraction']:.1f}%" for o in ops]
        lines.append(f"| {l.name} | {l.c_in}x{l.h_in}x{l.w_in} | {100 * l.zap.macs / l.macs:.1f}% | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary_table(traces: Sequence[Trace], drops: Sequence[float] = (0.5, 1.0)) -> str:
    """Per trace: dense top-1, then for each allowed top-1 drop the operating point with the largest MAC reduction."""
    head = "| model | pattern | ZAP epochs | dense top-1 | " + " | ".join(
        f"best within -{d:g} pt: op, change, MAC red. (net: dense bound / actual)" for d in drops) + " |"
    lines = [head, "|" + "---|" * (4 + len(drops))]
    for t in traces:
        pattern = next((l.zap.pattern for l in t.layers if l.zap), "-")
        epochs = t.manifest.get("zaps", {}).get("settings", {}).get("epochs", "?")
        cells = []
        for d in drops:
            ok = [o for o in t.operating_points if o.kind != "dense" and 100 * o.accuracy["top1_change"] >= -d - 1e-9]
            if not ok:
                cells.append("none")
                continue
            b = max(ok, key=lambda o: o.stats.get("mac_reduction", 0))
            cells.append(f"{b.id}, {100 * b.accuracy['top1_change']:+.2f}, {100 * b.stats['mac_reduction']:.1f}% "
                         f"({100 * b.stats['mac_reduction_net_of_zap']:.1f}% / {_actual(b.stats)})")
        lines.append(f"| {t.model.get('name')} | {pattern} | {epochs} | {100 * t.op('dense').accuracy['top1']:.2f}% | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zapsim.trace.report", description=__doc__.splitlines()[0])
    p.add_argument("traces", nargs="+", help="trace directories")
    p.add_argument("--ops", default="t0.00,t0.20,t0.40,budget0.1,budget0.4",
                   help="operating points for the per-layer table (default %(default)s; missing ones are left out)")
    p.add_argument("--summary", action="store_true", help="print only one summary row per trace")
    args = p.parse_args(argv)
    if args.summary:
        print(summary_table([read_trace(t) for t in args.traces]))
        return 0
    for path in args.traces:
        t = read_trace(path)
        zs = t.manifest.get("zaps", {})
        pattern = next((l.zap.pattern for l in t.layers if l.zap), "-")
        print(f"### {t.model.get('name')}, pattern {pattern} ({path})\n")
        print(f"Accuracy on {t.op('dense').accuracy.get('images')}; ZAPs trained on "
              f"{t.dataset.get('zap_training_images')}; tracer time {t.manifest.get('tracer', {}).get('seconds')} s"
              f"{' (ZAPs reused)' if zs.get('reused') else ''}.\n")
        print(ops_table(t) + "\n")
        ids = [o for o in args.ops.split(",") if o in {op.id for op in t.operating_points}]
        if ids:
            print(layer_table(t, ids) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(main))
