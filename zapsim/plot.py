"""Figures of zapsim results: energy, speed and MACs against accuracy, per-layer energy, per-PE timelines.

``python -m zapsim.plot RESULTS... [--out DIR]`` draws every figure the
results allow; the experiments and the README's main job call the functions
below directly.  Each figure is written as PNG and PDF, atomically (temporary
name, then rename); an existing figure is replaced only with ``overwrite``.

Input is the results JSON of ``python -m zapsim.run`` (schema
``zapsim-results`` version 1, see ``docs/results-schema.md``), loaded with
:func:`load_results`.  Matplotlib runs headless (Agg, no pyplot state); this
module never imports torch.

Definitions used on the axes (all against the dense operating point of the
same results file, i.e. the same architecture and trace):

* normalised energy = op energy / dense energy (1 = no saving);
* speedup = dense cycles / op cycles;
* MAC reduction = (dense actual MACs - op actual MACs) / algorithmic MACs,
  "net" also subtracting the ZAPs' own MACs.  On an architecture that does
  not exploit zero inputs this is the paper's measure (skipped MACs minus ZAP
  MACs over all MACs); where zero inputs are gated or skipped it is the
  reduction ZAP adds on top of that;
* accuracy = top-1 of the trace's operating point on its images, in percent.

What the trade-off figures draw: one curve per results file (architecture)
and threshold kind; each architecture's own Pareto front, named in the
legend, on its own baseline (so fronts of architectures whose energies are
relative to different dense baselines are never merged into one); with
several results whose tables are all in pJ, ``energy_accuracy_absolute``
puts them on one absolute axis.  Error bars are one standard error: top-1 as
a binomial proportion over the tracer's evaluation images, energy and cycles
as the mean over the simulated images (``energy_pj_std`` / ``cycles_std`` /
sqrt(images)).  Reversed x axes say so on the axis.  Energies of a table in
MAC-equivalents (``eyeriss_normalized``) are labelled so, never pJ.  A
results file with only the dense operating point gets its per-layer
figure.  Per-layer tick labels are shortened only as far as needed, and the
axis caption lists the abbreviations used.  Sizes and fonts are for print: a
trade-off figure is 6.3 in wide (a page width), per-layer figures at most 7 in.
"""

from __future__ import annotations

import argparse
import io
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless; must precede any backend use

import numpy as np  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .atomic import check_target, write_bytes_atomic  # noqa: E402
from .errors import ZapsimError, cli_main  # noqa: E402

RESULTS_SCHEMA = "zapsim-results"
RESULTS_SCHEMA_VERSION = 1
MAX_RESULTS_BYTES = 512 * 2**20
FORMATS = ("png", "pdf")

# Energy components in stacking order (bottom to top) with fixed colours, so a
# component has the same colour in every figure.
COMPONENTS = ("mac", "spad", "noc", "glb", "dram", "zap", "leakage")
COMPONENT_LABELS = {
    "mac": "MAC",
    "spad": "scratchpads",
    "noc": "NoC",
    "glb": "global buffer",
    "dram": "DRAM",
    "zap": "ZAP unit",
    "leakage": "leakage",
}
COMPONENT_COLOURS = {
    "mac": "#4c72b0",
    "spad": "#55a868",
    "noc": "#8172b3",
    "glb": "#ccb974",
    "dram": "#c44e52",
    "zap": "#dd8452",
    "leakage": "#8c8c8c",
}
# PE states of the timeline, in code order 0..3.
PE_STATES = ("busy", "gated", "idle", "stalled")
PE_STATE_COLOURS = ("#2ca02c", "#9ecae1", "#d9d9d9", "#d62728")
SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
# Channel-count colours of the per-layer gain figure: no orange, which is the ZAP's colour.
CHANNEL_COLOURS = ("#4c72b0", "#55a868", "#8172b3", "#64b5cd", "#937860", "#da8bc3", "#8c8c8c")
SERIES_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


# --------------------------------------------------------------------------- loading and validation


def _need(d: Any, key: str, where: str, types: type | tuple[type, ...] = object) -> Any:
    if not isinstance(d, Mapping):
        raise ZapsimError(f"{where}: expected an object, got {type(d).__name__}")
    if key not in d:
        raise ZapsimError(f"{where}: missing key '{key}'")
    v = d[key]
    if types is not object and (not isinstance(v, types) or isinstance(v, bool) and bool not in _tuple(types)):
        raise ZapsimError(f"{where}: key '{key}' has {v!r}; expected {_type_names(types)}")
    return v


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _type_names(types: type | tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in _tuple(types))


_NUM = (int, float)


