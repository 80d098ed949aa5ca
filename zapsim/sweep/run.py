"""Running a sweep: tasks, workers, the resume cache, and the table at the end.

Each (point, trace or workload) is one task.  Tasks run on a local process
pool (default: every core), inline with one worker, or on a Dask
distributed cluster (``scheduler``).  A worker opens and verifies each trace
once and keeps it (module-level cache) for every later task on it.

A finished task is stored as ``OUT/cache/<key>.json`` (atomically) the moment
it comes back; ``key`` is the sha256 of the point's full resolved config,
the trace's manifest checksum (which holds every mask file's sha256) and
:func:`zapsim.sim.engines.engine_version`.  A rerun of the sweep reads the
stored tasks instead of recomputing them, so a killed sweep resumes where it
stopped; ``overwrite`` recomputes everything.  A task that fails is recorded
with its error (one row, ``error`` set), is not stored, and the others go on.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import fault_point, write_text_atomic
from ..errors import ZapsimError, short
from . import results as R
from .spec import ResolvedPoint, Sweep, expand, load_sweep, resolve_points

CACHE = "cache"
MANIFEST = "sweep.json"
REPORT = "report.md"

# ---------------------------------------------------------------- worker side (module globals: one per process)

_TRACES: dict[str, Any] = {}
_WORKLOADS: dict[str, Any] = {}


def _open_trace(path: str):
    """The trace at ``path``, opened and verified once per worker process."""
    tr = _TRACES.get(path)
    if tr is None:
        from ..trace_format import read_trace

        tr = _TRACES[path] = read_trace(path, verify=True)
    return tr


def _open_workload(path: str):
    layers = _WORKLOADS.get(path)
    if layers is None:
        from ..sim.workload import load_workload

        layers = _WORKLOADS[path] = load_workload(path)
    return layers


def run_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """Simulate one (point, trace or workload); ``{"key", "rows", "error", "seconds"}``, never raises."""
    t0 = time.perf_counter()
    try:
        rows = _simulate_task(task)
        return {"key": task["key"], "rows": rows, "error": None, "seconds": time.perf_counter() - t0}
    except Exception as e:  # noqa: BLE001 (a failing point is recorded; the sweep goes on)
        msg = str(e) if isinstance(e, ZapsimError) else f"{type(e).__name__}: {e}"
        return {"key": task["key"], "rows": [], "error": short(msg, 500), "seconds": time.perf_counter() - t0}


def _simulate_task(task: Mapping[str, Any]) -> list[dict[str, Any]]:
    from ..sim.arch import arch_from_dict
    from ..sim.simulate import simulate

    arch = arch_from_dict(task["arch"], source=task["arch"].get("source") or "<sweep>")
    if task["kind"] == "trace":
        tr = _open_trace(task["source"])
        ops = task["ops"]
        if ops is not None:
            known = {o.id for o in tr.operating_points}
            missing = [o for o in ops if o not in known]
            if missing:
                raise ZapsimError(f"{tr.path}: no operating point {', '.join(missing)}; it has {', '.join(known)}")
        res = simulate(arch, tr.layers, trace=tr, op_ids=ops, images=task["images"], progress=False,
                       batch=task["batch"], engine=task["engine"])
    else:
        layers = _open_workload(task["source"])
        res = simulate(arch, layers, trace=None, progress=False, source=task["source"], batch=task["batch"],
                       engine=task["engine"])
    wl = res["workload"]
    rows = []
    for op in res["operating_points"]:
        t = op["total"]
        acc = op.get("accuracy") or {}
        rows.append({
            "model": wl.get("model") or Path(task["source"]).stem, "pattern": wl.get("pattern"), "op_id": op["id"],
            "op_label": op["label"], "op_kind": op["kind"], "simulated_images": int(wl["num_images"]),
            "top1": acc.get("top1"), "top1_change": acc.get("top1_change"), "cycles": float(t["cycles"]),
            "stall_cycles": float(t["stall_cycles"]), "energy_pj": float(t["energy_pj"]["total"]),
            "energy_unit": arch.energy.unit, "speedup": float(op["vs_baseline"]["speedup"]),
            "energy_saving": float(op["vs_baseline"]["energy_saving"]),
            "macs_algorithmic": float(t["macs"]["algorithmic"]), "macs_actual": float(t["macs"]["actual"]),
            "macs_zap": float(t["macs"]["zap"]), "engine_version": res["engine"]["version"],
        })
    return rows


# ---------------------------------------------------------------- the driver


@dataclass
class SweepResult:
    """What :func:`run_sweep` did: the rows written, how many tasks ran, came from the cache, failed."""

    out: Path
    rows: list[dict[str, Any]]
    columns: list[str]
    tasks: int
    computed: int
    cached: int
    failed: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def _sha256_file(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _sources(sweep: Sweep) -> list[tuple[str, Path, str, str]]:
    """(kind, path, checksum, display name) of every trace and workload; layers checked against nothing yet."""
    from ..trace_format import MANIFEST as TRACE_MANIFEST
    from ..trace_format import read_trace

    out = []
    for p in sweep.traces:
        read_trace(p, verify=False)  # the manifest and layer table, at once; the masks are verified by the workers
        out.append(("trace", p, _sha256_file(p / TRACE_MANIFEST), p.name))
    for p in sweep.workloads:
        from ..sim.workload import load_workload

        load_workload(p)
        out.append(("workload", p, _sha256_file(p), p.name))
    return out


def _check_mappings(points: Sequence[ResolvedPoint], sources, sweep: Sweep) -> None:
    """Every layer of every source maps onto every point's array (a layer that cannot fit fails now)."""
    from ..sim.arch import arch_from_dict
    from ..trace_format import read_trace

    layer_sets = []
    for kind, p, _, _ in sources:
        if kind == "trace":
            layer_sets.append((p, read_trace(p, verify=False).layers))
        else:
            from ..sim.workload import load_workload

            layer_sets.append((p, load_workload(p)))
    seen: set[tuple] = set()
    for rp in points:
        shape_key = (rp.arch["dataflow"], json.dumps(rp.arch["pe_array"], sort_keys=True))
        if shape_key in seen:
            continue
        seen.add(shape_key)
        arch = arch_from_dict(rp.arch, source=rp.arch.get("source") or "<sweep>")
        if arch.dataflow == "row_stationary":
            from ..sim.row_stationary import rs_mapping as mapping
        else:
            from ..sim.systolic import sys_mapping as mapping
        for p, layers in layer_sets:
            for layer in layers:
                try:
                    mapping(arch, layer)
                except ZapsimError as e:
                    raise ZapsimError(f"{sweep.source}: point {rp.index} on {rp.base_arch}, {p.name}: {e}") from None


