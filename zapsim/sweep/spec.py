"""Sweep files: what to vary, how to combine it, and every point checked before anything runs.

A sweep file (YAML, read through :func:`zapsim.yamlio.load_yaml`; the format
is in ``docs/sweep.md``) names one or more base architectures, traces or
workloads, operating points, an engine and a list of axes.  :func:`load_sweep`
parses it into a :class:`Sweep`; :func:`expand` turns the axes into
:class:`Point` s (grid, zip, seeded random, Latin hypercube, or one at a
time); :func:`resolve_points` builds and validates every point's
architecture with the arch loader, so a bad value fails before the first
simulation with the loader's message (file, key path, value, what is
allowed) prefixed by the sweep file and the point.

Nothing here imports Numba: the whole sweep is checked in a second.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ZapsimError, short
from ..yamlio import load_yaml

COMBINES = ("grid", "zip", "random", "lhs", "oat")
TOP_KEYS = ("name", "arch", "traces", "workloads", "ops", "images", "batch", "engine", "combine", "samples", "seed",
            "axes", "out", "plots")
AXIS_KEYS = ("key", "keys", "values", "range", "log", "integer", "base")
#: axis keys that are not arch key paths
SPECIAL_KEYS = ("batch", "energy")
MAX_POINTS = 100_000  # a sweep file that expands to more is a mistake (or a cluster job to split)
DEFAULT_TRACE = "default"  # in `traces:`, the bundled default trace


@dataclass(frozen=True)
class Axis:
    """One axis: one key (or several keys moved together), with values or a range to sample."""

    keys: tuple[str, ...]
    values: tuple[Any, ...] | None  # each value a tuple of len(keys) for paired keys, else a scalar
    range: tuple[float, float] | None = None
    log: bool = False
    integer: bool = False
    base: Any = None  # the value "at the base" (one-at-a-time sweeps, tornado); None: the base arch's own

    @property
    def name(self) -> str:
        return ",".join(self.keys)

    @property
    def paired(self) -> bool:
        return len(self.keys) > 1


@dataclass
class Sweep:
    """A parsed sweep file (paths resolved against the file's folder)."""

    source: str
    name: str
    archs: list[Path]
    traces: list[Path]
    workloads: list[Path]
    ops: list[str] | None
    images: int | None
    batch: int
    engine: str
    combine: str
    samples: int | None
    seed: int
    axes: list[Axis]
    out: Path | None
    plots: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The axis columns of the result table, in axis order (a paired axis gives one column per key)."""
        return [k for a in self.axes for k in a.keys]


@dataclass(frozen=True)
class Point:
    """One design point before its architecture is built: axis settings by key (absent: the base's own)."""

    index: int
    settings: tuple[tuple[str, Any], ...]
    role: str = "point"  # "base" for the one-at-a-time sweep's base point

    def as_dict(self) -> dict[str, Any]:
        return dict(self.settings)


@dataclass
class ResolvedPoint:
    """A point on one base architecture: the validated arch (as a dict), batch, and its axis values."""

    index: int
    base_arch: str  # the base config's name
    arch: dict[str, Any]  # arch_to_dict of the validated architecture
    batch: int
    values: dict[str, Any]  # column -> resolved value (the base's own where the point leaves a key alone)
    role: str
    key: str  # sha256 of the full resolved config (without the trace and engine)


# --------------------------------------------------------------------------- reading


def _err(source: str, path: str, value: Any, problem: str, allowed: str | None = None) -> ConfigError:
    msg = f"{source}: {path} = {short(value)}: {problem}"
    return ConfigError(msg + (f"; allowed: {allowed}" if allowed else ""))


def _expand_env(source: str, key: str, text: str) -> str:
    out = os.path.expandvars(text)
    if "$" in out:
        raise _err(source, key, text, "names an environment variable that is not set", "a path, or set the variable")
    return out


def _paths(source: str, here: Path, key: str, raw: Any, *, trace: bool) -> list[Path]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) and x for x in raw):
        raise _err(source, key, raw, "wrong type", "a path or a non-empty list of paths (relative to the sweep file)")
    out = []
    for x in raw:
        if trace and x == DEFAULT_TRACE:
            from ..bundled import default_trace

            out.append(default_trace())
            continue
        p = Path(_expand_env(source, key, x))
        out.append(p if p.is_absolute() else Path(os.path.normpath(here / p)))
    return out


