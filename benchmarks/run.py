"""zapsim's speed and memory benchmarks: prints a table and writes JSON.

    python benchmarks/run.py                  # everything (tracer included: needs ZAPSIM_DATA)
    python benchmarks/run.py --quick          # fewer images, no tracer training: a smoke run
    python benchmarks/run.py --only resnet18  # cases whose name contains 'resnet18'

Each case runs in its own process, so its peak memory (max RSS) is its own
and Numba's first-compile cost can be separated from a cached start: the
``compile`` cases point NUMBA_CACHE_DIR at an empty directory, then start a
second process on the now-filled cache.  Wall times are the best of a few
repeats after a warm-up call, except where the case says "first call".
Timings on a shared 2-core machine are noisy: compare ratios taken in one run.
See docs/performance.md for the numbers and how cost grows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "out"
RESNET18_WORKLOAD = ROOT / "experiments" / "workloads" / "resnet18_imagenet.yaml"
EYERISS = ROOT / "arch_configs" / "eyeriss_like.yaml"
WS32 = ROOT / "arch_configs" / "tpu_like_ws_32x32.yaml"


# --------------------------------------------------------------------------- helpers used inside workers


def _best_of(fn, repeats: int) -> tuple[float, float]:
    """(first-call seconds, best of ``repeats`` later calls)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return first, best


def resnet18_synthetic_trace(path: Path) -> Path:
    """ImageNet ResNet-18 shapes, one image, half the outputs zero, clustered (built once, deterministic)."""
    from zapsim.sim.workload import load_workload
    from zapsim.synthetic import build_synthetic_trace

    if not (path / "manifest.json").exists():
        layers = load_workload(RESNET18_WORKLOAD)
        build_synthetic_trace(path, layers, num_images=1, density=0.5, correlation=2.0, noise=0.3,
                              thresholds=(0.0,), seed=0, overwrite=True)
    return path


def _simulated_macs(result: dict) -> float:
    n = result["workload"]["num_images"]
    return sum(op["total"]["macs"]["algorithmic"] for op in result["operating_points"]) * n


def worker_resnet18(arch_path: str, op: str, repeats: int) -> dict:
    """One synthetic ResNet-18 image: whole-network simulate() and the op's layers alone (masks preloaded)."""
    from zapsim.sim.arch import load_arch
    from zapsim.sim.simulate import simulate, simulate_layer_batch
    from zapsim.trace_format import read_trace

    arch = load_arch(arch_path)
    trace = read_trace(resnet18_synthetic_trace(OUT / "resnet18_synth"))
    masks = []
    for li, layer in enumerate(trace.layers):
        zap = op != "dense" and layer.zap is not None
        masks.append((layer, trace.mask(op, li, "in"), trace.mask(op, li, "out"),
                      trace.mask(op, li, "computed") if zap else None, zap))

    def one_op():
        for layer, i, o, c, zap in masks:
            simulate_layer_batch(arch, layer, i, o, c, zap=zap)

    first, best = _best_of(one_op, repeats)
    t0 = time.perf_counter()
    result = simulate(arch, trace.layers, trace, op_ids=[op], progress=False)
    whole = time.perf_counter() - t0
    opres = next(o for o in result["operating_points"] if o["id"] == op)
    macs = opres["total"]["macs"]["algorithmic"]
    return {"first_call_s": first, "image_s": best, "simulate_call_s": whole,
            "simulated_macs_per_s": macs / best, "cycles": opres["total"]["cycles"],
            "speedup_vs_dense": opres["vs_baseline"]["speedup"]}


def worker_trace(trace_path: str, arch_path: str, images: int | None) -> dict:
    """A real trace: every operating point over the first ``images`` images (a warm-up layer first)."""
    from zapsim.sim.arch import load_arch
    from zapsim.sim.simulate import simulate
    from zapsim.trace_format import read_trace

    arch = load_arch(arch_path)
    t0 = time.perf_counter()
    trace = read_trace(trace_path)
    load_s = time.perf_counter() - t0
    simulate(arch, trace.layers, trace, op_ids=["dense"], images=1, progress=False)  # compile / cache load
    t0 = time.perf_counter()
    result = simulate(arch, trace.layers, trace, images=images, progress=False)
    wall = time.perf_counter() - t0
    n = result["workload"]["num_images"]
    return {"images": n, "operating_points": len(result["operating_points"]), "verify_and_open_s": load_s,
            "simulate_s": wall, "per_image_op_ms": 1e3 * wall / (n * len(result["operating_points"])),
            "simulated_macs_per_s": _simulated_macs(result) / wall}