def task_key(point_key: str, checksum: str, engine: str, version: str) -> str:
    """The cache key of one task: point config, trace checksum, engine name and version."""
    return hashlib.sha256(f"{point_key}\0{checksum}\0{engine}\0{version}".encode()).hexdigest()


def check_out(out: Path, overwrite: bool) -> None:
    """``out`` is new, or an earlier sweep's output (resumed), or replaced with ``overwrite``."""
    from ..atomic import check_writable_parent

    if out.exists():
        if not out.is_dir():
            raise ZapsimError(f"--out {out}: exists and is not a directory")
        ours = (out / MANIFEST).is_file() or (out / CACHE).is_dir()
        if not ours and any(out.iterdir()) and not overwrite:
            raise ZapsimError(f"--out {out}: a directory that holds no sweep; pass --overwrite to write into it or "
                              "choose another path")
    else:
        check_writable_parent(out)


def _local_results(tasks: list[dict], workers: int) -> Any:
    """Yield task results as they finish, on a process pool of ``workers`` (inline with one)."""
    if workers <= 1:
        for t in tasks:
            yield run_task(t)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # fork where there is one: a worker starts in milliseconds with zapsim already imported
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
        futs = [ex.submit(run_task, t) for t in tasks]
        try:
            for f in as_completed(futs):
                yield f.result()
        except BaseException:
            for f in futs:
                f.cancel()
            raise


