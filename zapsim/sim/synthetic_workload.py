"""A layer-list workload with ZAPs, simulated on synthetic masks of a stated density and correlation.

A workload YAML may give layers a ``zap:`` pattern.  Without masks there is
nothing to predict, so such a workload must also state the synthetic masks
to use; it is refused otherwise (a ``zap:`` is never silently ignored)::

    name: resnet18_imagenet
    synthetic:                 # masks from zapsim.synthetic (docs/trace-format.md, "Synthetic traces")
      density: 0.5             # required: fraction of nonzero activations after ReLU
      correlation: 2.0         # required: spatial correlation of the zeros, in pixels (Gaussian sigma)
      noise: 0.3               # the ZAP's score noise (0: a perfect predictor); default 0.3
      thresholds: [0.0, 0.5]   # one operating point per ZAP threshold; default [0.0]
      images: 4                # synthetic images; default 1
      input_density: 1.0       # density of the first layer's input; default 1.0 (a dense image)
      seed: 0                  # default 0
    layers: [...]

The run builds that synthetic trace in a temporary directory, simulates it
like a traced one (``dense`` plus one operating point per threshold) and
records in ``results.json`` that the masks are synthetic, with these
parameters (``workload.synthetic``, ``workload.synthetic_params``); the
report header says so.  A ``synthetic:`` section without ZAP layers gives
the dense operating point on synthetic masks (zero-input gating then has
zeros to gate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..yamlio import load_yaml

# key: (type, minimum, maximum, default; None = required)
SYNTHETIC_KEYS: dict[str, tuple[type, float, float, Any]] = {
    "density": (float, 0.0, 1.0, None),
    "correlation": (float, 0.0, 64.0, None),
    "noise": (float, 0.0, 100.0, 0.3),
    "input_density": (float, 0.0, 1.0, 1.0),
    "images": (int, 1, 1024, 1),
    "seed": (int, 0, 2**32 - 1, 0),
}
MAX_THRESHOLDS = 64


def synthetic_spec(path: str | Path) -> dict[str, Any] | None:
    """The workload's ``synthetic:`` section, validated with defaults filled in; None when it has none."""
    p = Path(path)
    if p.suffix.lower() not in (".yaml", ".yml"):
        return None
    d = load_yaml(p)
    if not isinstance(d, Mapping) or "synthetic" not in d:
        return None
    raw = d["synthetic"]
    where = f"{p}: synthetic"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} = {raw!r}: expected a mapping of {', '.join([*SYNTHETIC_KEYS, 'thresholds'])}")
    for key in raw:
        if key not in SYNTHETIC_KEYS and key != "thresholds":
            import difflib

            close = difflib.get_close_matches(str(key), [*SYNTHETIC_KEYS, "thresholds"], n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{p}: unknown key 'synthetic.{key}'{hint} (allowed: "
                              f"{', '.join([*SYNTHETIC_KEYS, 'thresholds'])})")
    spec: dict[str, Any] = {}
    for key, (tp, lo, hi, default) in SYNTHETIC_KEYS.items():
        if key not in raw:
            if default is None:
                raise ConfigError(f"{where}.{key} is missing: synthetic masks need a stated density and correlation "
                                  f"(allowed: a number {lo:g}..{hi:g})")
            spec[key] = default
            continue
        v = raw[key]
        ok_type = (isinstance(v, int) and not isinstance(v, bool)) if tp is int else \
            (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
        if not ok_type or not lo <= v <= hi:
            kind = "an integer" if tp is int else "a number"
            raise ConfigError(f"{where}.{key} = {v!r}: allowed: {kind} {lo:g}..{hi:g}")
        spec[key] = tp(v)
    th = raw.get("thresholds", [0.0])
    if not isinstance(th, list) or not 1 <= len(th) <= MAX_THRESHOLDS or any(
            isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or abs(t) > 100 for t in th):
        raise ConfigError(f"{where}.thresholds = {th!r}: allowed: a list of 1..{MAX_THRESHOLDS} numbers in -100..100")
    if len({f"{float(t):.2f}" for t in th}) != len(th):  # operating-point ids are t<threshold to 2 decimals
        raise ConfigError(f"{where}.thresholds = {th!r}: thresholds must differ in their first two decimals")
    spec["thresholds"] = [float(t) for t in th]
    return spec


def refuse_unmasked_zaps(path: str | Path, layers) -> None:
    """A workload whose layers have ZAPs but that states no synthetic masks is refused: never run as dense."""
    zap = [layer.name for layer in layers if layer.zap is not None]
    if zap:
        more = f" and {len(zap) - 3} more" if len(zap) > 3 else ""
        raise ConfigError(
            f"{path}: layer(s) {', '.join(zap[:3])}{more} have a 'zap:' but the workload states no synthetic masks, "
            "and a ZAP has nothing to predict without them. Add a top-level 'synthetic: {density: D, correlation: "
            "C}' (zapsim.sim.synthetic_workload), trace a real model (python -m zapsim.trace), or remove 'zap:' "
            "to run the layers dense"
        )


def build_workload_trace(layers, spec: Mapping[str, Any], directory: str | Path) -> Path:
    """Write the synthetic trace of a workload into ``directory`` (a new folder) and return its path."""
    from ..synthetic import build_synthetic_trace

    has_zap = any(layer.zap is not None for layer in layers)
    return build_synthetic_trace(Path(directory) / "trace", layers, num_images=spec["images"],
                                 density=spec["density"], correlation=spec["correlation"], noise=spec["noise"],
                                 thresholds=spec["thresholds"] if has_zap else (), input_density=spec["input_density"],
                                 seed=spec["seed"])
