"""SCALE-Sim's inputs as zapsim's: topology CSVs as workloads, ``.cfg`` files as architectures.

Topology CSVs (``python -m zapsim.run CONFIG --workload net.csv``), every
form SCALE-Sim (v2 and v3) reads:

* convolution, 8 columns: ``Layer name, IFMAP Height, IFMAP Width, Filter
  Height, Filter Width, Channels, Num Filter, Strides``;
* convolution, 9 columns with separate strides (``Stride Height, Stride
  Width``: SCALE-Sim v2's form and what its ``write_topo_file`` writes);
* either of them with SCALE-Sim v3's N:M weight-sparsity column last
  (``2:4``); zapsim models dense weights, so only ``1:1`` is accepted;
* GEMM: ``Layer, M, N, K`` (SCALE-Sim's ``-i gemm``; M output rows, N
  output columns (filters), K the dot-product length), as a 1x1 convolution
  over an M x 1 map with K channels and N filters;
* a layer whose name contains ``DP`` is depthwise, as SCALE-Sim reads it:
  one ``Filter Height x Filter Width`` filter set per channel; zapsim makes
  it one grouped convolution (groups = Channels, ``Num Filter`` filters per
  group) instead of SCALE-Sim's one layer per channel, so the layer keeps
  one name and one row in the results (the systolic engine runs each group
  as its own GEMM, which is what SCALE-Sim's per-channel layers are; only
  ``systolic.scalesim_off_by_one`` then subtracts 1 once instead of once
  per channel);
* with or without trailing commas, a header line or none, whitespace and
  tabs around cells, blank lines, and comments: ``#`` to the end of the line
  (SCALE-Sim's ``mobilnet_paper.csv`` marks depthwise rows ``,#dw`` after the
  trailing comma: such a row is read as written, one channel and one filter,
  as SCALE-Sim simulates it, and a note says so).

Inputs are already padded (SCALE-Sim has no padding column), so padding is
0.  Output sizes follow PyTorch, floor((H - K) / s) + 1; SCALE-Sim computes
ceil((H - K + s) / s), one row more when s does not divide H - K: a note
names every layer where the two differ.  A 1x1 filter on a 1x1 map with
stride 1 is an fc layer.

``.cfg`` files (``python -m zapsim.run net.cfg`` or ``--scalesim-cfg``):
:func:`load_scalesim_cfg` maps every key SCALE-Sim reads to the zapsim key
that means the same (table in ``docs/arch-config.md``, "SCALE-Sim
configs") and returns, beside the architecture, one note per key that has
no zapsim meaning or is mapped only approximately.
"""

from __future__ import annotations

import configparser
import csv
import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..trace_format import TraceLayer, make_layer

# Bounds on what a topology row may ask for: far above real networks, low enough that a
# hostile file cannot ask for unbounded work or overflow the engine's int64 counters.
MAX_DIM = 1 << 24
MAX_LAYER_MACS = 1 << 52
MAX_TOPOLOGY_BYTES = 16 << 20
MAX_CFG_BYTES = 1 << 20

CONV_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")
CONV_COLUMNS_9 = (*CONV_COLUMNS[:7], "Stride Height", "Stride Width")
GEMM_COLUMNS = ("Layer", "M", "N", "K")
SPARSITY_COLUMN = "Sparsity"
_FORMS = {"conv": CONV_COLUMNS, "conv-9": CONV_COLUMNS_9, "gemm": GEMM_COLUMNS}
# Header spellings SCALE-Sim's own files and writer use, normalised (lower case, single spaces).
_ALIASES = {
    "Layer name": {"layer name", "layer", "name"},
    "Layer": {"layer", "layer name", "name"},
    "Num Filter": {"num filter", "num filters"},
    "Strides": {"strides", "stride", "stride height", "stride (h)"},
    "Stride Height": {"stride height", "strides", "stride"},
    "Stride Width": {"stride width"},
    "Sparsity": {"sparsity", "sparsity ratio", "n:m", "sparsity (n:m)", "sparsity ratio (n:m)"},
}


