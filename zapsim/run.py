"""``python -m zapsim.run CONFIG``: simulate a trace (or a dense workload) on an architecture.

With only CONFIG it runs the bundled default trace (``traces/default``) and
prints, per operating point against the dense baseline: accuracy, cycles,
speedup, energy and its saving, and MACs algorithmic / actual / gated /
skipped / ZAP.  See ``python -m zapsim.run --help`` and
``docs/results-schema.md``.

Startup is kept light: this module imports only argparse, the config and
trace readers (NumPy, PyYAML) at first; the Numba engine is imported after
the arguments, the config and the trace have been checked, so a mistake is
reported at once.  It never imports torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .bundled import bundled_configs
from .bundled import default_trace as bundled_default_trace
from .errors import ZapsimError, cli_main
from .sim.arch_sources import load_arch_arg

DEFAULT_TRACE = Path("traces") / "default"
MAX_NOTES = 30  # notes about a SCALE-Sim file printed before "... and N more"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line (exit 2 via cli_main) instead of usage + message."""

    def error(self, message: str):  # type: ignore[override]
        raise ZapsimError(f"{message} (see python -m zapsim.run --help)")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="python -m zapsim.run",
        description="Cycle-level simulation of a ZAP trace (or a dense workload) on a PE-array accelerator: "
        "per operating point against dense: accuracy, cycles, speedup, energy and saving, MACs "
        "algorithmic/actual/gated/skipped/ZAP.",
        epilog="Configs: arch_configs/*.yaml (docs/arch-config.md). Results JSON: docs/results-schema.md.",
    )
    ap.add_argument("config", nargs="?", default=None,
                    help="architecture: a YAML file (arch_configs/eyeriss_like.yaml), a bundled config by name "
                    f"({', '.join(bundled_configs()) or 'eyeriss_like, ...'}), or a SCALE-Sim .cfg file")
    ap.add_argument("--scalesim-cfg", metavar="FILE", default=None,
                    help="a SCALE-Sim .cfg file as the architecture (each key mapped as docs/arch-config.md says; "
                    "keys with no zapsim meaning are listed)")
    ap.add_argument("--ert", metavar="FILE", default=None,
                    help="price actions with an Accelergy ERT (ERT.yaml / ERT_summary.yaml) instead of the config's "
                    "energy table; components are matched by name (docs/interop.md)")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--trace", metavar="DIR", default=None,
                     help=f"trace directory (default: {DEFAULT_TRACE}, the bundled trace)")
    src.add_argument("--workload", metavar="FILE", default=None,
                     help="dense workload instead of a trace: a YAML layer list or a SCALE-Sim topology CSV")
    ap.add_argument("--op", metavar="ID", nargs="+", default=None,
                    help="operating point id(s) of the trace to run (default: all); 'dense' always runs as the baseline")
    ap.add_argument("--images", metavar="N", type=int, default=None,
                    help="simulate the trace's first N images (default: all)")
    ap.add_argument("--batch", metavar="B", type=int, default=1,
                    help="images per batch sharing one weight fetch from DRAM (default 1)")
    from .sim.engines import DEFAULT_ENGINE, ENGINES

    ap.add_argument("--engine", choices=list(ENGINES), default=DEFAULT_ENGINE,
                    help="simulation engine: " + "; ".join(f"{k}: {v}" for k, v in ENGINES.items())
                    + f" (default {DEFAULT_ENGINE})")
    ap.add_argument("--layers", action="store_true", help="also print a per-layer table for each operating point")
    ap.add_argument("--out", metavar="DIR", default=None, type=_out_arg,
                    help="write results.json and layers.csv (and any timeline) as the directory DIR, all at once")
    ap.add_argument("--json", action="store_true", help="print the results JSON instead of the tables")
    ap.add_argument("--timeline", metavar="LAYER", default=None,
                    help="also record a per-PE timeline (busy/gated/idle/stalled) of this layer (name or index) "
                    "into --out, with a plot")
    ap.add_argument("--image", metavar="I", type=int, default=0, help="image index for --timeline (default 0)")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace an earlier run's --out directory (whole, once the new one is complete)")
    ap.add_argument("--max-memory-gib", metavar="GIB", type=float, default=None,
                    help="refuse a run estimated to need more memory (default $ZAPSIM_MAX_MEMORY_GIB or 16)")
    ap.add_argument("--max-macs", metavar="N", type=float, default=None,
                    help="refuse a run simulating more algorithmic MACs (default $ZAPSIM_MAX_MACS or 1e14)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def _out_arg(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("'' is an empty path; give a directory name")
    return text


def default_trace() -> Path:
    """``traces/default`` under the current directory if there, else the bundled one (checkout or wheel)."""
    here = DEFAULT_TRACE
    return here if here.is_dir() else bundled_default_trace()


def _print_notes(notes: list[str]) -> None:
    for n in notes[:MAX_NOTES]:
        print(f"note: {n}", file=sys.stderr)
    if len(notes) > MAX_NOTES:
        print(f"note: ... and {len(notes) - MAX_NOTES} more", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .sim.report import check_out_dir, format_layers, format_summary, results_json, write_results

    arch, notes = load_arch_arg(args.config, args.scalesim_cfg)
    if args.ert is not None:
        import dataclasses

        from .sim.accelergy import load_ert_table

        arch = dataclasses.replace(arch, energy=load_ert_table(args.ert))
    _print_notes([*notes, *arch.energy.notes])
    out = Path(args.out) if args.out else None
    if out is not None:
        check_out_dir(out, args.overwrite)  # before the (possibly long) simulation
    if args.batch < 1:
        raise ZapsimError(f"--batch {args.batch}: must be >= 1")
    if args.timeline is not None and out is None:
        raise ZapsimError("--timeline writes its timeline and plot into --out DIR; give --out")

    trace = None
    synthetic = None  # a workload's synthetic-mask parameters, when it states them
    scratch = None  # the temporary directory holding a workload's synthetic trace
    if args.workload is not None:
        from .sim.synthetic_workload import build_workload_trace, refuse_unmasked_zaps, synthetic_spec
        from .sim.workload import load_workload, workload_name

        layers = load_workload(args.workload)
        source, model = str(args.workload), workload_name(args.workload)
        synthetic = synthetic_spec(args.workload)
        if synthetic is None:
            refuse_unmasked_zaps(args.workload, layers)  # a zap: is simulated on stated masks or refused, never ignored
            for flag, value in (("--op", args.op), ("--images", args.images)):
                if value is not None:
                    raise ZapsimError(f"{flag} applies to a trace; a --workload without synthetic masks is dense "
                                      "(one operating point, no images)")
        if Path(args.workload).suffix.lower() == ".csv":
            from .sim.scalesim import read_topology

            _print_notes(read_topology(args.workload).notes)
        if synthetic is not None:
            import tempfile

            from .trace_format import read_trace

            scratch = tempfile.TemporaryDirectory(prefix="zapsim-synthetic-")
            trace = _check_trace_args(args, read_trace(build_workload_trace(layers, synthetic, scratch.name)))
            print(f"note: {args.workload}: simulated on SYNTHETIC masks (density {synthetic['density']:g}, correlation "
                  f"{synthetic['correlation']:g} px, ZAP score noise {synthetic['noise']:g}, {synthetic['images']} "
                  "image(s)), not a real network's activations", file=sys.stderr)
    else:
        from .trace_format import read_trace

        tdir = Path(args.trace) if args.trace is not None else default_trace()
        if not tdir.is_dir():
            hint = ("; the default trace ships with the repository (traces/default): pass --trace DIR or --workload FILE"
                    if args.trace is None else "")
            raise ZapsimError(f"--trace {tdir}: no such trace directory{hint}")
        trace = _check_trace_args(args, read_trace(tdir))
        layers = trace.layers
        source, model = str(tdir), None
    timeline_layer = _pick_layer(layers, args.timeline) if args.timeline is not None else None
    if timeline_layer is not None:
        n_img = 1 if trace is None else (args.images or trace.num_images)
        if not 0 <= args.image < n_img:
            raise ZapsimError(f"--image {args.image}: allowed 0..{n_img - 1}")
        try:
            from .sim.timeline import layer_timeline  # noqa: F401  (the engine's; checked before the long run)
        except ImportError:
            raise ZapsimError("--timeline: this build has no per-PE timeline recorder (zapsim.sim.timeline."
                              "layer_timeline); run without --timeline") from None

    from .limits import check_run_budget

    n_ops = 1 if trace is None else len({"dense", *(args.op or [o.id for o in trace.operating_points])})
    check_run_budget(layers, num_ops=n_ops, images=1 if trace is None else (args.images or trace.num_images),
                     trace_images=None if trace is None else trace.num_images, batch=args.batch,
                     max_memory_gib=args.max_memory_gib, max_work_macs=args.max_macs, source=source)

    from .sim.simulate import simulate  # Numba: imported only once the inputs are known to be good

    _check_layers_map(arch, layers)

    result = simulate(arch, layers, trace=trace, op_ids=args.op, images=args.images, progress=not args.quiet,
                      source=source, batch=args.batch, engine=args.engine)
    if model is not None:
        result["workload"]["model"] = model
    if synthetic is not None:  # the masks came from the workload's synthetic: section, not from a trace on disk
        result["workload"]["source"] = source

    extra: dict[str, str | bytes] = {}
    if timeline_layer is not None:
        extra = _timeline_files(arch, layers, trace, timeline_layer, args.image, args.op)
    if scratch is not None:  # the synthetic trace has been read; a finalizer removes it on an error too
        scratch.cleanup()
    if out is not None:
        # the timeline figures are drawn into the new directory before it replaces --out: all files or none
        finish = (lambda tmp: _plot_timelines(tmp, extra)) if extra else None
        write_results(result, out, overwrite=args.overwrite, extra=extra, finish=finish)
    if args.json:
        sys.stdout.write(results_json(result))
    else:
        sys.stdout.write(format_summary(result))
        if args.layers:
            sys.stdout.write("\n" + format_layers(result))
        if out is not None:
            sys.stdout.write(f"\nwrote {out / 'results.json'} and {out / 'layers.csv'}\n")
    return 0


def _check_trace_args(args, trace):
    """--op and --images against the trace; the trace back."""
    tdir = trace.path
    ids = [o.id for o in trace.operating_points]
    if "dense" not in ids:
        raise ZapsimError(f"{tdir}: the trace has no 'dense' operating point to compare against (it has {', '.join(ids)})")
    if args.op is not None:
        args.op = list(dict.fromkeys(args.op))  # a repeated id runs once
    for oid in args.op or []:
        if oid not in ids:
            raise ZapsimError(f"--op {oid}: no such operating point in {tdir}; it has {', '.join(ids)}")
    if args.images is not None and not 1 <= args.images <= trace.num_images:
        raise ZapsimError(f"--images {args.images}: the trace has {trace.num_images} image(s); allowed 1..{trace.num_images}")
    return trace


def _check_layers_map(arch, layers) -> None:
    """Map every layer onto the array first, so a layer that cannot fit fails now, not an hour into the run."""
    if arch.dataflow == "row_stationary":
        from .sim.row_stationary import rs_mapping as mapping
    else:
        from .sim.systolic import sys_mapping as mapping
    for layer in layers:
        mapping(arch, layer)  # raises ConfigError naming the config key and the layer


def _pick_layer(layers, key: str) -> int:
    names = [l.name for l in layers]
    if key in names:
        return names.index(key)
    if key.lstrip("-").isdigit():
        i = int(key)
        if 0 <= i < len(layers):
            return i
    import difflib

    close = difflib.get_close_matches(key, names, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ZapsimError(f"--timeline {key}: no such layer{hint} (layers: {', '.join(names)}, or an index 0..{len(names) - 1})")


def _timeline_files(arch, layers, trace, li: int, image: int, op_ids) -> dict[str, str]:
    """Per-PE timelines of one layer and image, one JSON per operating point (dense and the requested ops)."""
    from .jsonio import dumps_finite
    from .safepath import safe_file_name
    from .sim.timeline import layer_timeline

    ops = ["dense"] if trace is None else list(dict.fromkeys(["dense", *(op_ids or [o.id for o in trace.operating_points])]))
    files = {}
    for oid in ops:
        tl = layer_timeline(arch, layers[li], trace=trace, layer_index=li, op_id=oid, image=image)
        # file names from a layer name and an op id, both from the trace: reduced to safe characters
        name = f"timeline_{safe_file_name(layers[li].name)}_{safe_file_name(oid, 64)}.json"
        files[name] = dumps_finite(tl, f"timeline of {name}") + "\n"
    return files


def _plot_timelines(out: Path, files: dict[str, str]) -> None:
    import json

    from .plot import plot_pe_timeline, runs_to_matrix

    for name, text in files.items():
        if not (name.startswith("timeline_") and name.endswith(".json")):
            continue
        tl = json.loads(text)
        states = runs_to_matrix(tl["runs"], tl.get("cycles"))
        plot_pe_timeline(states, out / name[: -len(".json")], title=f"{tl.get('layer')} / {tl.get('op_id')}: "
                         "per-PE timeline", phase_starts=tl.get("phase_starts"), overwrite=True)


def entry() -> None:
    """Console script ``zapsim-run``."""
    sys.exit(cli_main(main))


if __name__ == "__main__":
    entry()
