"""Trace format v2 against v1: size on disk and decoding speed of the same masks.

    python benchmarks/trace_format_v2.py [--trace DIR] [--repeats 3]

``--trace`` is a version-1 trace (default ``traces/big``: the 1017-image
ResNet-20 trace with 11 operating points, made by
``ZAPSIM_DATA=/work/shared/data python -m zapsim.trace resnet20 --trace-images 1017 --out traces/big``
(git-ignored, about ten minutes); without it, ``traces/default``).  The
script converts it to version 2 (``benchmarks/out/``; the masks are checked
equal bit for bit), then times, alternating the two versions in one run so
that machine noise hits both alike:

- ``open``: ``read_trace(verify=True)`` (manifest schema, every file's size,
  sha256 and inflated length);
- ``decode``: every mask as the simulator asks for it (operating point,
  then layer, then in/out/computed: ``Trace.mask``), on a freshly opened
  trace.

It prints a table and writes ``benchmarks/out/trace_format_v2.json``.
Timings are noisy on a shared machine: read the ratios, and the CPU-time
ones (``time.process_time``), which other jobs on the machine disturb less.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zapsim.trace_format import MASK_KINDS, convert_trace, read_trace  # noqa: E402

OUT = ROOT / "benchmarks" / "out"


def dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def mask_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in (p / "masks").rglob("*") if f.is_file())


def decode_all(path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds to decode every mask of a freshly opened trace, in the simulator's order."""
    t0, c0 = time.perf_counter(), time.process_time()
    t = read_trace(path, verify=False)
    for op in t.operating_points:
        for li in range(len(t.layers)):
            for kind in MASK_KINDS:
                t.mask(op.id, li, kind)
    return time.perf_counter() - t0, time.process_time() - c0


def open_verify(path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of read_trace(verify=True)."""
    t0, c0 = time.perf_counter(), time.process_time()
    read_trace(path, verify=True)
    return time.perf_counter() - t0, time.process_time() - c0


def same_masks(a: Path, b: Path) -> bool:
    ta, tb = read_trace(a), read_trace(b)
    for op in ta.operating_points:
        for li in range(len(ta.layers)):
            for kind in MASK_KINDS:
                if not np.array_equal(ta.packed(op.id, li, kind), tb.packed(op.id, li, kind)):
                    return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", default=None, help="a version-1 trace (default traces/big, else traces/default)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--reuse", action="store_true", help="time the versions already under benchmarks/out")
    args = ap.parse_args()
    src = Path(args.trace) if args.trace else (ROOT / "traces" / "big")
    if not src.is_dir():
        src = ROOT / "traces" / "default"
    t1 = read_trace(src, verify=False)
    if t1.format_version != 1:
        v1 = OUT / f"{src.name}-v1"
        convert_trace(src, v1, format_version=1, overwrite=True)
    else:
        v1 = src
    OUT.mkdir(parents=True, exist_ok=True)
    v2 = OUT / f"{src.name}-v2"
    v1copy = OUT / f"{src.name}-v1-copy"
    write_v1_s = convert_s = float("nan")
    if not (args.reuse and v2.is_dir()):
        t0 = time.perf_counter()
        convert_trace(v1, v1copy, format_version=1, overwrite=True)
        write_v1_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        convert_trace(v1, v2, format_version=2, overwrite=True)
        convert_s = time.perf_counter() - t0
        assert same_masks(v1, v2), "v2 does not hold the same masks as v1"
    rows = {"v1": {"open": [], "decode": []}, "v2": {"open": [], "decode": []}}
    for _ in range(args.repeats):
        for name, path in (("v1", v1), ("v2", v2)):
            rows[name]["open"].append(open_verify(path))
            rows[name]["decode"].append(decode_all(path))
    t = read_trace(v1, verify=False)
    res = {
        "trace": str(src),
        "images": t.num_images,
        "operating_points": len(t.operating_points),
        "layers": len(t.layers),
        "bytes": {"v1": dir_bytes(v1), "v2": dir_bytes(v2)},
        "mask_bytes": {"v1": mask_bytes(v1), "v2": mask_bytes(v2)},
        "rewrite_as_v1_s": write_v1_s,
        "rewrite_as_v2_s": convert_s,
        "open_verify_s": {k: min(x[0] for x in v["open"]) for k, v in rows.items()},
        "decode_all_s": {k: min(x[0] for x in v["decode"]) for k, v in rows.items()},
        "open_verify_cpu_s": {k: min(x[1] for x in v["open"]) for k, v in rows.items()},
        "decode_all_cpu_s": {k: min(x[1] for x in v["decode"]) for k, v in rows.items()},
        "repeats": args.repeats,
    }
    res["size_ratio_v1_over_v2"] = res["bytes"]["v1"] / res["bytes"]["v2"]
    res["decode_ratio_v2_over_v1"] = res["decode_all_s"]["v2"] / res["decode_all_s"]["v1"]
    res["open_ratio_v2_over_v1"] = res["open_verify_s"]["v2"] / res["open_verify_s"]["v1"]
    res["decode_cpu_ratio_v2_over_v1"] = res["decode_all_cpu_s"]["v2"] / res["decode_all_cpu_s"]["v1"]
    res["open_cpu_ratio_v2_over_v1"] = res["open_verify_cpu_s"]["v2"] / res["open_verify_cpu_s"]["v1"]
    (OUT / "trace_format_v2.json").write_text(json.dumps(res, indent=1) + "\n")
    print(f"trace {src}: {res['images']} images, {res['operating_points']} operating points, {res['layers']} layers")
    print(f"{'':4s} {'bytes':>14s} {'open+verify s (CPU)':>20s} {'decode all s (CPU)':>20s}")
    for k in ("v1", "v2"):
        print(f"{k:4s} {res['bytes'][k]:>14,d} {res['open_verify_s'][k]:>11.2f} ({res['open_verify_cpu_s'][k]:5.2f}) "
              f"{res['decode_all_s'][k]:>11.2f} ({res['decode_all_cpu_s'][k]:5.2f})")
    print(f"v1/v2 size {res['size_ratio_v1_over_v2']:.2f}x; v2/v1 time (best of {args.repeats}): open "
          f"{res['open_ratio_v2_over_v1']:.2f} wall, {res['open_cpu_ratio_v2_over_v1']:.2f} CPU; decode "
          f"{res['decode_ratio_v2_over_v1']:.2f} wall, {res['decode_cpu_ratio_v2_over_v1']:.2f} CPU")
    if write_v1_s == write_v1_s:  # not NaN: the versions were written in this run
        print(f"rewriting the trace (read it, write it again) took {write_v1_s:.0f} s as v1, {convert_s:.0f} s as v2")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