@dataclass
class Topology:
    """A SCALE-Sim topology read: the layers, the form it was in, and notes the user should read."""

    layers: list[TraceLayer]
    form: str  # "conv" (8 columns), "conv-9" (separate strides) or "gemm"
    notes: list[str] = field(default_factory=list)


def _norm(cell: str) -> str:
    return " ".join(cell.split()).lower()


def _is_int(s: str) -> bool:
    try:
        int(s)
        return True
    except ValueError:
        return False


def _is_ratio(s: str) -> bool:
    parts = s.split(":")
    return len(parts) == 2 and all(_is_int(p.strip()) for p in parts)


def _rows(path: Path, text: str):
    """(line number, cells, comment) of every line that holds cells; comments and blank lines are left out."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line, _, comment = raw.partition("#")
        try:
            cells = [c.strip() for c in next(csv.reader([line]), [])]
        except csv.Error as exc:
            raise ConfigError(f"{path}: line {lineno}: not CSV ({exc})") from None
        while cells and cells[-1] == "":  # trailing commas (SCALE-Sim writes one)
            cells.pop()
        if cells:
            yield lineno, cells, comment.strip()


def read_topology(path: str | Path, text: str | None = None) -> Topology:
    """Read a SCALE-Sim topology CSV in any of its forms (module docstring) into layers and notes."""
    p = Path(path)
    if text is None:
        text = _read_bounded(p, "topology file", MAX_TOPOLOGY_BYTES)
    header: tuple[str, ...] | None = None
    form: str | None = None
    layers: list[TraceLayer] = []
    notes: list[str] = []
    for lineno, cells, comment in _rows(p, text):
        if header is None and form is None and len(cells) > 1 and not _is_int(cells[1]):
            header, form = _check_header(p, lineno, cells)
            continue
        if form is None:
            form = _form_of_row(p, lineno, cells)
        layers.append(_row_layer(p, lineno, cells, form, header, comment, notes))
    if not layers:
        raise ConfigError(f"{p}: the topology has no layers")
    return Topology(layers, form or "conv", notes)


def _read_bounded(p: Path, what: str, limit: int) -> str:
    """A text file of at most ``limit`` bytes (a UTF-8 byte-order mark dropped), or a ConfigError saying why not."""
    if not p.is_file():
        raise ConfigError(f"{p}: no such {what}")
    if p.stat().st_size > limit:
        raise ConfigError(f"{p}: {p.stat().st_size} bytes; a {what} may have at most {limit}")
    try:
        return p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not a text file ({exc.reason})") from None


def _form_of_row(p: Path, lineno: int, cells: list[str]) -> str:
    n = len(cells)
    if n in (4, 5):
        return "gemm"
    if n == 8 or (n == 9 and _is_ratio(cells[8])):
        return "conv"
    if n in (9, 10):
        return "conv-9"
    raise ConfigError(f"{p}: line {lineno}: {n} values; a SCALE-Sim topology row has 8 ({', '.join(CONV_COLUMNS)}), "
                      f"9 (separate Stride Height, Stride Width) or 4 ({', '.join(GEMM_COLUMNS)}) values, each form "
                      "optionally followed by an N:M sparsity ratio")


def _check_header(p: Path, lineno: int, cells: list[str]) -> tuple[tuple[str, ...], str]:
    got = [_norm(c) for c in cells]
    if len(got) >= 4 and got[1:4] == ["m", "n", "k"]:
        want, form = GEMM_COLUMNS, "gemm"
    elif len(got) in (9, 10) and got[8] in _ALIASES["Stride Width"]:
        want, form = CONV_COLUMNS_9, "conv-9"
    elif len(got) in (8, 9):
        want, form = CONV_COLUMNS, "conv"
    else:
        raise ConfigError(
            f"{p}: line {lineno}: the header has {len(got)} columns, a SCALE-Sim topology has 8 "
            f"({', '.join(CONV_COLUMNS)}), 9 (separate Stride Height, Stride Width) or 4 ({', '.join(GEMM_COLUMNS)}), "
            "each optionally followed by a Sparsity (N:M) column"
        )
    full = (*want, SPARSITY_COLUMN) if len(got) == len(want) + 1 else want
    if len(got) != len(full):
        raise ConfigError(f"{p}: line {lineno}: the header has {len(got)} columns, this form has {len(want)}: "
                          f"{', '.join(want)} (and optionally {SPARSITY_COLUMN})")
    for col, (g, w) in enumerate(zip(got, full), 1):
        if g != _norm(w) and g not in _ALIASES.get(w, ()):
            raise ConfigError(f"{p}: line {lineno}, column {col}: header '{cells[col - 1]}' should be '{w}' "
                              f"(columns: {', '.join(full)})")
    return tuple(full), form


def _int_cell(where: str, col: int, name: str, cell: str) -> int:
    try:
        v = int(cell)
    except ValueError:
        raise ConfigError(f"{where}, column {col} ({name}): '{cell}' is not an integer; allowed: an integer >= 1") from None
    if not 1 <= v <= MAX_DIM:
        raise ConfigError(f"{where}, column {col} ({name}): {v} is out of range; allowed: an integer 1..{MAX_DIM}")
    return v


def _sparsity(where: str, col: int, cell: str) -> None:
    if not _is_ratio(cell):
        raise ConfigError(f"{where}, column {col} ({SPARSITY_COLUMN}): '{cell}' is not an N:M ratio such as 1:1")
    n, m = (int(x) for x in cell.split(":"))
    if n != m:
        raise ConfigError(f"{where}, column {col} ({SPARSITY_COLUMN}): {cell}: zapsim models dense weights; "
                          "SCALE-Sim's N:M structured weight sparsity is not simulated (use 1:1 or leave the column out)")


def _row_layer(p: Path, lineno: int, cells: list[str], form: str, header, comment: str,
               notes: list[str]) -> TraceLayer:
    where = f"{p}: line {lineno}"
    names = _FORMS[form]
    base = len(names)
    cols = header if header is not None else names
    allowed = (len(cols),) if header is not None else (base, base + 1)
    if header is not None and SPARSITY_COLUMN not in header and len(cells) == base + 1 and _is_ratio(cells[base]):
        allowed = (base, base + 1)  # SCALE-Sim v3 reads a sparsity cell the header does not name
    if len(cells) not in allowed:
        raise ConfigError(f"{where}: {len(cells)} values, expected {allowed[0]} ({', '.join(cols)})")
    if len(cells) == base + 1:
        _sparsity(where, base + 1, cells[base])
    name = cells[0]
    if not name:
        raise ConfigError(f"{where}, column 1 ({cols[0]}): empty; every layer needs a name")
    vals = [_int_cell(where, c + 1, names[c], cells[c]) for c in range(1, base)]
    if form == "gemm":
        m, n, k = vals
        _check_macs(where, m * n * k)
        # SCALE-Sim's GEMM mode: an M x K ifmap, a 1 x K filter, 1 channel, N filters; here the same product
        # as a 1x1 convolution over an M x 1 map with K channels and N filters (M*N*K MACs either way).
        return make_layer(name, k, m, 1, n, kernel=1, stride=1, padding=0, kind="conv", relu=False)
    h, w, r, s, c, mf = vals[:6]
    sh = vals[6]
    sw = vals[7] if form == "conv-9" else sh
    for col, k, n_, axis in ((4, r, h, "IFMAP Height"), (5, s, w, "IFMAP Width")):
        if k > n_:
            raise ConfigError(
                f"{where}, column {col} ({names[col - 1]}): {k} is larger than {axis} {n_} "
                "(SCALE-Sim inputs are already padded); the output would be empty"
            )
    depthwise = "DP" in name
    groups = c if depthwise else 1
    c_out = mf * c if depthwise else mf
    e, f = (h - r) // sh + 1, (w - s) // sw + 1
    _check_macs(where, e * f * r * s * c_out * (c // groups))
    if comment:
        notes.append(f"{where}: '{name}' has the comment '#{comment}'; the row is read as written "
                     f"({c} channel(s), {mf} filter(s)), as SCALE-Sim reads it")
    e_ss, f_ss = math.ceil((h - r + sh) / sh), math.ceil((w - s + sw) / sw)
    if (e_ss, f_ss) != (e, f):
        notes.append(f"{where}: '{name}': output {e}x{f} (floor((H - K) / s) + 1, as PyTorch); SCALE-Sim computes "
                     f"{e_ss}x{f_ss} (ceil((H - K + s) / s))")
    kind = "fc" if (h, w, r, s, sh, sw) == (1, 1, 1, 1, 1, 1) and not depthwise else "conv"
    return make_layer(name, c, h, w, c_out, kernel=(r, s), stride=(sh, sw), padding=0, groups=groups, kind=kind,
                      relu=kind == "conv")


def _check_macs(where: str, macs: int) -> None:
    if macs > MAX_LAYER_MACS:
        raise ConfigError(f"{where}: {macs} MACs in one layer; allowed at most {MAX_LAYER_MACS}")


# --------------------------------------------------------------------------- .cfg architectures

#: SCALE-Sim's keys (lower case, as configparser reads them) -> what they become here, for the docs and the notes.
CFG_KEYS: dict[tuple[str, str], str] = {
    ("general", "run_name"): "`name`",
    ("architecture_presets", "arrayheight"): "`pe_array.rows`",
    ("architecture_presets", "arraywidth"): "`pe_array.cols`",
    ("architecture_presets", "ifmapsramszkb"): "`global_buffer.size_bytes` (sum of the three SRAMs x 1024)",
    ("architecture_presets", "filtersramszkb"): "`global_buffer.size_bytes` (sum of the three SRAMs x 1024)",
    ("architecture_presets", "ofmapsramszkb"): "`global_buffer.size_bytes` (sum of the three SRAMs x 1024)",
    ("architecture_presets", "dataflow"): "`dataflow` (os, ws, is)",
    ("architecture_presets", "bandwidth"): "`dram.write_bandwidth_bytes_per_cycle` (and the reads in v2 configs)",
    ("architecture_presets", "memorybanks"): "`global_buffer.banks`",
    ("architecture_presets", "onchipmemorybanks"): "`global_buffer.banks`",
    ("architecture_presets", "ifmapoffset"): "no meaning (trace addresses)",
    ("architecture_presets", "filteroffset"): "no meaning (trace addresses)",
    ("architecture_presets", "ofmapoffset"): "no meaning (trace addresses)",
    ("architecture_presets", "readrequestbuffer"): "no meaning (DRAM request queue depth)",
    ("architecture_presets", "writerequestbuffer"): "no meaning (DRAM request queue depth)",
    ("architecture_presets", "onchipmemorybankports"): "no meaning (ports per bank are not modelled)",
    ("architecture_presets", "topologycsvloc"): "no meaning here: give the topology as --workload FILE",
    ("network_presets", "topologycsvloc"): "no meaning here: give the topology as --workload FILE",
    ("layout", "ifmapcustomlayout"): "no meaning (SRAM data layout)",
    ("layout", "filtercustomlayout"): "no meaning (SRAM data layout)",
    ("layout", "ifmapsrambankbandwidth"): "`dram.read_bandwidth_bytes_per_cycle` (v3, with FilterSRAMBankBandwidth)",
    ("layout", "filtersrambankbandwidth"): "`dram.read_bandwidth_bytes_per_cycle` (v3, with IfmapSRAMBankBandwidth)",
    ("layout", "ifmapsrambanknum"): "no meaning (SRAM data layout)",
    ("layout", "ifmapsrambankport"): "no meaning (SRAM data layout)",
    ("layout", "filtersrambanknum"): "no meaning (SRAM data layout)",
    ("layout", "filtersrambankport"): "no meaning (SRAM data layout)",
    ("architecture_presets", "ifmapcustomlayout"): "no meaning (SRAM data layout)",
    ("architecture_presets", "filtercustomlayout"): "no meaning (SRAM data layout)",
    ("architecture_presets", "ifmapsrambankbandwidth"): "no meaning outside the [layout] section",
    ("architecture_presets", "ifmapsrambanknum"): "no meaning (SRAM data layout)",
    ("architecture_presets", "ifmapsrambankport"): "no meaning (SRAM data layout)",
    ("architecture_presets", "filtersrambankbandwidth"): "no meaning outside the [layout] section",
    ("architecture_presets", "filtersrambanknum"): "no meaning (SRAM data layout)",
    ("architecture_presets", "filtersrambankport"): "no meaning (SRAM data layout)",
    ("sparsity", "sparsitysupport"): "must be false: N:M weight sparsity is not modelled",
    ("sparsity", "sparserep"): "no meaning (sparse weight format)",
    ("sparsity", "optimizedmapping"): "no meaning (sparse weight mapping)",
    ("sparsity", "blocksize"): "no meaning (sparse weight block size)",
    ("sparsity", "randomnumbergeneratorseed"): "no meaning (sparse weight generation)",
    ("run_presets", "interfacebandwidth"): "USER: the bandwidths given; CALC: a DRAM that never stalls",
    ("run_presets", "useramulatortrace"): "no meaning (zapsim's own DRAM bandwidth model)",
    ("run_presets", "sram_row_size"): "no meaning",
    ("run_presets", "sram_bank_size"): "no meaning",
    ("run_presets", "dram_row_size"): "no meaning",
    ("run_presets", "dram_bank_size"): "no meaning",
}
_DATAFLOWS = {"os": "output_stationary", "ws": "weight_stationary", "is": "input_stationary"}
# SCALE-Sim's word: 1 byte (single_layer_sim.py: word_size = 1); its SRAM-to-array path has no bandwidth limit.
SCALESIM_WORD_BITS = 8
UNLIMITED_WORDS_PER_CYCLE = 1e6
UNLIMITED_BYTES_PER_CYCLE = 1e6


@dataclass
class ScaleSimConfig:
    """A SCALE-Sim ``.cfg`` as zapsim reads it: the arch dict (:func:`zapsim.sim.arch.arch_from_dict`'s input),
    the notes about keys with no or an approximate zapsim meaning, and the file."""

    arch: dict[str, Any]
    notes: list[str]
    source: str


def _cfg_parser(p: Path, text: str) -> configparser.RawConfigParser:
    cp = configparser.RawConfigParser(strict=True, interpolation=None, inline_comment_prefixes=("#", ";"))
    try:
        cp.read_string(text, source=str(p))
    except configparser.DuplicateOptionError as exc:
        raise ConfigError(f"{p}: line {exc.lineno}: [{exc.section}] {exc.option} is given twice") from None
    except configparser.DuplicateSectionError as exc:
        raise ConfigError(f"{p}: line {exc.lineno}: section [{exc.section}] is given twice") from None
    except configparser.Error as exc:
        msg = " ".join(str(exc).split())
        raise ConfigError(f"{p}: not a SCALE-Sim config ({msg})") from None
    return cp


def read_scalesim_cfg(path: str | Path) -> ScaleSimConfig:
    """Map a SCALE-Sim ``.cfg`` onto zapsim's architecture keys (table in ``docs/arch-config.md``)."""
    p = Path(path)
    cp = _cfg_parser(p, _read_bounded(p, "SCALE-Sim config file", MAX_CFG_BYTES))
    notes: list[str] = []
    got = {(sec.lower(), key): val.strip() for sec in cp.sections() for key, val in cp.items(sec)}

    def need(sec: str, key: str, shown: str) -> str:
        v = got.get((sec, key.lower()))
        if v is None or v == "":
            raise ConfigError(f"{p}: [{sec}] {shown} is missing; SCALE-Sim needs it ({CFG_KEYS[(sec, key.lower())]})")
        return v

    def integer(sec: str, key: str, shown: str, lo: int = 1) -> int:
        v = need(sec, key, shown)
        try:
            i = int(v)
        except ValueError:
            raise ConfigError(f"{p}: [{sec}] {shown} = {v!r}: not an integer; allowed: an integer >= {lo}") from None
        if i < lo or i > MAX_DIM:
            raise ConfigError(f"{p}: [{sec}] {shown} = {i}: out of range; allowed: an integer {lo}..{MAX_DIM}")
        return i

    arch: dict[str, Any] = {"name": got.get(("general", "run_name")) or p.stem, "word_bits": SCALESIM_WORD_BITS}
    arch["pe_array"] = {"rows": integer("architecture_presets", "ArrayHeight", "ArrayHeight"),
                        "cols": integer("architecture_presets", "ArrayWidth", "ArrayWidth")}
    kb = [integer("architecture_presets", k, k) for k in ("IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB")]
    df = need("architecture_presets", "Dataflow", "Dataflow")
    if df.lower() not in _DATAFLOWS:
        close = difflib.get_close_matches(df.lower(), list(_DATAFLOWS), n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"{p}: [architecture_presets] Dataflow = {df!r}: not a SCALE-Sim dataflow{hint}; "
                          "allowed: os, ws, is")
    arch["dataflow"] = _DATAFLOWS[df.lower()]
    bank_key = next((k for k in ("OnChipMemoryBanks", "MemoryBanks") if ("architecture_presets", k.lower()) in got), None)
    arch["global_buffer"] = {"size_bytes": 1024 * sum(kb), "double_buffer": True,
                             "bandwidth_words_per_cycle": UNLIMITED_WORDS_PER_CYCLE,
                             "banks": integer("architecture_presets", bank_key, bank_key) if bank_key else 1}
    notes.append(f"{p}: the ifmap, filter and ofmap SRAMs ({kb[0]} + {kb[1]} + {kb[2]} KiB) become one "
                 f"double-buffered global buffer of {sum(kb)} KiB shared by the three tensors")
    arch["noc"] = {"bandwidth_words_per_cycle": UNLIMITED_WORDS_PER_CYCLE}
    mode = got.get(("run_presets", "interfacebandwidth"))
    bw_text = got.get(("architecture_presets", "bandwidth"))
    if mode is None:
        mode = "USER" if bw_text else "CALC"
        notes.append(f"{p}: [run_presets] InterfaceBandwidth is missing; read as {mode}")
    mode = mode.strip()
    if mode not in ("USER", "CALC"):
        raise ConfigError(f"{p}: [run_presets] InterfaceBandwidth = {mode!r}; allowed: USER or CALC (as SCALE-Sim)")
    v3_layout = any(sec == "layout" for sec, _ in got)
    if mode == "USER":
        if not bw_text:
            raise ConfigError(f"{p}: [architecture_presets] Bandwidth is missing; InterfaceBandwidth = USER needs it")
        try:
            bws = [float(x) for x in bw_text.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"{p}: [architecture_presets] Bandwidth = {bw_text!r}: not a number (words per cycle) "
                              "or a comma-separated list of them") from None
        if not bws or any(not (0 < b <= UNLIMITED_BYTES_PER_CYCLE) or not math.isfinite(b) for b in bws):
            raise ConfigError(f"{p}: [architecture_presets] Bandwidth = {bw_text!r}: out of range; allowed: "
                              f"numbers > 0 and <= {UNLIMITED_BYTES_PER_CYCLE:g} (words per cycle)")
        if v3_layout:  # SCALE-Sim v3: ifmap and filter fills at their SRAM bank bandwidths, the ofmap at Bandwidth[0]
            rd = [integer("layout", k, k) for k in ("IfmapSRAMBankBandwidth", "FilterSRAMBankBandwidth")]
        else:  # SCALE-Sim v2: all three interfaces at Bandwidth[0]
            rd = [bws[0], bws[0]]
        arch["dram"] = {"bandwidth_bytes_per_cycle": float(bws[0]), "read_bandwidth_bytes_per_cycle": float(sum(rd)),
                        "write_bandwidth_bytes_per_cycle": float(bws[0])}
        notes.append(f"{p}: DRAM: SCALE-Sim's separate ifmap and filter read interfaces ({rd[0]:g} + {rd[1]:g} "
                     f"words/cycle) become one read channel of {sum(rd):g} bytes/cycle, the ofmap interface a write "
                     f"channel of {bws[0]:g} bytes/cycle (1-byte words)")
        if len(bws) > 1:
            notes.append(f"{p}: [architecture_presets] Bandwidth lists {len(bws)} values; SCALE-Sim uses the first "
                         "and so does zapsim")
    else:
        arch["dram"] = {"bandwidth_bytes_per_cycle": UNLIMITED_BYTES_PER_CYCLE}
        notes.append(f"{p}: InterfaceBandwidth = CALC: SCALE-Sim sizes the DRAM interface for no stalls; zapsim "
                     f"gives DRAM {UNLIMITED_BYTES_PER_CYCLE:g} bytes/cycle so it never stalls"
                     + (" (Bandwidth is not used)" if bw_text else ""))
    sparse = got.get(("sparsity", "sparsitysupport"))
    if sparse is not None and sparse.lower() == "true":
        raise ConfigError(f"{p}: [sparsity] SparsitySupport = true: zapsim models dense weights, not SCALE-Sim's "
                          "N:M structured weight sparsity; set it to false")
    arch["systolic"] = {"scalesim_off_by_one": True}
    notes.append(f"{p}: systolic.scalesim_off_by_one = true, so dense compute cycles equal SCALE-Sim's")
    used = {("general", "run_name"), ("architecture_presets", "arrayheight"), ("architecture_presets", "arraywidth"),
            ("architecture_presets", "ifmapsramszkb"), ("architecture_presets", "filtersramszkb"),
            ("architecture_presets", "ofmapsramszkb"), ("architecture_presets", "dataflow"),
            ("architecture_presets", "bandwidth"), ("architecture_presets", "memorybanks"),
            ("architecture_presets", "onchipmemorybanks"), ("run_presets", "interfacebandwidth"),
            ("sparsity", "sparsitysupport")}
    if v3_layout and mode == "USER":
        used |= {("layout", "ifmapsrambankbandwidth"), ("layout", "filtersrambankbandwidth")}
    for (sec, key), val in got.items():
        if (sec, key) in used:
            continue
        meaning = CFG_KEYS.get((sec, key))
        if meaning is None:
            known = [k for s, k in CFG_KEYS if s == sec]
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            notes.append(f"{p}: [{sec}] {key} = {val!r}: not a key SCALE-Sim reads{hint}; not used")
        else:
            notes.append(f"{p}: [{sec}] {key} = {val!r}: {meaning}; not used")
    notes.append(f"{p}: SCALE-Sim has no energy model and no ZAP unit: energy, zap_unit and sparsity take zapsim's "
                 "defaults (docs/arch-config.md)")
    return ScaleSimConfig(arch, notes, str(p))


def load_scalesim_cfg(path: str | Path):
    """A SCALE-Sim ``.cfg`` as a validated :class:`~zapsim.sim.arch.ArchConfig`, and the notes on its keys."""
    from .arch import arch_from_dict

    cfg = read_scalesim_cfg(path)
    return arch_from_dict(cfg.arch, source=cfg.source), cfg.notes


def cfg_to_yaml(cfg: ScaleSimConfig) -> str:
    """The zapsim YAML equivalent of a SCALE-Sim config, with its notes as comments."""
    import yaml

    head = [f"# from the SCALE-Sim config {cfg.source} by python -m zapsim.sim.scalesim", "#"]
    head += ["# " + n.split(": ", 1)[-1] for n in cfg.notes]
    return "\n".join(head) + "\n" + yaml.safe_dump(_plain(cfg.arch), sort_keys=False)


def _plain(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in d.items()}


def main(argv=None) -> int:
    """``python -m zapsim.sim.scalesim CONFIG.cfg``: print the equivalent zapsim YAML (its notes as comments)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m zapsim.sim.scalesim CONFIG.cfg  (prints the equivalent zapsim architecture YAML)")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    sys.stdout.write(cfg_to_yaml(read_scalesim_cfg(argv[0])))
    return 0


if __name__ == "__main__":
    import sys

    from ..errors import cli_main

    sys.exit(cli_main(main))
