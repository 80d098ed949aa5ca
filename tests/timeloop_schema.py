"""Timeloop 0.4 input files checked against the format as Timeloop / timeloopfe document it.

timeloopfe (Timeloop's Python front end, which validates these files) is not on PyPI, so the parts of its
specification that zapsim's export uses are encoded here, independently of the writer:

* problem: ``problem: {version: 0.4, shape: {name, dimensions, coefficients, data_spaces}, instance}``;
  ``dimensions`` unique names; ``coefficients`` ``{name, default}``; each data space ``{name, projection,
  read_write?}`` whose projection is a list of (lists of) terms ``[dimension]`` or ``[dimension, coefficient]``;
  exactly one data space (the outputs) ``read_write: true``; ``instance`` gives every dimension a positive
  integer and may set coefficients.
* architecture: ``architecture: {version: 0.4, nodes: [...]}``; nodes tagged ``!Container``, ``!Component``,
  ``!Parallel`` (``!Hierarchical``); a Container or Component has a unique ``name``, a Component a ``class``;
  ``attributes`` is a mapping; ``spatial`` holds positive ``meshX`` / ``meshY``; ``constraints`` hold
  ``dataspace: {keep, bypass}`` (data space names, disjoint) and ``spatial`` / ``temporal`` with ``factors``
  (``D=n``) and ``permutation`` over problem dimensions; the first Component is the backing store
  (class DRAM) and the last the compute unit; storage ``width`` is a multiple of ``datawidth``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import yaml

NODE_TAGS = ("Container", "Component", "Parallel", "Hierarchical")
NODE_KEYS = {
    "Container": {"name", "attributes", "spatial", "constraints"},
    "Component": {"name", "class", "attributes", "spatial", "constraints", "required_actions", "enabled"},
    "Parallel": {"nodes"},
    "Hierarchical": {"nodes"},
}
COMPUTE_CLASSES = ("intmac", "fpmac", "mac", "compute")


class TaggedLoader(yaml.SafeLoader):
    """A safe loader that keeps timeloopfe's node tags as a ``_tag`` key."""


def _tagged(tag):
    def construct(loader, node):
        d = loader.construct_mapping(node, deep=True)
        return {"_tag": tag, **d}

    return construct


for _t in NODE_TAGS:
    TaggedLoader.add_constructor(f"!{_t}", _tagged(_t))


def load(text: str):
    return yaml.load(text, Loader=TaggedLoader)  # noqa: S506 - a SafeLoader subclass


def check_problem(doc) -> list[str]:
    errs: list[str] = []
    if not isinstance(doc, Mapping) or set(doc) != {"problem"}:
        return ["the top level must be exactly {problem: ...}"]
    p = doc["problem"]
    if str(p.get("version")) != "0.4":
        errs.append(f"problem.version {p.get('version')!r} is not 0.4")
    shape, inst = p.get("shape"), p.get("instance")
    if not isinstance(shape, Mapping) or not isinstance(inst, Mapping):
        return errs + ["problem needs a shape and an instance mapping"]
    if not isinstance(shape.get("name"), str):
        errs.append("shape.name must be a string")
    dims = shape.get("dimensions")
    if not isinstance(dims, list) or not dims or len(set(dims)) != len(dims) or not all(isinstance(d, str) for d in dims):
        return errs + [f"shape.dimensions {dims!r} must be a list of unique names"]
    coefs = shape.get("coefficients", [])
    names = []
    for c in coefs:
        if not isinstance(c, Mapping) or set(c) - {"name", "default"} or not isinstance(c.get("name"), str):
            errs.append(f"coefficient {c!r} must be {{name, default}}")
        else:
            names.append(c["name"])
            if not isinstance(c.get("default", 1), int) or c.get("default", 1) < 1:
                errs.append(f"coefficient {c['name']} default must be a positive integer")
    rw = 0
    for ds in shape.get("data_spaces", []):
        if not isinstance(ds, Mapping) or set(ds) - {"name", "projection", "read_write"}:
            errs.append(f"data space {ds!r} has keys other than name, projection, read_write")
            continue
        rw += bool(ds.get("read_write", False))
        proj = ds.get("projection")
        if not isinstance(proj, list) or not proj:
            errs.append(f"data space {ds.get('name')}: projection must be a non-empty list")
            continue
        for rank in proj:
            terms = rank if isinstance(rank, list) else [rank]
            for term in terms:
                if not isinstance(term, list) or not 1 <= len(term) <= 2 or term[0] not in dims or \
                        (len(term) == 2 and term[1] not in names):
                    errs.append(f"data space {ds.get('name')}: term {term!r} must be [dimension] or "
                                "[dimension, coefficient]")
    if rw != 1:
        errs.append(f"{rw} data spaces are read_write; exactly one (the outputs) must be")
    for d in dims:
        v = inst.get(d)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            errs.append(f"instance.{d} = {v!r} must be a positive integer")
    for k, v in inst.items():
        if k not in dims and k not in names:
            errs.append(f"instance.{k} is neither a dimension nor a coefficient")
        elif k in names and (not isinstance(v, int) or v < 1):
            errs.append(f"instance.{k} = {v!r} must be a positive integer")
    return errs


