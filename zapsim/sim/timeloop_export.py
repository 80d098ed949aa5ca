"""A workload and a dense architecture as Timeloop input (format 0.4, timeloopfe's), to cross-check the baseline.

``python -m zapsim.sim.timeloop_export CONFIG --workload FILE --out DIR``
(or ``--trace DIR`` for a trace's layers; ``zapsim timeloop`` is the same)
writes

* ``DIR/arch.yaml``: the architecture, ``architecture: {version: 0.4,
  nodes: [...]}`` with ``!Container`` / ``!Component`` / ``!Parallel`` nodes:
  DRAM, the global buffer, the PE array (row-stationary: ``meshX`` = columns,
  ``meshY`` = rows, each PE with an ifmap, a weight and a psum scratchpad;
  systolic: one register per PE holding the stationary operand) and the MAC;
  word widths, capacities, banks and read / write bandwidths from the config,
  dataspace keep / bypass constraints (the GLB's weight bypass included) and
  the spatial constraints of the dataflow;
* ``DIR/problems/<nn>_<layer>.yaml``: one convolution problem per layer,
  ``problem: {version: 0.4, shape: ..., instance: ...}`` with Timeloop's
  dimensions ``C M R S N P Q`` (R, P along the width, S, Q along the height;
  a grouped layer adds ``G``, with C and M per group) and its strides;
* ``DIR/layers.csv``: per layer the problem file, Timeloop's dimensions and
  the algorithmic MACs, which is what Timeloop reports as computes.

Timeloop has no padding: a problem's inputs are the padded map, as SCALE-Sim's
are.  The export is the dense design only: zero gating, ZAP and the ZAP
unit have no counterpart and are left out (the header comment says so).
Timeloop's mapper then searches its own mapping within the constraints, so
its cycle counts are Timeloop's best mapping of the design, not zapsim's
mapping; the energy per action comes from Accelergy, unless an ERT is given.
``docs/interop.md`` says what each key becomes.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import check_target, write_text_atomic
from ..errors import ZapsimError, cli_main

TIMELOOP_VERSION = "0.4"
DATASPACES = ("Weights", "Inputs", "Outputs")
UNLIMITED = 1e6  # a bandwidth at or above this is written as none (unlimited in Timeloop)
DRAM_WIDTH_BITS = 64
GLB_WIDTH_BITS = 64


def _yaml_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(int(v)) if v.is_integer() else repr(v)
    s = str(v)
    return s if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s) else '"' + s.replace('"', '\\"') + '"'


def _flow(d: dict[str, Any]) -> str:
    parts = []
    for k, v in d.items():
        if isinstance(v, (list, tuple)):
            parts.append(f"{k}: [{', '.join(_yaml_scalar(x) for x in v)}]")
        else:
            parts.append(f"{k}: {_yaml_scalar(v)}")
    return "{" + ", ".join(parts) + "}"


def timeloop_dims(layer, batch: int = 1) -> dict[str, int]:
    """Timeloop's problem instance of a layer: C, M (per group), R, S, N, P, Q, G, strides."""
    g = layer.groups
    return {"C": layer.c_in // g, "M": layer.c_out // g, "R": layer.kernel[1], "S": layer.kernel[0], "N": int(batch),
            "P": layer.w_out, "Q": layer.h_out, "G": g, "Wstride": layer.stride[1], "Hstride": layer.stride[0]}


