"""Sweeps (issue 10): expansion, validation, local pool = Dask, resume after a kill, failures, same bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zapsim.errors import ConfigError
from zapsim.sweep import expand, read_table, resolve_points, run_sweep, sweep_from_dict
from zapsim.sweep import run as sweep_run
from zapsim.sweep.__main__ import main as sweep_main
from zapsim.sweep.plots import tornado_table

REPO = Path(__file__).resolve().parent.parent
TRACE = str(REPO / "traces" / "default")


def _sweep(tmp_path: Path, axes: list, combine: str = "grid", **kw) -> Path:
    """A sweep file in tmp_path on the bundled trace, one op, one image."""
    d = {"name": "t", "arch": "eyeriss_like", "traces": [TRACE], "ops": ["t0.30"], "images": 1, "combine": combine,
         "axes": axes, **kw}
    p = tmp_path / "t.yaml"
    p.write_text(json.dumps(d))  # JSON is YAML
    return p


def _spec(axes, combine="grid", **kw):
    d = {"name": "t", "arch": "eyeriss_like", "traces": [TRACE], "combine": combine, "axes": axes, **kw}
    return sweep_from_dict(d, "t.yaml", REPO)


BW = {"key": "dram.bandwidth_bytes_per_cycle", "values": [1.2, 2.4, 4.8]}
GLB = {"key": "global_buffer.bandwidth_words_per_cycle", "values": [8.0, 16.0, 32.0]}
ARRAY = {"keys": ["pe_array.rows", "pe_array.cols"], "values": [[12, 14], [16, 16]]}


def test_grid_zip_oat_counts_and_order():
    pts = expand(_spec([ARRAY, BW]))
    assert len(pts) == 6  # 2 x 3, the last axis fastest
    assert [p.as_dict()["dram.bandwidth_bytes_per_cycle"] for p in pts[:3]] == [1.2, 2.4, 4.8]
    assert pts[3].as_dict() == {"pe_array.rows": 16, "pe_array.cols": 16, "dram.bandwidth_bytes_per_cycle": 1.2}
    z = expand(_spec([{"key": "batch", "values": [1, 2, 4]}, BW], "zip"))
    assert [(p.as_dict()["batch"], p.as_dict()["dram.bandwidth_bytes_per_cycle"]) for p in z] == [(1, 1.2), (2, 2.4),
                                                                                                  (4, 4.8)]
    with pytest.raises(ConfigError, match=r"zip.*different numbers of values.*dram.bandwidth_bytes_per_cycle: 3"):
        expand(_spec([ARRAY, BW], "zip"))
    oat = expand(_spec([ARRAY, BW], "oat"))
    assert len(oat) == 1 + 2 + 3  # the base (no override), then every value of each axis alone
    assert oat[0].role == "base" and oat[0].settings == ()
    oat_b = expand(_spec([{**ARRAY, "base": [12, 14]}, {**BW, "base": 2.4}], "oat"))
    assert len(oat_b) == 1 + 1 + 2  # explicit bases: each axis' other values only


def test_random_and_lhs_are_seeded_and_stratified():
    axes = [{"key": "dram.bandwidth_bytes_per_cycle", "range": [1.0, 16.0], "log": True},
            {"key": "zap_unit.macs_per_cycle", "range": [8, 256], "integer": True}, GLB]
    a = expand(_spec(axes, "random", samples=20, seed=3))
    b = expand(_spec(axes, "random", samples=20, seed=3))
    c = expand(_spec(axes, "random", samples=20, seed=4))
    assert len(a) == 20 and a == b and a != c
    bw = np.array([p.as_dict()["dram.bandwidth_bytes_per_cycle"] for p in a])
    assert np.all((bw >= 1.0) & (bw <= 16.0))
    assert all(isinstance(p.as_dict()["zap_unit.macs_per_cycle"], int) for p in a)
    n = 16
    h = expand(_spec(axes, "lhs", samples=n, seed=0))
    assert len(h) == n and h == expand(_spec(axes, "lhs", samples=n, seed=0))
    # Latin hypercube: each axis' n strata hold exactly one sample (log-spaced strata on the log axis)
    u = (np.log([p.as_dict()["dram.bandwidth_bytes_per_cycle"] for p in h]) - np.log(1.0)) / (np.log(16.0) - np.log(1.0))
    assert sorted(np.floor(u * n).astype(int)) == list(range(n))
    # over a list of 3 values: value 0 takes strata 0-4 and maybe 5 (u < 1/3), value 1 strata 6-9 and maybe 5
    # and 10, value 2 strata 11-15 and maybe 10
    counts = np.bincount([GLB["values"].index(p.as_dict()["global_buffer.bandwidth_words_per_cycle"]) for p in h])
    assert counts[0] in (5, 6) and counts[1] in (4, 5, 6) and counts[2] in (5, 6) and counts.sum() == n


def test_bad_point_is_refused_before_anything_runs(tmp_path):
    p = _sweep(tmp_path, [{"key": "dram.bandwidth_bytes_per_cycle", "values": [2.4, -1.0]}])
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as e:
        run_sweep(p, out)
    msg = str(e.value)
    assert str(p) in msg and "point 1" in msg and "eyeriss_like.yaml" in msg
    assert "dram.bandwidth_bytes_per_cycle = -1.0: out of range; allowed:" in msg
    assert not out.exists()  # nothing ran, nothing written
    with pytest.raises(ConfigError, match=r"unknown key 'axes\[0\].valus'; did you mean 'values'"):
        sweep_from_dict({"arch": "eyeriss_like", "traces": [TRACE], "axes": [{"key": "batch", "valus": [1]}]},
                        "t.yaml", REPO)
    with pytest.raises(ConfigError, match=r"t.yaml: point 0 .*cannot replace unknown key 'dram.bandwith"):
        resolve_points(_spec([{"key": "dram.bandwith_bytes_per_cycle", "values": [1.0]}]))


def test_table_rows_and_tornado(tmp_path):
    p = _sweep(tmp_path, [{"key": "dram.bandwidth_bytes_per_cycle", "values": [2.4, 9.6]},
                          {"key": "batch", "values": [1, 4]}], "oat")
    res = run_sweep(p, tmp_path / "out", workers=1, progress=False)
    rows = read_table(res.out)
    # oat: base + 2 + 2 points (the base arch's own 2.4 and 1 are values too), x (dense, t0.30)
    assert len(rows) == 5 * 2 and res.tasks == 5 and not res.failed
    base = [r for r in rows if r["role"] == "base"]
    assert {r["dram.bandwidth_bytes_per_cycle"] for r in base} == {2.4} and {r["batch"] for r in base} == {1}
    for r in rows:
        dense = next(d for d in rows if d["point"] == r["point"] and d["op_id"] == "dense")
        assert r["speedup"] == pytest.approx(dense["cycles"] / r["cycles"])
        assert r["energy_saving"] == pytest.approx(1 - r["energy_pj"] / dense["energy_pj"])
    # the tornado's ranges are the min and max over the rows that move one axis
    from zapsim.sweep.spec import load_sweep

    tab = {t["axis"]: t for t in tornado_table(load_sweep(p), rows, "t0.30")}
    bw = [r["speedup"] for r in rows if r["op_id"] == "t0.30" and r["batch"] == 1]
    assert tab["dram.bandwidth_bytes_per_cycle"]["speedup_min"] == min(bw)
    assert tab["dram.bandwidth_bytes_per_cycle"]["speedup_max"] == max(bw)
    # rows with the bandwidth at the base arch's 2.4: the base, the bandwidth axis' 2.4, the batch axis' 1 and 4
    # (the first three are one config, simulated once: 3 distinct tasks of 5)
    assert tab["batch"]["points"] == 4 and res.computed == 3
    assert any(f.name.startswith("tornado_t0.30_eyeriss_like") for f in res.figures)


def test_failed_points_are_recorded_and_counted(tmp_path, monkeypatch, capsys):
    p = _sweep(tmp_path, [{"key": "dram.bandwidth_bytes_per_cycle", "values": [2.4, 4.8, 9.6]}])
    real = sweep_run._simulate_task

    def flaky(task):
        if task["arch"]["dram"]["bandwidth_bytes_per_cycle"] == 4.8:
            raise RuntimeError("injected")
        return real(task)

    monkeypatch.setattr(sweep_run, "_simulate_task", flaky)
    rc = sweep_main([str(p), "--out", str(tmp_path / "out"), "--workers", "1", "--quiet", "--no-plots"])
    assert rc == 64 + 1
    rows = read_table(tmp_path / "out")
    bad = [r for r in rows if r["error"]]
    assert len(bad) == 1 and bad[0]["point"] == 1 and "RuntimeError: injected" in bad[0]["error"]
    assert len(rows) == 1 + 2 * 2
    assert "failed: point 1" in capsys.readouterr().err
    # the failure is not cached: a rerun without the fault computes that point alone
    monkeypatch.setattr(sweep_run, "_simulate_task", real)
    res = run_sweep(p, tmp_path / "out", workers=1, progress=False, plots=False)
    assert (res.computed, res.cached, res.failed) == (1, 2, [])


def _cli(args, env_extra=None):
    env = {**os.environ, "PYTHONPATH": str(REPO), "ZAPSIM_PROGRESS": "0", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "zapsim.sweep", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_killed_sweep_resumes_with_the_same_table(tmp_path):
    p = _sweep(tmp_path, [{"key": "dram.bandwidth_bytes_per_cycle", "values": [1.2, 2.4, 4.8]},
                          {"key": "zap_unit.macs_per_cycle", "values": [16, 64]}])
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    r = _cli([str(p), "--out", str(killed), "--workers", "1"], {"ZAPSIM_FAULT": "sweep:after-2"})
    assert r.returncode == -9, r.stderr  # SIGKILL after the 2nd task was stored
    assert len(list((killed / "cache").glob("*.json"))) == 2 and not (killed / "results.parquet").exists()
    r = _cli([str(p), "--out", str(killed), "--workers", "2", "--no-plots"])
    assert r.returncode == 0, r.stderr
    assert "6 task(s): 4 computed, 2 from the cache, 0 failed" in r.stdout
    res = run_sweep(p, whole, workers=1, progress=False, plots=False)
    assert res.computed == 6
    for name in ("results.parquet", "results.csv"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes()


def test_same_bytes_twice(tmp_path):
    p = _sweep(tmp_path, [{"keys": ["pe_array.rows", "pe_array.cols"], "values": [[12, 14], [8, 8]]}])
    a = run_sweep(p, tmp_path / "a", workers=1, progress=False)
    b = run_sweep(p, tmp_path / "b", workers=1, progress=False, overwrite=True)
    assert b.computed == 2
    names = sorted(f.name for f in (tmp_path / "a").iterdir() if f.is_file())
    assert {"results.parquet", "results.csv", "pareto_energy.png", "pareto_cycles.pdf"} <= set(names)
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes(), n
    assert len(a.rows) == 4


def test_dask_local_cluster_gives_the_local_pool_rows(tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask.distributed not installed (pip install zapsim[cluster])")
    p = _sweep(tmp_path, [{"key": "dram.bandwidth_bytes_per_cycle", "values": [2.4, 4.8]},
                          {"key": "sparsity.zero_inputs", "values": ["gate", "skip"]}])
    local = run_sweep(p, tmp_path / "local", workers=2, progress=False, plots=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            distributed.Client(cl) as client:
        dask = run_sweep(p, tmp_path / "dask", scheduler=client, progress=False, plots=False)
        assert len(client.scheduler_info()["workers"]) == 2
    assert dask.computed == local.computed == 4
    assert local.rows == dask.rows
    assert (tmp_path / "local" / "results.csv").read_bytes() == (tmp_path / "dask" / "results.csv").read_bytes()
