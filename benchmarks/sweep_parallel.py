"""Sweep speed: a 200-point sweep of the bundled trace on 2 local workers against a serial loop, and Dask's overhead.

    python benchmarks/sweep_parallel.py                 # 200 points, 2 workers, Dask if installed
    python benchmarks/sweep_parallel.py --points 40     # a smoke run

In one process, one after the other:

1. serial: the sweep's tasks run one by one in this process (``run_task``, the
   trace opened once, Numba warmed up before timing);
2. parallel: ``run_sweep`` on ``--workers`` local processes, end to end
   (validation, pool start, every task, the table) into a fresh directory;
3. parallel efficiency = serial time / (workers x parallel time), in wall
   time and in CPU time (ours plus the workers'), with the load average
   before and after: other jobs on the machine take cores from the workers;
4. Dask (when installed): a LocalCluster of ``--workers`` processes; the
   per-task overhead from ``--noop`` empty tasks (wall time x workers / tasks),
   and the same sweep on it against the local pool.

Writes ``benchmarks/out/sweep_parallel.json``; docs/performance.md has the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zapsim.sweep import run as R  # noqa: E402
from zapsim.sweep import run_sweep, sweep_from_dict  # noqa: E402

OUT = ROOT / "benchmarks" / "out"


def sweep_spec(points: int):
    """A Latin-hypercube sweep of the bundled ResNet-20 trace on eyeriss_like: three axes, one op, all 8 images."""
    d = {"name": "bench", "arch": "eyeriss_like", "traces": ["default"], "ops": ["t0.30"], "combine": "lhs",
         "samples": points, "seed": 0,
         "axes": [{"key": "dram.bandwidth_bytes_per_cycle", "range": [1.0, 16.0], "log": True},
                  {"key": "zap_unit.macs_per_cycle", "range": [8, 256], "integer": True},
                  {"key": "global_buffer.bandwidth_words_per_cycle", "range": [8.0, 32.0]}]}
    return sweep_from_dict(d, "<benchmark>", ROOT)


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _noop(x):
    return x


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--noop", type=int, default=400, help="empty Dask tasks for the per-task overhead")
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    sw = sweep_spec(args.points)
    res: dict = {"points": args.points, "workers": args.workers, "cores": os.cpu_count(),
                 "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        # the tasks exactly as run_sweep builds them: run one sweep of 1 point to warm Numba and the trace cache
        warm = run_sweep(sweep_spec(1), Path(tmp) / "warm", workers=1, progress=False, plots=False, log=lambda s: None)
        assert not warm.failed
        from zapsim.sim.engines import engine_version
        from zapsim.sweep.spec import expand, resolve_points

        points = resolve_points(sw, expand(sw))
        src = R._sources(sw)[0]
        tasks = [{"key": p.key, "point": p.index, "kind": "trace", "source": str(src[1]), "name": src[3],
                  "checksum": src[2], "arch": p.arch, "batch": p.batch, "ops": sw.ops, "images": sw.images,
                  "engine": sw.engine} for p in points]
        engine_version(sw.engine)
        t0, c0 = time.perf_counter(), _cpu()
        for t in tasks:
            r = R.run_task(t)
            assert r["error"] is None, r["error"]
        res["serial_s"], res["serial_cpu_s"] = time.perf_counter() - t0, _cpu() - c0
        print(f"serial: {args.points} tasks in {res['serial_s']:.1f} s ({res['serial_cpu_s']:.1f} s CPU)", flush=True)

        t0, c0 = time.perf_counter(), _cpu()
        par = run_sweep(sw, Path(tmp) / "par", workers=args.workers, progress=False, plots=False, log=lambda s: None)
        res["parallel_s"], res["parallel_cpu_s"] = time.perf_counter() - t0, _cpu() - c0
        assert par.computed == len({t["key"] for t in tasks}) and not par.failed
        res["efficiency_wall"] = res["serial_s"] / (args.workers * res["parallel_s"])
        res["efficiency_cpu"] = res["serial_cpu_s"] / res["parallel_cpu_s"]
        res["load_after"] = os.getloadavg()
        print(f"parallel ({args.workers} workers): {res['parallel_s']:.1f} s, {res['parallel_cpu_s']:.1f} s CPU; "
              f"efficiency {res['efficiency_wall']:.2f} (wall), {res['efficiency_cpu']:.2f} (CPU); load average "
              f"{res['load_before'][0]:.1f} before, {res['load_after'][0]:.1f} after", flush=True)

        if not args.no_dask:
            try:
                import distributed
            except ImportError:
                print("dask: not installed (pip install 'zapsim[cluster]'), skipped")
            else:
                t0 = time.perf_counter()
                with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                              dashboard_address=None) as cl, distributed.Client(cl) as client:
                    res["dask_start_s"] = time.perf_counter() - t0
                    client.gather(client.map(_noop, range(20), pure=False))  # warm the connections
                    t0 = time.perf_counter()
                    client.gather(client.map(_noop, range(args.noop), pure=False))
                    res["dask_noop_s"] = time.perf_counter() - t0
                    res["dask_overhead_ms_per_task"] = 1000 * res["dask_noop_s"] * args.workers / args.noop
                    t0 = time.perf_counter()
                    dk = run_sweep(sw, Path(tmp) / "dask", scheduler=client, progress=False, plots=False,
                                   log=lambda s: None)
                    res["dask_sweep_s"] = time.perf_counter() - t0
                    res["dask_rows_equal_local"] = dk.rows == par.rows
                print(f"dask: cluster start {res['dask_start_s']:.1f} s; {args.noop} empty tasks "
                      f"{res['dask_noop_s']:.2f} s = {res['dask_overhead_ms_per_task']:.1f} ms per task per worker; "
                      f"the sweep {res['dask_sweep_s']:.1f} s (local pool {res['parallel_s']:.1f} s), rows equal: "
                      f"{res['dask_rows_equal_local']}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sweep_parallel.json").write_text(json.dumps(res, indent=1) + "\n")
    print(OUT / "sweep_parallel.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