def problem_dict(layer, batch: int = 1) -> dict[str, Any]:
    """The Timeloop 0.4 problem of one layer (a convolution; grouped layers get a G dimension)."""
    d = timeloop_dims(layer, batch)
    grouped = d["G"] > 1
    g = [["G"]] if grouped else []
    dims = ["C", "M", "R", "S", "N", "P", "Q"] + (["G"] if grouped else [])
    shape = {
        "name": "grouped_conv2d" if grouped else "conv2d",
        "dimensions": dims,
        "coefficients": [{"name": c, "default": 1} for c in ("Wstride", "Hstride", "Wdilation", "Hdilation")],
        "data_spaces": [
            {"name": "Weights", "projection": [*([g] if grouped else []), [["C"]], [["M"]], [["R"]], [["S"]]]},
            {"name": "Inputs", "projection": [[["N"]], *([g] if grouped else []), [["C"]],
                                              [["R", "Wdilation"], ["P", "Wstride"]],
                                              [["S", "Hdilation"], ["Q", "Hstride"]]]},
            {"name": "Outputs", "projection": [[["N"]], *([g] if grouped else []), [["M"]], [["Q"]], [["P"]]],
             "read_write": True},
        ],
    }
    instance = {k: d[k] for k in dims}
    instance.update({"Wstride": d["Wstride"], "Hstride": d["Hstride"]})
    return {"problem": {"version": float(TIMELOOP_VERSION), "shape": shape, "instance": instance}}


def _term(t: list[str]) -> str:
    return "[" + ", ".join(t) + "]"


def problem_yaml(layer, batch: int = 1) -> str:
    """:func:`problem_dict` as YAML laid out as Timeloop's own examples are (projections one rank a line)."""
    p = problem_dict(layer, batch)["problem"]
    sh = p["shape"]
    lines = ["problem:", f"  version: {TIMELOOP_VERSION}", "  shape:", f"    name: {sh['name']}",
             f"    dimensions: [{', '.join(sh['dimensions'])}]", "    coefficients:"]
    lines += [f"    - {{name: {c['name']}, default: {c['default']}}}" for c in sh["coefficients"]]
    lines.append("    data_spaces:")
    for ds in sh["data_spaces"]:
        lines += [f"    - name: {ds['name']}", "      projection:"]
        lines += [f"      - [{', '.join(_term(t) for t in rank)}]" for rank in ds["projection"]]
        if ds.get("read_write"):
            lines.append("      read_write: true")
    lines.append("  instance:")
    lines += [f"    {k}: {v}" for k, v in p["instance"].items()]
    head = (f"# zapsim layer '{layer.name}': {layer.c_in}x{layer.h_in}x{layer.w_in} -> {layer.c_out}x{layer.h_out}x"
            f"{layer.w_out}, kernel {layer.kernel[0]}x{layer.kernel[1]}, stride {layer.stride[0]}x{layer.stride[1]}, "
            f"padding {layer.padding[0]}x{layer.padding[1]} (Timeloop reads the padded map), groups {layer.groups}; "
            f"{layer.macs * batch} MACs\n")
    return head + "\n".join(lines) + "\n"


def _bw(words_per_cycle: float | None) -> float | None:
    return None if words_per_cycle is None or words_per_cycle >= UNLIMITED else words_per_cycle