def _walk(nodes, out):
    for n in nodes:
        out.append(n)
        if isinstance(n, Mapping) and n.get("_tag") in ("Parallel", "Hierarchical"):
            _walk(n.get("nodes", []), out)
    return out


def check_architecture(doc, problem=None) -> list[str]:
    errs: list[str] = []
    if not isinstance(doc, Mapping) or set(doc) != {"architecture"}:
        return ["the top level must be exactly {architecture: ...}"]
    a = doc["architecture"]
    if str(a.get("version")) != "0.4" or not isinstance(a.get("nodes"), list):
        return ["architecture needs version 0.4 and a nodes list"]
    dims = set(problem["problem"]["shape"]["dimensions"]) if problem else set("CMRSNPQG")
    spaces = {ds["name"] for ds in problem["problem"]["shape"]["data_spaces"]} if problem else {"Weights", "Inputs", "Outputs"}
    seen: set[str] = set()
    comps = []
    for n in _walk(a["nodes"], []):
        tag = n.get("_tag") if isinstance(n, Mapping) else None
        if tag not in NODE_TAGS:
            errs.append(f"node {n!r} has no !Container / !Component / !Parallel tag")
            continue
        extra = set(n) - {"_tag"} - NODE_KEYS[tag]
        if extra:
            errs.append(f"{tag} {n.get('name')}: unknown keys {sorted(extra)}")
        if tag in ("Container", "Component"):
            name = n.get("name")
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or name in seen:
                errs.append(f"{tag} name {name!r} must be a unique identifier")
            seen.add(str(name))
            if not isinstance(n.get("attributes", {}), Mapping):
                errs.append(f"{name}: attributes must be a mapping")
            sp = n.get("spatial", {})
            if set(sp) - {"meshX", "meshY"} or any(not isinstance(v, int) or v < 1 for v in sp.values()):
                errs.append(f"{name}: spatial {sp!r} must hold positive meshX / meshY")
            cons = n.get("constraints", {})
            for key in set(cons) - {"dataspace", "spatial", "temporal"}:
                errs.append(f"{name}: unknown constraint {key!r}")
            ds = cons.get("dataspace", {})
            keep, byp = set(ds.get("keep", [])), set(ds.get("bypass", []))
            if (keep | byp) - spaces or keep & byp:
                errs.append(f"{name}: dataspace keep {sorted(keep)} / bypass {sorted(byp)} must be disjoint data spaces")
            for kind in ("spatial", "temporal"):
                c = cons.get(kind, {})
                for f in c.get("factors", []):
                    m = re.fullmatch(r"([A-Z])=(\d+)", str(f))
                    if not m or m.group(1) not in dims:
                        errs.append(f"{name}: {kind} factor {f!r} must be D=n over the problem's dimensions")
                if set(c.get("permutation", [])) - dims:
                    errs.append(f"{name}: {kind} permutation names dimensions the problem lacks")
        if tag == "Component":
            comps.append(n)
            if not isinstance(n.get("class"), str):
                errs.append(f"{n.get('name')}: a Component needs a class")
            at = n.get("attributes", {})
            if "width" in at and "datawidth" in at and at["width"] % at["datawidth"]:
                errs.append(f"{n.get('name')}: width {at['width']} is not a multiple of datawidth {at['datawidth']}")
            for k in ("depth", "width", "datawidth", "n_banks", "read_bandwidth", "write_bandwidth"):
                if k in at and (not isinstance(at[k], (int, float)) or at[k] <= 0):
                    errs.append(f"{n.get('name')}: {k} = {at[k]!r} must be positive")
    if not comps or comps[0].get("class") != "DRAM":
        errs.append("the first Component must be the backing store (class DRAM)")
    if comps and comps[-1].get("class") not in COMPUTE_CLASSES:
        errs.append("the last Component must be the compute unit")
    return errs
