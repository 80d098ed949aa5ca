"""``zapsim COMMAND ...``: one command for the pipeline, beside the ``python -m`` forms.

=============  ==========================================  ===================================
command        does                                        same as
=============  ==========================================  ===================================
``trace``      trace a pretrained CNN with its ZAPs         ``python -m zapsim.trace``
``run``        simulate a trace or workload on an arch      ``python -m zapsim.run``
``plot``       draw the figures of results                  ``python -m zapsim.plot``
``sweep``      design-space sweeps (when installed)         ``python -m zapsim.sweep``
``timeloop``   export a workload and arch as Timeloop       ``python -m zapsim.sim.timeloop_export``
``scalesim``   a SCALE-Sim .cfg as zapsim YAML              ``python -m zapsim.sim.scalesim``
=============  ==========================================  ===================================

Each command's module is imported only when that command runs, so ``zapsim
run`` never imports torch and ``zapsim --help`` imports nothing heavy.  A
command whose module this build lacks (``sweep`` before ``zapsim.sweep``
lands) says so instead of failing with a traceback.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from .errors import ZapsimError, cli_main

#: command -> (module with a ``main(argv)``, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "trace": ("zapsim.trace.__main__", "trace a pretrained CNN with its ZAPs on real images (needs torch)"),
    "run": ("zapsim.run", "simulate a trace or a workload on an architecture"),
    "plot": ("zapsim.plot", "draw the figures of results.json files"),
    "sweep": ("zapsim.sweep.__main__", "design-space sweeps, locally or on a Dask cluster"),
    "timeloop": ("zapsim.sim.timeloop_export", "write a workload and a dense architecture as Timeloop input"),
    "scalesim": ("zapsim.sim.scalesim", "print a SCALE-Sim .cfg as the equivalent zapsim YAML"),
}


def usage() -> str:
    from . import __version__

    width = max(map(len, COMMANDS))
    lines = [f"usage: zapsim COMMAND [ARGS...]   (zapsim {__version__})", "",
             "Zero Activation Prediction on CNN accelerators: trace, simulate, plot.", "", "commands:"]
    for name, (module, text) in COMMANDS.items():
        lines.append(f"  {name:<{width}}  {text}" + ("" if available(module) else "  [not available in this build]"))
    lines += ["", "zapsim COMMAND --help shows a command's options; python -m zapsim.<command> is the same."]
    return "\n".join(lines) + "\n"


def available(module: str) -> bool:
    """Whether this build has ``module`` (without importing it: ``sweep`` may not exist yet)."""
    package = module.rsplit(".", 1)[0] if module.endswith(".__main__") else module
    try:
        return importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(usage())
        return 0 if args else 2
    if args[0] == "--version":
        from . import __version__

        print(f"zapsim {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ZapsimError(f"zapsim: no command '{name}'{hint} (commands: {', '.join(COMMANDS)}; zapsim --help)")
    module = COMMANDS[name][0]
    if not available(module):
        raise ZapsimError(f"zapsim {name}: not available in this build (no {module.removesuffix('.__main__')} "
                          "module); install a zapsim that includes it")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:  # a third-party package the command needs (torch for trace)
        raise ZapsimError(f"zapsim {name}: needs the package '{exc.name}', which is not installed") from None
    return mod.main(rest) or 0


def entry() -> None:
    """Console script ``zapsim``."""
    sys.exit(cli_main(main))


if __name__ == "__main__":
    entry()
