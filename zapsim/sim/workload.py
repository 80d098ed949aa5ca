"""Workloads: a list of layer shapes from YAML, a SCALE-Sim topology CSV or an ONNX model.

A workload file gives the simulator layers without a trace (every input
treated as nonzero, no ZAP masks), e.g. to validate dense cycle counts
against SCALE-Sim or the Eyeriss chip; a YAML workload whose layers have a
``zap:`` must also state synthetic masks (``synthetic: {density,
correlation, ...}``, :mod:`zapsim.sim.synthetic_workload`) or is refused.
Three formats:

YAML (``.yaml`` / ``.yml``): a list of layers, or a mapping ``{name: ...,
description: ..., synthetic: ..., layers: [...]}``.  Each layer::

    - name: conv2            # required, unique
      kind: conv             # conv (default) | fc
      c_in: 96               # required
      h_in: 27               # required for conv; fc: 1 (the default)
      w_in: 27               # default: h_in
      c_out: 256             # required
      kernel: 5              # int or [kh, kw]; default 3 (fc: 1)
      stride: 1              # int or [sh, sw]; default 1
      padding: 2             # int or [ph, pw]; default 0
      groups: 2              # default 1
      relu: true             # output goes through a ReLU; default true for conv, false for fc
      zap: checkerboard      # optional: a ZAP with this pattern (a name or a 0/1 matrix)

SCALE-Sim topology CSV (``.csv``): every form SCALE-Sim reads (8 or 9
columns, the N:M column, GEMM ``Layer, M, N, K``, depthwise ``DP`` rows,
comments, with or without trailing commas), read by
:mod:`zapsim.sim.scalesim`.  The inputs are already padded, so padding is
0; a 1x1 filter on a 1x1 map is an fc layer.  Output sizes follow PyTorch,
floor((H - K) / s) + 1; SCALE-Sim itself uses ceil((H - K + s) / s), one
row and column more when the stride does not divide H - K (a padded 58-row
map, 3x3, stride 2: 28 here, 29 in SCALE-Sim).
``benchmarks/scalesim_side_by_side.py`` therefore gives SCALE-Sim the
extent the convolution reads, (H_out - 1) * s + K.

ONNX (``.onnx``, the ``onnx`` extra): the Conv and Gemm / MatMul nodes of
a model, shapes by ONNX shape inference (:mod:`zapsim.sim.onnx_workload`).

Every error names the file, the layer (YAML: its index, name and line; CSV:
the line), the key or column, the value, and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import limits
from ..errors import ConfigError, ZapsimError, short
from ..trace_format import TraceLayer, make_layer
from ..yamlio import compose_yaml_text, load_yaml, load_yaml_text

MAX_WORKLOAD_BYTES = 64 * 2**20

YAML_KEYS = ("name", "kind", "c_in", "h_in", "w_in", "c_out", "kernel", "stride", "padding", "groups", "relu", "zap")


def load_workload(path: str | Path) -> list[TraceLayer]:
    """Read a YAML layer list or a SCALE-Sim topology CSV into :class:`TraceLayer` objects."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such workload file")
    if p.suffix.lower() == ".onnx":  # binary: its own reader (zapsim/sim/onnx_workload.py)
        from .onnx_workload import load_onnx

        return _checked(p, load_onnx(p))
    if p.stat().st_size > MAX_WORKLOAD_BYTES:
        raise ConfigError(f"{p}: {p.stat().st_size:,} bytes; a workload file may hold at most {MAX_WORKLOAD_BYTES:,}")
    try:
        text = p.read_text(encoding="utf-8-sig")  # a byte-order mark (Excel's CSVs) is not part of the text
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not a text file ({exc.reason})") from None
    suffix = p.suffix.lower()
    if suffix == ".csv":
        layers = _load_csv(p, text)
    elif suffix in (".yaml", ".yml"):
        layers = _load_yaml(p, text)
    else:
        raise ConfigError(f"{p}: unknown workload format '{p.suffix}'; allowed: .yaml/.yml (layer list), .csv "
                          "(SCALE-Sim topology) or .onnx (an ONNX model, with the onnx extra)")
    if not layers:
        raise ConfigError(f"{p}: the workload has no layers")
    return _checked(p, layers)