def validate_results(res: Any, source: str = "results") -> dict[str, Any]:
    """Check the parts of a results dict the figures use; raise :class:`ZapsimError` naming key and value."""
    if not isinstance(res, Mapping):
        raise ZapsimError(f"{source}: not a zapsim results file (top level is {type(res).__name__}, not an object)")
    schema = res.get("schema")
    if schema != RESULTS_SCHEMA:
        raise ZapsimError(
            f"{source}: not a zapsim results file ('schema' is {schema!r}, expected '{RESULTS_SCHEMA}'); "
            "results come from `python -m zapsim.run`"
        )
    ver = res.get("schema_version")
    if not isinstance(ver, int) or isinstance(ver, bool):
        raise ZapsimError(f"{source}: 'schema_version' is {ver!r}; expected an integer")
    if ver != RESULTS_SCHEMA_VERSION:
        newer = " (newer than this zapsim reads; upgrade zapsim)" if ver > RESULTS_SCHEMA_VERSION else ""
        raise ZapsimError(
            f"{source}: results schema_version {ver} is not supported{newer}; this zapsim reads version "
            f"{RESULTS_SCHEMA_VERSION}"
        )
    ops = _need(res, "operating_points", source, list)
    if not ops:
        raise ZapsimError(f"{source}: 'operating_points' is empty")
    for i, op in enumerate(ops):
        w = f"{source}: operating_points[{i}]"
        _need(op, "id", w, str)
        w = f"{w} ('{op['id']}')"
        _need(op, "kind", w, str)
        layers = _need(op, "layers", w, list)
        total = _need(op, "total", w, dict)
        for j, layer in enumerate([total, *layers]):
            lw = f"{w} total" if j == 0 else f"{w} layers[{j - 1}]"
            _need(layer, "cycles", lw, _NUM)
            macs = _need(layer, "macs", lw, dict)
            for k in ("algorithmic", "actual", "zap"):
                _need(macs, k, f"{lw} macs", _NUM)
            energy = _need(layer, "energy_pj", lw, dict)
            _need(energy, "total", f"{lw} energy_pj", _NUM)
            _need(energy, "by_component", f"{lw} energy_pj", dict)
        acc = op.get("accuracy")
        if acc is not None and not isinstance(acc, Mapping):
            raise ZapsimError(f"{w}: 'accuracy' is {acc!r}; expected an object such as {{\"top1\": 0.91}} or null")
    baseline_op(res, source)
    return dict(res)


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a results JSON (a file, or a directory holding ``results.json``)."""
    p = Path(path)
    if p.is_dir():
        cand = p / "results.json"
        if not cand.is_file():
            found = sorted(x.name for x in p.glob("*.json"))
            raise ZapsimError(
                f"{p}: a directory without results.json" + (f" (it has {', '.join(found)})" if found else "")
            )
        p = cand
    if not p.is_file():
        raise ZapsimError(f"{p}: no such results file")
    from .jsonio import check_finite, loads_strict

    # strict: NaN / Infinity (which a results file never holds) and duplicate keys are refused
    res = loads_strict(p.read_bytes(), f"{p}: not a zapsim results file", max_bytes=MAX_RESULTS_BYTES)
    check_finite(res, str(p))
    res = validate_results(res, str(p))
    res["_source"] = str(p)
    return res


def baseline_op(res: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """The dense operating point the results compare against (``res['baseline']``, else kind 'dense')."""
    source = source or res.get("_source", "results")
    ops = res["operating_points"]
    want = res.get("baseline", "dense")
    for op in ops:
        if op["id"] == want:
            return op
    for op in ops:
        if op.get("kind") == "dense":
            return op
    raise ZapsimError(
        f"{source}: no baseline operating point: 'baseline' is {want!r} and no operating point has that id or "
        f"kind 'dense' (ids: {', '.join(o['id'] for o in ops)})"
    )


def select_ops(res: Mapping[str, Any], kinds: Sequence[str] | None = None,
               ids: Sequence[str] | None = None) -> dict[str, Any]:
    """A shallow copy of ``res`` keeping the baseline plus the operating points of the given kinds / ids
    (e.g. only the uniform-threshold curve of a trace that also has per-layer thresholds)."""
    base = baseline_op(res)
    keep = [op for op in res["operating_points"]
            if op is base or ((kinds is None or op.get("kind") in kinds) and (ids is None or op["id"] in ids))]
    return {**res, "operating_points": keep}


def top1_percent(op: Mapping[str, Any]) -> float | None:
    """Top-1 accuracy of an operating point in percent, or None when the trace has none (synthetic)."""
    acc = op.get("accuracy")
    if not acc:
        return None
    v = acc.get("top1")
    if v is None:
        return None
    v = float(v)
    # Traces store a fraction (0.9164); accept a percentage too.
    return v * 100.0 if v <= 1.0 else v


# --------------------------------------------------------------------------- derived numbers


@dataclass(frozen=True)
class OpPoint:
    """One operating point reduced to the numbers the trade-off figures plot."""

    id: str
    label: str
    kind: str
    top1: float | None  # percent
    energy_norm: float  # op energy / dense energy
    speedup: float  # dense cycles / op cycles
    mac_reduction: float  # fraction of algorithmic MACs, ZAP MACs not counted
    mac_reduction_net: float  # the same minus the ZAPs' own MACs
    mean_threshold: float | None
    # One standard error of each (NaN where the results do not say): top-1 is a binomial proportion over the
    # tracer's evaluation images, energy and cycles are means over the simulated images (per-image spread / sqrt(n)).
    top1_se: float = math.nan  # percentage points
    energy_norm_se: float = math.nan
    speedup_se: float = math.nan
    energy: float = math.nan  # the op's energy per image, in the table's unit (pJ or MAC-equivalents)
    energy_se: float = math.nan


def top1_stderr(op: Mapping[str, Any]) -> float:
    """One standard error of an operating point's top-1, in percentage points: sqrt(p (1 - p) / n) over the
    ``accuracy.num_images`` it was measured on (NaN without them)."""
    acc = op.get("accuracy") or {}
    p, n = top1_percent(op), acc.get("num_images")
    if p is None or not isinstance(n, (int, float)) or n < 1:
        return math.nan
    q = p / 100.0
    return 100.0 * math.sqrt(q * (1.0 - q) / n)


def op_points(res: Mapping[str, Any]) -> tuple[OpPoint, list[OpPoint]]:
    """The dense baseline and the other operating points of one results dict, as :class:`OpPoint`."""
    base = baseline_op(res)
    bt = base["total"]
    e0 = float(bt["energy_pj"]["total"])
    c0 = float(bt["cycles"])
    alg = float(bt["macs"]["algorithmic"])
    act0 = float(bt["macs"]["actual"])
    src = res.get("_source", "results")
    if e0 <= 0 or c0 <= 0 or alg <= 0:
        raise ZapsimError(
            f"{src}: baseline '{base['id']}' has energy {e0} pJ, {c0} cycles, {alg} MACs; all must be > 0"
        )
    n_sim = (res.get("workload") or {}).get("num_images")
    root_n = math.sqrt(n_sim) if isinstance(n_sim, (int, float)) and n_sim >= 1 else math.nan

    def point(op: Mapping[str, Any]) -> OpPoint:
        t = op["total"]
        thr = op.get("thresholds")
        cycles = float(t["cycles"])
        if cycles <= 0:
            raise ZapsimError(f"{src}: operating point '{op['id']}' has total cycles {cycles}; must be > 0")
        red = (act0 - float(t["macs"]["actual"])) / alg
        energy = float(t["energy_pj"]["total"])
        e_se = float(t.get("energy_pj_std", math.nan)) / root_n
        c_se = float(t.get("cycles_std", math.nan)) / root_n
        return OpPoint(
            id=op["id"],
            label=op.get("label") or op["id"],
            kind=op.get("kind", ""),
            top1=top1_percent(op),
            energy_norm=energy / e0,
            speedup=c0 / cycles,
            mac_reduction=red,
            mac_reduction_net=red - float(t["macs"]["zap"]) / alg,
            mean_threshold=float(np.mean(list(thr.values()))) if thr else None,
            top1_se=top1_stderr(op),
            energy_norm_se=e_se / e0,
            speedup_se=(c0 / cycles) * c_se / cycles,  # the baseline's own spread left out (same images)
            energy=energy,
            energy_se=e_se,
        )

    return point(base), [point(op) for op in res["operating_points"] if op is not base]


def trace_op_points(trace: Any) -> tuple[OpPoint, list[OpPoint]]:
    """The method's own numbers, from a trace (``zapsim.trace_format.read_trace``): top-1 and MAC reduction as
    the tracer measured them over all its evaluation images (``stats['mac_reduction']`` and
    ``stats['mac_reduction_net_of_zap']``); energy and speedup are not in a trace (NaN)."""
    src = str(getattr(trace, "path", "trace"))
    ops = list(trace.operating_points)
    base = next((o for o in ops if o.kind == "dense"), None)
    if base is None:
        raise ZapsimError(f"{src}: the trace has no dense operating point")

    def point(o) -> OpPoint:
        st = o.stats or {}
        if o is not base and ("mac_reduction" not in st or "mac_reduction_net_of_zap" not in st):
            raise ZapsimError(f"{src}: operating point '{o.id}' has no stats 'mac_reduction' and "
                              "'mac_reduction_net_of_zap' (a trace from an older tracer?)")
        thr = o.thresholds
        return OpPoint(id=o.id, label=o.label or o.id, kind=o.kind, top1=top1_percent({"accuracy": o.accuracy}),
                       energy_norm=math.nan, speedup=math.nan, mac_reduction=float(st.get("mac_reduction", 0.0)),
                       mac_reduction_net=float(st.get("mac_reduction_net_of_zap", 0.0)),
                       mean_threshold=float(np.mean(list(thr.values()))) if thr else None,
                       top1_se=top1_stderr({"accuracy": o.accuracy}))

    return point(base), [point(o) for o in ops if o is not base]


def pareto_front(cost: Sequence[float], benefit: Sequence[float]) -> np.ndarray:
    """Indices of the points no other point dominates (lower or equal cost and higher or equal benefit,
    one of them strictly), sorted by increasing cost.  Of identical points only the first is kept.
    """
    c = np.asarray(cost, dtype=float)
    b = np.asarray(benefit, dtype=float)
    if c.shape != b.shape or c.ndim != 1:
        raise ValueError(f"cost and benefit must be 1-D of equal length, got {c.shape} and {b.shape}")
    # By cost ascending, then benefit descending, then original index: a point is on the
    # front exactly when its benefit beats every cheaper-or-equal point seen before it.
    order = np.lexsort((np.arange(len(c)), -b, c))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if b[i] > best:
            front.append(int(i))
            best = b[i]
    return np.array(front, dtype=int)


# --------------------------------------------------------------------------- output


def figure_paths(out_base: str | Path) -> list[Path]:
    """The files a figure named ``out_base`` (no suffix) is written to."""
    base = Path(out_base)
    return [base.with_name(f"{base.name}.{fmt}") for fmt in FORMATS]


def save_figure(fig: Figure, out_base: str | Path, overwrite: bool = False) -> list[Path]:
    """Write ``fig`` as ``out_base.png`` and ``out_base.pdf`` atomically; return the paths."""
    paths = figure_paths(out_base)
    for p in paths:
        check_target(p, overwrite, "figure")
    for p, fmt in zip(paths, FORMATS):
        buf = io.BytesIO()
        # Fixed metadata so the same results give the same bytes.
        meta = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
        fig.savefig(buf, format=fmt, dpi=150, bbox_inches="tight", metadata=meta)
        write_bytes_atomic(p, buf.getvalue(), overwrite=overwrite)
    return paths


# Sizes for print: a trade-off figure spans a two-column paper's full width at 1:1 (6.3 in) or one column
# at 0.55x, and keeps 8 pt text and 7 pt legends legible either way; per-layer figures use the full width.
FONT_PT = 8.5
LEGEND_PT = 7.0
TRADEOFF_SIZE = (6.3, 4.0)
LAYER_SIZE_MAX_W = 7.0


def _new_figure(width: float = TRADEOFF_SIZE[0], height: float = TRADEOFF_SIZE[1]) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=FONT_PT)
    return fig, ax


def _style(i: int) -> tuple[str, str]:
    return SERIES_COLOURS[i % len(SERIES_COLOURS)], SERIES_MARKERS[i % len(SERIES_MARKERS)]


# An operating-point kind keeps its marker and line style across figures; the series (architecture) its colour.
KIND_STYLE = {"uniform": ("o", "-"), "per_layer": ("s", "--"), "custom": ("^", ":")}


def _kind_style(kind: str) -> tuple[str, str]:
    return KIND_STYLE.get(kind, ("D", "-."))


Series = Mapping[str, Mapping[str, Any]]  # curve label -> results dict


def _split_kinds(series: Series, only: Sequence[str] | None = None) -> list[tuple[str, str, Mapping[str, Any], OpPoint, list[OpPoint]]]:
    """One curve per (series, operating-point kind): uniform and per-layer thresholds are different curves.
    Each curve is (series name, curve label, results, baseline, points)."""
    curves = []
    for name, res in series.items():
        base, pts = op_points(res) if isinstance(res, Mapping) else trace_op_points(res)
        kinds = sorted({p.kind for p in pts if only is None or p.kind in only})
        for kind in kinds:
            sub = [p for p in pts if p.kind == kind]
            label = name if len(kinds) == 1 else f"{name} ({kind.replace('_', '-')})"
            curves.append((name, label, res, base, sub))
    if not curves:
        raise ZapsimError("nothing to plot: the results hold only the dense operating point")
    return curves


def _curve_order(pts: list[OpPoint]) -> list[OpPoint]:
    """Draw a curve in operating-point order: by threshold for uniform thresholds, else as listed (the tracer
    lists per-layer budgets in increasing order), so noise in top-1 shows as noise, not as a reordered curve."""
    if all(p.kind == "uniform" and p.mean_threshold is not None for p in pts):
        return sorted(pts, key=lambda p: p.mean_threshold)
    return list(pts)


def _with_accuracy(pts: list[OpPoint]) -> list[OpPoint]:
    return [p for p in pts if p.top1 is not None]


REVERSED_X = "axis reversed: accuracy falls to the right"


def _nan_to_none(v: list[float]) -> list[float] | None:
    return None if all(math.isnan(x) for x in v) else [0.0 if math.isnan(x) else x for x in v]


def _error_note(series: Series, y_what: str | None) -> str:
    """The legend entry that says what the error bars are."""
    accs = [op.get("accuracy") if isinstance(r, Mapping) else op.accuracy for r in series.values()
            for op in (r["operating_points"] if isinstance(r, Mapping) else r.operating_points)]
    n_eval = sorted({int((a or {}).get("num_images", 0)) for a in accs} - {0})
    n_sim = sorted({int((r.get("workload") or {}).get("num_images", 0)) for r in series.values()
                    if isinstance(r, Mapping)} - {0})
    parts = []
    if n_eval:
        parts.append(f"top-1 over {'/'.join(map(str, n_eval))} eval. images")
    if y_what and n_sim:
        parts.append(f"{y_what} over {'/'.join(map(str, n_sim))} simulated")
    return "bars: ±1 std. error" + (f" ({', '.join(parts)})" if parts else "")


def _tradeoff(
    series: Series,
    out_base: str | Path,
    *,
    y_of,
    yerr_of,
    y_label: str,
    y_what: str,
    better_y: str,
    title: str,
    overwrite: bool,
    baseline_of,
    min_top1: float | None = None,
) -> list[Path]:
    """Trade-off figure: one curve per series and kind, each series with its own Pareto front against its own
    baseline (``baseline_of(base)``), error bars on both axes, the reversed x axis said on the axis."""
    for name, res in series.items():
        if not isinstance(res, Mapping):
            raise ZapsimError(f"'{title}' needs simulated results; series '{name}' is {type(res).__name__} "
                              "(a trace has no energy or cycles: simulate it with `python -m zapsim.run`)")
    curves = _split_kinds(series)
    names = list(dict.fromkeys(c[0] for c in curves))
    fig, ax = _new_figure()
    hidden = 0
    plotted = 0
    per_series: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in names}
    bases: dict[str, tuple[float, float]] = {}
    for name, label, _res, base, pts in curves:
        colour = SERIES_COLOURS[names.index(name) % len(SERIES_COLOURS)]
        pts = _with_accuracy(pts)
        if min_top1 is not None:
            hidden += sum(p.top1 < min_top1 for p in pts)
            pts = [p for p in pts if p.top1 >= min_top1]
        if not pts:
            continue
        marker, ls = _kind_style(pts[0].kind)
        pts = _curve_order(pts)
        xs = [p.top1 for p in pts]
        ys = [y_of(p) for p in pts]
        ax.errorbar(xs, ys, xerr=_nan_to_none([p.top1_se for p in pts]), yerr=_nan_to_none([yerr_of(p) for p in pts]),
                    marker=marker, ls=ls, color=colour, label=label, lw=1.3, ms=4.5, alpha=0.95, elinewidth=0.7,
                    capsize=1.8, ecolor=colour)
        per_series[name][0].extend(xs)
        per_series[name][1].extend(ys)
        plotted += 1
        if base.top1 is not None:
            bases[name] = (base.top1, baseline_of(base))
    if not plotted:
        srcs = ", ".join(str(r.get("_source", n)) for n, r in series.items())
        raise ZapsimError(
            f"{srcs}: no operating point has a top-1 accuracy (synthetic trace?), so '{title}' cannot be drawn"
        )
    # the dense baselines: one star when they coincide (normalised figures: 1 on each architecture)
    same = len({b for b in bases.values()}) == 1
    for k, (name, (bx, by)) in enumerate(bases.items()):
        colour = "black" if same else SERIES_COLOURS[names.index(name) % len(SERIES_COLOURS)]
        if same and k > 0:
            continue
        ax.plot([bx], [by], marker="*", ms=13, color=colour, mec="black", mew=0.6, ls="none", zorder=5,
                label=("dense baseline" + (" (each architecture's own)" if len(names) > 1 else "")) if same
                else f"dense baseline: {name}")
        per_series[name][0].append(bx)
        per_series[name][1].append(by)
    for name in names:
        xs, ys = per_series[name]
        if not xs:
            continue
        colour = SERIES_COLOURS[names.index(name) % len(SERIES_COLOURS)]
        if same and name in bases and name != next(iter(bases)):
            xs, ys = xs + [bases[name][0]], ys + [bases[name][1]]
        cost = np.array(ys) if better_y == "low" else -np.array(ys)
        front = pareto_front(cost, xs)
        fx, fy = [xs[i] for i in front], [ys[i] for i in front]
        ax.plot(fx, fy, color=colour, lw=6, alpha=0.18, solid_capstyle="round", zorder=1,
                label="Pareto front" + (f": {name}" if len(names) > 1 else ""))
    if same and bases:
        ax.axhline(next(iter(bases.values()))[1], color="black", lw=0.8, ls=":")
    ax.plot([], [], ls="none", marker="|", ms=8, color="grey", label=_error_note(series, y_what))
    xl = f"top-1 accuracy (%); {REVERSED_X}"
    if hidden:
        xl += f"\n{hidden} operating point(s) below {min_top1:.1f}% not shown"
    ax.set_xlabel(xl, fontsize=FONT_PT)
    ax.set_ylabel(y_label, fontsize=FONT_PT)
    ax.set_title(title, fontsize=FONT_PT + 1)
    ax.invert_xaxis()  # accuracy given up grows to the right, so the curve reads left (exact) to right (aggressive)
    _legend_below(fig, ax)
    return save_figure(fig, out_base, overwrite)


def _legend_below(fig: Figure, ax) -> None:
    """The legend under the axes, where it hides no point: curves first, then fronts, baselines, the bars' note."""
    handles, labels = ax.get_legend_handles_labels()

    def rank(lab: str) -> int:
        return 3 if lab.startswith("bars:") else 2 if lab.startswith(("dense baseline", "net:", "gross:")) else \
            1 if lab.startswith("Pareto front") else 0

    order = sorted(range(len(labels)), key=lambda k: (rank(labels[k]), k))
    long_note = any(len(labels[k]) > 60 for k in order)
    fig.legend([handles[k] for k in order], [labels[k] for k in order], fontsize=LEGEND_PT,
               loc="outside lower center", ncol=1 if long_note and len(order) < 4 else 2, frameon=False)


