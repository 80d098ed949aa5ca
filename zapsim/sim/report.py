"""Render simulation results: terminal tables, JSON and CSV (written atomically).

Input is the results dict of :func:`zapsim.sim.simulate.simulate` (schema
``zapsim-results`` version 1, documented in ``docs/results-schema.md``).
Nothing here simulates; everything here reads that dict, so the tables,
``results.json`` and ``layers.csv`` always agree with each other.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import check_output_dir, write_dir_atomic
from ..errors import ZapsimError
from ..jsonio import dumps_finite

SCHEMA = "zapsim-results"
SCHEMA_VERSION = 1
MAC_KINDS = ("algorithmic", "actual", "gated", "skipped", "zap")
LAYER_KEYS = ("name", "cycles", "cycles_std", "cycles_by_phase", "pe_cycles", "stall_cycles", "utilization", "macs",
              "energy_pj", "accesses")


# --------------------------------------------------------------------------- lookups


def baseline(result: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline operating point (``result['baseline']``, normally 'dense')."""
    want = result.get("baseline", "dense")
    for op in result["operating_points"]:
        if op["id"] == want:
            return op
    raise ZapsimError(f"results have no baseline operating point '{want}' "
                      f"(ids: {', '.join(o['id'] for o in result['operating_points'])})")


def top1(op: Mapping[str, Any]) -> float | None:
    """Top-1 accuracy as a fraction, or None (a dense workload or a synthetic trace has none)."""
    acc = op.get("accuracy") or {}
    v = acc.get("top1")
    return None if v is None else float(v)


# --------------------------------------------------------------------------- contract check


def _num_pes(arch: Mapping[str, Any]) -> int | None:
    pe = arch.get("pe_array") or {}
    return pe["rows"] * pe["cols"] if "rows" in pe and "cols" in pe else None


def check_result(result: Mapping[str, Any], rel_tol: float = 1e-6) -> list[str]:
    """Problems with a results dict against the schema and its identities; empty when it is sound.

    Checks the keys of every layer and total, that algorithmic MACs equal
    actual + gated + skipped, that each energy breakdown sums to its total,
    that busy + gated + idle + stalled PE cycles are PEs x cycles, that
    totals are the sums of the layers, and that ``vs_baseline`` is
    baseline cycles / op cycles and 1 - op energy / baseline energy.
    """
    problems: list[str] = []

    def close(a: float, b: float) -> bool:
        return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=1e-9 * max(1.0, abs(float(b))))

    if result.get("schema") != SCHEMA or result.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema must be {SCHEMA!r} version {SCHEMA_VERSION}")
    for key in ("zapsim_version", "arch", "workload", "baseline", "operating_points"):
        if key not in result:
            problems.append(f"missing top-level key {key!r}")
    if problems:
        return problems
    try:
        base = baseline(result)
    except ZapsimError as exc:
        return [str(exc)]

    def check_entry(e: Mapping[str, Any], where: str) -> None:
        for key in LAYER_KEYS[1:]:
            if key not in e:
                problems.append(f"{where}: missing {key!r}")
        if any(key not in e for key in ("macs", "energy_pj")):
            return
        m = e["macs"]
        if set(m) != set(MAC_KINDS):
            problems.append(f"{where}: macs keys {sorted(m)} != {sorted(MAC_KINDS)}")
            return
        if not close(m["algorithmic"], m["actual"] + m["gated"] + m["skipped"]):
            problems.append(f"{where}: algorithmic {m['algorithmic']} != actual + gated + skipped "
                            f"({m['actual']} + {m['gated']} + {m['skipped']})")
        pe = e.get("pe_cycles")
        num_pes = _num_pes(result["arch"])
        if pe is not None and num_pes and "cycles" in e and not close(sum(pe.values()), num_pes * e["cycles"]):
            problems.append(f"{where}: pe_cycles sum to {sum(pe.values())}, not PEs x cycles = {num_pes * e['cycles']}")
        en = e["energy_pj"]
        for part in ("by_component", "by_tensor"):
            if part not in en:
                problems.append(f"{where}: energy_pj has no {part!r}")
            elif not close(sum(en[part].values()), en["total"]):
                problems.append(f"{where}: energy_pj.{part} sums to {sum(en[part].values())}, total is {en['total']}")

    for op in result["operating_points"]:
        oid = op.get("id", "?")
        for key in ("id", "label", "kind", "thresholds", "accuracy", "layers", "total", "vs_baseline"):
            if key not in op:
                problems.append(f"op {oid}: missing {key!r}")
        if "layers" not in op or "total" not in op:
            continue
        for layer in op["layers"]:
            check_entry(layer, f"op {oid} layer {layer.get('name', '?')}")
        tot = op["total"]
        check_entry(tot, f"op {oid} total")
        if "energy_pj_per_algorithmic_mac" not in tot:
            problems.append(f"op {oid} total: missing 'energy_pj_per_algorithmic_mac'")
        for key in ("cycles", "stall_cycles"):
            if key in tot and not close(tot[key], sum(l[key] for l in op["layers"])):
                problems.append(f"op {oid} total: {key} {tot[key]} is not the sum of the layers")
        if "macs" in tot:
            for k in MAC_KINDS:
                if not close(tot["macs"][k], sum(l["macs"][k] for l in op["layers"])):
                    problems.append(f"op {oid} total: macs.{k} is not the sum of the layers")
        if "energy_pj" in tot and not close(tot["energy_pj"]["total"], sum(l["energy_pj"]["total"] for l in op["layers"])):
            problems.append(f"op {oid} total: energy_pj.total is not the sum of the layers")
        vs = op.get("vs_baseline") or {}
        if "cycles" in tot and "cycles" in base["total"] and tot["cycles"] > 0:
            if not close(vs.get("speedup", math.nan), base["total"]["cycles"] / tot["cycles"]):
                problems.append(f"op {oid}: vs_baseline.speedup {vs.get('speedup')} != baseline cycles / op cycles")
        if "energy_pj" in tot and base["total"]["energy_pj"]["total"] > 0:
            want = 1 - tot["energy_pj"]["total"] / base["total"]["energy_pj"]["total"]
            if not close(vs.get("energy_saving", math.nan), want):
                problems.append(f"op {oid}: vs_baseline.energy_saving {vs.get('energy_saving')} != "
                                "1 - op energy / baseline energy")
    return problems


