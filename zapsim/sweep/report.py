"""``report.md`` of a sweep: what ran, the range of each result, the tornado ranges, the rows themselves.

Written by :func:`zapsim.sweep.run.run_sweep` beside the table; everything in
it is read from the rows, so it is as deterministic as the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .spec import Sweep

MAX_ROWS = 120  # past this, the report gives ranges only (the table has every row)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _x(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}x"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def sweep_report(sweep: Sweep, rows: Sequence[Mapping[str, Any]], tornado: Sequence[Mapping[str, Any]] | None,
                 tornado_op: str | None, failed: Sequence[str]) -> str:
    """The markdown report of a finished sweep."""
    ok = [r for r in rows if not r.get("error")]
    axes = ", ".join(f"`{a.name}` ({len(a.values) if a.values is not None else 'range'})" for a in sweep.axes) or "none"
    lines = [f"# Sweep `{sweep.name}`\n",
             f"{len({r['point'] for r in rows})} point(s) ({sweep.combine} over axes {axes}; base configs "
             f"{', '.join(p.stem for p in sweep.archs)}), engine `{sweep.engine}`, {len(rows)} row(s), "
             f"{len(failed)} failed task(s). Speedup and energy saved are against dense on the same point.\n"]
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in ok:
        if r["op_id"] != "dense":
            groups.setdefault((r["base_arch"], r["trace"], r["op_id"]), []).append(r)
    if groups:
        lines.append("\n## Range over the sweep\n")
        t = []
        for (arch, trace, op), rs in sorted(groups.items()):
            sp = [r["speedup"] for r in rs]
            es = [r["energy_saving"] for r in rs]
            top = rs[0].get("top1")
            t.append([arch, trace, op, len(rs), "-" if top is None else f"{100 * top:.2f}%",
                      f"{_x(min(sp))} .. {_x(max(sp))}", f"{_pct(min(es))} .. {_pct(max(es))}"])
        lines.append(_table(["base arch", "trace", "op", "points", "top-1", "speedup", "energy saved"], t))
    if tornado:
        lines.append(f"\n## Each axis alone (`{tornado_op}`, the others at the base)\n")
        t = []
        for row in sorted(tornado, key=lambda d: (d["base_arch"], d["trace"],
                                                  -(d["energy_saving_max"] - d["energy_saving_min"]))):
            t.append([row["base_arch"], row["trace"], f"`{row['axis']}`", _x(row["base_speedup"]),
                      f"{_x(row['speedup_min'])} ({row['speedup_min_at']}) .. {_x(row['speedup_max'])} "
                      f"({row['speedup_max_at']})", _pct(row["base_energy_saving"]),
                      f"{_pct(row['energy_saving_min'])} ({row['energy_saving_min_at']}) .. "
                      f"{_pct(row['energy_saving_max'])} ({row['energy_saving_max_at']})"])
        lines.append(_table(["base arch", "trace", "axis", "base speedup", "speedup range (at)", "base energy saved",
                             "energy saved range (at)"], t))
    if ok and len(ok) <= MAX_ROWS:
        lines.append("\n## Rows\n")
        cols = [c for c in sweep.columns if c != "batch"]
        t = [[r["point"], r["base_arch"], *[r.get(c) for c in cols], r["batch"], r["trace"], r["op_id"],
              "-" if r.get("top1") is None else f"{100 * r['top1']:.2f}%", f"{r['cycles']:.0f}",
              f"{r['energy_pj']:.4g} {r['energy_unit']}", _x(r["speedup"]), _pct(r["energy_saving"])]
             for r in ok]
        lines.append(_table(["point", "base arch", *[f"`{c}`" for c in cols], "batch", "trace", "op", "top-1",
                             "cycles", "energy", "speedup", "energy saved"], t))
    if failed:
        lines.append("\n## Failed\n")
        lines += [f"- {f}" for f in failed]
    return "\n".join(lines) + "\n"