def plot_energy_accuracy(series: Series, out_base: str | Path, overwrite: bool = False,
                         title: str = "Energy against accuracy", min_top1: float | None = None) -> list[Path]:
    """Normalised energy against top-1: each series (architecture) relative to its own dense energy, with its own
    Pareto front, and error bars (top-1: binomial standard error; energy: per-image spread / sqrt(images)).

    ``series`` maps a curve label (e.g. a pattern or an architecture) to a results dict.  Operating points
    below ``min_top1`` (%) are left out (the axis label says how many), so the useful region stays readable.
    """
    return _tradeoff(
        series, out_base, y_of=lambda p: p.energy_norm, yerr_of=lambda p: p.energy_norm_se,
        y_label="energy / its architecture's dense energy", y_what="energy", better_y="low", title=title,
        overwrite=overwrite, baseline_of=lambda b: 1.0, min_top1=min_top1,
    )


def energy_units_of(res: Mapping[str, Any]) -> str:
    """The unit of a results file's energies: "pJ", or "MAC-equivalent" (``eyeriss_normalized``)."""
    return ((res.get("arch") or {}).get("energy") or {}).get("unit", "pJ")


def plot_energy_accuracy_absolute(series: Series, out_base: str | Path, overwrite: bool = False,
                                  title: str = "Energy per image against accuracy",
                                  min_top1: float | None = None) -> list[Path]:
    """Absolute energy per image against top-1 on one axis, for series whose tables are all in pJ."""
    units = {energy_units_of(r) for r in series.values() if isinstance(r, Mapping)}
    if units != {"pJ"}:
        raise ZapsimError(f"an absolute energy axis needs every series in pJ; these are in {', '.join(sorted(units))}")
    peak = max(float(op["total"]["energy_pj"]["total"]) for r in series.values() for op in r["operating_points"])
    scale, unit = _energy_unit(peak, "pJ")
    return _tradeoff(
        series, out_base, y_of=lambda p: p.energy / scale, yerr_of=lambda p: p.energy_se / scale,
        y_label=f"energy per image ({unit}, each architecture's own energy table)", y_what="energy", better_y="low",
        title=title, overwrite=overwrite, baseline_of=lambda b: b.energy / scale, min_top1=min_top1,
    )