def _arch_paths(source: str, here: Path, raw: Any) -> list[Path]:
    from ..bundled import resolve_config

    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) and x for x in raw):
        raise _err(source, "arch", raw, "wrong type" if raw is not None else "missing",
                   "a bundled config name (eyeriss_like) or a YAML path relative to the sweep file, or a list of them")
    out = []
    for x in raw:
        p = here / x
        if p.suffix == ".yaml" and p.is_file():
            out.append(p)
            continue
        try:
            out.append(resolve_config(x))
        except ZapsimError as e:
            raise ConfigError(f"{source}: arch = {short(x)}: {e}") from None
    return out


def _int_key(source: str, d: Mapping, key: str, default: Any, minimum: int, nullable: bool = False) -> Any:
    v = d.get(key, default)
    if v is None and nullable:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise _err(source, key, v, "wrong type or out of range", f"an integer >= {minimum}" + (" or null" if nullable
                                                                                                 else ""))
    return v


def _parse_axis(source: str, i: int, raw: Any) -> Axis:
    where = f"axes[{i}]"
    if not isinstance(raw, Mapping):
        raise _err(source, where, raw, "wrong type", "a mapping with key (or keys) and values (or range)")
    for k in raw:
        if k not in AXIS_KEYS:
            close = difflib.get_close_matches(str(k), AXIS_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{source}: unknown key '{where}.{str(k)[:60]}'{hint} (allowed: {', '.join(AXIS_KEYS)})")
    if ("key" in raw) == ("keys" in raw):
        raise _err(source, where, dict(raw), "needs exactly one of 'key' and 'keys'",
                   "key: dram.bandwidth_bytes_per_cycle, or keys: [pe_array.rows, pe_array.cols]")
    keys = [raw["key"]] if "key" in raw else raw["keys"]
    if (not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys)
            or len(set(keys)) != len(keys)):
        raise _err(source, f"{where}.keys", keys, "wrong type", "a list of distinct key paths")
    keys = tuple(keys)
    for k in keys:
        if k in SPECIAL_KEYS and len(keys) > 1:
            raise _err(source, f"{where}.keys", list(keys), f"'{k}' cannot be paired with other keys",
                       f"{k} on an axis of its own")
    if ("values" in raw) == ("range" in raw):
        raise _err(source, where, dict(raw), "needs exactly one of 'values' and 'range'",
                   "values: [a, b, ...] (any combine) or range: [min, max] (random and lhs)")
    values = rng = None
    if "values" in raw:
        vals = raw["values"]
        if not isinstance(vals, list) or not vals:
            raise _err(source, f"{where}.values", vals, "wrong type", "a non-empty list")
        if len(keys) > 1:
            for j, v in enumerate(vals):
                if not isinstance(v, list) or len(v) != len(keys):
                    raise _err(source, f"{where}.values[{j}]", v, f"not a list of {len(keys)} values",
                               f"one value per key of {list(keys)}, e.g. [{', '.join('...' for _ in keys)}]")
            vals = [tuple(v) for v in vals]
        values = tuple(vals)
    else:
        r = raw["range"]
        if (len(keys) > 1 or not isinstance(r, list) or len(r) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in r)
                or not r[0] < r[1]):
            raise _err(source, f"{where}.range", r, "wrong type", "[min, max] with min < max, on a single key")
        rng = (float(r[0]), float(r[1]))
    log = raw.get("log", False)
    integer = raw.get("integer", False)
    for k, v in (("log", log), ("integer", integer)):
        if not isinstance(v, bool):
            raise _err(source, f"{where}.{k}", v, "wrong type", "true or false")
    if log and rng is not None and rng[0] <= 0:
        raise _err(source, f"{where}.range", list(rng), "a log range must be positive", "0 < min < max")
    base = raw.get("base")
    if base is not None and values is not None:
        b = tuple(base) if isinstance(base, list) else base
        if b not in values:
            raise _err(source, f"{where}.base", base, "not one of the axis' values", ", ".join(map(short, values)))
        base = b
    return Axis(keys, values, rng, log, integer, base)


