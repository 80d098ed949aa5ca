"""Figures of a sweep: Pareto fronts (energy and cycles against top-1) and tornado (sensitivity) charts.

Drawn headless with :func:`zapsim.plot.save_figure` (PNG and PDF, fixed
metadata, atomic), so the same table gives the same bytes.

* Pareto: every successful row with a top-1 (operating points of every design
  point), one series per base architecture, trace and energy unit (energies
  in different units are never compared); each series' front (no other row
  of the series has both lower energy, or cycles, and higher top-1) is drawn
  as a step line.
* Tornado, for one operating point: per axis, the range of speedup and of
  energy saved (both against dense on the same point) over the axis' values
  with every other axis at its base (the axis' ``base:``, else the base
  architecture's own value), bars sorted by their span.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import plot as P
from ..safepath import safe_file_name
from .spec import Point, Sweep, _value_at, build_arch


def _series(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, str], list[Mapping[str, Any]]]:
    out: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        if r.get("error") or r.get("top1") is None:
            continue
        out.setdefault((r["base_arch"], r["trace"], r["energy_unit"]), []).append(r)
    return dict(sorted(out.items()))


def plot_pareto(rows: Sequence[Mapping[str, Any]], metric: str, out_base: str | Path, title: str | None = None,
                overwrite: bool = True) -> list[Path]:
    """Top-1 (x, %) against ``metric`` (``energy_pj`` or ``cycles``, y, log) with each series' Pareto front."""
    fig, ax = P._new_figure()
    series = _series(rows)
    units = {u for (_, _, u) in series}
    for i, ((arch, trace, unit), rs) in enumerate(series.items()):
        colour, marker = P.SERIES_COLOURS[i % len(P.SERIES_COLOURS)], P.SERIES_MARKERS[i % len(P.SERIES_MARKERS)]
        x = [100 * r["top1"] for r in rs]
        y = [r[metric] for r in rs]
        label = f"{arch} / {trace}" + (f" ({unit})" if metric == "energy_pj" and len(units) > 1 else "")
        ax.scatter(x, y, s=9, color=colour, marker=marker, alpha=0.35, linewidths=0)
        front = P.pareto_front(y, x)  # lower cost and higher top-1 are better
        fx = [x[j] for j in front]
        fy = [y[j] for j in front]
        ax.step(fx, fy, where="post", color=colour, lw=1.2, label=f"{label}: front ({len(front)} of {len(rs)})")
        ax.scatter(fx, fy, s=16, color=colour, marker=marker)
    ax.set_xlabel("top-1 (%)", fontsize=P.FONT_PT)
    if metric == "energy_pj":
        unit = next(iter(units)) if len(units) == 1 else "each series in its own unit"
        ax.set_ylabel(f"energy per image ({unit})", fontsize=P.FONT_PT)
    else:
        ax.set_ylabel("cycles per image", fontsize=P.FONT_PT)
    if series and all(r[metric] > 0 for rs in series.values() for r in rs):
        ax.set_yscale("log")
    ax.set_title(title or f"{metric.split('_')[0]} against top-1: every point of the sweep", fontsize=P.FONT_PT)
    if series:
        ax.legend(fontsize=P.LEGEND_PT, loc="best")
    return P.save_figure(fig, out_base, overwrite=overwrite)


def base_values(sweep: Sweep) -> dict[str, dict[str, Any]]:
    """Per base arch name: each axis column's base value (the axis' ``base:``, else the base arch's own)."""
    from ..sim.arch import arch_to_dict

    out = {}
    for base in sweep.archs:
        arch, batch = build_arch(sweep, base, Point(-1, ()))
        d = arch_to_dict(arch)
        vals = {c: _value_at(d, batch, c) for c in sweep.columns}
        for a in sweep.axes:
            if a.base is not None:
                bv = a.base if a.paired else (a.base,)
                if a.keys == ("energy",):
                    built, _ = build_arch(sweep, base, Point(-1, (("energy", a.base),)))
                    bv = (built.energy.name,)
                vals.update(zip(a.keys, bv))
        out[base.stem] = vals
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return a == b


def tornado_table(sweep: Sweep, rows: Sequence[Mapping[str, Any]], op_id: str) -> list[dict[str, Any]]:
    """Per (base arch, trace, axis): the range of speedup and energy saved of ``op_id`` as the axis moves alone."""
    bases = base_values(sweep)
    out = []
    ok = [r for r in rows if not r.get("error") and r.get("op_id") == op_id]
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in ok:
        groups.setdefault((r["base_arch"], r["trace"]), []).append(r)
    for (arch, trace), rs in sorted(groups.items()):
        bv = bases.get(arch, {})
        base_rows = [r for r in rs if all(_same(r.get(c), bv.get(c)) for c in sweep.columns)]
        base = base_rows[0] if base_rows else None
        for a in sweep.axes:
            others = [c for c in sweep.columns if c not in a.keys]
            moved = [r for r in rs if all(_same(r.get(c), bv.get(c)) for c in others)]
            if len(moved) < 2:
                continue
            lo_s = min(moved, key=lambda r: r["speedup"])
            hi_s = max(moved, key=lambda r: r["speedup"])
            lo_e = min(moved, key=lambda r: r["energy_saving"])
            hi_e = max(moved, key=lambda r: r["energy_saving"])

            def val(r, keys=a.keys):
                return "x".join(str(r.get(k)) for k in keys)

            out.append({"base_arch": arch, "trace": trace, "axis": a.name, "points": len(moved),
                        "base_speedup": None if base is None else base["speedup"],
                        "base_energy_saving": None if base is None else base["energy_saving"],
                        "speedup_min": lo_s["speedup"], "speedup_max": hi_s["speedup"],
                        "speedup_min_at": val(lo_s), "speedup_max_at": val(hi_s),
                        "energy_saving_min": lo_e["energy_saving"], "energy_saving_max": hi_e["energy_saving"],
                        "energy_saving_min_at": val(lo_e), "energy_saving_max_at": val(hi_e)})
    return out


