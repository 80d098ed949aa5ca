"""What every study script shares: timing and progress, tracing and simulating with caching, summary tables.

The scripts run from a fresh clone with ``ZAPSIM_DATA`` set (see the README's Data section).  Traces and results
are cached under ``experiments/out/`` (git-ignored, like ``traces/``) keyed by model, pattern and image count, so
a second run only redraws; ``--fresh`` recomputes everything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python experiments/expN_*.py` from a fresh clone without installing
    sys.path.insert(0, str(REPO))

from zapsim import plot  # noqa: E402
from zapsim.atomic import write_text_atomic  # noqa: E402
from zapsim.errors import DataError, ZapsimError  # noqa: E402

OUT_ROOT = REPO / "experiments" / "out"
FIGURES = REPO / "docs" / "figures"
ARCH_DIR = REPO / "arch_configs"
WS_SYSTOLIC = "tpu_like_ws_32x32"  # the weight-stationary systolic array of the studies
ALL_PATTERNS = ("checkerboard", "p60", "p40", "p33")


class Clock:
    """Wall-clock timing with progress lines on stderr ("[  12.3 s] message")."""

    def __init__(self, name: str):
        self.name = name
        self.t0 = time.perf_counter()

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.t0

    def log(self, msg: str) -> None:
        print(f"[{self.elapsed_s():7.1f} s] {msg}", file=sys.stderr, flush=True)

    def done(self) -> str:
        s = self.elapsed_s()
        line = f"{self.name} took {s:.1f} s ({s / 60:.1f} min)"
        print(line, file=sys.stderr, flush=True)
        return line


def require_data() -> Path:
    """``$ZAPSIM_DATA``, or a clear error saying what to set."""
    root = os.environ.get("ZAPSIM_DATA")
    if not root:
        raise DataError("the studies trace real networks: set ZAPSIM_DATA to the data directory (README, 'Data'), "
                        "e.g. export ZAPSIM_DATA=/path/to/data")
    p = Path(root)
    if not p.is_dir():
        raise DataError(f"ZAPSIM_DATA={root} is not a directory")
    return p


def start(args: argparse.Namespace, name: str) -> tuple[Clock, Path]:
    """Every study's first steps: check the data, start the clock, make the output directory."""
    require_data()
    clock = Clock(f"{name} ({args.images} images)")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    return clock, out


def finish(args: argparse.Namespace, name: str, out: Path, report: str, summary: Any, figs: Sequence[Path],
           clock: Clock) -> int:
    """Every study's last steps: timing line, report.md, summary.json, publishing, and where the report is."""
    write_report(out, report + f"\n{clock.done()}.\n", publish_as=f"{name}_report.md" if args.publish else None)
    dump_json(out / "summary.json", summary)
    if args.publish:
        publish(figs, name)
    print(out / "report.md")
    return 0


def traces_and_figures(used: Mapping[str, Path], sim_images: int | None, figs: Sequence[Path]) -> str:
    """The report's closing sections: the traces used and the figures drawn."""
    lines = ["\n## Traces\n\n" + traces_table(used, sim_images), "\n## Figures\n"]
    lines += [f"- [{p.name}]({p.name})" for p in figs if p.suffix == ".png"]
    return "\n".join(lines)