def architecture_yaml(arch) -> str:
    """The dense architecture as Timeloop 0.4 YAML (see the module docstring)."""
    act, wgt, ps = (arch.tensor_bits(t) for t in ("ifmap", "weight", "psum"))
    pe, gb, dram = arch.pe_array, arch.global_buffer, arch.dram
    lines = [
        f"# zapsim architecture '{arch.name}' ({Path(arch.source).name}) as Timeloop {TIMELOOP_VERSION} input, written by",
        "# python -m zapsim.sim.timeloop_export. Dense only: zero-input gating/skipping, the ZAP and the ZAP unit",
        "# have no counterpart here. Bandwidths are words per cycle; none given = unlimited.",
    ]
    if wgt != act:
        lines.append(f"# zapsim's weights are {wgt} bits and activations {act}: a Timeloop level has one datawidth, "
                     f"so DRAM and the GLB use {act}")
    lines += ["architecture:", f"  version: {TIMELOOP_VERSION}", "  nodes:",
              "  - !Container", "    name: system"]

    def dram_bw(bytes_per_cycle):
        return _bw(None if bytes_per_cycle is None else bytes_per_cycle / (act / 8))

    rd = dram_bw(dram.read_bandwidth_bytes_per_cycle or dram.bandwidth_bytes_per_cycle)
    wr = dram_bw(dram.write_bandwidth_bytes_per_cycle or dram.bandwidth_bytes_per_cycle)
    attrs = {"type": "LPDDR4", "width": DRAM_WIDTH_BITS, "datawidth": act}
    if rd is not None:
        attrs["read_bandwidth"] = rd
    if wr is not None:
        attrs["write_bandwidth"] = wr
    lines += ["  - !Component", "    name: DRAM", "    class: DRAM", f"    attributes: {_flow(attrs)}"]
    if rd is not None and dram.read_bandwidth_bytes_per_cycle is None and dram.write_bandwidth_bytes_per_cycle is None:
        lines.append(f"    # zapsim shares one {dram.bandwidth_bytes_per_cycle:g} bytes/cycle link between reads and "
                     "writes; Timeloop gives each the whole link")
    cycle_s = 1e-6 / arch.clock_mhz
    ident = re.sub(r"[^A-Za-z0-9_]", "_", arch.name)
    ident = ident if re.match(r"[A-Za-z_]", ident) else f"arch_{ident}"
    lines += ["  - !Container", f"    name: {ident}",
              f"    # clock {arch.clock_mhz:g} MHz: give Timeloop variables: {{global_cycle_seconds: {cycle_s:.6g}}}"]
    glb_rd = _bw(gb.read_bandwidth_words_per_cycle or gb.bandwidth_words_per_cycle)
    glb_wr = _bw(gb.write_bandwidth_words_per_cycle or gb.bandwidth_words_per_cycle)
    depth = max(1, (gb.size_bytes * 8) // GLB_WIDTH_BITS)
    attrs = {"depth": depth, "width": GLB_WIDTH_BITS, "n_banks": gb.banks, "datawidth": act}
    if glb_rd is not None:
        attrs["read_bandwidth"] = glb_rd
    if glb_wr is not None:
        attrs["write_bandwidth"] = glb_wr
    keep = ["Inputs", "Outputs"] + ([] if gb.weight_bypass else ["Weights"])
    dsp = {"keep": keep, "bypass": ["Weights"]} if gb.weight_bypass else {"keep": keep}
    lines += ["  - !Component", "    name: shared_glb", "    class: smartbuffer_SRAM", f"    attributes: {_flow(attrs)}",
              f"    constraints: {{dataspace: {_flow(dsp)}}}"]
    if arch.dataflow == "row_stationary":
        # Eyeriss' row-stationary: a PE column computes one output row (Q), its PEs one filter row (S) each, with
        # channels (C) and filters (M) interleaved over PE sets; nothing else spreads over the array.
        lines += ["  - !Container", "    name: PE_column", f"    spatial: {{meshX: {pe.cols}}}",
                  "    constraints: {spatial: {factors: [N=1, C=1, P=1, R=1, S=1]}}",
                  "  - !Container", "    name: PE", f"    spatial: {{meshY: {pe.rows}}}",
                  "    constraints: {spatial: {factors: [N=1, P=1, Q=1, R=1]}}",
                  "  - !Parallel", "    nodes:"]
        for name, words, bits, ds in (("ifmap_spad", pe.ifmap_spad_words, act, "Inputs"),
                                      ("weights_spad", pe.weight_spad_words, wgt, "Weights"),
                                      ("psum_spad", pe.psum_spad_words, ps, "Outputs")):
            lines += ["    - !Component", f"      name: {name}", "      class: smartbuffer_RF",
                      f"      attributes: {_flow({'depth': words, 'width': bits, 'datawidth': bits})}",
                      f"      constraints: {{dataspace: {{keep: [{ds}]}}}}"]
    else:
        # systolic: rows x cols PEs, each holding one word of the stationary operand; which dimensions may spread
        # over the array follows the GEMM lowering of docs/simulator.md (os: pixels x filters, ws: K x filters,
        # is: K x pixels)
        stationary, keep_bits, allowed = {
            "output_stationary": ("Outputs", ps, "N=1, C=1, R=1, S=1"),
            "weight_stationary": ("Weights", wgt, "N=1, P=1, Q=1"),
            "input_stationary": ("Inputs", act, "M=1"),
        }[arch.dataflow]
        lines += ["  - !Container", "    name: PE", f"    spatial: {{meshX: {pe.cols}, meshY: {pe.rows}}}",
                  f"    constraints: {{spatial: {{factors: [{allowed}]}}}}",
                  "  - !Component", "    name: pe_reg", "    class: smartbuffer_RF",
                  f"    attributes: {_flow({'depth': 1, 'width': keep_bits, 'datawidth': keep_bits})}",
                  f"    constraints: {{dataspace: {{keep: [{stationary}]}}}}"]
    lines += ["  - !Component", "    name: mac", "    class: intmac",
              f"    attributes: {_flow({'multiplier_width': max(act, wgt), 'adder_width': ps})}"]
    return "\n".join(lines) + "\n"


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:80]


