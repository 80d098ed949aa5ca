"""zapsim beside SCALE-Sim v3 on the same dense layers and the same systolic array.

Not run in CI: it installs SCALE-Sim 3.0.0 from PyPI into its own virtual
environment (SCALE-Sim needs numpy<2, pandas<2.3, numba<0.62, which clash
with ours), writes the workload as a SCALE-Sim topology (inputs padded, as
SCALE-Sim expects), runs SCALE-Sim in CALC mode (no bandwidth stalls), and
runs zapsim's dense simulation of the same layers with SCALE-Sim's
off-by-one convention switched on so the cycle counts are comparable.
Prints both cycle counts per layer and both wall times with their ratio.

    python benchmarks/scalesim_side_by_side.py                      # ResNet-18 on a 32x32 WS array
    python benchmarks/scalesim_side_by_side.py --arch arch_configs/systolic_os_16x16.yaml

Both tools run in this one invocation, so the ratio is measured under the same
machine load (timings on a shared 2-core machine are noisy; ratios are not).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zapsim.atomic import write_text_atomic  # noqa: E402
from zapsim.errors import ZapsimError, cli_main  # noqa: E402

SCALESIM_REQS = ["scalesim==3.0.0", "numpy<2", "pandas<2.3", "numba<0.62"]
DATAFLOW_CODES = {"output_stationary": "os", "weight_stationary": "ws", "input_stationary": "is"}

CFG_TEMPLATE = """[general]
run_name = zapsim_side_by_side

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    4096
FilterSramSzkB:   4096
OfmapSramSzkB:    4096
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Dataflow : {df}
Bandwidth : 10
ReadRequestBuffer: 128
WriteRequestBuffer: 128

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

# Runs inside SCALE-Sim's venv; prints the wall time of the simulation alone.
RUNNER = """
import sys, time
from scalesim.scale_sim import scalesim
cfg, topo, out = sys.argv[1:4]
t0 = time.perf_counter()
s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=topo, input_type_gemm=False)
s.run_scale(top_path=out)
print("SCALESIM_WALL_S", time.perf_counter() - t0)
"""


def ensure_venv(venv: Path) -> Path:
    """Create SCALE-Sim's own venv once; later runs reuse it."""
    py = venv / "bin" / "python"
    stamp = venv / ".scalesim-installed"
    if not stamp.exists():
        print(f"installing {' '.join(SCALESIM_REQS)} into {venv} (once) ...", file=sys.stderr)
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *SCALESIM_REQS], check=True)
        stamp.touch()
    return py


def topology_csv(layers) -> str:
    """SCALE-Sim's conv topology: padded ifmap, filter, channels, filters, stride (square strides only).

    SCALE-Sim sizes the output as ceil((H - K + s) / s), PyTorch as
    floor((H + 2p - K) / s) + 1; they differ when a stride skips the last
    padded row (e.g. 56 + 2 = 58 rows, 3x3, stride 2: 29 against 28).  So
    the ifmap given to SCALE-Sim is the padded extent the convolution
    actually reads, (H_out - 1) * s + K, on which both agree.
    """
    rows = ["Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"]
    for l in layers:
        if l.stride[0] != l.stride[1] or l.groups != 1:
            raise ZapsimError(f"layer {l.name}: SCALE-Sim takes square strides and groups=1 only")
        h = (l.h_out - 1) * l.stride[0] + l.kernel[0]
        w = (l.w_out - 1) * l.stride[1] + l.kernel[1]
        rows.append(f"{l.name}, {h}, {w}, {l.kernel[0]}, {l.kernel[1]}, {l.c_in}, {l.c_out}, {l.stride[0]},")
    return "\n".join(rows) + "\n"