def base_args(description: str, default_out: str) -> argparse.ArgumentParser:
    """Options every study takes."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--images", type=int, default=1017,
                    help="images top-1 is measured on (the exact CIFAR-10 subset has 1017; fewer for a smoke run)")
    ap.add_argument("--trace-images", type=int, default=100,
                    help="of those, how many the trace holds masks for (the tracer's default, 100)")
    ap.add_argument("--sim-images", type=int, default=100,
                    help="of the traced images, how many are simulated (cycles and energy are means over them)")
    ap.add_argument("--trace-root", type=Path, default=None,
                    help="reuse traces made beforehand by `python -m zapsim.trace MODEL --pattern P --out "
                    "ROOT/MODEL-P` with the tracer's default thresholds, when their image counts match")
    ap.add_argument("--out", type=Path, default=OUT_ROOT / default_out, help="figures and report.md go here")
    ap.add_argument("--publish", action="store_true",
                    help="also copy the PNGs and the report into docs/figures/ (what docs/results.md embeds)")
    ap.add_argument("--fresh", action="store_true", help="recompute cached traces and results")
    ap.add_argument("--resimulate", action="store_true", help="recompute cached results (keep the traces)")
    ap.add_argument("--no-trace", action="store_true",
                    help="never trace: use only cached (or --trace-root) traces and list what is missing in the report")
    return ap


# --------------------------------------------------------------------------- trace -> simulate (cached)

def trace_dir(model: str, pattern: str, images: int, trace_images: int) -> Path:
    return OUT_ROOT / "traces" / f"{model}-{pattern}-acc{images}-traced{trace_images}"


def _usable(path: Path, images: int, trace_images: int) -> bool:
    """A finished trace whose top-1 was measured on ``images`` images and which holds at least ``trace_images``
    images (a reused trace may hold fewer: the simulation then uses what it has, and the report says so)."""
    man = path / "manifest.json"
    if not man.is_file():
        return False
    m = json.loads(man.read_text())
    acc = (m["operating_points"][0].get("accuracy") or {}).get("num_images")
    return acc == images and m.get("num_images", 0) >= trace_images


def ensure_trace(model: str, pattern: str, images: int, trace_images: int, clock: Clock, fresh: bool = False,
                 trace_root: Path | None = None, no_trace: bool = False) -> Path | None:
    """Trace ``model`` with ``pattern`` (``python -m zapsim.trace``, the tracer's default uniform thresholds and
    per-layer error budgets), or reuse a cached trace (or one under ``trace_root``).  With ``no_trace``, None
    when there is nothing to reuse."""
    if trace_root is not None and not fresh:
        pre = trace_root / f"{model}-{pattern}"
        if _usable(pre, images, 1):
            clock.log(f"trace {pre}: reused")
            return pre
    out = trace_dir(model, pattern, images, trace_images)
    if _usable(out, images, trace_images) and not fresh:
        clock.log(f"trace {out.name}: cached")
        return out
    if no_trace:
        clock.log(f"trace {out.name}: missing (--no-trace), left out")
        return None
    clock.log(f"trace {out.name}: tracing {model} with the {pattern} pattern (top-1 on {images} images, "
              f"masks of {trace_images})")
    cmd = [sys.executable, "-m", "zapsim.trace", model, "--pattern", pattern, "--images", str(images),
           "--trace-images", str(min(trace_images, images)), "--out", str(out)]
    if out.exists():
        cmd.append("--overwrite")
    rc = subprocess.run(cmd, cwd=REPO).returncode
    if rc != 0:
        raise ZapsimError(f"tracing {model} ({pattern}) failed with exit code {rc}: {' '.join(cmd)}")
    clock.log(f"trace {out.name}: done")
    return out


def ensure_results(arch_name: str, trace: Path, clock: Clock, fresh: bool = False, sim_images: int | None = None,
                   overrides: Mapping[str, Any] | None = None, tag: str | None = None) -> dict[str, Any]:
    """Simulate every operating point of ``trace`` (its first ``sim_images`` images; None: all) on
    ``arch_configs/<arch_name>.yaml`` (with dotted ``overrides`` such as ``{"sparsity.zero_inputs": "gate"}``),
    or reuse the cached results."""
    from zapsim.sim.arch import load_arch, replace_arch
    from zapsim.sim.report import write_results
    from zapsim.trace_format import read_trace

    # keyed by the trace's manifest (which holds every mask file's checksum), the architecture file and the
    # simulator's source, so a changed engine or config is simulated again rather than read from the cache
    h = hashlib.sha256((trace / "manifest.json").read_bytes())
    h.update((ARCH_DIR / f"{arch_name}.yaml").read_bytes())
    for src in sorted((REPO / "zapsim" / "sim").glob("*.py")):
        h.update(src.read_bytes())
    digest = h.hexdigest()[:10]
    out = OUT_ROOT / "results" / (f"{trace.name}-{digest}__sim{sim_images or 'all'}__{arch_name}"
                                  + (f"__{tag}" if tag else ""))
    if (out / "results.json").is_file() and not fresh:
        clock.log(f"results {out.name}: cached")
        return plot.load_results(out)
    arch = load_arch(ARCH_DIR / f"{arch_name}.yaml")
    if overrides:
        arch = replace_arch(arch, **overrides)
    tr = read_trace(trace)
    n = tr.num_images if sim_images is None else min(sim_images, tr.num_images)
    clock.log(f"results {out.name}: simulating {len(tr.operating_points)} operating points x {len(tr.layers)} "
              f"layers x {n} images")
    from zapsim.sim.simulate import simulate  # Numba: compiled (or loaded from cache) only when needed

    result = simulate(arch, tr.layers, trace=tr, images=n, progress=True)
    write_results(result, out, overwrite=True)
    clock.log(f"results {out.name}: done")
    return plot.load_results(out)


def traces_table(traces: Mapping[str, Path], sim_images: int | None) -> str:
    """Where each trace came from: accuracy images, simulated images, ZAP training settings."""
    rows = []
    for name, path in traces.items():
        m = json.loads((path / "manifest.json").read_text())
        acc = (m["operating_points"][0].get("accuracy") or {}).get("num_images")
        st = (m.get("zaps") or {}).get("settings") or {}
        ti = st.get("training_images") or {}
        n_sim = m["num_images"] if sim_images is None else min(sim_images, m["num_images"])
        rows.append([name, f"`{path.relative_to(REPO) if path.is_relative_to(REPO) else path}`", acc, n_sim,
                     f"{st.get('epochs', '?')} epochs on {ti.get('count', '?')} {ti.get('name', '')} images"])
    return md_table(["trace", "path", "top-1 images", "simulated images", "ZAP training"], rows)


# --------------------------------------------------------------------------- numbers from results


def summary(res: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per non-dense operating point: top-1, its change, energy saving, speedup, MAC reductions."""
    base, pts = plot.op_points(res)
    rows = []
    for p in pts:
        rows.append({
            "id": p.id, "label": p.label, "kind": p.kind, "top1": p.top1,
            "dtop1": None if p.top1 is None or base.top1 is None else p.top1 - base.top1,
            "energy_saving": 1 - p.energy_norm, "speedup": p.speedup, "cycle_saving": 1 - 1 / p.speedup,
            "mac_reduction": p.mac_reduction, "mac_reduction_net": p.mac_reduction_net,
            "mean_threshold": p.mean_threshold,
        })
    return rows


