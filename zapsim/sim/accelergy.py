"""An Accelergy energy reference table (ERT) as a zapsim energy table.

Timeloop writes ``timeloop-mapper.ERT.yaml`` and ``...ERT_summary.yaml``;
Accelergy writes ``ERT.yaml`` and ``ERT_summary.yaml``.  All four forms are
read (Accelergy 0.3's ``tables: {component: {action: ...}}`` and 0.4's
``tables: [{name, actions: [...]}]``; summaries' ``energy`` or
``average_energy``).  An action whose energy depends on arguments (0.3's
``address_delta`` / ``data_delta``, a NoC's hop counts) takes the mean over
its entries, as Accelergy's summary does.

Each component becomes one zapsim level (``docs/interop.md``, "Accelergy
ERTs", has the whole table):

============  ===========================================  ==========================================
level         component name contains                      actions -> zapsim
============  ===========================================  ==========================================
``dram``      dram                                         read -> dram_read, write -> dram_write
``spad``      spad, scratchpad, rf, reg                    read -> spad_read, write (or fill) -> spad_write
``glb``       glb, global, buffer, sram, shared            read -> glb_read, write (or fill) -> glb_write
``noc``       noc, network, bus                            transfer_random / transfer -> noc_word
``mac``       mac, alu, multiplier, intmac, compute        compute / mac_random -> mac (and zap_mac),
                                                           mac_gated -> mac_gated
============  ===========================================  ==========================================

A component whose name also names a tensor (ifmap / input, weight / filter,
psum / output) prices that tensor only (``EnergyTable.per_tensor``); one
that names none prices every tensor.  ``leak`` (per cycle and instance) x
the instances (``PE[0..167]``: 168) of every component sums to
``leakage_cycle``.  An access in the ERT moves one vector of ``width`` bits;
Timeloop bills ``energy / block_size`` per word, ``block_size = width /
datawidth``: give it per component as ``words_per_access`` (default 1, with
a note).  ``components`` in the arch config (``energy.ert_components``)
overrides the inference per component: ``{level, tensors, words_per_access}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..yamlio import load_yaml
from .energy import ACTIONS, PER_TENSOR_TENSORS, EnergyTable

LEVELS = ("dram", "glb", "spad", "noc", "mac", "ignore")
_LEVEL_WORDS = (  # checked in this order: "weights_spad" is a scratchpad, "shared_glb" a buffer
    ("dram", ("dram",)),
    ("spad", ("spad", "scratchpad", "regfile", "_rf", "rf_", "reg")),
    ("noc", ("noc", "network", "bus")),
    ("glb", ("glb", "global", "buffer", "sram", "shared")),
    ("mac", ("mac", "alu", "multiplier", "compute")),
)
_TENSOR_WORDS = (
    ("ifmap", ("ifmap", "input", "iact", "activation")),
    ("weight", ("weight", "filter", "wgt")),
    ("psum", ("psum", "output", "ofmap", "oact")),
)
MAX_COMPONENTS = 10_000
MAX_ENTRIES = 100_000


def _short(name: str) -> str:
    """``system_top_level.ifmap_spad[1..168]`` -> ``ifmap_spad``."""
    return re.sub(r"\[[^\]]*\]", "", str(name)).split(".")[-1]


def instances(name: str) -> int:
    """Instances a component name spells: the product of its ``[a..b]`` ranges (1 without any)."""
    n = 1
    for a, b in re.findall(r"\[(\d+)\.\.(\d+)\]", str(name)):
        n *= abs(int(b) - int(a)) + 1
    return n


def infer_level(name: str) -> str | None:
    low = _short(name).lower()
    for level, words in _LEVEL_WORDS:
        if any(w in low for w in words):
            return level
    return None


def infer_tensors(name: str) -> tuple[str, ...]:
    low = _short(name).lower()
    found = tuple(t for t, words in _TENSOR_WORDS if any(w in low for w in words))
    return found or PER_TENSOR_TENSORS


def _num(path: Path, where: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ConfigError(f"{path}: {where} = {v!r}: not an energy; allowed: a number >= 0 (pJ)")
    return float(v)


def _listed(p: Path, where: str, tables: list) -> list[tuple[Any, list]]:
    """Accelergy 0.4's list of components ``[{name, actions: [{name, ...}]}]`` as (name, actions) pairs."""
    items = []
    for i, t in enumerate(tables):
        if not isinstance(t, Mapping) or "name" not in t:
            raise ConfigError(f"{p}: {where}[{i}]: a component needs a 'name' and 'actions'")
        items.append((t["name"], [{"name": a.get("name"), "entries": a} if isinstance(a, Mapping) else a
                                  for a in (t.get("actions") or [])]))
    return items