def _checked(p: Path, layers: list[TraceLayer]) -> list[TraceLayer]:
    """Layers within zapsim's limits (zapsim.limits) and with unique names, whichever reader made them."""
    if len(layers) > limits.MAX_LAYERS:
        raise ConfigError(f"{p}: {len(layers):,} layers; at most {limits.MAX_LAYERS:,}")
    seen: dict[str, int] = {}
    for i, layer in enumerate(layers):
        problem = limits.layer_problem(layer)
        if problem:
            raise ConfigError(f"{p}: layer {i} ({short(layer.name, 60)}): {problem}")
        if layer.name in seen:
            raise ConfigError(f"{p}: layer {i} name '{layer.name}' repeats layer {seen[layer.name]}; names must be unique")
        seen[layer.name] = i
    return layers


def workload_name(path: str | Path) -> str:
    """The workload's model name: YAML ``name:`` if the file is a mapping with one, else the file stem."""
    p = Path(path)
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            d = load_yaml(p)
        except ConfigError:
            d = None
        if isinstance(d, Mapping) and isinstance(d.get("name"), str):
            return d["name"]
    return p.stem


# --------------------------------------------------------------------------- YAML


def _item_lines(text: str) -> list[int]:
    """1-based line of each layer entry (for messages); empty if the layout is not a plain list."""
    import yaml

    try:
        node = compose_yaml_text(text, "workload")
    except ZapsimError:
        return []
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if getattr(k, "value", None) == "layers":
                node = v
                break
    if not isinstance(node, yaml.SequenceNode):
        return []
    return [item.start_mark.line + 1 for item in node.value]


def _load_yaml(p: Path, text: str) -> list[TraceLayer]:
    d = load_yaml_text(text, str(p))
    if isinstance(d, Mapping):
        extra = [k for k in d if k not in ("name", "layers", "description", "synthetic")]
        if extra:
            raise ConfigError(f"{p}: unknown top-level key '{extra[0]}'; allowed: name, description, layers, "
                              "synthetic (zapsim/sim/synthetic_workload.py)")
        if "layers" not in d:
            raise ConfigError(f"{p}: a workload mapping needs a 'layers' list")
        d = d["layers"]
    if not isinstance(d, list):
        raise ConfigError(f"{p}: a workload must be a list of layers (or a mapping with 'layers'), got {type(d).__name__}")
    lines = _item_lines(text)
    layers = []
    for i, entry in enumerate(d):
        where = f"{p}: layer {i}" + (f" (line {lines[i]})" if i < len(lines) else "")
        layers.append(_yaml_layer(entry, where))
    return layers