# --------------------------------------------------------------------------- terminal tables


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A fixed-width table: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _num(v: float | None, fmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, fmt)


def _pct(part: float, whole: float) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


def _engine_line(result: Mapping[str, Any]) -> str:
    e = result.get("engine") or {}
    name = e.get("name", "analytical")
    return f"{name} (version {e.get('version', '?')})"


def header_lines(result: Mapping[str, Any]) -> list[str]:
    """What was simulated: architecture, workload, images."""
    a = result["arch"]
    pe = a.get("pe_array", {})
    wl = result.get("workload", {})
    src = str(wl.get("source"))
    layer_list = Path(src).is_file()
    if wl.get("synthetic"):
        sp = wl.get("synthetic_params") or {}
        masks = ("SYNTHETIC masks" + (f": density {sp['density']:g}, correlation {sp['correlation']:g} px, ZAP score "
                                      f"noise {sp.get('noise', 0):g}" if "density" in sp and "correlation" in sp else ""))
        what = (f"{wl.get('model')} from {src} ({'layer list' if layer_list else 'synthetic trace'}, {masks}), "
                f"{wl.get('num_images')} image(s)")
    elif layer_list:  # a --workload layer list: no masks, no images
        what = f"{wl.get('model')} from {src} (layer list, dense)"
    else:
        what = f"{wl.get('model')} from {src} (trace), {wl.get('num_images')} image(s)"
    prec = a.get("precision") or {}
    bits = [prec.get(f"{t}_bits") or a.get("word_bits") for t in ("ifmap", "weight", "psum")]
    width = f"{bits[0]}-bit" if len(set(bits)) == 1 else f"{'/'.join(map(str, bits))}-bit ifmap/weight/psum"
    en = a.get("energy", {})
    return [
        f"arch      {a.get('name')} ({a.get('dataflow')}, {pe.get('rows')}x{pe.get('cols')} PEs, "
        f"{a.get('clock_mhz')} MHz, {width}, energy table {en.get('name')} in {en.get('unit', 'pJ')})",
        f"workload  {what}, batch {wl.get('batch', 1)}",
        f"engine    {_engine_line(result)}",
        "all figures per image (mean over the images); speedup and saving against "
        f"'{result.get('baseline', 'dense')}' on the same architecture",
    ]


def energy_units(result: Mapping[str, Any]) -> tuple[str, str]:
    """Column labels for energy in millions of the table's unit, and per algorithmic MAC: ("uJ", "pJ") for an
    absolute table, ("M MAC-eq", "MAC-eq") for one relative to a MAC (``eyeriss_normalized``)."""
    unit = ((result.get("arch") or {}).get("energy") or {}).get("unit", "pJ")
    return ("uJ", "pJ") if unit == "pJ" else ("M MAC-eq", "MAC-eq")


