"""Architecture descriptions: typed, validated, with defaults (YAML in ``arch_configs/``).

An architecture is a tree of frozen dataclasses.  Every field carries its
default and a one-line ``doc`` (plus ``unit``, and for choices the allowed
values) in its field metadata; the validator and ``docs/arch-config.md``
both read that metadata, and a test keeps the document in step with it.

The YAML file mirrors the dataclasses: top-level scalars (``name``,
``clock_mhz``, ``word_bits``, ``dataflow``) and one mapping per section
(``precision``, ``pe_array``, ``global_buffer``, ``noc``, ``dram``,
``zap_unit``, ``sparsity``, ``systolic``, ``energy``).  Every section and
key is optional; a key whose default is ``null`` (written ``None`` here)
inherits another key's value, as its doc says.
Unknown keys, wrong types and impossible values raise :class:`ConfigError`
naming the file, the key path (``pe_array.rows``), the value and what is
allowed.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, short
from ..yamlio import load_yaml
from .energy import (
    ACTIONS,
    DEFAULT_PRESET,
    PER_TENSOR_ACTIONS,
    PER_TENSOR_TENSORS,
    PRESET_UNITS,
    PRESETS,
    UNITS,
    EnergyTable,
    preset,
)

DATAFLOWS = ("row_stationary", "output_stationary", "weight_stationary", "input_stationary")
SYSTOLIC_DATAFLOWS = DATAFLOWS[1:]
ZAP_PLACEMENTS = ("dedicated", "array")
ZAP_OUTPUT_MODES = ("skip", "gate")
ZERO_INPUT_MODES = ("ignore", "gate", "skip")
ZAP_GRANULARITIES = ("gate", "row", "compact")
FOLD_PIPELINING = ("off", "on")
# One channel's ZAP parameters: two depthwise 3x3 kernels (18 words) plus six
# scale/shift words (ZapSpec.params = 24 per channel); a dedicated unit that
# cannot hold them cannot run the ZAP at all.
ZAP_MIN_BUFFER_WORDS = 24


def _f(default: Any, doc: str, unit: str = "", *, choices: tuple[str, ...] | None = None, minimum: float | None = None,
       exclusive_min: bool = False, maximum: float | None = None, nullable: bool = False) -> Any:
    """A dataclass field whose metadata drives validation and documentation.

    ``nullable``: the key also takes ``null`` (YAML ``~`` / ``null``), meaning
    "inherit", as ``doc`` says; its default is then usually None.
    """
    meta = {"doc": doc, "unit": unit, "choices": choices, "min": minimum, "exclusive_min": exclusive_min, "max": maximum,
            "nullable": nullable}
    return field(default=default, metadata=meta)


TENSORS = ("ifmap", "weight", "psum")
# Upper bounds of the new keys: far beyond any real design, low enough that a
# typo (an extra zero or three) is caught rather than simulated.
MAX_BANDWIDTH_BYTES = 1e6
MAX_BANDWIDTH_WORDS = 1e6
# Bounds of the older keys, for the same reason: what the simulator represents without overflow or
# infinities (issue 12: rows 1e9, clock 1e-320 MHz, bandwidth 1e-300, a 10**30-byte GLB were accepted).
MAX_ARRAY_SIDE = 4096  # PE rows or columns
MAX_PE_MACS = 1024  # MACs per PE per cycle
MAX_SPAD_WORDS = 1 << 20
MAX_GLB_BYTES = 1 << 40
MIN_RATE = 1e-3  # words or bytes per cycle
MAX_RATE = 1e12  # an idealised memory (the tests' "infinitely fast" is 1e9) stays finite
# Every other number key: an integer is at most GENERIC_MAX_INT, a float at most GENERIC_MAX_FLOAT, and a
# float that must be > 0 is at least GENERIC_MIN_POSITIVE, unless its metadata says otherwise.
GENERIC_MAX_INT = 1 << 40
GENERIC_MAX_FLOAT = 1e12
GENERIC_MIN_POSITIVE = 1e-6
MAX_ACTION_PJ = 1e6  # one action costing a microjoule is not a circuit


@dataclass(frozen=True)
class Precision:
    """Word width per tensor, where it differs from ``word_bits`` (Timeloop's per-dataspace ``datawidth``)."""

    ifmap_bits: int | None = _f(None, "width of an activation word: ifmaps, and the ofmap written to DRAM "
                                "(null: `word_bits`)", "bits", minimum=1, maximum=64, nullable=True)
    weight_bits: int | None = _f(None, "width of a weight word (null: `word_bits`)", "bits", minimum=1, maximum=64,
                                 nullable=True)
    psum_bits: int | None = _f(None, "width of a partial sum on chip: psum scratchpad, NoC and GLB psums "
                               "(null: `word_bits`)", "bits", minimum=1, maximum=64, nullable=True)


@dataclass(frozen=True)
class PEArray:
    """The processing-element array and each PE's scratchpads."""

    rows: int = _f(12, "physical PE rows", "PEs", minimum=1, maximum=MAX_ARRAY_SIDE)
    cols: int = _f(14, "physical PE columns", "PEs", minimum=1, maximum=MAX_ARRAY_SIDE)
    macs_per_cycle: int = _f(1, "MACs one PE completes per cycle", "MACs/cycle", minimum=1, maximum=MAX_PE_MACS)
    ifmap_spad_words: int = _f(12, "ifmap scratchpad per PE (row-stationary: the sliding window of one ifmap row)",
                               "words", minimum=1, maximum=MAX_SPAD_WORDS)
    weight_spad_words: int = _f(224, "filter scratchpad per PE (row-stationary: filter rows of interleaved filters/channels)",
                                "words", minimum=1, maximum=MAX_SPAD_WORDS)
    psum_spad_words: int = _f(24, "partial-sum scratchpad per PE", "words", minimum=1, maximum=MAX_SPAD_WORDS)
    # --- cycle engine (CYCLE-RS): read only by engine `cycle`
    mac_pipeline_depth: int = _f(2, "cycle engine: stages of the PE's MAC pipeline; a psum leaves the PE this many "
                                 "cycles minus one after its last MAC issues (Eyeriss v1, JSSC 2017: a 2-stage "
                                 "pipelined multiplier and adder)", "cycles", minimum=1, maximum=64)
    ifmap_fifo_words: int = _f(4, "cycle engine: the FIFO between the ifmap bus and a PE's ifmap scratchpad; a full "
                               "FIFO back-pressures the multicast bus (0: a word enters the scratchpad straight off "
                               "the bus or waits). Estimate: JSSC 2017 shows per-PE I/O FIFOs without their depth; "
                               "4 words = one 64-bit bus word", "words", minimum=0, maximum=MAX_SPAD_WORDS)
    skip_check_cycles: int = _f(1, "cycle engine: cycles a PE's controller spends on an output position whose every "
                                "filter the ZAP predicted zero (`zap_outputs: skip`, phase C): it reads the decision "
                                "and advances its window. Our estimate (one register read); not an Eyeriss figure",
                                "cycles", minimum=0, maximum=1024)


@dataclass(frozen=True)
class GlobalBuffer:
    """The on-chip global buffer (GLB) between DRAM and the array."""

    size_bytes: int = _f(110592, "capacity (108 KiB for Eyeriss); `size_kb` (KiB) is accepted instead", "bytes", minimum=1,
                         maximum=MAX_GLB_BYTES)
    bandwidth_words_per_cycle: float = _f(16.0, "words the GLB reads or writes per cycle, all banks together",
                                          "words/cycle", minimum=MIN_RATE, maximum=MAX_RATE)
    banks: int = _f(27, "independent banks (Eyeriss: 27 banks of 4 KiB, JSSC 2017); the analytical engine models the "
                    "aggregate bandwidth; the cycle engine word-interleaves the ifmap over the banks and charges a "
                    "cycle for each bus word beyond `ports_per_bank` that hits a bank in the same cycle", "banks",
                    minimum=1)
    ports_per_bank: int = _f(1, "cycle engine: accesses one GLB bank serves per cycle (single-ported SRAM banks; "
                             "JSSC 2017 describes the banks, not their ports: estimate)", "ports", minimum=1,
                             maximum=64)
    double_buffer: bool = _f(True, "half the GLB is filled from DRAM while the array works on the other half", "")
    read_bandwidth_words_per_cycle: float | None = _f(
        None, "words the GLB reads per cycle, on read ports of their own (null: reads and writes share "
        "`bandwidth_words_per_cycle`)", "words/cycle", minimum=0, exclusive_min=True, maximum=MAX_BANDWIDTH_WORDS,
        nullable=True)
    write_bandwidth_words_per_cycle: float | None = _f(
        None, "words the GLB writes per cycle, on write ports of their own (null: reads and writes share "
        "`bandwidth_words_per_cycle`)", "words/cycle", minimum=0, exclusive_min=True, maximum=MAX_BANDWIDTH_WORDS,
        nullable=True)
    weight_bypass: bool = _f(False, "weights bypass the GLB: they go from DRAM straight to the PEs over the NoC "
                             "(Timeloop's `bypass: [Weights]`), so every weight word the array receives is a DRAM "
                             "read and none is a GLB access", "")


@dataclass(frozen=True)
class NoC:
    """The network on chip that carries GLB data to the PEs."""

    multicast: bool = _f(True, "one GLB read can be delivered to many PEs (counts one NoC word per destination "
                         "group rather than per PE)", "")
    bandwidth_words_per_cycle: float = _f(16.0, "words the NoC delivers per cycle", "words/cycle", minimum=MIN_RATE,
                                          maximum=MAX_RATE)
    # --- cycle engine (CYCLE-RS): read only by engine `cycle`
    ifmap_bus_words_per_cycle: int = _f(4, "cycle engine: words the ifmap bus multicasts per cycle (Eyeriss v1, JSSC "
                                        "2017: 64-bit global input network = 4 words of 16 bits)", "words/cycle",
                                        minimum=1, maximum=4096)
    filter_bus_words_per_cycle: int = _f(4, "cycle engine: words the filter bus delivers per cycle to a PE row's "
                                         "filter scratchpads (JSSC 2017: 64 bits = 4 words)", "words/cycle", minimum=1,
                                         maximum=4096)
    psum_bus_words_per_cycle: int = _f(4, "cycle engine: words the psum bus drains to the GLB per cycle (JSSC 2017: "
                                       "64 bits = 4 words)", "words/cycle", minimum=1, maximum=4096)
    psum_hop_cycles: int = _f(1, "cycle engine: cycles a psum takes from one PE to the next up a column (one register "
                              "stage between neighbouring PEs: estimate)", "cycles", minimum=0, maximum=1024)


@dataclass(frozen=True)
class DRAM:
    """Off-chip memory."""

    bandwidth_bytes_per_cycle: float = _f(8.0, "DRAM bandwidth in accelerator clock cycles", "bytes/cycle",
                                          minimum=MIN_RATE, maximum=MAX_RATE)
    zero_compression: bool = _f(False, "run-length zero compression of activations in DRAM (as Eyeriss does for ifmaps); "
                                "ZAP's extra zeros shrink the traffic", "")
    # --- cycle engine (CYCLE-RS): read only by engine `cycle`
    latency_cycles: int = _f(40, "cycle engine: cycles from a tile's first DRAM request to its first data (estimate: "
                             "about 200 ns of DRAM access plus the off-chip link at 200 MHz; Eyeriss gives none)",
                             "cycles", minimum=0, maximum=1 << 20)
    burst_bytes: int = _f(64, "cycle engine: bytes one DRAM request moves; a transfer is rounded up to whole bursts "
                          "(one DDR3 burst of 8 x 64 bits)", "bytes", minimum=1, maximum=1 << 20)
    read_bandwidth_bytes_per_cycle: float | None = _f(
        None, "DRAM read bandwidth on a channel of its own (null: reads and writes share "
        "`bandwidth_bytes_per_cycle`)", "bytes/cycle", minimum=0, exclusive_min=True, maximum=MAX_BANDWIDTH_BYTES,
        nullable=True)
    write_bandwidth_bytes_per_cycle: float | None = _f(
        None, "DRAM write bandwidth on a channel of its own (null: reads and writes share "
        "`bandwidth_bytes_per_cycle`)", "bytes/cycle", minimum=0, exclusive_min=True, maximum=MAX_BANDWIDTH_BYTES,
        nullable=True)


@dataclass(frozen=True)
class ZapUnit:
    """Where and how fast the ZAP predictor (two depthwise 3x3 convs per channel) runs."""

    placement: str = _f("dedicated", "`dedicated`: a small unit beside the array; `array`: the ZAP's MACs run on the PEs",
                        "", choices=ZAP_PLACEMENTS)
    macs_per_cycle: int = _f(32, "MACs the dedicated ZAP unit completes per cycle (ignored for `array`)", "MACs/cycle",
                             minimum=1)
    buffer_words: int = _f(2048, "the dedicated unit's buffer for ZAP weights and phase-A rows (ignored for `array`; "
                           f"at least {ZAP_MIN_BUFFER_WORDS} for `dedicated`); its accesses cost energy; the analytical "
                           "engine does not limit the schedule by it, the cycle engine refuses a layer whose line "
                           "buffers (6 rows of the map's width plus one channel's 24 parameters) do not fit", "words",
                           minimum=0)
    transfer_words_per_cycle: int = _f(4, "cycle engine: words per cycle moved into the dedicated unit (phase-A outputs) "
                                       "and out of it (decisions, one bit per scored output) over its GLB port "
                                       "(our choice: one 64-bit port)", "words/cycle", minimum=1, maximum=4096)
    skip_zero_inputs: bool = _f(True, "the ZAP skips its MACs on zero phase-A values", "")


@dataclass(frozen=True)
class Sparsity:
    """What the hardware does with ineffectual work (Sparseloop's skip / gate vocabulary)."""

    zap_outputs: str = _f("skip", "a ZAP-predicted-zero output: `skip` removes its MACs from the schedule (cycles and "
                          "energy saved); `gate` idles the PE through them (energy saved, cycles not)", "",
                          choices=ZAP_OUTPUT_MODES)
    zero_inputs: str = _f("ignore", "a zero input activation: `ignore` computes it, `gate` clock-gates the MAC and the "
                          "filter read (Eyeriss v1), `skip` removes it from the schedule (Cnvlutin-style)", "",
                          choices=ZERO_INPUT_MODES)


@dataclass(frozen=True)
class Systolic:
    """Options of the systolic (output-, weight-, input-stationary) dataflows."""

    zap_granularity: str = _f("row", "what ZAP skipping saves in a lock-step array: `gate` only gates, `row` drops "
                              "whole array rows of a fold when all their outputs are predicted zero, `compact` packs "
                              "the surviving outputs into fewer folds (docs/simulator.md explains each)", "",
                              choices=ZAP_GRANULARITIES)
    scalesim_off_by_one: bool = _f(False, "subtract SCALE-Sim's trailing 1 cycle per layer so dense counts equal its "
                                   "output exactly (default: the closed form without the -1)", "")
    fold_pipelining: str = _f("off", "cycle engine: `off` runs folds one after the other, each paying its preload and "
                              "its wavefront's fill and drain (SCALE-Sim's convention); `on` lets the next fold's "
                              "operands enter right behind the current fold's and (ws / is) shifts the next tile into "
                              "shadow registers meanwhile, which needs `pe_array.weight_spad_words` (ws) or "
                              "`pe_array.ifmap_spad_words` (is) >= 2 (docs/systolic-cycle.md)", "",
                              choices=FOLD_PIPELINING)
    preload_words_per_cycle: int | None = _f(None, "cycle engine: words per cycle the top-edge port shifts into a ws / "
                                             "is stationary tile (null: `pe_array.cols`, one array row per cycle, as "
                                             "SCALE-Sim)", "words/cycle", minimum=1, maximum=MAX_ARRAY_SIDE,
                                             nullable=True)
    row_edge_words_per_cycle: int | None = _f(None, "cycle engine: words per cycle the left-edge SRAM port feeds the "
                                              "streamed operand into the rows (null: `pe_array.rows`, never a stall)",
                                              "words/cycle", minimum=1, maximum=MAX_ARRAY_SIDE, nullable=True)
    col_edge_words_per_cycle: int | None = _f(None, "cycle engine: words per cycle the top-edge SRAM port feeds the "
                                              "columns while streaming (os: weights; ws / is: psums read back for a "
                                              "later K fold) (null: `pe_array.cols`)", "words/cycle", minimum=1,
                                              maximum=MAX_ARRAY_SIDE, nullable=True)
    out_edge_words_per_cycle: int | None = _f(None, "cycle engine: words per cycle the bottom-edge SRAM port writes "
                                              "(ws / is: psums leaving the columns; os: finished outputs) (null: "
                                              "`pe_array.cols`)", "words/cycle", minimum=1, maximum=MAX_ARRAY_SIDE,
                                              nullable=True)


_SECTIONS: dict[str, type] = {
    "precision": Precision,
    "pe_array": PEArray,
    "global_buffer": GlobalBuffer,
    "noc": NoC,
    "dram": DRAM,
    "zap_unit": ZapUnit,
    "sparsity": Sparsity,
    "systolic": Systolic,
}


@dataclass(frozen=True)
class ArchConfig:
    """A whole accelerator: array, memories, ZAP unit, sparsity handling and energy table."""

    name: str = field(metadata={"doc": "a short name shown in reports (default: the file name without .yaml)", "unit": ""})
    source: str = field(metadata={"doc": "where the config came from (file path), used in messages; set by the loader",
                                  "unit": ""})
    clock_mhz: float = _f(200.0, "clock frequency (converts cycles to seconds and frames/s)", "MHz", minimum=1e-3,
                          maximum=1e5)
    word_bits: int = _f(16, "width of one data word (activations, weights, partial sums); memory energies are per word",
                        "bits", minimum=1, maximum=64)
    dataflow: str = _f("row_stationary", "how a layer is mapped onto the array", "", choices=DATAFLOWS)
    precision: Precision = field(default_factory=Precision, metadata={"doc": "word width per tensor", "unit": ""})
    pe_array: PEArray = field(default_factory=PEArray, metadata={"doc": "the PE array", "unit": ""})
    global_buffer: GlobalBuffer = field(default_factory=GlobalBuffer, metadata={"doc": "the global buffer", "unit": ""})
    noc: NoC = field(default_factory=NoC, metadata={"doc": "the network on chip", "unit": ""})
    dram: DRAM = field(default_factory=DRAM, metadata={"doc": "off-chip DRAM", "unit": ""})
    zap_unit: ZapUnit = field(default_factory=ZapUnit, metadata={"doc": "the ZAP predictor's hardware", "unit": ""})
    sparsity: Sparsity = field(default_factory=Sparsity, metadata={"doc": "skip / gate choices", "unit": ""})
    systolic: Systolic = field(default_factory=Systolic, metadata={"doc": "systolic-dataflow options", "unit": ""})
    energy: EnergyTable = field(default_factory=lambda: preset(DEFAULT_PRESET),
                                metadata={"doc": "energy per action (pJ): a preset and/or explicit actions", "unit": ""})

    @property
    def num_pes(self) -> int:
        return self.pe_array.rows * self.pe_array.cols

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8

    @property
    def glb_words(self) -> int:
        """Global-buffer capacity in words of ``word_bits``."""
        return (self.global_buffer.size_bytes * 8) // self.word_bits

    def tensor_bits(self, tensor: str) -> int:
        """Word width of ``tensor`` (ifmap, weight or psum): ``precision.<tensor>_bits``, else ``word_bits``."""
        v = getattr(self.precision, f"{tensor}_bits")
        return self.word_bits if v is None else v

    @property
    def uniform_words(self) -> bool:
        """Every tensor has the width ``word_bits`` (the model then counts in words of it, as before per-tensor widths)."""
        return all(self.tensor_bits(t) == self.word_bits for t in TENSORS)

    @property
    def is_systolic(self) -> bool:
        return self.dataflow in SYSTOLIC_DATAFLOWS


# --------------------------------------------------------------------------- working-set lower bound


def min_glb_words(dataflow: str, pe: PEArray, weight_bypass: bool = False) -> int:
    """A simple lower bound on the GLB words one mapping needs, independent of the layer.

    Row-stationary: one filter row set (every PE row's filter scratchpad
    filled once: ``rows * weight_spad_words``) plus one ifmap row segment
    and one psum row per PE column (``cols * (ifmap_spad_words +
    psum_spad_words)``).  Systolic: one stationary tile (``rows * cols``
    words) plus one wavefront of each streamed operand (``rows + cols``).
    A GLB below this cannot feed even one pass of the array; with double
    buffering it needs twice as much.  With ``weight_bypass`` the weights'
    share (row-stationary: the filter row set; os: the weight wavefront
    along the columns; ws: the stationary tile; is: the weight wavefront
    along the rows) is not held in the GLB and is left out.
    """
    return sum(min_glb_words_by_tensor(dataflow, pe, weight_bypass).values())


def min_glb_words_by_tensor(dataflow: str, pe: PEArray, weight_bypass: bool = False) -> dict[str, int]:
    """:func:`min_glb_words` split by tensor (ifmap, weight, psum), so each share can take its own word width."""
    if dataflow == "row_stationary":
        need = {"ifmap": pe.cols * pe.ifmap_spad_words, "weight": pe.rows * pe.weight_spad_words,
                "psum": pe.cols * pe.psum_spad_words}
    else:
        tile, r, c = pe.rows * pe.cols, pe.rows, pe.cols
        # (stationary operand, the operand streamed along the rows, the one along the columns)
        need = {"output_stationary": {"psum": tile, "ifmap": r, "weight": c},
                "weight_stationary": {"weight": tile, "ifmap": r, "psum": c},
                "input_stationary": {"ifmap": tile, "weight": r, "psum": c}}[dataflow]
    if weight_bypass:
        need["weight"] = 0
    return {t: need[t] for t in TENSORS}


# --------------------------------------------------------------------------- parsing and validation


def _type_name(tp: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def _bounds(f, tp: type) -> tuple[float | None, bool, float | None]:
    """(minimum, minimum exclusive, maximum) of a number key: its metadata, else the generic bounds above."""
    md = f.metadata
    lo, excl, hi = md.get("min"), bool(md.get("exclusive_min")), md.get("max")
    if tp in (int, float) and hi is None:
        hi = GENERIC_MAX_INT if tp is int else GENERIC_MAX_FLOAT
    if tp is float and lo == 0 and excl:
        lo, excl = GENERIC_MIN_POSITIVE, False
    return lo, excl, hi


def _describe_allowed(f, tp: type) -> str:
    md = f.metadata
    if md.get("choices"):
        return "one of " + ", ".join(md["choices"])
    parts = [_type_name(tp)]
    lo, excl, hi = _bounds(f, tp)
    if lo is not None:
        parts.append(f"{'>' if excl else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"<= {hi}" if tp is int else f"<= {hi:g}")
    if md.get("nullable"):
        parts.append("or null")
    return " ".join(parts)


def _field_type(cls: type, name: str) -> type:
    # `from __future__ import annotations` makes annotations strings; resolve the few we use.
    ann = cls.__annotations__[name]
    if isinstance(ann, str):
        ann = ann.removesuffix(" | None")  # nullable keys: the metadata says so; the type is the rest
        return {"int": int, "float": float, "bool": bool, "str": str}[ann]
    return ann


class _Ctx:
    """Where we are while validating: the file and the key path, for messages."""

    def __init__(self, source: str):
        self.source = source

    def error(self, path: str, value: Any, problem: str, allowed: str | None = None) -> ConfigError:
        msg = f"{self.source}: {path} = {short(value)}: {problem}"
        if allowed:
            msg += f"; allowed: {allowed}"
        return ConfigError(msg)

    def unknown(self, path_prefix: str, key: Any, valid: list[str]) -> ConfigError:
        where = f"{path_prefix}.{key}" if path_prefix else str(key)
        where = where if len(where) <= 80 else where[:80] + f"... ({len(where):,} characters)"
        close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6) if len(str(key)) <= 80 else []
        hint = f"; did you mean '{close[0]}'?" if close else ""
        section = f"in {path_prefix}" if path_prefix else "at the top level"
        return ConfigError(f"{self.source}: unknown key '{where}'{hint} (allowed {section}: {', '.join(valid)})")


def _check_value(ctx: _Ctx, path: str, value: Any, f, tp: type) -> Any:
    """Type-check and range-check one scalar; returns it converted (int -> float where a number is wanted)."""
    allowed = _describe_allowed(f, tp)
    if value is None and f.metadata.get("nullable"):
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise ctx.error(path, value, "wrong type", allowed)
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ctx.error(path, value, "wrong type", allowed)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ctx.error(path, value, "wrong type", allowed)
        value = float(value)
        if not math.isfinite(value):
            raise ctx.error(path, value, "not a finite number", allowed)
    elif tp is str:
        if not isinstance(value, str):
            raise ctx.error(path, value, "wrong type", allowed)
    md = f.metadata
    if md.get("choices") and value not in md["choices"]:
        close = difflib.get_close_matches(str(value), md["choices"], n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ctx.error(path, value, "not a known value" + hint, allowed)
    lo, excl, hi = _bounds(f, tp)
    if lo is not None and (value < lo or (excl and value == lo)):
        raise ctx.error(path, value, "out of range", allowed)
    if hi is not None and value > hi:
        raise ctx.error(path, value, "out of range", allowed)
    return value


def _parse_section(ctx: _Ctx, name: str, cls: type, raw: Any) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, Mapping):
        raise ctx.error(name, raw, "wrong type", f"a mapping of {', '.join(f.name for f in fields(cls))}")
    raw = dict(raw)
    if cls is GlobalBuffer and "size_kb" in raw:
        if "size_bytes" in raw:
            raise ctx.error(f"{name}.size_kb", raw["size_kb"], "given together with global_buffer.size_bytes",
                            "one of size_kb (KiB) or size_bytes")
        kb = raw.pop("size_kb")
        if isinstance(kb, bool) or not isinstance(kb, (int, float)) or not kb > 0 or not math.isfinite(kb):
            raise ctx.error(f"{name}.size_kb", kb, "wrong type or out of range", "a number > 0 (KiB, 1 KiB = 1024 bytes)")
        if (kb * 1024) != int(kb * 1024):
            raise ctx.error(f"{name}.size_kb", kb, "not a whole number of bytes", "a multiple of 1/1024")
        raw["size_bytes"] = int(kb * 1024)
    valid = [f.name for f in fields(cls)] + (["size_kb"] if cls is GlobalBuffer else [])
    kwargs = {}
    for key in raw:
        if not isinstance(key, str) or key not in [f.name for f in fields(cls)]:
            raise ctx.unknown(name, key, valid)
    for f in fields(cls):
        if f.name in raw:
            kwargs[f.name] = _check_value(ctx, f"{name}.{f.name}", raw[f.name], f, _field_type(cls, f.name))
    return cls(**kwargs)


def _parse_energy(ctx: _Ctx, raw: Any) -> EnergyTable:
    if raw is None:
        return preset(DEFAULT_PRESET)
    if isinstance(raw, str):  # `energy: 65nm` as a shorthand for `energy: {preset: 65nm}`
        raw = {"preset": raw}
    if not isinstance(raw, Mapping):
        raise ctx.error("energy", raw, "wrong type", "a mapping with 'preset' and/or 'actions' (or a preset name)")
    valid = ["preset", "actions", "per_tensor", "name", "unit", "ert", "ert_components"]
    for key in raw:
        if key not in valid:
            raise ctx.unknown("energy", key, valid)
    if "ert" in raw:
        return _parse_ert_energy(ctx, raw)
    if "ert_components" in raw:
        raise ctx.error("energy.ert_components", "...", "given without energy.ert", "energy.ert: FILE beside it")
    base = raw.get("preset", DEFAULT_PRESET)
    if not isinstance(base, str) or base not in PRESETS:
        close = difflib.get_close_matches(str(base), list(PRESETS), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ctx.error("energy.preset", base, "not a known preset" + hint, "one of " + ", ".join(PRESETS))
    pj = dict(preset(base).pj)
    actions = raw.get("actions")
    if actions is None:
        actions = {}
    if not isinstance(actions, Mapping):
        raise ctx.error("energy.actions", actions, "wrong type", "a mapping of action: pJ")
    changed = False
    for action, value in actions.items():
        path = f"energy.actions.{action}"
        if action not in ACTIONS:
            raise ctx.unknown("energy.actions", action, list(ACTIONS))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ctx.error(path, value, "wrong type", "a number >= 0 (pJ per action)")
        if not 0 <= value <= MAX_ACTION_PJ:
            raise ctx.error(path, value, "out of range", f"a number >= 0 <= {MAX_ACTION_PJ:g} (pJ per action)")
        changed = changed or float(value) != pj[action]
        pj[action] = float(value)
    per_tensor = _parse_per_tensor(ctx, raw.get("per_tensor"))
    changed = changed or bool(per_tensor)
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ctx.error("energy.name", name, "wrong type", "a non-empty string")
    if name is None:
        name = f"{base} (modified)" if changed else base
    unit = raw.get("unit", PRESET_UNITS[base])
    if unit not in UNITS:
        raise ctx.error("energy.unit", unit, "not a known unit", "one of " + ", ".join(UNITS))
    return EnergyTable(name, pj, per_tensor, unit=unit)


def _parse_ert_energy(ctx: _Ctx, raw: Mapping[str, Any]) -> EnergyTable:
    """``energy: {ert: FILE, ert_components: {...}, actions: {...}}``: an Accelergy ERT (zapsim/sim/accelergy.py)."""
    from .accelergy import load_ert_table

    for key in ("preset", "unit"):
        if key in raw:
            raise ctx.error(f"energy.{key}", raw[key], "given together with energy.ert (an ERT is in pJ and is "
                            "the whole table)", "energy.ert with optional ert_components, actions, per_tensor, name")
    ert = raw["ert"]
    if not isinstance(ert, str) or not ert:
        raise ctx.error("energy.ert", ert, "wrong type", "a path to an ERT.yaml / ERT_summary.yaml, relative to this file")
    if ctx.source.startswith("<"):
        raise ctx.error("energy.ert", ert, "an ERT path needs a config file to be relative to",
                        "load the config from a file, or pass python -m zapsim.run --ert FILE")
    here = Path(ctx.source).resolve().parent
    path = (here / ert).resolve()
    if Path(ert).is_absolute() or not path.is_relative_to(here):
        raise ctx.error("energy.ert", ert, "outside the config's folder (a config reads nothing outside the folder "
                        "it belongs to)", f"a path inside {here.name}/; or pass python -m zapsim.run --ert FILE")
    comps = raw.get("ert_components") or {}
    if not isinstance(comps, Mapping):
        raise ctx.error("energy.ert_components", comps, "wrong type", "a mapping of component name to "
                        "{level, tensors, words_per_access}")
    actions = raw.get("actions") or {}
    if not isinstance(actions, Mapping):
        raise ctx.error("energy.actions", actions, "wrong type", "a mapping of action: pJ")
    for action, value in actions.items():
        if action not in ACTIONS:
            raise ctx.unknown("energy.actions", action, list(ACTIONS))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ctx.error(f"energy.actions.{action}", value, "wrong type or out of range", "a number >= 0 (pJ)")
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ctx.error("energy.name", name, "wrong type", "a non-empty string")
    table = load_ert_table(path, comps, actions=actions, config=ctx.source, name=name)
    per = _parse_per_tensor(ctx, raw.get("per_tensor"))
    if per:
        merged = {a: dict(d) for a, d in table.per_tensor.items()}
        for a, d in per.items():
            merged.setdefault(a, {}).update(d)
        table = EnergyTable(table.name, table.pj, merged, unit=table.unit, notes=table.notes)
    return table


def _parse_per_tensor(ctx: _Ctx, raw: Any) -> dict[str, dict[str, float]]:
    """``energy.per_tensor``: {action: {tensor: pJ}} for the memory actions whose cost differs by tensor."""
    if raw is None:
        return {}
    allowed = f"a mapping of {', '.join(PER_TENSOR_ACTIONS)} to {{{', '.join(PER_TENSOR_TENSORS)}: pJ}}"
    if not isinstance(raw, Mapping):
        raise ctx.error("energy.per_tensor", raw, "wrong type", allowed)
    out: dict[str, dict[str, float]] = {}
    for action, by_t in raw.items():
        if action not in PER_TENSOR_ACTIONS:
            raise ctx.unknown("energy.per_tensor", action, list(PER_TENSOR_ACTIONS))
        if not isinstance(by_t, Mapping):
            raise ctx.error(f"energy.per_tensor.{action}", by_t, "wrong type",
                            f"a mapping of {', '.join(PER_TENSOR_TENSORS)} to pJ")
        out[action] = {}
        for tensor, v in by_t.items():
            path = f"energy.per_tensor.{action}.{tensor}"
            if tensor not in PER_TENSOR_TENSORS:
                raise ctx.unknown(f"energy.per_tensor.{action}", tensor, list(PER_TENSOR_TENSORS))
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ctx.error(path, v, "wrong type", "a number >= 0 (pJ per word)")
            if not 0 <= v <= MAX_ACTION_PJ:
                raise ctx.error(path, v, "out of range", f"a number >= 0 <= {MAX_ACTION_PJ:g} (pJ per word)")
            out[action][tensor] = float(v)
    return {a: d for a, d in out.items() if d}


def arch_from_dict(d: Mapping[str, Any], source: str = "<dict>") -> ArchConfig:
    """Build and validate an :class:`ArchConfig` from a nested dict (the parsed YAML)."""
    ctx = _Ctx(source)
    if d is None:
        d = {}
    if not isinstance(d, Mapping):
        raise ConfigError(f"{source}: an architecture config must be a mapping of keys, got {type(d).__name__}")
    top_scalars = {f.name: f for f in fields(ArchConfig) if f.name not in _SECTIONS and f.name not in ("energy",)}
    valid = [f.name for f in fields(ArchConfig)]
    for key in d:
        if not isinstance(key, str) or key not in valid:
            raise ctx.unknown("", key, valid)
    kwargs: dict[str, Any] = {}
    name = d.get("name")
    if name is None:
        name = Path(source).stem if source and not source.startswith("<") else "unnamed"
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise ctx.error("name", name, "wrong type", "a non-empty string of at most 256 characters")
    kwargs["name"] = name
    kwargs["source"] = source  # a 'source' key in the dict (from arch_to_dict) is informational only
    for key, f in top_scalars.items():
        if key in ("name", "source") or key not in d:
            continue
        kwargs[key] = _check_value(ctx, key, d[key], f, _field_type(ArchConfig, key))
    for key, cls in _SECTIONS.items():
        kwargs[key] = _parse_section(ctx, key, cls, d.get(key))
    kwargs["energy"] = _parse_energy(ctx, d.get("energy"))
    arch = ArchConfig(**kwargs)
    _check_cross(ctx, arch)
    return arch


def _check_cross(ctx: _Ctx, a: ArchConfig) -> None:
    """Constraints that involve more than one key."""
    bypass = a.global_buffer.weight_bypass
    need = min_glb_words(a.dataflow, a.pe_array, bypass)
    twice = ", twice one mapping for double buffering" if a.global_buffer.double_buffer else ""
    if a.global_buffer.double_buffer:
        need *= 2
    if a.uniform_words and a.glb_words < need:
        word_b = a.word_bits / 8
        raise ctx.error(
            "global_buffer.size_bytes", a.global_buffer.size_bytes,
            f"too small for one {a.dataflow} mapping on a {a.pe_array.rows}x{a.pe_array.cols} array "
            f"({a.glb_words} words of {a.word_bits} bits; the working-set lower bound is {need} words"
            f"{twice}; see docs/arch-config.md)",
            f">= {math.ceil(need * word_b)} bytes for this array, or a smaller array/scratchpads",
        )
    if not a.uniform_words:  # per-tensor widths: the same bound, each tensor's share in its own width
        by_t = min_glb_words_by_tensor(a.dataflow, a.pe_array, bypass)
        need_bits = sum(n * a.tensor_bits(t) for t, n in by_t.items()) * (2 if a.global_buffer.double_buffer else 1)
        if a.global_buffer.size_bytes * 8 < need_bits:
            raise ctx.error(
                "global_buffer.size_bytes", a.global_buffer.size_bytes,
                f"too small for one {a.dataflow} mapping on a {a.pe_array.rows}x{a.pe_array.cols} array (the "
                f"working-set lower bound is {need_bits} bits with ifmap/weight/psum words of "
                f"{'/'.join(str(a.tensor_bits(t)) for t in TENSORS)} bits{twice}; see docs/arch-config.md)",
                f">= {math.ceil(need_bits / 8)} bytes for this array, or a smaller array/scratchpads",
            )
    if a.global_buffer.banks > a.glb_words:
        raise ctx.error("global_buffer.banks", a.global_buffer.banks,
                        f"more banks than the {a.glb_words}-word buffer has words", f"an integer 1..{a.glb_words}")
    if a.systolic.fold_pipelining == "on" and a.dataflow in ("weight_stationary", "input_stationary"):
        key = "weight_spad_words" if a.dataflow == "weight_stationary" else "ifmap_spad_words"
        if getattr(a.pe_array, key) < 2:
            raise ctx.error(f"pe_array.{key}", getattr(a.pe_array, key),
                            f"systolic.fold_pipelining: on needs a shadow register for the next fold's stationary "
                            f"operand in every PE ({a.dataflow})", "an integer >= 2, or systolic.fold_pipelining: off")
    if a.zap_unit.placement == "dedicated" and a.zap_unit.buffer_words < ZAP_MIN_BUFFER_WORDS:
        raise ctx.error("zap_unit.buffer_words", a.zap_unit.buffer_words,
                        "a dedicated ZAP unit must hold at least one channel's ZAP parameters (2 depthwise 3x3 "
                        "kernels + 6 scale/shift words)", f"an integer >= {ZAP_MIN_BUFFER_WORDS}, or placement: array")


def load_arch(path: str | Path) -> ArchConfig:
    """Load an architecture YAML file (safe types, bounded: :func:`zapsim.yamlio.load_yaml`) and validate it."""

    p = Path(path)
    if not p.is_file():
        hint = ""
        parent = p.parent if str(p.parent) else Path(".")
        if parent.is_dir():
            names = [q.name for q in parent.glob("*.yaml")]
            close = difflib.get_close_matches(p.name, names, n=1, cutoff=0.5)
            if close:
                hint = f"; did you mean {parent / close[0]}?"
        raise ConfigError(f"{p}: no such architecture config file{hint}")
    d = load_yaml(p)
    return arch_from_dict(d, source=str(p))


# --------------------------------------------------------------------------- round trip and edits


def arch_to_dict(arch: ArchConfig) -> dict[str, Any]:
    """A JSON-ready nested dict; ``arch_from_dict(arch_to_dict(a), a.source) == a``."""
    out: dict[str, Any] = {"name": arch.name, "source": arch.source}
    for f in fields(ArchConfig):
        if f.name in ("name", "source"):
            continue
        v = getattr(arch, f.name)
        if isinstance(v, EnergyTable):
            out[f.name] = {"name": v.name, "unit": v.unit, "actions": {a: float(v.pj[a]) for a in ACTIONS}}
            if v.per_tensor:  # only when used, so results without it keep their keys
                out[f.name]["per_tensor"] = {a: dict(d) for a, d in v.per_tensor.items()}
        elif is_dataclass(v):
            out[f.name] = {g.name: getattr(v, g.name) for g in fields(v)}
        else:
            out[f.name] = v
    return out


def replace_arch(arch: ArchConfig, **dotted: Any) -> ArchConfig:
    """A validated copy with keys replaced by dotted path, e.g. ``replace_arch(a, **{"sparsity.zero_inputs": "gate"})``.

    ``energy.actions.mac=...`` edits one energy entry; ``energy.preset=NAME``
    switches the whole table.
    """
    d = copy.deepcopy(arch_to_dict(arch))
    for key, value in dotted.items():
        parts = key.split(".")
        if parts[:2] == ["energy", "preset"]:
            d["energy"] = {"preset": value}
            continue
        if parts == ["global_buffer", "size_kb"]:  # the loader's convenience key works here too
            d["global_buffer"].pop("size_bytes", None)
        node = d
        if parts[:2] == ["energy", "per_tensor"] and len(parts) == 4:  # created on first use
            d["energy"].setdefault("per_tensor", {}).setdefault(parts[2], {})
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"{arch.source}: cannot replace '{key}': '{'.'.join(parts[: i + 1])}' is not a section")
            node = node[part]
        if parts[-1] not in node and parts[0] != "energy" and parts != ["global_buffer", "size_kb"]:
            valid = list(node)
            close = difflib.get_close_matches(parts[-1], valid, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{arch.source}: cannot replace unknown key '{key}'{hint}")
        node[parts[-1]] = value
    if "energy" in d and "actions" in d["energy"] and "preset" not in d["energy"]:
        # an edited table keeps the old name only if nothing changed
        old = arch.energy
        new_pj = d["energy"]["actions"]
        new_per = d["energy"].get("per_tensor") or {}
        if (any(float(new_pj[a]) != old.pj[a] for a in ACTIONS if isinstance(new_pj.get(a), (int, float)))
                or new_per != {a: dict(v) for a, v in old.per_tensor.items()}):
            if not old.name.endswith("(modified)"):
                d["energy"]["name"] = f"{old.name} (modified)"
    return arch_from_dict(d, source=arch.source)


def field_docs() -> list[dict[str, Any]]:
    """Every config key with its type, default, unit and doc, in file order (for docs/arch-config.md)."""
    rows = []

    def one(prefix: str, cls: type, f) -> dict[str, Any]:
        tp = _field_type(cls, f.name)
        default = f.default if f.default is not MISSING else None
        return {"key": prefix + f.name, "type": tp.__name__, "default": default, "unit": f.metadata.get("unit", ""),
                "doc": f.metadata.get("doc", ""), "allowed": _describe_allowed(f, tp)}

    for f in fields(ArchConfig):
        if f.name in _SECTIONS:
            for g in fields(_SECTIONS[f.name]):
                rows.append(one(f.name + ".", _SECTIONS[f.name], g))
        elif f.name not in ("energy", "name", "source"):
            rows.append(one("", ArchConfig, f))
    return rows


def _shown_default(default: Any) -> str:
    if default is None:
        return "null"
    if isinstance(default, bool):
        return "true" if default else "false"
    return f"{default:g}" if isinstance(default, float) else str(default)


KEYS_BEGIN = "<!-- keys table: generated by `python -m zapsim.sim.arch --write-docs docs/arch-config.md` -->"
KEYS_END = "<!-- end of generated keys table -->"


def keys_table() -> str:
    """The markdown key table of ``docs/arch-config.md``, rendered from the field metadata."""
    lines = ["| key | type | default | unit | allowed | meaning |", "|---|---|---|---|---|---|"]
    for r in field_docs():
        lines.append(f"| `{r['key']}` | {r['type']} | `{_shown_default(r['default'])}` | {r['unit']} | "
                     f"{r['allowed']} | {r['doc']} |")
    return "\n".join(lines)


def write_keys_doc(path: str | Path) -> bool:
    """Replace the generated key table between :data:`KEYS_BEGIN` and :data:`KEYS_END` in ``path``; True if it changed."""
    p = Path(path)
    text = p.read_text()
    if KEYS_BEGIN not in text or KEYS_END not in text:
        raise ConfigError(f"{p}: no generated key table (the markers {KEYS_BEGIN!r} and {KEYS_END!r})")
    head, rest = text.split(KEYS_BEGIN, 1)
    _, tail = rest.split(KEYS_END, 1)
    new = f"{head}{KEYS_BEGIN}\n{keys_table()}\n{KEYS_END}{tail}"
    if new != text:
        p.write_text(new)
    return new != text


if __name__ == "__main__":  # python -m zapsim.sim.arch [--write-docs docs/arch-config.md]
    import sys

    if sys.argv[1:2] == ["--write-docs"] and len(sys.argv) == 3:
        print(("updated " if write_keys_doc(sys.argv[2]) else "unchanged ") + sys.argv[2])
    else:
        print(keys_table())