def read_ert(path: str | Path) -> dict[str, dict[str, float]]:
    """An ERT or ERT summary file as {component name: {action name: pJ per access}}."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such ERT file")
    d = load_yaml(p)
    if not isinstance(d, Mapping) or not ({"ERT", "ERT_summary"} & set(d)):
        raise ConfigError(f"{p}: not an Accelergy ERT (no top-level 'ERT' or 'ERT_summary' key)")
    out: dict[str, dict[str, float]] = {}
    if "ERT" in d:
        tables = (d["ERT"] or {}).get("tables") if isinstance(d["ERT"], Mapping) else None
        if isinstance(tables, Mapping):  # Accelergy 0.3: {component: {action: entry or [entries]}}
            items = [(name, acts) for name, acts in tables.items()]
            items = [(n, [{"name": a, "entries": e} for a, e in (acts or {}).items()] if isinstance(acts, Mapping)
                      else acts) for n, acts in items]
        elif isinstance(tables, list):  # 0.4: [{name, actions: [{name, arguments, energy}]}]
            items = _listed(p, "ERT.tables", tables)
        else:
            raise ConfigError(f"{p}: ERT.tables: expected a mapping (Accelergy 0.3) or a list (0.4)")
    else:
        summ = d["ERT_summary"]
        tables = summ.get("table_summary") if isinstance(summ, Mapping) else None
        if not isinstance(tables, list):
            raise ConfigError(f"{p}: ERT_summary.table_summary: expected a list of components")
        items = _listed(p, "ERT_summary.table_summary", tables)
    if len(items) > MAX_COMPONENTS:
        raise ConfigError(f"{p}: {len(items)} components; at most {MAX_COMPONENTS}")
    for name, acts in items:
        if not isinstance(acts, list):
            raise ConfigError(f"{p}: component '{name}': actions must be a list or a mapping")
        table: dict[str, float] = {}
        for a in acts:
            if not isinstance(a, Mapping) or not isinstance(a.get("name"), str):
                raise ConfigError(f"{p}: component '{name}': an action needs a 'name'")
            entries = a["entries"]
            entries = entries if isinstance(entries, list) else [entries]
            if len(entries) > MAX_ENTRIES:
                raise ConfigError(f"{p}: component '{name}' action '{a['name']}': {len(entries)} entries; at most "
                                  f"{MAX_ENTRIES}")
            vals = []
            for e in entries:
                if not isinstance(e, Mapping):
                    raise ConfigError(f"{p}: component '{name}' action '{a['name']}': entry {e!r} is not a mapping")
                key = "energy" if "energy" in e else "average_energy" if "average_energy" in e else None
                if key is None:
                    raise ConfigError(f"{p}: component '{name}' action '{a['name']}': no 'energy' or 'average_energy'")
                vals.append(_num(p, f"{name}.{a['name']}.{key}", e[key]))
            if vals:
                table[a["name"]] = sum(vals) / len(vals)
        out[str(name)] = table
    if not out:
        raise ConfigError(f"{p}: the ERT lists no components")
    return out


def _component_spec(path: Path, comp: str, spec: Any) -> dict[str, Any]:
    where = f"energy.ert_components.{comp}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{path}: {where} = {spec!r}: expected a mapping of level, tensors, words_per_access")
    bad = [k for k in spec if k not in ("level", "tensors", "words_per_access")]
    if bad:
        raise ConfigError(f"{path}: unknown key '{where}.{bad[0]}' (allowed: level, tensors, words_per_access)")
    out: dict[str, Any] = {}
    if "level" in spec:
        if spec["level"] not in LEVELS:
            raise ConfigError(f"{path}: {where}.level = {spec['level']!r}; allowed: one of {', '.join(LEVELS)}")
        out["level"] = spec["level"]
    if "tensors" in spec:
        t = spec["tensors"]
        if not isinstance(t, list) or not t or any(x not in PER_TENSOR_TENSORS for x in t):
            raise ConfigError(f"{path}: {where}.tensors = {t!r}; allowed: a list of {', '.join(PER_TENSOR_TENSORS)}")
        out["tensors"] = tuple(t)
    if "words_per_access" in spec:
        w = spec["words_per_access"]
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w <= 4096:
            raise ConfigError(f"{path}: {where}.words_per_access = {w!r}; allowed: a number > 0 <= 4096 "
                              "(Timeloop's block_size = width / datawidth)")
        out["words_per_access"] = float(w)
    return out


def _pick(actions: Mapping[str, float], *names: str) -> float | None:
    for n in names:
        if n in actions:
            return actions[n]
    return None


def load_ert_table(path: str | Path, components: Mapping[str, Any] | None = None, *,
                   actions: Mapping[str, float] | None = None, config: str | Path | None = None,
                   name: str | None = None) -> EnergyTable:
    """The zapsim energy table (pJ per word) an ERT describes, with a note on every choice made (``table.notes``).

    ``components`` maps a component's short name (``shared_glb``) to
    ``{level, tensors, words_per_access}``; ``actions`` (pJ per word) fill in
    or override entries afterwards (a DRAM the ERT does not price, say);
    ``config`` is the arch file that named the ERT (for messages).
    """
    p = Path(path)
    src = Path(config) if config is not None else p
    ert = read_ert(p)
    specs = {c: _component_spec(src, c, s) for c, s in dict(components or {}).items()}
    shorts = {_short(n) for n in ert}
    for c in specs:
        if c not in shorts:
            raise ConfigError(f"{src}: energy.ert_components.{c}: no such component in {p} "
                              f"(it has {', '.join(sorted(shorts))})")
    notes: list[str] = []
    base: dict[str, list[float]] = {}
    per: dict[str, dict[str, float]] = {}
    leak = 0.0
    per_word_noted = False
    unused_by: dict[str, list[str]] = {}
    for full, acts in ert.items():
        spec = specs.get(_short(full), {})
        level = spec.get("level") or infer_level(full)
        if level is None or level == "ignore":
            if level is None:
                notes.append(f"{p}: component '{full}' is none of DRAM, GLB, scratchpad, NoC or MAC by its name; not "
                             "used (map it with energy.ert_components)")
            continue
        tensors = spec.get("tensors") or infer_tensors(full)
        wpa = spec.get("words_per_access")
        if wpa is None:
            wpa = 1.0
            if level in ("dram", "glb", "spad") and not per_word_noted:
                notes.append(f"{p}: words per access not given; each access is taken as one word (Timeloop bills "
                             "energy / block_size per word: set energy.ert_components.<name>.words_per_access to "
                             "width / datawidth)")
                per_word_noted = True
        leak += acts.get("leak", 0.0) * instances(full)
        used = {"leak"}
        if level == "mac":
            e = _pick(acts, "compute", "mac_random", "mac")
            if e is None:
                raise ConfigError(f"{p}: MAC component '{full}' has no compute / mac_random action")
            base.setdefault("mac", []).append(e)
            used |= {"compute", "mac_random", "mac"}
            if "mac_gated" in acts:
                base.setdefault("mac_gated", []).append(acts["mac_gated"])
                used.add("mac_gated")
        elif level == "noc":
            transfers = sorted(a for a in acts if a.startswith("transfer"))
            e = _pick(acts, "transfer_random", "transfer", *transfers)
            if e is None:
                raise ConfigError(f"{p}: NoC component '{full}' has no transfer action")
            _put(base, per, "noc_word", tensors, e)
            used |= set(transfers)
        else:
            rd, wr = _pick(acts, "read"), _pick(acts, "write", "fill")
            if rd is None or wr is None:
                raise ConfigError(f"{p}: {level} component '{full}' needs a read and a write (or fill) action; it has "
                                  f"{', '.join(acts)}")
            _put(base, per, f"{level}_read", tensors, rd / wpa)
            _put(base, per, f"{level}_write", tensors, wr / wpa)
            used |= {"read", "write", "fill"}
        unused_by[_short(full)] = sorted(set(acts) - used)
    unused = [f"{c}.{a}" for c, acts in unused_by.items() for a in acts]
    if unused:
        notes.append(f"{p}: actions with no zapsim counterpart, not used: {', '.join(unused)} (an 'update', "
                     "Timeloop's read-modify-write of outputs, is priced as the write)")
    pj: dict[str, float] = {}
    for action, vals in base.items():
        if len(vals) > 1 and action not in ("mac", "mac_gated"):
            raise ConfigError(f"{src}: {len(vals)} components of {p} price {action} for every tensor; say which "
                              "tensors each holds with energy.ert_components.<name>.tensors")
        pj[action] = sum(vals) / len(vals)
    for action, by_t in per.items():
        pj.setdefault(action, sum(by_t.values()) / len(by_t))  # only tensor-specific components: their mean
    if "noc_word" not in pj:
        pj["noc_word"] = 0.0
        notes.append(f"{p}: no NoC component: NoC transfers cost 0 (as in a Timeloop run without network energy)")
    if "mac_gated" not in pj:
        pj["mac_gated"] = 0.0
        notes.append(f"{p}: no mac_gated action: a clock-gated MAC slot costs 0 dynamic energy (its leakage is in "
                     "leakage_cycle)")
    pj.setdefault("zap_mac", pj.get("mac", 0.0))
    if "glb_read" in pj:
        pj["zap_buffer_access"] = pj["glb_read"]
        notes.append(f"{p}: no ZAP buffer in the ERT: zap_buffer_access is priced as a GLB read per word, an upper "
                     "bound for a small buffer (override energy.actions.zap_buffer_access)")
    pj["leakage_cycle"] = leak
    for a, v in (actions or {}).items():
        pj[a] = float(v)
    missing = [a for a in ACTIONS if a not in pj]
    if missing:
        raise ConfigError(f"{src}: the ERT {p} prices no {', '.join(missing)}: give them in energy.actions "
                          "(pJ per word)")
    return EnergyTable(name or f"ERT {p.name}", {a: pj[a] for a in ACTIONS}, per, unit="pJ", notes=tuple(notes))


def _put(base, per, action, tensors, e) -> None:
    if tuple(tensors) == PER_TENSOR_TENSORS:
        base.setdefault(action, []).append(e)
    else:
        for t in tensors:
            per.setdefault(action, {})[t] = e