def format_summary(result: Mapping[str, Any]) -> str:
    """Per operating point against the baseline: accuracy, cycles, speedup, energy and saving, MACs."""
    base = baseline(result)
    clock_mhz = float(result["arch"].get("clock_mhz") or 0)
    b_top1 = top1(base)
    rows, mac_rows = [], []
    for op in result["operating_points"]:
        tot = op["total"]
        vs = op.get("vs_baseline") or {}
        t1 = top1(op)
        cycles = float(tot["cycles"])
        ms = cycles / (clock_mhz * 1e3) if clock_mhz > 0 else None
        rows.append([
            op["id"],
            _num(None if t1 is None else 100 * t1, ".2f"),
            _num(None if t1 is None or b_top1 is None else 100 * (t1 - b_top1), "+.2f"),
            _num(cycles, ",.0f"),
            _num(vs.get("speedup"), ".3f"),
            _num(ms, ".3f"),
            _num(float(tot["energy_pj"]["total"]) / 1e6, ",.2f"),
            _num(None if vs.get("energy_saving") is None else 100 * vs["energy_saving"], "+.1f"),
            _num(tot.get("energy_pj_per_algorithmic_mac"), ".3f"),
        ])
        m = tot["macs"]
        mac_rows.append([
            op["id"],
            *(_num(float(m[k]) / 1e6, ",.3f") for k in MAC_KINDS),
            _num(_pct(m["skipped"], m["algorithmic"]), ".1f"),
            _num(_pct(m["zap"], m["algorithmic"]), ".2f"),
            _num(100 * float(tot["utilization"]), ".1f"),
        ])
    big, small = energy_units(result)
    perf = table(
        ["op", "top-1 [%]", "d top-1 [pp]", "cycles", "speedup [x]", "latency [ms]", f"energy [{big}]", "saving [%]",
         f"{small}/alg MAC"],
        rows,
    )
    macs = table(
        ["op", "algorithmic [M]", "actual [M]", "gated [M]", "skipped [M]", "zap [M]", "skipped [%]", "zap [%]",
         "util [%]"],
        mac_rows,
    )
    labels = [f"  {op['id']}: {op['label']}" for op in result["operating_points"] if op.get("label") not in (None, "", op["id"])]
    parts = [*header_lines(result), "", perf, "", "MACs per image (skipped/zap % of algorithmic)", macs]
    if labels:
        parts += ["", "operating points:", *labels]
    return "\n".join(parts) + "\n"


def format_layers(result: Mapping[str, Any], op_ids: Sequence[str] | None = None) -> str:
    """One per-layer table per operating point, with each layer's speedup and saving against the baseline's."""
    base = baseline(result)
    base_layers = {l["name"]: l for l in base["layers"]}
    out = []
    for op in result["operating_points"]:
        if op_ids is not None and op["id"] not in op_ids:
            continue
        rows = []
        for l in [*op["layers"], {**op["total"], "name": "total"}]:
            b = base_layers.get(l["name"], base["total"] if l["name"] == "total" else None)
            m = l["macs"]
            e = float(l["energy_pj"]["total"])
            speed = None if b is None or float(l["cycles"]) == 0 else float(b["cycles"]) / float(l["cycles"])
            be = None if b is None else float(b["energy_pj"]["total"])
            saving = None if not be else 100 * (1 - e / be)
            rows.append([
                l["name"],
                _num(float(l["cycles"]), ",.0f"),
                _num(float(l.get("cycles_std", 0.0)), ",.0f"),
                _num(speed, ".3f"),
                _num(100 * float(l["utilization"]), ".1f"),
                _num(float(l["stall_cycles"]), ",.0f"),
                *(_num(float(m[k]) / 1e6, ",.3f") for k in ("actual", "gated", "skipped", "zap")),
                _num(e / 1e6, ",.3f"),
                _num(saving, "+.1f"),
            ])
        title = f"operating point {op['id']}" + (f" ({op['label']})" if op.get("label") not in (None, "", op["id"]) else "")
        out.append(title + "\n" + table(
            ["layer", "cycles", "cycles std", "speedup [x]", "util [%]", "stall cycles", "actual [M]", "gated [M]",
             "skipped [M]", "zap [M]", f"energy [{energy_units(result)[0]}]", "saving [%]"],
            rows,
        ))
    return "\n\n".join(out) + "\n"