def worker_reference(arch_path: str) -> dict:
    """The cycle-stepping reference against the fast engine on one real-sized layer and image."""
    import numpy as np

    from zapsim.sim.analytical.stepping_check import reference_layer
    from zapsim.sim.arch import load_arch
    from zapsim.sim.simulate import simulate_layer
    from zapsim.synthetic import correlated_field
    from zapsim.trace_format import make_layer

    arch = load_arch(arch_path)
    layer = make_layer("ref", 16, 32, 32, 16, 3, 1, 1, zap_pattern="checkerboard")
    rng = np.random.default_rng(0)
    out = correlated_field(rng, layer.out_shape, 2.0) > 0
    inp = correlated_field(rng, layer.in_shape, 2.0) > 0
    comp = out | layer.zap.computed_first(layer.h_out, layer.w_out)[None]
    t0 = time.perf_counter()
    ref = reference_layer(arch, layer, inp, out, comp, zap=True)
    ref_s = time.perf_counter() - t0
    _, fast_s = _best_of(lambda: simulate_layer(arch, layer, inp, out, comp, zap=True), 5)
    fast = simulate_layer(arch, layer, inp, out, comp, zap=True)
    fast_cycles = float(fast.c["cycles"][0] - fast.c["stall_cycles"][0])  # the reference counts no memory stalls
    return {"layer": "16x32x32 -> 16, 3x3, checkerboard ZAP", "reference_s": ref_s, "engine_s": fast_s,
            "ratio": ref_s / fast_s, "reference_cycles": float(ref["compute_cycles"]), "engine_cycles": fast_cycles}


def worker_compile(arch_path: str) -> dict:
    """Time to first result in this process: Numba compiles (empty cache) or loads from the cache."""
    t0 = time.perf_counter()
    from zapsim.sim.arch import load_arch
    from zapsim.sim.simulate import simulate
    from zapsim.trace_format import read_trace

    import_s = time.perf_counter() - t0
    arch = load_arch(arch_path)
    trace = read_trace(resnet18_synthetic_trace(OUT / "resnet18_synth"))
    t0 = time.perf_counter()
    simulate(arch, trace.layers, trace, op_ids=["t0.00"], progress=False)
    return {"import_s": import_s, "first_simulate_s": time.perf_counter() - t0}