def run_scalesim(py: Path, arch, layers, workdir: Path) -> tuple[list[int], float]:
    df = DATAFLOW_CODES.get(arch.dataflow)
    if df is None:
        raise ZapsimError(f"{arch.source}: dataflow '{arch.dataflow}' has no SCALE-Sim counterpart (use os, ws or is)")
    cfg = workdir / "arch.cfg"
    topo = workdir / "topology.csv"
    cfg.write_text(CFG_TEMPLATE.format(rows=arch.pe_array.rows, cols=arch.pe_array.cols, df=df))
    topo.write_text(topology_csv(layers))
    t0 = time.perf_counter()
    proc = subprocess.run([str(py), "-c", RUNNER, str(cfg), str(topo), str(workdir / "out")], capture_output=True, text=True)
    wall_total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise ZapsimError(f"SCALE-Sim failed:\n{proc.stderr[-2000:]}")
    wall = next((float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("SCALESIM_WALL_S")), wall_total)
    report = next((workdir / "out").rglob("COMPUTE_REPORT.csv"))
    with open(report) as f:
        rows = list(csv.reader(f))
    header = [h.strip() for h in rows[0]]
    col = header.index("Total Cycles")
    cycles = [int(float(r[col])) for r in rows[1:] if r and r[0].strip()]
    return cycles, wall


def run_zapsim(arch, layers, repeats: int) -> tuple[list[int], float, float]:
    """zapsim's dense compute cycles per layer; returns (cycles, first-call wall s, best warm wall s)."""
    from zapsim.sim.simulate import simulate

    t0 = time.perf_counter()
    result = simulate(arch, layers, progress=False)
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = simulate(arch, layers, progress=False)
        best = min(best, time.perf_counter() - t0)
    op = result["operating_points"][0]
    # Compute cycles only: SCALE-Sim's CALC mode assumes the memory keeps up.
    cycles = [int(round(l["cycles"] - l["stall_cycles"])) for l in op["layers"]]
    return cycles, first, best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default=str(ROOT / "arch_configs" / "tpu_like_ws_32x32.yaml"))
    ap.add_argument("--workload", default=str(ROOT / "experiments" / "workloads" / "resnet18_imagenet.yaml"))
    ap.add_argument("--venv", default=str(ROOT / ".scalesim-venv"), help="SCALE-Sim's own virtual environment")
    ap.add_argument("--repeats", type=int, default=5, help="timed zapsim repeats after the compiling call")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "scalesim_side_by_side.json"))
    args = ap.parse_args(argv)

    from zapsim.sim.arch import load_arch, replace_arch
    from zapsim.sim.workload import load_workload

    arch = replace_arch(load_arch(args.arch), **{"systolic.scalesim_off_by_one": True})
    layers = load_workload(args.workload)
    py = ensure_venv(Path(args.venv))
    with tempfile.TemporaryDirectory() as tmp:
        ss_cycles, ss_wall = run_scalesim(py, arch, layers, Path(tmp))
    zs_cycles, zs_first, zs_wall = run_zapsim(arch, layers, args.repeats)

    print(f"{'layer':<24}{'SCALE-Sim cycles':>18}{'zapsim cycles':>16}  equal")
    for l, a, b in zip(layers, ss_cycles, zs_cycles):
        print(f"{l.name:<24}{a:>18,}{b:>16,}  {'yes' if a == b else 'NO'}")
    same = ss_cycles == zs_cycles
    print(f"{'total':<24}{sum(ss_cycles):>18,}{sum(zs_cycles):>16,}  {'yes' if same else 'NO'}")
    ratio = ss_wall / zs_wall
    print(f"\nwall time: SCALE-Sim {ss_wall:.2f} s, zapsim {zs_wall * 1e3:.2f} ms warm "
          f"({zs_first:.2f} s first call incl. Numba compile/cache load): {ratio:,.0f}x faster")
    record = {
        "arch": args.arch,
        "workload": args.workload,
        "layers": [l.name for l in layers],
        "scalesim_cycles": ss_cycles,
        "zapsim_cycles": zs_cycles,
        "cycles_equal": same,
        "scalesim_wall_s": ss_wall,
        "zapsim_first_call_wall_s": zs_first,
        "zapsim_warm_wall_s": zs_wall,
        "speed_ratio": ratio,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(cli_main(main))
