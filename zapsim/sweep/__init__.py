"""Design-space and sensitivity sweeps: ``python -m zapsim.sweep SWEEP.yaml`` (``docs/sweep.md``).

From Python::

    from zapsim.sweep import run_sweep, read_table
    res = run_sweep("experiments/sweeps/quick.yaml", "out/quick")
    rows = read_table(res.out)          # one dict per (point, trace, operating point)

The sweep file is parsed and every point validated by :mod:`zapsim.sweep.spec`,
run by :mod:`zapsim.sweep.run` (local processes or a Dask cluster, resumable),
tabulated by :mod:`zapsim.sweep.results` and drawn by :mod:`zapsim.sweep.plots`.
"""

from .results import read_table
from .run import SweepResult, run_sweep
from .spec import Sweep, expand, load_sweep, resolve_points, sweep_from_dict

__all__ = ["Sweep", "SweepResult", "expand", "load_sweep", "read_table", "resolve_points", "run_sweep",
           "sweep_from_dict"]