def load_sweep(path: str | Path, traces: Sequence[str | Path] | None = None) -> Sweep:
    """Read and check a sweep file (structure only; :func:`resolve_points` checks the values).

    ``traces`` (``--trace DIR``) replaces the file's ``traces:``.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such sweep file")
    d = load_yaml(p)
    if traces is not None and isinstance(d, Mapping):
        d = {**d, "traces": [str(Path(t).resolve()) for t in traces]}
    return sweep_from_dict(d, str(p), p.parent)


def sweep_from_dict(d: Any, source: str = "<sweep>", here: Path | None = None) -> Sweep:
    """A :class:`Sweep` from the parsed YAML ``d``; relative paths are taken against ``here``."""
    from ..sim.engines import DEFAULT_ENGINE, ENGINES

    here = Path(".") if here is None else here
    if not isinstance(d, Mapping):
        raise ConfigError(f"{source}: a sweep file is a mapping of keys ({', '.join(TOP_KEYS)})")
    for k in d:
        if k not in TOP_KEYS:
            close = difflib.get_close_matches(str(k), TOP_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{source}: unknown key '{str(k)[:60]}'{hint} (allowed: {', '.join(TOP_KEYS)})")
    name = d.get("name") or (Path(source).stem if not source.startswith("<") else "sweep")
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise _err(source, "name", name, "wrong type", "letters, digits, '-' and '_'")
    archs = _arch_paths(source, here, d.get("arch"))
    traces = _paths(source, here, "traces", d.get("traces"), trace=True)
    workloads = _paths(source, here, "workloads", d.get("workloads"), trace=False)
    if not traces and not workloads:
        raise _err(source, "traces", None, "no traces and no workloads", "traces: [DIR, ...] and/or workloads: [FILE, ...]"
                   f" ('{DEFAULT_TRACE}': the bundled trace)")
    for p in traces:
        if not p.is_dir():
            raise _err(source, "traces", str(p), "no such trace directory",
                       "a trace directory (python -m zapsim.trace ... --out DIR), or --trace DIR on the command line")
    for p in workloads:
        if not p.is_file():
            raise _err(source, "workloads", str(p), "no such workload file")
    ops = d.get("ops")
    if ops is not None and (not isinstance(ops, list) or not ops or not all(isinstance(o, str) and o for o in ops)):
        raise _err(source, "ops", ops, "wrong type", "a list of operating point ids (dense always runs), or null: all")
    images = _int_key(source, d, "images", None, 1, nullable=True)
    batch = _int_key(source, d, "batch", 1, 1)
    engine = d.get("engine", DEFAULT_ENGINE)
    if engine not in ENGINES:
        raise _err(source, "engine", engine, "no such engine", ", ".join(ENGINES))
    combine = d.get("combine", "grid")
    if combine not in COMBINES:
        raise _err(source, "combine", combine, "not a known way to combine axes", ", ".join(COMBINES))
    samples = _int_key(source, d, "samples", None, 1, nullable=True)
    if combine in ("random", "lhs") and samples is None:
        raise _err(source, "samples", None, f"combine: {combine} needs the number of samples", "an integer >= 1")
    seed = _int_key(source, d, "seed", 0, 0)
    raw_axes = d.get("axes") or []
    if not isinstance(raw_axes, list):
        raise _err(source, "axes", raw_axes, "wrong type", "a list of axes")
    axes = [_parse_axis(source, i, a) for i, a in enumerate(raw_axes)]
    seen: dict[str, int] = {}
    for i, a in enumerate(axes):
        for k in a.keys:
            if k in seen:
                raise _err(source, f"axes[{i}].key", k, f"already varied by axes[{seen[k]}]", "each key on one axis")
            seen[k] = i
        if a.range is not None and combine not in ("random", "lhs"):
            raise _err(source, f"axes[{i}].range", list(a.range), f"a range is sampled; combine: {combine} needs values",
                       "values: [...], or combine: random / lhs")
    out = d.get("out")
    if out is not None and (not isinstance(out, str) or not out):
        raise _err(source, "out", out, "wrong type", "a directory path (relative to the sweep file)")
    out_p = None if out is None else Path(os.path.normpath(here / _expand_env(source, "out", out)))
    plots = d.get("plots") or {}
    if not isinstance(plots, Mapping) or any(k not in ("pareto", "tornado") for k in plots):
        raise _err(source, "plots", plots, "wrong type", "a mapping with pareto: true/false and tornado: {op: ID}")
    return Sweep(source, name, archs, traces, workloads, ops, images, batch, engine, combine, samples, seed, axes,
                 out_p, dict(plots))


# --------------------------------------------------------------------------- combining axes


def _sample(axis: Axis, u: np.ndarray) -> list[Any]:
    """Values of ``axis`` at the unit-interval positions ``u`` (a list of values: by index; a range: scaled)."""
    if axis.values is not None:
        idx = np.minimum((u * len(axis.values)).astype(np.int64), len(axis.values) - 1)
        return [axis.values[i] for i in idx]
    lo, hi = axis.range
    if axis.log:
        x = np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))
    else:
        x = lo + u * (hi - lo)
    if axis.integer:
        return [int(round(v)) for v in x]
    return [float(v) for v in x]


def expand(sweep: Sweep) -> list[Point]:
    """The sweep's points in a fixed order (the same file and seed give the same points).

    ``grid``: every combination, the last axis fastest.  ``zip``: the i-th
    value of every axis together (equal lengths).  ``random``: ``samples``
    independent draws (uniform over a list, uniform or log-uniform over a
    range) from ``numpy.random.default_rng(seed)``.  ``lhs``: a Latin
    hypercube of ``samples`` points: each axis' unit interval cut into
    ``samples`` strata, one draw in each, strata shuffled per axis.  ``oat``
    (one at a time): the base point (every axis at its base), then each axis
    over its other values with the rest at the base.
    """
    axes = sweep.axes
    src = sweep.source
    combos: list[list[Any]]
    roles: list[str] | None = None
    if not axes:
        combos = [[]]
    elif sweep.combine == "grid":
        import itertools

        combos = [list(c) for c in itertools.product(*[a.values for a in axes])]
    elif sweep.combine == "zip":
        n = {len(a.values) for a in axes}
        if len(n) > 1:
            lens = ", ".join(f"{a.name}: {len(a.values)}" for a in axes)
            raise ConfigError(f"{src}: combine = zip: the axes have different numbers of values ({lens}); "
                              "allowed: axes of equal length")
        combos = [list(c) for c in zip(*[a.values for a in axes])]
    elif sweep.combine == "random":
        rng = np.random.default_rng(sweep.seed)
        cols = [_sample(a, rng.random(sweep.samples)) for a in axes]
        combos = [list(c) for c in zip(*cols)]
    elif sweep.combine == "lhs":
        rng = np.random.default_rng(sweep.seed)
        n = sweep.samples
        cols = []
        for a in axes:
            u = (rng.permutation(n) + rng.random(n)) / n
            cols.append(_sample(a, u))
        combos = [list(c) for c in zip(*cols)]
    else:  # oat
        combos = [[a.base for a in axes]]
        roles = ["base"]
        for i, a in enumerate(axes):
            for v in a.values:
                if v == a.base:
                    continue
                c = [b.base for b in axes]
                c[i] = v
                combos.append(c)
                roles.append("point")
    if len(combos) > MAX_POINTS:
        raise ConfigError(f"{src}: the axes expand to {len(combos):,} points; allowed: at most {MAX_POINTS:,} "
                          "(use combine: random or lhs with fewer samples)")
    points = []
    for i, c in enumerate(combos):
        settings: list[tuple[str, Any]] = []
        for a, v in zip(axes, c):
            if v is None:  # oat base without an explicit base: the base arch's own value
                continue
            vv = v if a.paired else (v,)
            settings += list(zip(a.keys, vv))
        points.append(Point(i, tuple(settings), roles[i] if roles else "point"))
    return points


# --------------------------------------------------------------------------- building and checking


def _energy_table(sweep: Sweep, value: Any) -> Any:
    """An energy axis value as what the arch's ``energy:`` takes: a preset name, or a table file's mapping."""
    from ..sim.energy import PRESETS

    if isinstance(value, str) and value in PRESETS:
        return {"preset": value}, None
    if isinstance(value, str) and value.endswith((".yaml", ".yml")):
        p = Path(value)
        p = p if p.is_absolute() else Path(sweep.source).parent / p
        if not p.is_file():
            raise ConfigError(f"{sweep.source}: energy = {short(value)}: no such energy table file; allowed: a preset "
                              f"({', '.join(PRESETS)}) or a YAML file holding an arch config's energy: mapping")
        d = load_yaml(p)
        if isinstance(d, Mapping) and "energy" in d:
            d = d["energy"]
        return d, p
    raise ConfigError(f"{sweep.source}: energy = {short(value)}: not a preset or a table file; allowed: "
                      f"{', '.join(PRESETS)}, or a path ending in .yaml")


def build_arch(sweep: Sweep, base: Path, point: Point) -> tuple[Any, int]:
    """The validated architecture and batch of ``point`` on the base config ``base`` (ConfigError if invalid)."""
    from ..sim.arch import arch_from_dict, arch_to_dict, load_arch, replace_arch

    arch = load_arch(base)
    batch = sweep.batch
    dotted: dict[str, Any] = {}
    energy = None
    for k, v in point.settings:
        if k == "batch":
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{base}: batch = {short(v)}: wrong type or out of range; allowed: an integer >= 1")
            batch = v
        elif k == "energy":
            energy = _energy_table(sweep, v)
        else:
            dotted[k] = v
    if dotted:
        arch = replace_arch(arch, **dotted)
    if energy is not None:
        table, path = energy
        d = copy.deepcopy(arch_to_dict(arch))
        d["energy"] = table
        src = str(path) if path is not None else arch.source
        arch = arch_from_dict(d, source=src)
        if path is not None:  # messages and results keep naming the architecture file
            arch = arch_from_dict(arch_to_dict(arch), source=str(base))
    return arch, batch


def config_key(arch_dict: Mapping[str, Any], batch: int, images: int | None, ops: Sequence[str] | None) -> str:
    """sha256 of the point's full resolved config (the arch without its file name, batch, images, ops)."""
    d = {k: v for k, v in arch_dict.items() if k != "source"}
    text = json.dumps({"arch": d, "batch": batch, "images": images, "ops": list(ops) if ops else None},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _value_at(arch_dict: Mapping[str, Any], batch: int, key: str) -> Any:
    """The resolved value of column ``key`` on a built architecture."""
    if key == "batch":
        return batch
    if key == "energy":
        return arch_dict["energy"]["name"]
    if key == "energy.preset":
        return arch_dict["energy"]["name"]
    if key == "global_buffer.size_kb":
        return arch_dict["global_buffer"]["size_bytes"] / 1024
    node: Any = arch_dict
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def describe(point: Point) -> str:
    """``key=value, ...`` of a point, for messages."""
    return ", ".join(f"{k}={short(v, 40)}" for k, v in point.settings) or "the base point"


def resolve_points(sweep: Sweep, points: Sequence[Point] | None = None) -> list[ResolvedPoint]:
    """Build and validate every (base arch, point); raise one ConfigError listing the first bad ones.

    Each message is the arch loader's (the architecture file, the key path,
    the value and what is allowed), prefixed by the sweep file and the point.
    """
    from ..sim.arch import arch_to_dict

    points = expand(sweep) if points is None else points
    out: list[ResolvedPoint] = []
    bad: list[str] = []
    n = 0
    for base in sweep.archs:
        for pt in points:
            try:
                arch, batch = build_arch(sweep, base, pt)
            except ZapsimError as e:
                bad.append(f"{sweep.source}: point {pt.index} ({describe(pt)}) on {base.stem}: {e}")
                continue
            d = arch_to_dict(arch)
            values = {c: _value_at(d, batch, c) for c in sweep.columns}
            out.append(ResolvedPoint(n, base.stem, d, batch, values, pt.role,
                                     config_key(d, batch, sweep.images, sweep.ops)))
            n += 1
    if bad:
        more = f" (and {len(bad) - 3} more bad points)" if len(bad) > 3 else ""
        raise ConfigError(" | ".join(bad[:3]) + more)
    return out