def export(arch, layers: Sequence, out: str | Path, *, batch: int = 1, overwrite: bool = False) -> list[Path]:
    """Write ``arch.yaml``, ``problems/*.yaml`` and ``layers.csv`` into ``out``; return the paths."""
    out = Path(out)
    files: dict[Path, str] = {out / "arch.yaml": architecture_yaml(arch)}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "layer", "problem", "C", "M", "R", "S", "N", "P", "Q", "G", "Wstride", "Hstride", "macs"])
    width = len(str(len(layers) - 1))
    for i, layer in enumerate(layers):
        rel = Path("problems") / f"{i:0{width}d}_{_safe(layer.name)}.yaml"
        files[out / rel] = problem_yaml(layer, batch)
        d = timeloop_dims(layer, batch)
        w.writerow([i, layer.name, rel.as_posix(), *(d[k] for k in ("C", "M", "R", "S", "N", "P", "Q", "G", "Wstride",
                                                                   "Hstride")), layer.macs * batch])
    files[out / "layers.csv"] = buf.getvalue()
    for p in files:
        check_target(p, overwrite, "Timeloop export")
    for p, text in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(p, text, overwrite=overwrite)
    return list(files)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zapsim.sim.timeloop_export",
                                 description="Write a workload and a dense architecture as Timeloop 0.4 input "
                                 "(arch.yaml, problems/*.yaml, layers.csv) to cross-check zapsim's dense baseline.")
    ap.add_argument("config", nargs="?", default=None, help="architecture: a YAML file, a bundled name, or a SCALE-Sim .cfg")
    ap.add_argument("--scalesim-cfg", metavar="FILE", default=None, help="a SCALE-Sim .cfg as the architecture")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--workload", metavar="FILE", help="a YAML layer list, SCALE-Sim topology CSV or ONNX model")
    src.add_argument("--trace", metavar="DIR", help="a trace directory (its layers)")
    ap.add_argument("--batch", type=int, default=1, help="Timeloop's N (default 1)")
    ap.add_argument("--out", required=True, metavar="DIR", help="output directory")
    ap.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    args = ap.parse_args(argv)
    from .arch_sources import load_arch_arg

    arch, _ = load_arch_arg(args.config, args.scalesim_cfg)
    if args.batch < 1:
        raise ZapsimError(f"--batch {args.batch}: must be >= 1")
    if args.workload is not None:
        from .workload import load_workload

        layers = load_workload(args.workload)
    else:
        from ..trace_format import read_trace

        layers = read_trace(args.trace, verify=False).layers
    for p in export(arch, layers, args.out, batch=args.batch, overwrite=args.overwrite):
        print(p)
    return 0


def entry() -> None:
    sys.exit(cli_main(main))


if __name__ == "__main__":
    entry()