def worker_cli(trace_path: str) -> dict:
    """Wall time of the main command, start-up to printed result, as a user runs it."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "zapsim.run", str(EYERISS), "--trace", trace_path, "--quiet"],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    return {"cli_wall_s": wall}


def worker_tracer(out: str) -> dict:
    """The ResNet-20 tracer end to end: ZAP training (forced), calibration, evaluation and writing all 1017 images.

    The trace it writes is the one the simulator cases replay.
    """
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "zapsim.trace", "resnet20", "--out", out, "--zap-dir", str(Path(tmp) / "zaps"),
               "--retrain", "--trace-images", "all", "--quiet"]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    man = json.loads((Path(out) / "manifest.json").read_text())
    train = man.get("zaps", {}).get("train_seconds")
    size = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())
    # The manifest's own timer stops before the writer compresses and checksums, so the
    # rest is taken from the wall clock: start-up, calibration, 11 evaluations, writing.
    return {"wall_s": wall, "train_s": train, "everything_else_s": wall - (train or 0),
            "trace_images": man["num_images"], "operating_points": len(man["operating_points"]),
            "trace_mb": size / 2**20}


def worker_scaling(trace_path: str | None) -> dict:
    """How simulator time grows with array size (dense ResNet-18) and with images and ops (a real trace)."""
    from zapsim.sim.arch import load_arch, replace_arch
    from zapsim.sim.simulate import simulate
    from zapsim.sim.workload import load_workload
    from zapsim.trace_format import read_trace

    layers = load_workload(RESNET18_WORKLOAD)
    out: dict = {}
    for path, sizes in ((WS32, [(8, 8), (16, 16), (32, 32), (64, 64), (128, 128)]),
                        (EYERISS, [(6, 7), (12, 14), (24, 28), (48, 56)])):
        base = load_arch(path)
        for rows, cols in sizes:
            arch = replace_arch(base, **{"pe_array.rows": rows, "pe_array.cols": cols})
            _, best = _best_of(lambda a=arch: simulate(a, layers, progress=False), 3)
            out[f"{base.dataflow} {rows}x{cols} dense resnet18 s"] = best
    if trace_path:
        trace = read_trace(trace_path)
        arch = load_arch(EYERISS)
        simulate(arch, trace.layers, trace, op_ids=["dense"], images=1, progress=False)
        for n in (64, 256, 1017):
            for ops in (["dense"], ["t0.20"], None):
                t0 = time.perf_counter()
                simulate(arch, trace.layers, trace, op_ids=ops, images=n, progress=False)
                label = "all ops" if ops is None else "+".join(["dense", *[o for o in ops if o != "dense"]])
                out[f"resnet20 eyeriss {n} images, {label} s"] = time.perf_counter() - t0
    return out


WORKERS = {"resnet18": worker_resnet18, "trace": worker_trace, "reference": worker_reference,
           "compile": worker_compile, "cli": worker_cli, "tracer": worker_tracer, "scaling": worker_scaling}


# --------------------------------------------------------------------------- parent


def run_case(kind: str, args: list, env: dict | None = None) -> dict:
    """Run one worker in a fresh process; return its result plus its peak RSS."""
    cmd = [sys.executable, __file__, "--worker", kind, "--args", json.dumps(args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, **(env or {})})
    out, err = proc.communicate()
    if proc.returncode:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"}
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_rss_mb"] = res.pop("_maxrss_kb") / 1024
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="zapsim benchmarks")
    ap.add_argument("--quick", action="store_true", help="fewer images and no tracer run")
    ap.add_argument("--only", help="run only cases whose name contains this text")
    ap.add_argument("--resnet20-trace", default=str(ROOT / "traces" / "resnet20-full"),
                    help="a ResNet-20 trace with all 1017 images (made by the tracer case when absent and ZAPSIM_DATA is set)")
    ap.add_argument("--out", default=str(OUT / "benchmarks.json"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--args", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        import resource

        res = WORKERS[a.worker](*json.loads(a.args))
        res["_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps(res))
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    r20 = Path(a.resnet20_trace)
    cases: list[tuple[str, str, list, dict | None]] = []
    with tempfile.TemporaryDirectory() as cache:
        # Build the synthetic trace in the parent so no case pays for it.
        resnet18_synthetic_trace(OUT / "resnet18_synth")
        cases += [
            ("compile: first run, empty Numba cache", "compile", [str(EYERISS)], {"NUMBA_CACHE_DIR": cache}),
            ("compile: second run, cached", "compile", [str(EYERISS)], {"NUMBA_CACHE_DIR": cache}),
        ]
        for label, arch in (("eyeriss_like", EYERISS), ("ws 32x32", WS32)):
            for op in ("dense", "t0.00"):
                cases.append((f"resnet18 synthetic, {label}, {'ZAP t0.00' if op != 'dense' else 'dense'}",
                              "resnet18", [str(arch), op, 3 if a.quick else 5], None))
        cases.append(("reference vs engine, one layer, eyeriss_like", "reference", [str(EYERISS)], None))
        if not a.quick and not (r20 / "manifest.json").exists() and os.environ.get("ZAPSIM_DATA"):
            cases.append(("tracer resnet20 (train+calibrate+evaluate+write all 1017)", "tracer", [str(r20)], None))
        results = {}
        for name, kind, args, env in cases:
            if a.only and a.only not in name:
                continue
            print(f"... {name}", file=sys.stderr, flush=True)
            results[name] = run_case(kind, args, env)
        if (r20 / "manifest.json").exists():
            for label, arch in (("eyeriss_like", EYERISS), ("ws 32x32", WS32)):
                name = f"resnet20 trace, all images x all ops, {label}"
                if not a.only or a.only in name:
                    print(f"... {name}", file=sys.stderr, flush=True)
                    results[name] = run_case("trace", [str(r20), str(arch), 64 if a.quick else None])
        if not a.quick and (not a.only or a.only in "scaling"):
            print("... scaling", file=sys.stderr, flush=True)
            results["scaling: array size, images, operating points"] = run_case(
                "scaling", [str(r20) if (r20 / "manifest.json").exists() else None])
        default = ROOT / "traces" / "default"
        if (default / "manifest.json").exists() and (not a.only or a.only in "cli"):
            results["cli: python -m zapsim.run eyeriss_like on traces/default (warm cache)"] = run_case(
                "cli", [str(default)])

    print(f"\n{'case':<62}{'result':<60}{'peak RSS':>10}")
    for name, res in results.items():
        if "error" in res:
            print(f"{name:<62}ERROR: {res['error']}")
            continue
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in res.items() if k != "peak_rss_mb")
        print(f"{name:<62}{shown[:200]:<60}{res['peak_rss_mb']:>8.0f} MB")
    record = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "quick": a.quick,
              "results": results}
    from zapsim.atomic import write_text_atomic

    write_text_atomic(Path(a.out), json.dumps(record, indent=1) + "\n")
    print(f"\nwrote {a.out}")
    return 0


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


if __name__ == "__main__":
    sys.exit(main())
