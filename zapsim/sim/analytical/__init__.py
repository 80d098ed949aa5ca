"""The analytical engine: pass-level closed forms per layer (``engine="analytical"``).

| module | job |
|---|---|
| ``kernels.py`` | the Numba kernels: per pass, the slowest PE's MAC count; phases A / Z / C combined |
| ``stepping_check.py`` | the same model restated in plain Python, one cycle at a time (checks the kernels' arithmetic, not the model) |

What it assumes (nothing between passes, PE columns independent, one
memory roofline per layer) is in ``docs/simulator.md``; the cycle-level
engine beside it (``zapsim/sim/cycle/``) models those costs instead.
The mappings (``row_stationary.py``, ``systolic.py``) and the memory
traffic (``memory.py``) are shared by both engines.
"""
