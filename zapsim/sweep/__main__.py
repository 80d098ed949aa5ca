"""``python -m zapsim.sweep SWEEP.yaml``: run a design-space or sensitivity sweep (``docs/sweep.md``).

Exit status: 0 when every task ran; 2 for a bad sweep file or option
(nothing runs); ``64 + n`` when n tasks failed (n capped at 60), each
recorded in the table with its error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import ZapsimError, cli_main

FAILED_BASE = 64
FAILED_CAP = 60


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise ZapsimError(f"{message} (see python -m zapsim.sweep --help)")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m zapsim.sweep",
                 description="Run a sweep file: every point validated first, then simulated on local processes "
                 "(default: all cores) or a Dask cluster; one Parquet/CSV table, Pareto and tornado figures. "
                 "A rerun skips the tasks already done.",
                 epilog="Sweep file format: docs/sweep.md. Exit status: 0 all ran; 2 bad input; 64+N: N tasks failed.")
    ap.add_argument("sweep", help="the sweep file (YAML)")
    ap.add_argument("--out", metavar="DIR", default=None,
                    help="output directory (default: the file's out:, else sweep-out/NAME)")
    ap.add_argument("--trace", metavar="DIR", action="append", default=None,
                    help="use this trace instead of the file's traces: (repeat for several)")
    ap.add_argument("--workers", metavar="N", type=int, default=None, help="local worker processes (default: all cores)")
    ap.add_argument("--scheduler", metavar="ADDRESS", default=None,
                    help="run on this Dask distributed scheduler (tcp://host:8786) instead of locally; "
                    "needs zapsim[cluster]")
    ap.add_argument("--overwrite", action="store_true", help="recompute every task, ignoring the cache")
    ap.add_argument("--check", action="store_true", help="only expand and validate the points, print how many")
    ap.add_argument("--no-plots", action="store_true", help="write the table only")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .run import run_sweep
    from .spec import expand, load_sweep, resolve_points

    if args.workers is not None and args.workers < 1:
        raise ZapsimError(f"--workers {args.workers}: allowed: an integer >= 1")
    if args.workers is not None and args.scheduler is not None:
        raise ZapsimError("give --workers (local) or --scheduler (Dask), not both")
    sw = load_sweep(args.sweep, traces=args.trace)
    if args.check:
        pts = resolve_points(sw, expand(sw))
        print(f"{sw.source}: {len(pts)} valid point(s) ({sw.combine} over {len(sw.axes)} axes, "
              f"{len(sw.archs)} base arch(s)) x {len(sw.traces) + len(sw.workloads)} source(s)")
        return 0
    res = run_sweep(sw, args.out, workers=args.workers, scheduler=args.scheduler, overwrite=args.overwrite,
                    progress=not args.quiet, plots=not args.no_plots)
    print(f"{res.tasks} task(s): {res.computed} computed, {res.cached} from the cache, {len(res.failed)} failed; "
          f"{len(res.rows)} rows in {res.out / 'results.parquet'} and results.csv ({res.seconds:.1f} s)")
    for f in res.figures:
        if f.suffix == ".png":
            print(f"figure {f}")
    for line in res.failed[:20]:
        print(f"failed: {line}", file=sys.stderr)
    if len(res.failed) > 20:
        print(f"failed: ... and {len(res.failed) - 20} more (column 'error' of the table)", file=sys.stderr)
    return FAILED_BASE + min(len(res.failed), FAILED_CAP) if res.failed else 0


def entry() -> None:
    """Console script entry."""
    sys.exit(cli_main(main))


if __name__ == "__main__":
    entry()