def best_within(rows: Sequence[Mapping[str, Any]], max_drop_points: float, kind: str | None = None) -> dict | None:
    """The row with the largest energy saving whose top-1 is at most ``max_drop_points`` below dense."""
    ok = [r for r in rows if r["dtop1"] is not None and r["dtop1"] >= -max_drop_points and (kind is None or
                                                                                           r["kind"] == kind)]
    return dict(max(ok, key=lambda r: r["energy_saving"])) if ok else None


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def write_report(out_dir: Path, text: str, publish_as: str | None = None) -> Path:
    """Write report.md into ``out_dir`` (and, with ``publish_as``, a copy under docs/figures/)."""
    p = out_dir / "report.md"
    write_text_atomic(p, text)
    if publish_as:
        FIGURES.mkdir(parents=True, exist_ok=True)
        # the published copy sits beside the published PNGs, which carry the study's prefix (see publish())
        prefix = publish_as.split("_", 1)[0]
        write_text_atomic(FIGURES / publish_as, re.sub(r"\]\(([^/)]+\.png)\)", rf"]({prefix}_\1)", text))
    return p


def publish(paths: Sequence[Path], prefix: str) -> list[Path]:
    """Copy the PNGs among ``paths`` into docs/figures/ as ``prefix``_NAME.png."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    done = []
    for p in paths:
        if p.suffix == ".png":
            dest = FIGURES / f"{prefix}_{p.name}"
            tmp = dest.with_name(f".{dest.name}.tmp-copy")
            shutil.copyfile(p, tmp)
            os.replace(tmp, dest)
            done.append(dest)
    return done


def dump_json(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=1) + "\n")


def run_main(main: Callable[[Sequence[str] | None], int | None]) -> None:
    from zapsim.errors import cli_main

    raise SystemExit(cli_main(main))


__all__ = ["Clock", "ZapsimError"]