def _dask_results(tasks: list[dict], scheduler: Any) -> Any:
    """Yield task results from a Dask distributed cluster (an address, or a ``distributed.Client``)."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ZapsimError("--scheduler needs dask.distributed: pip install 'zapsim[cluster]'") from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, timeout=30) if own else scheduler
    except OSError as e:
        raise ZapsimError(f"--scheduler {short(scheduler)}: cannot connect ({e})") from None
    try:
        futs = [client.submit(run_task, t, pure=False) for t in tasks]
        for f in as_completed(futs):
            yield f.result()
    finally:
        if own:
            client.close()


def default_workers() -> int:
    """Every core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_sweep(sweep: Sweep | str | Path, out: str | Path | None = None, *, workers: int | None = None,
              scheduler: Any = None, overwrite: bool = False, progress: bool = True, plots: bool = True,
              log: Callable[[str], None] | None = None) -> SweepResult:
    """Run a sweep (a :class:`Sweep` or a sweep file) into ``out``; the Python form of ``python -m zapsim.sweep``.

    Every point is validated first.  ``workers``: local processes (default
    all cores); ``scheduler``: a Dask scheduler address or Client instead.
    Returns a :class:`SweepResult`; failed tasks are listed in it, not raised.
    """
    from ..sim.engines import engine_version

    t0 = time.perf_counter()
    sw = load_sweep(sweep) if not isinstance(sweep, Sweep) else sweep
    out_p = Path(out) if out is not None else (sw.out or Path("sweep-out") / sw.name)
    check_out(out_p, overwrite)
    points = resolve_points(sw, expand(sw))
    sources = _sources(sw)
    _check_mappings(points, sources, sw)
    version = engine_version(sw.engine)
    tasks = []
    for rp in points:
        for kind, p, checksum, name in sources:
            tasks.append({"key": task_key(rp.key, checksum, sw.engine, version), "point": rp.index, "kind": kind,
                          "source": str(p), "name": name, "checksum": checksum, "arch": rp.arch, "batch": rp.batch,
                          "ops": sw.ops if kind == "trace" else None, "images": sw.images, "engine": sw.engine})
    cache = out_p / CACHE
    cache.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict] = {}
    if not overwrite:
        for t in tasks:
            f = cache / f"{t['key']}.json"
            if f.is_file():
                try:
                    done[t["key"]] = json.loads(f.read_text())
                except (OSError, ValueError):
                    pass  # a damaged entry is recomputed
    todo = [t for t in tasks if t["key"] not in done]
    todo_keys = list(dict.fromkeys(t["key"] for t in todo))  # identical tasks (same config twice) run once
    first = {k: next(t for t in todo if t["key"] == k) for k in todo_keys}
    say = log or (lambda s: print(s, file=sys.stderr))
    where = f"Dask scheduler {scheduler}" if isinstance(scheduler, str) else ("Dask" if scheduler is not None else
                                                                                f"{workers or default_workers()} worker(s)")
    say(f"sweep {sw.name}: {len(points)} point(s) x {len(sources)} source(s) = {len(tasks)} task(s); "
        f"{len(tasks) - len(todo)} cached, {len(todo_keys)} to run on {where}")
    errors: dict[str, str] = {}
    n_done = 0
    if todo_keys:
        from ..progress import progress_bar

        it = (_dask_results([first[k] for k in todo_keys], scheduler) if scheduler is not None
              else _local_results([first[k] for k in todo_keys], workers or default_workers()))
        with progress_bar(len(todo_keys), f"sweep {sw.name}", "task", enabled=progress) as bar:
            for r in it:
                if r["error"] is None:
                    entry = {"key": r["key"], "rows": r["rows"], "seconds": r["seconds"]}
                    write_text_atomic(cache / f"{r['key']}.json", json.dumps(entry, sort_keys=True) + "\n")
                    done[r["key"]] = entry
                else:
                    errors[r["key"]] = r["error"]
                bar.update(1)
                n_done += 1
                fault_point(f"sweep:after-{n_done}")  # tests: a sweep killed after n tasks
    cols = R.columns(sw.columns)
    by_index = {rp.index: rp for rp in points}
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    for t in tasks:
        rp = by_index[t["point"]]
        base = {"point": rp.index, "role": rp.role, "base_arch": rp.base_arch, "arch": rp.arch["name"],
                **rp.values, "trace": t["name"], "trace_sha256": t["checksum"][:16], "batch": rp.batch,
                "engine": sw.engine, "zapsim_version": __version__, "error": None}
        if t["key"] in done:
            for r in done[t["key"]]["rows"]:
                rows.append({**base, **r})
        else:
            msg = errors.get(t["key"], "not run")
            failed.append(f"point {rp.index} on {rp.base_arch}, {t['name']}: {msg}")
            rows.append({**base, "engine_version": version, "error": msg})
    out_p.mkdir(parents=True, exist_ok=True)
    R.write_table(out_p, rows, cols)
    manifest = {"schema": "zapsim-sweep", "schema_version": 1, "name": sw.name, "source": Path(sw.source).name,
                "engine": {"name": sw.engine, "version": version}, "combine": sw.combine, "seed": sw.seed,
                "points": len(points), "tasks": len(tasks), "failed": failed, "columns": cols,
                "zapsim_version": __version__}
    write_text_atomic(out_p / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    res = SweepResult(out_p, rows, cols, len(tasks), len(todo_keys) - len(errors), len(tasks) - len(todo), failed)
    from .plots import draw_sweep_figures, tornado_op, tornado_table
    from .report import sweep_report

    op = tornado_op(sw)
    tornado = tornado_table(sw, rows, op) if op is not None else None
    write_text_atomic(out_p / REPORT, sweep_report(sw, rows, tornado, op, failed))
    if plots and rows:
        res.figures = draw_sweep_figures(sw, rows, out_p)
    res.seconds = time.perf_counter() - t0
    return res
