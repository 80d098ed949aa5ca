"""The sweep's table: one row per (point, trace, operating point), as Parquet and CSV, written atomically.

Columns (``docs/sweep.md`` lists them with units): the point and its role,
the base config and arch name, one column per axis key (the value the point
resolved to: the base's own where the point leaves a key alone), the trace
(directory name and manifest checksum), model, ZAP pattern, operating point,
batch, engine and its version, simulated images, top-1, cycles, energy,
speedup and energy saved against dense on the same point, MAC counts, the
zapsim version, and ``error`` (empty unless the point failed).

The bytes depend only on the rows: Parquet through pyarrow with fixed
options and no pandas metadata, CSV with ``repr`` floats.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import write_bytes_atomic

#: the fixed columns before and after the axis columns
HEAD = ("point", "role", "base_arch", "arch")
TAIL = ("trace", "trace_sha256", "model", "pattern", "op_id", "op_label", "op_kind", "batch", "engine",
        "engine_version", "simulated_images", "top1", "top1_change", "cycles", "stall_cycles", "energy_pj",
        "energy_unit", "speedup", "energy_saving", "macs_algorithmic", "macs_actual", "macs_zap", "zapsim_version",
        "error")
PARQUET = "results.parquet"
CSV = "results.csv"


def columns(axis_columns: Sequence[str]) -> list[str]:
    """All columns in order (an axis named like a fixed column, ``batch``, is that column)."""
    return [*HEAD, *[c for c in axis_columns if c not in HEAD and c not in TAIL], *TAIL]


def _column_array(values: list[Any]):
    """A pyarrow array of one column: numbers stay numbers (ints with floats become floats), mixed kinds text."""
    import pyarrow as pa

    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int}:
        return pa.array(values, type=pa.int64())
    if kinds <= {int, float}:
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if kinds <= {bool}:
        return pa.array(values, type=pa.bool_())
    if kinds <= {str}:
        return pa.array(values, type=pa.string())
    return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def table_bytes(rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> tuple[bytes, bytes]:
    """(Parquet bytes, CSV bytes) of ``rows`` with columns ``cols``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = [_column_array([r.get(c) for r in rows]) for c in cols]
    table = pa.Table.from_arrays(arrays, names=list(cols))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=False, store_schema=True)
    pbytes = sink.getvalue().to_pybytes()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow(["" if r.get(c) is None else repr(r[c]) if isinstance(r[c], float) else r[c] for c in cols])
    return pbytes, buf.getvalue().encode("utf-8")


def write_table(out: Path, rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> list[Path]:
    """Write ``results.parquet`` and ``results.csv`` into ``out``, each atomically."""
    pbytes, cbytes = table_bytes(rows, cols)
    write_bytes_atomic(out / PARQUET, pbytes)
    write_bytes_atomic(out / CSV, cbytes)
    return [out / PARQUET, out / CSV]


def read_table(out: str | Path) -> list[dict[str, Any]]:
    """The rows of a sweep's ``results.parquet`` (a directory or the file), as dicts."""
    import pyarrow.parquet as pq

    p = Path(out)
    p = p / PARQUET if p.is_dir() else p
    return pq.read_table(p).to_pylist()
