"""Nothing lost, nothing mixed, same bits (issue 12.4, 12.5): outputs replaced whole, killed writers, concurrency.

The kill tests run a writer in a subprocess with ``ZAPSIM_FAULT=POINT``: the
process SIGKILLs itself at that point (no clean-up runs), and the test checks
that the target holds the old output or the new one, whole, never a mix or
nothing, and that the next run succeeds without a "not empty" refusal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from zapsim.atomic import TempDir, clean_stale, exchange, publish_dir, write_dir_atomic
from zapsim.errors import ZapsimError, cli_main
from zapsim.trace_format import read_trace

ROOT = Path(__file__).resolve().parents[1]
EYERISS = str(ROOT / "arch_configs" / "eyeriss_like.yaml")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _fake_result(marker: str) -> dict:
    return {"schema": "zapsim-results", "marker": marker,
            "operating_points": [{"id": "dense", "label": marker, "layers": [{"name": "l", "cycles": 1.0}],
                                  "total": {"cycles": 1.0}}]}


def _write_fake(marker: str, out: Path, timeline: bool = False) -> None:
    from zapsim.sim.report import write_results

    extra = {"timeline_l_dense.json": json.dumps({"marker": marker}) + "\n"} if timeline else {}
    write_results(_fake_result(marker), out, overwrite=True, extra=extra)


def _forked(fn, *args, fault: str | None = None, no_exchange: bool = False) -> int:
    """Run ``fn(*args)`` in a forked child (cheap: no new interpreter) with ZAPSIM_FAULT set; its wait status."""
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            if fault:
                os.environ["ZAPSIM_FAULT"] = fault
            if no_exchange:
                os.environ["ZAPSIM_NO_EXCHANGE"] = "1"
            fn(*args)
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _marker_of(out: Path) -> str:
    """The marker of a whole output; fails on a mix of two runs or a missing file."""
    res = json.loads((out / "results.json").read_text())
    m = res["marker"]
    assert f"dense,{m}," in (out / "layers.csv").read_text(), "layers.csv is not from the run results.json is from"
    names = sorted(p.name for p in out.iterdir())
    if "timeline_l_dense.json" in names:
        assert json.loads((out / "timeline_l_dense.json").read_text())["marker"] == m
    return m


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


@pytest.mark.parametrize("point", ["write:results.json", "write:layers.csv", "write:done", "publish:before",
                                   "publish:exchanged"])
def test_killed_overwrite_leaves_old_or_new_whole(tmp_path, point):
    out = tmp_path / "out"
    _write_fake("old", out, timeline=True)
    assert _marker_of(out) == "old" and "timeline_l_dense.json" in os.listdir(out)
    assert _forked(_write_fake, "new", out, fault=point) == -signal.SIGKILL
    got = _marker_of(out)
    assert got == ("new" if point == "publish:exchanged" else "old")
    if got == "new":  # the stale timeline of the old run went with it
        assert sorted(os.listdir(out)) == ["layers.csv", "results.json"]
    # the next run is not refused, and the killed run's leftovers are cleaned
    _write_fake("again", out)
    assert _marker_of(out) == "again" and _leftovers(tmp_path, "out") == []


@pytest.mark.parametrize("point", ["publish:moved-old", "publish:moved-new"])
def test_killed_fallback_swap_is_recovered(tmp_path, point, monkeypatch):
    """Without renameat2 the swap is two renames; a kill between them is undone by the next writer."""
    monkeypatch.setenv("ZAPSIM_NO_EXCHANGE", "1")
    out = tmp_path / "out"
    _write_fake("old", out)
    assert _forked(_write_fake, "new", out, fault=point) == -signal.SIGKILL
    if point == "publish:moved-new":
        assert _marker_of(out) == "new"
    else:
        assert not out.exists() and any(n.startswith(".out.old-") for n in _leftovers(tmp_path, "out"))
        with pytest.raises(Exception, match="interrupted --overwrite left the earlier trace"):
            read_trace(out)  # a reader says where the old one is
    _write_fake("again", out)
    assert _marker_of(out) == "again" and _leftovers(tmp_path, "out") == []


def _many(tag: str, out: Path, n: int) -> None:
    for i in range(n):
        _write_fake(f"{tag}{i}", out)


def test_two_runs_on_one_out_never_mix(tmp_path):
    out = tmp_path / "out"
    pids = []
    for tag in ("a", "b"):
        pid = os.fork()
        if pid == 0:
            try:
                _many(tag, out, 15)
            finally:
                os._exit(0)
        pids.append(pid)
    assert [os.waitpid(p, 0)[1] for p in pids] == [0, 0]
    assert _marker_of(out) in {"a14", "b14"} and _leftovers(tmp_path, "out") == []


def test_killed_zapsim_run_keeps_the_old_result(tmp_path):
    """The real command, killed after writing layers.csv into its new directory: the old result, with its stale
    timeline, is untouched; rerun, it replaces all of it."""
    wl = tmp_path / "w.yaml"
    wl.write_text("- {name: c1, c_in: 4, h_in: 8, c_out: 4, kernel: 3, padding: 1}\n")
    out = tmp_path / "res"
    _write_fake("old", out, timeline=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    cmd = [sys.executable, "-m", "zapsim.run", EYERISS, "--workload", str(wl), "--out", str(out), "--quiet",
           "--overwrite"]
    p = subprocess.run(cmd, env={**ENV, "ZAPSIM_FAULT": "write:layers.csv"}, cwd=tmp_path, capture_output=True,
                       timeout=300)
    assert p.returncode == -signal.SIGKILL
    assert {q.name: q.read_bytes() for q in out.iterdir()} == before
    p = subprocess.run(cmd, env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(out)) == ["layers.csv", "results.json"]  # the stale timeline went with the old output
    assert json.loads((out / "results.json").read_text())["workload"]["source"] == str(wl)
    assert _leftovers(tmp_path, "res") == []


def _write_trace(path: Path, seed: int) -> None:
    import numpy as np

    from zapsim.trace_format import OperatingPoint, TraceWriter, make_layer

    rng = np.random.default_rng(seed)
    layers = [make_layer("c1", 3, 8, 8, 4, padding=1), make_layer("c2", 4, 8, 8, 4, padding=1)]
    with TraceWriter(path, layers=layers, num_images=2, model={}, dataset={}, overwrite=True) as tw:
        tw.add_operating_point(OperatingPoint("dense", "dense"))
        for li, layer in enumerate(layers):
            tw.append("dense", li, "in", rng.random((2, *layer.in_shape)) < 0.5)
            tw.append("dense", li, "out", rng.random((2, *layer.out_shape)) < 0.5)


def test_killed_trace_overwrite_keeps_a_whole_trace(tmp_path):
    t = tmp_path / "trace"
    _write_trace(t, 1)
    old = read_trace(t).mask("dense", 1, "out")
    for point, survivor in (("trace:manifest", "old"), ("publish:before", "old"), ("publish:exchanged", "new")):
        assert _forked(_write_trace, t, 2, fault=point) == -signal.SIGKILL
        same = bool((read_trace(t).mask("dense", 1, "out") == old).all())  # read_trace verifies it whole
        assert same == (survivor == "old"), point
        _write_trace(t, 1)
        assert _leftovers(tmp_path, "trace") == []


# --------------------------------------------------------------------------- the primitives


def test_publish_refuses_without_overwrite_and_never_replaces_foreign_dirs(tmp_path):
    out = tmp_path / "o"
    write_dir_atomic(out, {"a.txt": "1"}, overwrite=False)
    with pytest.raises(ZapsimError, match="already exists"):
        write_dir_atomic(out, {"a.txt": "2"}, overwrite=False)
    with pytest.raises(ZapsimError, match="does not hold an earlier output"):
        write_dir_atomic(out, {"a.txt": "2"}, overwrite=True, looks_ours=lambda p: False)
    assert (out / "a.txt").read_text() == "1" and _leftovers(tmp_path, "o") == []
    with pytest.raises(ZapsimError, match="not allowed"):
        write_dir_atomic(out, {"../x": "2"}, overwrite=True)
    empty = tmp_path / "e"
    empty.mkdir()
    write_dir_atomic(empty, {"b.txt": "x"}, overwrite=False)  # an empty directory is not "an output"
    assert os.listdir(empty) == ["b.txt"]


def test_clean_stale_spares_a_live_writer(tmp_path):
    target = tmp_path / "o"
    live = TempDir(target)
    dead = TempDir(target)
    dead.release()  # as if its process had been killed: the lock is gone
    assert clean_stale(target) == [dead.path]
    assert live.path.is_dir()
    live.discard()


def test_exchange_swaps_two_directories(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    if not exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here; the fallback is tested above")
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"


def test_publish_fallback_without_exchange(tmp_path, monkeypatch):
    monkeypatch.setenv("ZAPSIM_NO_EXCHANGE", "1")
    out = tmp_path / "o"
    write_dir_atomic(out, {"a.txt": "1", "stale.txt": "s"}, overwrite=False)
    t = TempDir(out)
    (t.path / "a.txt").write_text("2")
    publish_dir(t, out, overwrite=True)
    assert os.listdir(out) == ["a.txt"] and (out / "a.txt").read_text() == "2"
    assert _leftovers(tmp_path, "o") == []


# --------------------------------------------------------------------------- outputs checked before any work


@pytest.fixture
def no_simulation(monkeypatch):
    import zapsim.sim.simulate as sim

    def never(*a, **k):
        raise AssertionError("simulate() ran before --out was checked")

    monkeypatch.setattr(sim, "simulate", never)


@pytest.mark.parametrize("out, fragment", [
    ("", "--out: '' is an empty path"),
    ("FILE/sub", "is a file, not a directory"),
    ("FILE", "exists and is not a directory"),
    ("/proc/zapsim-out", "lies under /proc"),
    ("/dev/null", "lies under /dev"),
    ("/dev/null/x", "lies under /dev"),
])
def test_bad_out_is_refused_before_simulating(tmp_path, capsys, no_simulation, out, fragment):
    from zapsim.run import main

    (tmp_path / "FILE").write_text("x")
    wl = tmp_path / "w.yaml"
    wl.write_text("- {name: c1, c_in: 4, h_in: 8, c_out: 4}\n")
    out = out.replace("FILE", str(tmp_path / "FILE"))
    rc = cli_main(main, [EYERISS, "--workload", str(wl), "--out", out])
    err = capsys.readouterr().err
    assert rc == 2 and fragment in err and err.count("\n") == 1, err


def test_unwritable_out_is_refused_before_simulating(tmp_path, capsys, no_simulation):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    from zapsim.run import main

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    wl = tmp_path / "w.yaml"
    wl.write_text("- {name: c1, c_in: 4, h_in: 8, c_out: 4}\n")
    rc = cli_main(main, [EYERISS, "--workload", str(wl), "--out", str(ro / "x")])
    assert rc == 2 and "cannot create anything in" in capsys.readouterr().err


def test_plot_checks_out_before_drawing(tmp_path, capsys):
    from zapsim.plot import main

    res = tmp_path / "r.json"
    res.write_text(json.dumps({"schema": "zapsim-results", "schema_version": 1, "operating_points": []}))
    (tmp_path / "FILE").write_text("x")
    rc = cli_main(main, [str(res), "--out", str(tmp_path / "FILE" / "figs")])
    err = capsys.readouterr().err
    # the results are refused first (no operating points) or the --out: either way one line, exit 2, no figure
    assert rc == 2 and err.count("\n") == 1


# --------------------------------------------------------------------------- same bits, finite numbers


def test_same_inputs_give_the_same_bytes(tmp_path, capsys):
    """results.json, layers.csv, the timeline and its figures, and the plot's figures: byte-identical."""
    from zapsim.plot import main as plot_main
    from zapsim.run import main as run_main
    from zapsim.synthetic import build_synthetic_trace
    from zapsim.trace_format import make_layer

    layers = [make_layer("c1", 3, 8, 8, 8, padding=1), make_layer("c2", 8, 8, 8, 8, padding=1, zap_pattern="checkerboard")]
    tr = build_synthetic_trace(tmp_path / "tr", layers, num_images=2, thresholds=(0.0, 0.3), seed=4)
    small = tmp_path / "small.yaml"  # a 3x3 array keeps the timeline figures cheap
    small.write_text("pe_array: {rows: 3, cols: 3}\nglobal_buffer: {size_kb: 8}\n")
    outs = []
    for i in range(2):
        out = tmp_path / f"o{i}"
        assert cli_main(run_main, [str(small), "--trace", str(tr), "--out", str(out), "--quiet", "--timeline", "c2",
                                   "--op", "t0.30"]) == 0
        fig = tmp_path / f"f{i}"
        assert cli_main(plot_main, [str(out / "results.json"), "--out", str(fig), "--only", "layer_energy"]) == 0
        outs.append({**{p.name: p.read_bytes() for p in out.iterdir()},
                     **{"fig/" + p.name: p.read_bytes() for p in fig.iterdir()}})
    capsys.readouterr()
    assert sorted(outs[0]) == sorted(outs[1])
    assert {"results.json", "layers.csv", "timeline_c2_dense.json", "timeline_c2_dense.png",
            "timeline_c2_dense.pdf", "fig/layer_energy.png", "fig/layer_energy.pdf"} <= set(outs[0])
    for name in outs[0]:
        assert outs[0][name] == outs[1][name], name