def plot_speedup_accuracy(series: Series, out_base: str | Path, overwrite: bool = False,
                          title: str = "Speedup against accuracy (simulated cycles)",
                          min_top1: float | None = None) -> list[Path]:
    """Speedup (dense cycles / op cycles of the same architecture) against top-1, one front per series, error bars;
    operating points below ``min_top1`` (%) are left out."""
    return _tradeoff(
        series, out_base, y_of=lambda p: p.speedup, yerr_of=lambda p: p.speedup_se,
        y_label="speedup over its architecture's dense (×)", y_what="cycles", better_y="high",
        title=title, overwrite=overwrite, baseline_of=lambda b: 1.0, min_top1=min_top1,
    )


def plot_mac_accuracy(series: Series, out_base: str | Path, overwrite: bool = False,
                      title: str = "MAC reduction against accuracy change",
                      kinds: Sequence[str] | None = None) -> list[Path]:
    """The method's own view: MAC reduction (%) against top-1 change (points), per series,
    solid with the ZAPs' own MACs subtracted, dashed without; x error bars are top-1's standard error.

    A series value is a results dict (MACs as the simulated hardware performed them, on the simulated images)
    or a trace from ``read_trace`` (MACs as the tracer counted them on all its evaluation images: the paper's
    measure, independent of the hardware).  ``kinds`` keeps only those operating-point kinds (e.g. uniform).
    """
    curves = _split_kinds(series, kinds)
    fig, ax = _new_figure()
    plotted = 0
    for i, (_name, label, _res, base, pts) in enumerate(curves):
        pts = _with_accuracy(pts)
        if not pts or base.top1 is None:
            continue
        colour, marker = _style(i)
        pts = _curve_order(pts)
        dx = [p.top1 - base.top1 for p in pts]
        ax.errorbar(dx, [100 * p.mac_reduction_net for p in pts], xerr=_nan_to_none([p.top1_se for p in pts]),
                    marker=marker, color=colour, lw=1.3, ms=4.5, label=f"{label}", elinewidth=0.7, capsize=1.8)
        ax.plot(dx, [100 * p.mac_reduction for p in pts], marker=marker, color=colour, lw=1.0, ms=3.5, ls="--",
                mfc="none", alpha=0.8)
        plotted += 1
    if not plotted:
        names = ", ".join(str(r.get("_source", n) if isinstance(r, Mapping) else n) for n, r in series.items())
        raise ZapsimError(f"{names}: no operating point has a top-1 accuracy (synthetic trace?), so '{title}' "
                          "cannot be drawn")
    ax.plot([], [], color="grey", lw=1.3, label="net: ZAP MACs subtracted")
    ax.plot([], [], color="grey", lw=1.0, ls="--", label="gross: ZAP MACs not counted")
    ax.plot([], [], ls="none", marker="|", ms=8, color="grey", label=_error_note(series, None))
    ax.axhline(0, color="black", lw=0.8, ls=":")
    ax.axvline(0, color="black", lw=0.8, ls=":")
    ax.set_xlabel(f"top-1 change against dense (percentage points); {REVERSED_X}", fontsize=FONT_PT)
    ax.set_ylabel("MAC reduction (% of all dense MACs)", fontsize=FONT_PT)
    ax.set_title(title, fontsize=FONT_PT + 1)
    ax.invert_xaxis()
    _legend_below(fig, ax)
    return save_figure(fig, out_base, overwrite)


