"""zapsim: what Zero Activation Prediction buys on real accelerator hardware.

Two halves meet at the trace (``zapsim.trace_format``): the PyTorch tracer
(``python -m zapsim.trace``) and the Numba cycle-level simulator
(``python -m zapsim.run``), which never imports torch.
"""

__version__ = "0.1.0"