def test_non_finite_numbers_never_reach_results_json(tmp_path):
    from zapsim.sim.report import results_json, write_results

    r = {"schema": "zapsim-results", "operating_points": [{"id": "dense", "layers": [],
                                                           "total": {"energy_pj": {"total": float("inf")}}}]}
    with pytest.raises(ZapsimError, match=r"operating_points\[0\]\.total\.energy_pj\.total is inf, not a finite"):
        results_json(r)
    with pytest.raises(ZapsimError, match="not a finite number"):
        write_results(r, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_plot_refuses_infinity_and_nan(tmp_path):
    from zapsim.plot import load_results

    p = tmp_path / "r.json"
    for bad in ("Infinity", "NaN", "-Infinity", "1e999"):
        p.write_text('{"schema": "zapsim-results", "schema_version": 1, "x": ' + bad + ', "operating_points": []}')
        with pytest.raises(ZapsimError, match="not a JSON number|not a finite double"):
            load_results(p)


def test_plot_refuses_a_damaged_trace(tmp_path, capsys):
    from zapsim.plot import main as plot_main
    from zapsim.run import main as run_main
    from zapsim.synthetic import build_synthetic_trace
    from zapsim.trace_format import make_layer

    tr = build_synthetic_trace(tmp_path / "tr", [make_layer("c1", 3, 6, 6, 4, padding=1)], num_images=1)
    assert cli_main(run_main, [EYERISS, "--trace", str(tr), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    f = next((tr / "masks" / "dense").iterdir())
    f.write_bytes(f.read_bytes()[:-1] + b"\x00")
    rc = cli_main(plot_main, [str(tmp_path / "o"), "--trace", str(tr), "--out", str(tmp_path / "f")])
    err = capsys.readouterr().err
    assert rc == 2 and "sha256 checksum does not match" in err and not (tmp_path / "f").exists()