def _energy_unit(peak: float, table_unit: str = "pJ") -> tuple[float, str]:
    """A scale and a label for energies of the table's unit: µJ / nJ / pJ, or M / k MAC-equivalents."""
    steps = ((1e6, "µJ"), (1e3, "nJ"), (1.0, "pJ")) if table_unit == "pJ" else \
        ((1e6, "M MAC-equivalents"), (1e3, "k MAC-equivalents"), (1.0, "MAC-equivalents"))
    for scale, unit in steps:
        if peak >= scale:
            return scale, unit
    return steps[-1]


def _op_by_id(res: Mapping[str, Any], op_id: str) -> dict[str, Any]:
    for op in res["operating_points"]:
        if op["id"] == op_id:
            return op
    ids = ", ".join(o["id"] for o in res["operating_points"])
    raise ZapsimError(f"{res.get('_source', 'results')}: no operating point '{op_id}' (it has {ids})")


def default_zap_op(res: Mapping[str, Any]) -> str:
    """The operating point shown beside dense by default: the one with the lowest energy whose top-1 is
    within 1 point of dense (or the lowest-energy one when there is no accuracy)."""
    base, pts = op_points(res)
    if not pts:
        raise ZapsimError(f"{res.get('_source', 'results')}: only the dense operating point; nothing to compare")
    ok = [p for p in pts if p.top1 is not None and base.top1 is not None and p.top1 >= base.top1 - 1.0]
    return min(ok or pts, key=lambda p: p.energy_norm).id


# Abbreviations for long layer names, each applied only when it shortens a name that needs it; the axis
# caption lists the ones used, so it is right for any naming scheme.
_ABBREVIATIONS = (
    (re.compile(r"^layer(?=\d)"), "", "layerS.B.x = S.B.x"),
    (re.compile(r"conv(?=\d)"), "c", "convK = cK"),
    (re.compile(r"downsample\.?"), "ds", "downsample = ds"),
    (re.compile(r"shortcut\.?"), "sc", "shortcut = sc"),
    (re.compile(r"^linear$|^classifier$"), "fc", None),
    (re.compile(r"^features\."), "f.", "features. = f."),
)
MAX_TICK_CHARS = 9


def layer_labels(names: Sequence[str]) -> tuple[list[str], str]:
    """Tick labels for layer names and the axis caption saying how they were shortened (built from the names)."""
    labels = list(names)
    used: list[str] = []
    if max((len(n) for n in names), default=0) > MAX_TICK_CHARS:
        for rx, rep, note in _ABBREVIATIONS:
            new = [rx.sub(rep, lab) for lab in labels]
            if new != labels:
                changed = [(a, b) for a, b in zip(labels, new) if a != b]
                labels = new
                used.append(note if note is not None else f"{changed[0][0]} = {changed[0][1]}")
        if len(set(labels)) != len(labels):  # shortening merged two names: keep the originals
            labels, used = list(names), []
    return labels, "layer" + (f" ({'; '.join(used)})" if used else "")


def _layer_axes(n: int, height: float = 3.6) -> tuple[Figure, Any, float]:
    """A per-layer figure as wide as a page allows, and a tick font that fits ``n`` layers in it."""
    width = min(LAYER_SIZE_MAX_W, max(4.5, 0.3 * n + 2.2))
    fig, ax = _new_figure(width=width, height=height)
    tick = float(np.clip(72 * (width - 1.6) / max(n, 1) * 0.75, 4.5, 7.5))
    return fig, ax, tick


def _arch_prefix(res: Mapping[str, Any]) -> str:
    name = (res.get("arch") or {}).get("name")
    return f"{name}: " if name else ""