def plot_tornado(table: Sequence[Mapping[str, Any]], out_base: str | Path, title: str,
                 overwrite: bool = True) -> list[Path]:
    """Two panels (speedup; energy saved, %): one bar per axis from its minimum to its maximum, widest on top."""
    from matplotlib.figure import Figure

    rows = sorted(table, key=lambda t: (t["speedup_max"] - t["speedup_min"]) + (t["energy_saving_max"]
                                                                                - t["energy_saving_min"]))
    n = max(1, len(rows))
    fig = Figure(figsize=(P.TRADEOFF_SIZE[0], 1.0 + 0.32 * n), layout="constrained")
    axs = fig.subplots(1, 2, sharey=True)
    panels = (("speedup", 1.0, "speedup against dense (x)", "{:.3f}x"),
              ("energy_saving", 100.0, "energy saved against dense (%)", "{:.1f}%"))
    for ax, (key, scale, xlabel, fmt) in zip(axs, panels):
        for i, t in enumerate(rows):
            lo, hi = scale * t[f"{key}_min"], scale * t[f"{key}_max"]
            ax.barh(i, max(hi - lo, 1e-9 * scale), left=lo, color=P.SERIES_COLOURS[0 if key == "speedup" else 1],
                    height=0.6)
            if math.isclose(lo, hi, rel_tol=1e-9, abs_tol=1e-12):  # the axis does not move it: one label
                ax.text(lo, i - 0.36, "no change", fontsize=P.LEGEND_PT - 1, ha="center", va="top")
                continue
            ax.text(lo, i - 0.36, f"{t[f'{key}_min_at']}", fontsize=P.LEGEND_PT - 1, ha="right", va="top")
            ax.text(hi, i - 0.36, f"{t[f'{key}_max_at']}", fontsize=P.LEGEND_PT - 1, ha="left", va="top")
        base = next((t[f"base_{key}"] for t in rows if t[f"base_{key}"] is not None), None)
        if base is not None:
            ax.axvline(scale * base, color="k", lw=0.8, ls="--")
            ax.set_title(f"base: {fmt.format(scale * base)}", fontsize=P.FONT_PT)
        ax.set_xlabel(xlabel, fontsize=P.FONT_PT)
        ax.tick_params(labelsize=P.FONT_PT)
        ax.grid(True, axis="x", alpha=0.3)
        ax.margins(x=0.25)
    axs[0].set_yticks(range(len(rows)), [t["axis"] for t in rows], fontsize=P.LEGEND_PT)
    fig.suptitle(title, fontsize=P.FONT_PT)
    return P.save_figure(fig, out_base, overwrite=overwrite)


def tornado_op(sweep: Sweep) -> str | None:
    """The operating point of the sweep's tornado: ``plots: {tornado: {op: ID}}``, else for an ``oat`` sweep its
    first requested non-dense op; None: no tornado."""
    if not sweep.axes:
        return None
    tor = sweep.plots.get("tornado")
    op = tor.get("op") if isinstance(tor, Mapping) else None
    if op is None and sweep.combine == "oat" and tor is not False:
        op = next((o for o in (sweep.ops or []) if o != "dense"), None)
    return op


def draw_sweep_figures(sweep: Sweep, rows: Sequence[Mapping[str, Any]], out: Path) -> list[Path]:
    """The figures a sweep file asks for (``plots:``): Pareto fronts unless ``pareto: false``; tornados for
    ``tornado: {op: ID}`` (default: an ``oat`` sweep's first requested non-dense operating point)."""
    figs: list[Path] = []
    cfg = sweep.plots
    if cfg.get("pareto", True) and any(r.get("top1") is not None and not r.get("error") for r in rows):
        figs += plot_pareto(rows, "energy_pj", out / "pareto_energy", f"{sweep.name}: energy against top-1")
        figs += plot_pareto(rows, "cycles", out / "pareto_cycles", f"{sweep.name}: cycles against top-1")
    op = tornado_op(sweep)
    if op is not None:
        table = tornado_table(sweep, rows, op)
        for (arch, trace) in sorted({(t["base_arch"], t["trace"]) for t in table}):
            part = [t for t in table if t["base_arch"] == arch and t["trace"] == trace]
            name = safe_file_name(f"tornado_{op}_{arch}_{trace}", 120)
            figs += plot_tornado(part, out / name, f"{sweep.name}: {op} on {arch} ({trace}), each axis alone")
    return figs