# --------------------------------------------------------------------------- JSON and CSV


def _jsonable(v: Any) -> Any:
    """NumPy scalars and arrays -> Python numbers and lists (the engine may hand either)."""
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        return v.tolist()
    return v


def results_json(result: Mapping[str, Any]) -> str:
    """The results as indented JSON text (stable key order: as the engine built it).

    A NaN or an infinity anywhere is refused (:class:`ZapsimError` naming its key path), never written.
    """
    return dumps_finite(_jsonable(result), "results", indent=1) + "\n"


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


#: The run's identity, repeated on every row of layers.csv so that runs concatenate in pandas.
RUN_COLUMNS = ("arch", "dataflow", "energy_table", "energy_unit", "engine", "engine_version", "model", "pattern",
               "batch", "num_images", "synthetic")


def run_columns(result: Mapping[str, Any]) -> dict[str, Any]:
    """:data:`RUN_COLUMNS` of a results dict (arch name and dataflow, energy table, engine, model, ...)."""
    a, wl, e = result.get("arch") or {}, result.get("workload") or {}, result.get("engine") or {}
    en = a.get("energy") or {}
    return {"arch": a.get("name"), "dataflow": a.get("dataflow"), "energy_table": en.get("name"),
            "energy_unit": en.get("unit", "pJ"), "engine": e.get("name"), "engine_version": e.get("version"),
            "model": wl.get("model"), "pattern": wl.get("pattern"), "batch": wl.get("batch", 1),
            "num_images": wl.get("num_images"), "synthetic": wl.get("synthetic")}


def results_csv(result: Mapping[str, Any]) -> str:
    """``layers.csv``: one row per operating point and layer, plus a ``total`` row per operating point.

    Every row starts with the run's identity (:data:`RUN_COLUMNS`), then
    ``op_id``, ``op_label``, ``op_kind``, ``top1`` (a fraction, empty without
    accuracy), so the files of several runs concatenate into one table.
    Nested keys become dotted column names (``macs.skipped``,
    ``energy_pj.by_component.dram``, ``accesses.dram.ifmap``); the columns
    are the union over all rows in first-seen order, missing cells empty.
    """
    rows = []
    run = run_columns(result)
    for op in result["operating_points"]:
        ident = {**run, "op_id": op["id"], "op_label": op.get("label", ""), "op_kind": op.get("kind", ""),
                 "top1": top1(op)}
        for l in op["layers"]:
            rows.append({**ident, **_flatten(_jsonable(l))})
        rows.append({**ident, "name": "total", **_flatten(_jsonable({k: v for k, v in op["total"].items() if k != "name"}))})
    cols: list[str] = []
    seen = set()
    for r in rows:
        for k in r:
            if k not in seen:
                seen.add(k)
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def is_results_dir(path: Path) -> bool:
    """Whether ``path`` holds an earlier run's output (a regular file ``results.json``), for ``--overwrite``."""
    p = Path(path) / "results.json"
    return p.is_file() and not p.is_symlink()


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Check ``--out`` before simulating: it can be created, and an existing non-empty one is replaced only
    with ``overwrite`` and only when it holds an earlier run's results (see :func:`zapsim.atomic.check_output_dir`)."""
    check_output_dir(out, overwrite, "--out", looks_ours=is_results_dir, kind="zapsim run result (results.json)")


def write_results(result: Mapping[str, Any], out: str | Path, overwrite: bool = False,
                  extra: Mapping[str, str | bytes] | None = None, finish=None) -> list[Path]:
    """Write ``results.json`` and ``layers.csv`` (and ``extra`` files) as the directory ``out``, all at once.

    The files are written into a temporary directory beside ``out`` which
    then replaces ``out`` in one step (:func:`zapsim.atomic.write_dir_atomic`):
    ``out`` holds either the earlier output, whole, or this one, whole, never
    a mix and never stale files of an earlier run.  ``finish(tmp_dir)`` may
    add files (figures) before the swap.  An existing non-empty ``out`` is
    replaced only with ``overwrite``.
    """
    out = Path(out)
    check_out_dir(out, overwrite)
    files: dict[str, str | bytes] = {"results.json": results_json(result), "layers.csv": results_csv(result)}
    files.update(extra or {})
    return write_dir_atomic(out, files, overwrite=overwrite, what="--out", looks_ours=is_results_dir, finish=finish)