def plot_layer_energy(res: Mapping[str, Any], out_base: str | Path, op_id: str | None = None,
                      overwrite: bool = False, title: str | None = None) -> list[Path]:
    """Per-layer stacked energy by component, dense (hatched, left) beside a ZAP operating point (right); a
    results file with only the dense operating point gets the dense bars alone."""
    base = baseline_op(res)
    only_dense = len(res["operating_points"]) < 2
    op = None if only_dense else _op_by_id(res, op_id or default_zap_op(res))
    names = [layer["name"] for layer in base["layers"]]
    if op is not None and [layer["name"] for layer in op["layers"]] != names:
        raise ZapsimError(f"{res.get('_source', 'results')}: operating points '{base['id']}' and '{op['id']}' "
                          "list different layers")
    shown = [base] if op is None else [base, op]
    comps = [c for c in COMPONENTS if any(layer["energy_pj"]["by_component"].get(c, 0) for o in shown
                                          for layer in o["layers"])]
    peak = max(max(layer["energy_pj"]["total"] for layer in o["layers"]) for o in shown)
    scale, unit = _energy_unit(peak, energy_units_of(res))
    n = len(names)
    fig, ax, tick = _layer_axes(n)
    x = np.arange(n)
    w = 0.8 if op is None else 0.4
    placed = [(base, 0.0, None)] if op is None else [(base, -w / 2, "///"), (op, w / 2, None)]
    for o, dx, hatch in placed:
        bottom = np.zeros(n)
        for c in comps:
            vals = np.array([layer["energy_pj"]["by_component"].get(c, 0.0) for layer in o["layers"]]) / scale
            ax.bar(x + dx, vals, w, bottom=bottom, color=COMPONENT_COLOURS[c], hatch=hatch, edgecolor="white",
                   linewidth=0.3)
            bottom += vals
    labels, caption = layer_labels(names)
    ax.set_xticks(x, labels, rotation=90, fontsize=tick)
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_ylim(0, peak / scale * 1.06)  # room above the tallest bar
    ax.set_ylabel(f"energy per image ({unit})", fontsize=FONT_PT)
    ax.set_xlabel(caption, fontsize=FONT_PT)
    if op is None:
        total = base["total"]["energy_pj"]["total"] / scale
        shown_total = f"{total:,.0f}" if total >= 100 else f"{total:.3g}"
        ax.set_title(title or f"{_arch_prefix(res)}Energy per layer, dense ({shown_total} {unit} per image in all)",
                     fontsize=FONT_PT + 1)
    else:
        acc = top1_percent(op)
        e_save = 1 - op["total"]["energy_pj"]["total"] / base["total"]["energy_pj"]["total"]
        ax.set_title(title or f"{_arch_prefix(res)}Energy per layer: dense vs '{op.get('label') or op['id']}' "
                              f"({abs(100 * e_save):.1f}% {'less' if e_save >= 0 else 'more'} energy overall"
                              + (f", top-1 {acc:.2f}%)" if acc is not None else ")"), fontsize=FONT_PT + 1)
    handles = [Patch(facecolor=COMPONENT_COLOURS[c], label=COMPONENT_LABELS[c]) for c in comps]
    if op is not None:
        handles += [Patch(facecolor="white", edgecolor="black", hatch="///", label="left: dense"),
                    Patch(facecolor="white", edgecolor="black", label="right: with ZAP")]
    fig.legend(handles=handles, fontsize=LEGEND_PT, loc="outside upper center",
               ncol=len(handles) if len(handles) <= 7 else math.ceil(len(handles) / 2), frameon=False)
    ax.grid(True, axis="y", alpha=0.3)
    ax.grid(False, axis="x")
    return save_figure(fig, out_base, overwrite)


def plot_layer_gain(res: Mapping[str, Any], out_base: str | Path, op_id: str | None = None,
                    channels: Mapping[str, int] | None = None, overwrite: bool = False,
                    title: str | None = None) -> list[Path]:
    """Per layer: energy ZAP saves (up) against what the ZAP unit costs (down) and the net (black tick),
    bars coloured by the layer's output channel count when ``channels`` (layer name -> C_out) is given.
    """
    base = baseline_op(res)
    op = _op_by_id(res, op_id or default_zap_op(res))
    names = [layer["name"] for layer in base["layers"]]
    e_base = np.array([layer["energy_pj"]["total"] for layer in base["layers"]])
    e_op = np.array([layer["energy_pj"]["total"] for layer in op["layers"]])
    zap = np.array([layer["energy_pj"]["by_component"].get("zap", 0.0) for layer in op["layers"]])
    saving = e_base - (e_op - zap)  # what the skipped work saved, before paying for the predictor
    net = e_base - e_op
    scale, unit = _energy_unit(max(np.abs(saving).max(), zap.max(), 1.0), energy_units_of(res))
    n = len(names)
    fig, ax, tick = _layer_axes(n)
    x = np.arange(n)
    ch_colours: dict[int, str] = {}
    if channels:  # colour by C_out, listing only the channel counts of layers where ZAP saved something
        counts = sorted({channels[nm] for nm, sv in zip(names, saving) if nm in channels and sv != 0})
        for i, c in enumerate(counts):
            ch_colours[c] = CHANNEL_COLOURS[i % len(CHANNEL_COLOURS)]
    cols = [ch_colours.get(channels.get(nm, -1), "#4c72b0") if ch_colours else "#4c72b0" for nm in names]
    ax.bar(x, saving / scale, 0.7, color=cols, alpha=0.85)
    ax.bar(x, -zap / scale, 0.7, color=COMPONENT_COLOURS["zap"], alpha=0.9)
    ax.plot(x, net / scale, ls="none", marker="_", ms=8, mew=1.8, color="black")
    ax.axhline(0, color="black", lw=0.8)
    labels, caption = layer_labels(names)
    ax.set_xticks(x, labels, rotation=90, fontsize=tick)
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_ylabel(f"energy per image ({unit})", fontsize=FONT_PT)
    ax.set_xlabel(caption, fontsize=FONT_PT)
    ax.set_title(title or f"{_arch_prefix(res)}Per-layer energy: saved by skipping vs ZAP cost "
                          f"('{op.get('label') or op['id']}')", fontsize=FONT_PT + 1)
    handles = [Patch(facecolor=v, label=f"saved, C_out = {c}") for c, v in ch_colours.items()] or [
        Patch(facecolor="#4c72b0", label="saved by skipping")]
    handles += [Patch(facecolor=COMPONENT_COLOURS["zap"], label="ZAP unit cost (negative)")]
    handles += [Line2D([], [], ls="none", marker="_", ms=8, mew=2, color="black", label="net saving")]
    fig.legend(handles=handles, fontsize=LEGEND_PT, loc="outside upper center", ncol=min(len(handles), 7),
               frameon=False)
    ax.grid(True, axis="y", alpha=0.3)
    ax.grid(False, axis="x")
    return save_figure(fig, out_base, overwrite)


# --------------------------------------------------------------------------- per-PE timeline