def _int(where: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: {key} = {short(value)}: wrong type; allowed: an integer >= {minimum}")
    if value < minimum:
        raise ConfigError(f"{where}: {key} = {short(value)}: out of range; allowed: an integer >= {minimum}")
    return value


def _pair(where: str, key: str, value: Any, minimum: int) -> tuple[int, int]:
    if isinstance(value, list):
        if len(value) != 2:
            raise ConfigError(f"{where}: {key} = {short(value)}: wrong length; allowed: an integer >= {minimum} or [h, w]")
        return (_int(where, f"{key}[0]", value[0], minimum), _int(where, f"{key}[1]", value[1], minimum))
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: {key} = {short(value)}: wrong type; allowed: an integer >= {minimum} or [h, w]")
    v = _int(where, key, value, minimum)
    return (v, v)


def _yaml_layer(entry: Any, where: str) -> TraceLayer:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: a layer must be a mapping of {', '.join(YAML_KEYS)}, got {short(entry)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name or len(name) > limits.MAX_NAME_CHARS:
        raise ConfigError(f"{where}: name = {short(name)}: a layer needs a non-empty string 'name' of at most "
                          f"{limits.MAX_NAME_CHARS} characters")
    where = f"{where} ({short(name, 60)})"
    for key in entry:
        if key not in YAML_KEYS:
            close = difflib.get_close_matches(str(key), YAML_KEYS, n=1, cutoff=0.6) if len(str(key)) <= 80 else []
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{where}: unknown key {short(key)}{hint} (allowed: {', '.join(YAML_KEYS)})")
    kind = entry.get("kind", "conv")
    if kind not in ("conv", "fc"):
        raise ConfigError(f"{where}: kind = {short(kind)}: not a known layer kind; allowed: one of conv, fc")
    for key in ("c_in", "c_out") + (("h_in",) if kind == "conv" else ()):
        if key not in entry:
            raise ConfigError(f"{where}: missing key '{key}' (an integer >= 1)")
    c_in = _int(where, "c_in", entry["c_in"], 1)
    c_out = _int(where, "c_out", entry["c_out"], 1)
    if kind == "fc":
        # an fc layer is a 1x1 conv on a 1x1 map: any other shape is a mistake
        for key, fixed in (("h_in", 1), ("w_in", 1), ("kernel", 1), ("stride", 1), ("padding", 0), ("groups", 1)):
            if key in entry and entry[key] not in (fixed, [fixed, fixed]):
                raise ConfigError(f"{where}: {key} = {short(entry[key])}: an fc layer is a 1x1 conv on a 1x1 map; "
                                  f"allowed: {fixed} (or leave it out)")
        h_in = w_in = 1
        kernel, stride, padding, groups = (1, 1), (1, 1), (0, 0), 1
    else:
        h_in = _int(where, "h_in", entry["h_in"], 1)
        w_in = _int(where, "w_in", entry.get("w_in", h_in), 1)
        kernel = _pair(where, "kernel", entry.get("kernel", 3), 1)
        stride = _pair(where, "stride", entry.get("stride", 1), 1)
        padding = _pair(where, "padding", entry.get("padding", 0), 0)
        groups = _int(where, "groups", entry.get("groups", 1), 1)
        if c_in % groups or c_out % groups:
            raise ConfigError(f"{where}: groups = {groups}: must divide c_in = {c_in} and c_out = {c_out}")
    relu = entry.get("relu", kind == "conv")
    if not isinstance(relu, bool):
        raise ConfigError(f"{where}: relu = {short(relu)}: wrong type; allowed: true or false")
    zap = entry.get("zap")
    _check_output_size(where, h_in, w_in, kernel, padding)
    zkw: dict[str, Any] = {}
    if zap is not None:
        if kind == "fc":
            raise ConfigError(f"{where}: zap = {short(zap)}: the method puts no ZAP on fully connected layers; remove 'zap'")
        from ..patterns import PATTERNS, pattern_matrix

        try:
            if isinstance(zap, str):
                pattern_matrix(zap)
                zkw["zap_pattern"] = zap
            elif isinstance(zap, list):
                zkw["zap_matrix"] = pattern_matrix(zap).tolist()
            else:
                raise ZapsimError("wrong type")
        except ZapsimError as exc:
            raise ConfigError(
                f"{where}: zap = {short(zap)}: {exc}; allowed: one of {', '.join(PATTERNS)} or a 0/1 matrix such as [[1, 0], [0, 1]]"
            ) from None
    return make_layer(name, c_in, h_in, w_in, c_out, kernel=kernel, stride=stride, padding=padding, groups=groups,
                      kind=kind, relu=relu, **zkw)


def _check_output_size(where: str, h_in: int, w_in: int, kernel, padding) -> None:
    for axis, n, k, pad in (("h", h_in, kernel[0], padding[0]), ("w", w_in, kernel[1], padding[1])):
        if n + 2 * pad < k:
            raise ConfigError(
                f"{where}: kernel = {k} is larger than the padded input ({axis}_in {n} + 2 x padding {pad} = {n + 2 * pad}); "
                "the output would be empty"
            )


# --------------------------------------------------------------------------- SCALE-Sim CSV


def _load_csv(p: Path, text: str) -> list[TraceLayer]:
    from .scalesim import read_topology  # every form SCALE-Sim reads (zapsim/sim/scalesim.py)

    return read_topology(p, text).layers