def runs_to_matrix(runs: Sequence[Sequence[tuple[int, int]]], num_cycles: int | None = None) -> np.ndarray:
    """Per-PE run-length timelines -> state matrix (num_pe, num_cycles) of codes 0..3 (busy, gated, idle,
    stalled).  ``runs[pe]`` is a list of (state, length) in time order; a PE that finishes early is idle
    for the rest of the layer.
    """
    lengths = [sum(int(n) for _, n in r) for r in runs]
    total = max(lengths) if num_cycles is None else int(num_cycles)
    out = np.full((len(runs), total), PE_STATES.index("idle"), dtype=np.uint8)
    for pe, r in enumerate(runs):
        t = 0
        for state, n in r:
            s = int(state)
            if not 0 <= s < len(PE_STATES):
                raise ZapsimError(f"timeline of PE {pe}: state code {s} is not one of 0..3 ({', '.join(PE_STATES)})")
            if n < 0:
                raise ZapsimError(f"timeline of PE {pe}: negative run length {n}")
            out[pe, t:t + int(n)] = s
            t += int(n)
    return out


def bin_states(states: np.ndarray, max_columns: int = 1200) -> tuple[np.ndarray, int]:
    """Downsample a state matrix (num_pe, cycles) to at most ``max_columns`` columns, each the most
    frequent state of its bin (ties go to the lower code).  Returns (matrix, cycles per column).
    """
    s = np.asarray(states)
    n_pe, cyc = s.shape
    per = max(1, math.ceil(cyc / max_columns))
    if per == 1:
        return s.astype(np.uint8), 1
    cols = math.ceil(cyc / per)
    pad = np.full((n_pe, cols * per), 255, dtype=np.uint8)  # 255: past the end, counts for no state
    pad[:, :cyc] = s
    blocks = pad.reshape(n_pe, cols, per)
    counts = np.stack([(blocks == k).sum(axis=2) for k in range(len(PE_STATES))], axis=2)
    return counts.argmax(axis=2).astype(np.uint8), per


def plot_pe_timeline(states: np.ndarray, out_base: str | Path, *, title: str = "Per-PE timeline",
                     phase_starts: Mapping[str, float] | None = None, pe_label: str = "PE",
                     overwrite: bool = False, max_columns: int = 1200) -> list[Path]:
    """Heatmap of one layer: rows are PEs, columns cycles, colour the state (busy / gated / idle / stalled),
    with per-PE totals beside it.  ``states`` is (num_pe, cycles) of codes 0..3; ``phase_starts`` maps a
    phase name (A, Z, C) to the cycle it starts at, drawn as a vertical line.
    """
    s = np.asarray(states)
    if s.ndim != 2 or s.size == 0:
        raise ZapsimError(f"a PE timeline must be a non-empty (num_pe, cycles) matrix, got shape {s.shape}")
    if s.max() >= len(PE_STATES):
        raise ZapsimError(f"PE timeline state codes must be 0..3 ({', '.join(PE_STATES)}), found {int(s.max())}")
    binned, per = bin_states(s, max_columns)
    n_pe, cyc = s.shape
    fig = Figure(figsize=(9.0, max(3.2, min(7.0, 1.5 + 0.04 * n_pe))), layout="constrained")
    gs = fig.add_gridspec(1, 2, width_ratios=(5, 1))
    ax = fig.add_subplot(gs[0])
    axb = fig.add_subplot(gs[1], sharey=ax)
    cmap = ListedColormap(PE_STATE_COLOURS)
    norm = BoundaryNorm(np.arange(-0.5, len(PE_STATES) + 0.5), cmap.N)
    ax.imshow(binned, aspect="auto", interpolation="nearest", cmap=cmap, norm=norm,
              extent=(0, binned.shape[1] * per, n_pe - 0.5, -0.5))
    for name, start in (phase_starts or {}).items():
        ax.axvline(float(start), color="black", lw=1.0, ls="--")
        ax.text(float(start), 0.02 * n_pe, f" {name}", va="top", ha="left", fontsize=9,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    ax.set_xlim(0, cyc)
    ax.set_xlabel("cycle" + (f" (each column = {per} cycles, most frequent state)" if per > 1 else ""))
    ax.set_ylabel(f"{pe_label} index")
    ax.set_title(title, fontsize=11)
    # Exact per-PE totals as horizontal stacked bars (fractions of the layer's cycles).
    frac = np.stack([(s == k).sum(axis=1) for k in range(len(PE_STATES))], axis=1) / cyc
    left = np.zeros(n_pe)
    for k, name in enumerate(PE_STATES):
        axb.barh(np.arange(n_pe), frac[:, k] * 100, left=left, height=1.0, color=PE_STATE_COLOURS[k], label=name)
        left += frac[:, k] * 100
    axb.set_xlim(0, 100)
    axb.set_xlabel("% of cycles")
    axb.tick_params(labelleft=False)
    tot = frac.mean(axis=0) * 100
    handles = [Patch(facecolor=PE_STATE_COLOURS[k], label=f"{nm} ({tot[k]:.0f}%)") for k, nm in enumerate(PE_STATES)]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8)
    return save_figure(fig, out_base, overwrite)


# --------------------------------------------------------------------------- CLI


def series_label(res: Mapping[str, Any], fallback: str) -> str:
    """A curve label from a results dict: architecture name, model and pattern when the results carry them."""
    arch = res.get("arch") or {}
    wl = res.get("workload") or {}
    parts = [str(x) for x in (arch.get("name"), wl.get("model"), wl.get("pattern")) if x]
    return " · ".join(parts) or fallback


FIGURE_NAMES = ("energy_accuracy", "energy_accuracy_absolute", "speedup_accuracy", "mac_accuracy", "layer_energy",
                "layer_gain")


def _safe_name(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in s)[:60]


def plot_all(results: Sequence[Mapping[str, Any]], out_dir: str | Path, overwrite: bool = False,
             op_id: str | None = None, traces: Sequence[Any] | None = None, log=print,
             only: Sequence[str] | None = None) -> list[Path]:
    """Every figure the results allow, into ``out_dir``; figures needing accuracy are left out (with a note)
    when no operating point has one, and a dense-only result gets its per-layer figure.  ``traces`` (from
    ``read_trace``), one per results file, give the MAC figure the tracer's own counts over all evaluation images
    and the per-layer figures channel counts.  With several results whose energy tables are all in pJ, an
    ``energy_accuracy_absolute`` figure puts them on one axis.  ``only`` restricts the output to some of
    :data:`FIGURE_NAMES`."""
    want = set(FIGURE_NAMES if only is None else only)
    bad = sorted(want - set(FIGURE_NAMES))
    if bad:
        raise ZapsimError(f"unknown figure(s) {', '.join(bad)}; choose from {', '.join(FIGURE_NAMES)}")
    if traces is not None and len(traces) != len(results):
        raise ZapsimError(f"give one trace per results file ({len(results)} results, {len(traces)} traces)")
    out = Path(out_dir)
    series: dict[str, Mapping[str, Any]] = {}
    for i, res in enumerate(results):
        label = series_label(res, Path(str(res.get("_source", f"results{i}"))).parent.name or f"results{i}")
        if traces and i < len(traces) and not (res.get("workload") or {}).get("pattern"):
            # older results do not record the pattern; the trace does
            pats = sorted({layer.zap.pattern for layer in getattr(traces[i], "layers", []) if layer.zap is not None})
            if pats:
                label = f"{label} · {'/'.join(pats)}"
        if label in series:
            label = f"{label} [{i + 1}]"
        series[label] = res
    shared = ""
    if len(series) > 1:  # the parts every label has (model, pattern) go into the title; the legend names the rest
        split = [lab.split(" · ") for lab in series]
        common = [part for part in split[0][1:] if all(part in other for other in split)]
        rest = [" · ".join(x for x in parts if x not in common) for parts in split]
        if common and len(set(rest)) == len(rest) and all(rest):
            series = dict(zip(rest, series.values()))
            shared = " · ".join(common)
    written: list[Path] = []
    has_acc = any(top1_percent(op) is not None for r in results for op in r["operating_points"])
    has_zap = any(len(r["operating_points"]) > 1 for r in results)
    all_pj = len(results) > 1 and all(energy_units_of(r) == "pJ" for r in results)
    for name, fn in (("energy_accuracy", plot_energy_accuracy),
                     ("energy_accuracy_absolute", plot_energy_accuracy_absolute),
                     ("speedup_accuracy", plot_speedup_accuracy), ("mac_accuracy", plot_mac_accuracy)):
        if name not in want or (name == "energy_accuracy_absolute" and not all_pj):
            continue
        if not has_zap:
            log(f"skipped {name}: the results hold only the dense operating point (per-layer figure instead)")
            continue
        if not has_acc:
            log(f"skipped {name}: no operating point has a top-1 accuracy (synthetic trace?)")
            continue
        data: Series = series
        if name == "mac_accuracy" and traces:
            # MACs counted by the tracer do not depend on the hardware: one curve per distinct trace
            by_path: dict[str, Any] = {}
            for tr in traces:
                by_path.setdefault(str(getattr(tr, "path", id(tr))), tr)
            data = {}
            for tr in by_path.values():
                pats = sorted({layer.zap.pattern for layer in tr.layers if layer.zap is not None})
                model = str((getattr(tr, "model", None) or {}).get("name", ""))
                path = str(getattr(tr, "path", "trace"))
                lab = " · ".join(x for x in (model, "/".join(pats)) if x) or path
                data[lab if lab not in data else f"{lab} ({path})"] = tr
            if len(data) == 1:  # one trace: the curve is the tracer's count, whatever the architectures
                data = {"tracer's counts over its evaluation images": next(iter(data.values()))}
        what = {"energy_accuracy": "Energy against accuracy", "energy_accuracy_absolute": "Energy per image against accuracy",
                "speedup_accuracy": "Speedup against accuracy", "mac_accuracy": "MAC reduction against accuracy change"}[name]
        n_img = sorted({int((r.get("workload") or {}).get("num_images", 0)) for r in results})
        sim = f", cycles/energy over {n_img[0]} simulated image(s)" if len(n_img) == 1 and name != "mac_accuracy" else ""
        title = f"{what}{sim}" + (f"\n{next(iter(series))}" if len(series) == 1 else f"\n{shared}" if shared else "")
        written += fn(data, out / name, overwrite=overwrite, title=title)
    arch_names = [str((r.get("arch") or {}).get("name") or f"results{i + 1}") for i, r in enumerate(results)]
    for i, res in enumerate(results):
        if len(results) == 1:
            suffix = ""
        else:
            suffix = "_" + (_safe_name(arch_names[i]) if arch_names.count(arch_names[i]) == 1 else str(i + 1))
        channels = {layer.name: layer.c_out for layer in traces[i].layers} if traces else None
        if "layer_energy" in want:
            written += plot_layer_energy(res, out / f"layer_energy{suffix}", op_id=op_id, overwrite=overwrite)
        if "layer_gain" in want:
            if len(res["operating_points"]) < 2:
                log(f"skipped layer_gain of {res.get('_source')}: only the dense operating point")
            else:
                written += plot_layer_gain(res, out / f"layer_gain{suffix}", op_id=op_id, overwrite=overwrite,
                                           channels=channels)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m zapsim.plot",
        description="Draw zapsim figures (PNG and PDF): energy / speedup / MAC reduction against accuracy "
        "(one curve per results file and threshold kind, Pareto front marked) and per-layer energy.",
    )
    ap.add_argument("results", nargs="+", help="results JSON files of `python -m zapsim.run` (or their directories)")
    ap.add_argument("--out", default=None, type=_out_arg,
                    help="output directory (default: plots/ beside the first results file)")
    ap.add_argument("--op", default=None, help="operating point shown beside dense in the per-layer figures "
                    "(default: lowest energy within 1 point of dense top-1)")
    ap.add_argument("--trace", nargs="+", default=None, metavar="DIR",
                    help="the trace(s) the results were simulated from, one per results file: the MAC figure then "
                    "shows the tracer's counts over all evaluation images, the per-layer gain figure channel counts")
    ap.add_argument("--only", default=None, metavar="NAMES",
                    help=f"comma-separated figures to draw (default all): {', '.join(FIGURE_NAMES)}")
    ap.add_argument("--overwrite", action="store_true", help="replace existing figures")
    args = ap.parse_args(argv)
    results = [load_results(p) for p in args.results]
    out = Path(args.out) if args.out else Path(results[0]["_source"]).parent / "plots"
    _check_out(out, args.overwrite)  # before drawing anything
    traces = None
    if args.trace:
        from .trace_format import read_trace

        traces = [read_trace(t, verify=True) for t in args.trace]  # a damaged trace is refused, not drawn
    only = [x.strip() for x in args.only.split(",")] if args.only else None
    written = plot_all(results, out, overwrite=args.overwrite, op_id=args.op, traces=traces, only=only,
                       log=lambda m: print(m, file=sys.stderr))
    if not written:
        raise ZapsimError(f"nothing drawn from {', '.join(args.results)}" + (f" (--only {args.only})" if only else ""))
    for p in written:
        print(p)
    return 0


def _out_arg(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("'' is an empty path; give a directory name")
    return text


def _check_out(out: Path, overwrite: bool) -> None:
    """``--out`` can take figures: creatable, a directory, and (without ``overwrite``) no figure already there."""
    from .atomic import check_writable_parent

    check_writable_parent(out, "--out")
    if out.exists() and not out.is_dir():
        raise ZapsimError(f"--out {out} exists and is not a directory")
    if not overwrite and out.is_dir():
        have = sorted(p.name for name in FIGURE_NAMES for p in out.glob(f"{name}*") if p.suffix in (".png", ".pdf"))
        if have:
            more = f" (and {len(have) - 1} more)" if len(have) > 1 else ""
            raise ZapsimError(f"figure {out / have[0]} already exists{more}; pass --overwrite to replace the "
                              "figures or choose another --out")


def entry() -> None:
    """Console-script entry point (``zapsim-plot``)."""
    raise SystemExit(cli_main(main))


if __name__ == "__main__":
    entry()
