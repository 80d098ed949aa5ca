"""`python -m zapsim.run`: end to end on a small synthetic trace, and one clean error per kind of bad flag."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zapsim.errors import cli_main
from zapsim.run import main
from zapsim.sim.report import check_result
from zapsim.synthetic import build_synthetic_trace
from zapsim.trace_format import make_layer

ROOT = Path(__file__).resolve().parents[1]
EYERISS = str(ROOT / "arch_configs" / "eyeriss_like.yaml")
TPU = str(ROOT / "arch_configs" / "tpu_like_ws_32x32.yaml")


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory) -> Path:
    layers = [
        make_layer("conv1", 3, 12, 12, 8, kernel=3, padding=1),
        make_layer("conv2", 8, 12, 12, 8, kernel=3, padding=1, zap_pattern="checkerboard"),
        make_layer("conv3", 8, 12, 12, 16, kernel=3, stride=2, padding=1, zap_pattern="checkerboard"),
        make_layer("fc", 16 * 6 * 6, 1, 1, 10, kernel=1, kind="fc", relu=False),
    ]
    path = tmp_path_factory.mktemp("cli") / "trace"
    return build_synthetic_trace(path, layers, num_images=3, thresholds=(0.0, 0.5), seed=1)


def run(argv, capsys) -> tuple[int, str, str]:
    rc = cli_main(main, [str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _row(text: str, first: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if line.split()[:1] == [first])


# --------------------------------------------------------------------------- end to end


def test_end_to_end_subprocess(trace_dir, tmp_path):
    """The real command line: exit 0, the tables, results.json and layers.csv that agree with each other."""
    out = tmp_path / "res"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "zapsim.run", EYERISS, "--trace", str(trace_dir), "--out", str(out),
                        "--layers", "--quiet"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    res = json.loads((out / "results.json").read_text())
    assert check_result(res) == []
    assert [o["id"] for o in res["operating_points"]] == ["dense", "t0.00", "t0.50"]
    assert res["workload"]["num_images"] == 3 and res["workload"]["synthetic"] is True
    assert res["arch"]["name"] == "eyeriss_like"
    # the table shows the JSON's numbers
    for op in res["operating_points"]:
        row = _row(p.stdout, op["id"])
        assert row[3] == f"{op['total']['cycles']:,.0f}"
        assert row[4] == f"{op['vs_baseline']['speedup']:.3f}"
        assert row[7] == f"{100 * op['vs_baseline']['energy_saving']:+.1f}"
    assert "operating point t0.50" in p.stdout and "conv3" in p.stdout  # --layers
    rows = list(csv.DictReader(io.StringIO((out / "layers.csv").read_text())))
    assert len(rows) == 3 * (4 + 1)
    by = {(r["op_id"], r["name"]): r for r in rows}
    assert float(by[("t0.50", "conv2")]["cycles"]) == res["operating_points"][2]["layers"][1]["cycles"]
    # ZAP work happens only where there is a ZAP, and only off the dense baseline
    dense, t0 = res["operating_points"][0], res["operating_points"][1]
    assert dense["total"]["macs"]["zap"] == 0 and dense["total"]["macs"]["skipped"] == 0
    assert [l["macs"]["zap"] > 0 for l in t0["layers"]] == [False, True, True, False]


def test_json_flag_prints_the_results_and_is_deterministic(trace_dir, capsys):
    rc, out1, _ = run([EYERISS, "--trace", trace_dir, "--json", "--quiet"], capsys)
    assert rc == 0
    rc, out2, _ = run([EYERISS, "--trace", trace_dir, "--json", "--quiet"], capsys)
    assert out1 == out2  # same inputs, same numbers, bit for bit
    res = json.loads(out1)
    assert res["schema"] == "zapsim-results" and check_result(res) == []


def test_op_and_images_select(trace_dir, capsys):
    rc, out, _ = run([TPU, "--trace", trace_dir, "--op", "t0.50", "--images", "2", "--json", "--quiet"], capsys)
    assert rc == 0
    res = json.loads(out)
    assert [o["id"] for o in res["operating_points"]] == ["dense", "t0.50"]  # dense always runs as the baseline
    assert res["workload"]["num_images"] == 2 and res["arch"]["dataflow"] == "weight_stationary"
    rc, out, _ = run([TPU, "--trace", trace_dir, "--op", "t0.00", "t0.50", "t0.00", "--json", "--quiet"], capsys)
    assert [o["id"] for o in json.loads(out)["operating_points"]] == ["dense", "t0.00", "t0.50"]


def test_dense_workload_csv(tmp_path, capsys):
    wl = tmp_path / "tiny.csv"
    wl.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                  "C1, 10, 10, 3, 3, 4, 8, 1,\nFC, 1, 1, 1, 1, 32, 10, 1,\n")
    rc, out, err = run([str(ROOT / "arch_configs" / "systolic_os_16x16.yaml"), "--workload", wl, "--json", "--quiet"],
                       capsys)
    assert rc == 0, err
    res = json.loads(out)
    assert [o["id"] for o in res["operating_points"]] == ["dense"]
    assert res["workload"]["model"] == "tiny" and res["workload"]["source"] == str(wl)
    layers = res["operating_points"][0]["layers"]
    assert [l["macs"]["algorithmic"] for l in layers] == [8 * 8 * 8 * 9 * 4, 32 * 10]  # hand-derived
    assert all(l["macs"]["skipped"] == 0 and l["macs"]["zap"] == 0 for l in layers)


def test_cli_imports_no_torch_and_no_numba_before_simulating():
    code = ("import sys, zapsim.run, zapsim.sim.arch, zapsim.sim.workload, zapsim.sim.report; "
            "bad = [m for m in ('torch', 'numba', 'matplotlib', 'scipy') if m in sys.modules]; print(bad)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stdout + p.stderr


# --------------------------------------------------------------------------- clean errors


def test_error_is_one_line_exit_2_subprocess(tmp_path):
    p = subprocess.run([sys.executable, "-m", "zapsim.run", EYERISS, "--trace", str(tmp_path / "nope")],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: --trace ") and "no such trace directory" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--op", "t9.99"], "--op t9.99: no such operating point in"),
        (["--images", "0"], "--images 0: the trace has 3 image(s); allowed 1..3"),
        (["--images", "4"], "--images 4: the trace has 3 image(s); allowed 1..3"),
        (["--images", "two"], "argument --images: invalid int value: 'two'"),
        (["--batch", "0"], "--batch 0: must be >= 1"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--timeline", "conv2"], "--timeline writes its timeline and plot into --out DIR"),
        (["--workload", "x.yaml"], "argument --workload: not allowed with argument --trace"),
    ],
)
def test_bad_flags(trace_dir, capsys, argv, fragment):
    rc, out, err = run([EYERISS, "--trace", trace_dir, *argv], capsys)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err


def test_lists_the_trace_ops_on_a_bad_op(trace_dir, capsys):
    _, _, err = run([EYERISS, "--trace", trace_dir, "--op", "t0.5"], capsys)
    assert "it has dense, t0.00, t0.50" in err


def test_bad_timeline_layer(trace_dir, capsys, tmp_path):
    rc, _, err = run([EYERISS, "--trace", trace_dir, "--out", tmp_path / "o", "--timeline", "conv9"], capsys)
    assert rc == 2 and "--timeline conv9: no such layer; did you mean 'conv3'?" in err
    rc, _, err = run([EYERISS, "--trace", trace_dir, "--out", tmp_path / "o", "--timeline", "conv2", "--image", "3"],
                     capsys)
    assert rc == 2 and "--image 3: allowed 0..2" in err


def test_existing_out_needs_overwrite(trace_dir, capsys, tmp_path):
    out = tmp_path / "res"
    out.mkdir()
    (out / "results.json").write_text("{}")
    rc, _, err = run([EYERISS, "--trace", trace_dir, "--out", out, "--quiet"], capsys)
    assert rc == 2 and f"--out {out} already exists and is not empty; pass --overwrite" in err
    assert (out / "results.json").read_text() == "{}"  # untouched
    rc, _, err = run([EYERISS, "--trace", trace_dir, "--out", out, "--quiet", "--overwrite", "--op", "t0.00"], capsys)
    assert rc == 0, err
    assert json.loads((out / "results.json").read_text())["schema"] == "zapsim-results"


def test_bad_config_names_file_and_key(trace_dir, capsys, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("pe_array:\n  rows: 0\n")
    rc, _, err = run([cfg, "--trace", trace_dir], capsys)
    assert rc == 2 and f"error: {cfg}: pe_array.rows = 0: out of range; allowed: an integer >= 1" in err
    rc, _, err = run([tmp_path / "missing.yaml"], capsys)
    assert rc == 2 and "no such architecture config file" in err


def test_bad_workload_and_workload_flags(capsys, tmp_path):
    wl = tmp_path / "w.csv"
    wl.write_text("C1, 10, 10, 3, 3, 4, x, 1,\n")
    rc, _, err = run([EYERISS, "--workload", wl], capsys)
    assert rc == 2 and f"{wl}: line 1, column 7 (Num Filter): 'x' is not an integer" in err
    wl.write_text("C1, 10, 10, 3, 3, 4, 8, 1,\n")
    rc, _, err = run([EYERISS, "--workload", wl, "--op", "t0.00"], capsys)
    assert rc == 2 and "--op applies to a trace" in err


def test_missing_default_trace_says_how_to_proceed(capsys, tmp_path, monkeypatch):
    import zapsim.run as run_mod

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_mod, "bundled_default_trace", lambda: tmp_path / "repo" / "traces" / "default")
    rc, _, err = run([EYERISS], capsys)
    assert rc == 2 and "no such trace directory" in err and "pass --trace DIR or --workload FILE" in err


def test_results_schema_doc_names_every_key(trace_dir, capsys):
    """docs/results-schema.md documents every key the CLI writes (checked against a real run)."""
    doc = (ROOT / "docs" / "results-schema.md").read_text()
    rc, out, _ = run([EYERISS, "--trace", trace_dir, "--op", "t0.00", "--images", "1", "--json", "--quiet"], capsys)
    res = json.loads(out)
    keys: set[str] = set()

    def walk(d, skip=()):
        for k, v in d.items():
            if k in skip:
                continue
            keys.add(k)
            if isinstance(v, dict):
                walk(v)

    walk({k: v for k, v in res.items() if k != "arch"})  # arch is docs/arch-config.md's
    op = res["operating_points"][1]
    walk(op, skip=("thresholds", "accuracy", "layers"))
    walk(op["layers"][0])
    missing = sorted(k for k in keys if f"`{k}`" not in doc and f'"{k}"' not in doc)
    assert not missing, f"docs/results-schema.md does not mention {missing}"


def test_layer_that_cannot_map_fails_before_simulating(capsys, tmp_path, monkeypatch):
    import zapsim.sim.simulate as sim

    def never(*a, **k):
        raise AssertionError("simulate() ran before the layers were checked")

    monkeypatch.setattr(sim, "simulate", never)
    cfg = tmp_path / "small_spad.yaml"
    cfg.write_text("pe_array: {ifmap_spad_words: 4}\n")
    wl = tmp_path / "w.yaml"
    wl.write_text("- {name: ok, c_in: 4, h_in: 8, c_out: 4, kernel: 3}\n- {name: wide, c_in: 4, h_in: 8, c_out: 4, kernel: 5}\n")
    rc, out, err = run([cfg, "--workload", wl], capsys)
    assert rc == 2 and out == ""
    assert f"{cfg}: pe_array.ifmap_spad_words = 4 cannot hold one 5-wide filter row of layer 'wide'" in err


@pytest.mark.parametrize("config", sorted((ROOT / "arch_configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_runs_and_its_results_hold_the_identities(trace_dir, capsys, config):
    rc, out, err = run([config, "--trace", trace_dir, "--images", "2", "--json", "--quiet"], capsys)
    assert rc == 0, err
    res = json.loads(out)
    assert check_result(res) == []
    assert res["arch"]["source"] == str(config)
    dense, *ops = res["operating_points"]
    for op in ops:
        # layers without a ZAP run exactly as in dense; ZAP layers never compute more than dense
        for ld, lo, has_zap in zip(dense["layers"], op["layers"], [False, True, True, False]):
            if not has_zap:
                assert lo["cycles"] == ld["cycles"] and lo["macs"] == ld["macs"]
            else:
                assert lo["macs"]["actual"] <= ld["macs"]["actual"]


def test_timeline_files(trace_dir, capsys, tmp_path):
    out = tmp_path / "tl"
    rc, _, err = run([EYERISS, "--trace", trace_dir, "--op", "t0.00", "--images", "1", "--out", out, "--quiet",
                      "--timeline", "conv2", "--image", "0"], capsys)
    assert rc == 0, err
    names = sorted(p.name for p in out.iterdir())
    for op in ("dense", "t0.00"):
        assert {f"timeline_conv2_{op}.json", f"timeline_conv2_{op}.png", f"timeline_conv2_{op}.pdf"} <= set(names)
    res = json.loads((out / "results.json").read_text())
    for i, op in enumerate(("dense", "t0.00")):
        tl = json.loads((out / f"timeline_conv2_{op}.json").read_text())
        assert (tl["layer"], tl["op_id"], tl["image"]) == ("conv2", op, 0)
        assert len(tl["runs"]) == 12 * 14
        assert all(sum(n for _, n in r) == tl["cycles"] for r in tl["runs"])  # every PE accounted every cycle
        # with one image, the timeline's length is the simulated layer's cycles (rounded)
        assert abs(tl["cycles"] - res["operating_points"][i]["layers"][1]["cycles"]) <= 1
    assert (out / "timeline_conv2_dense.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_exits_0():
    p = subprocess.run([sys.executable, "-m", "zapsim.run", "--help"], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert p.returncode == 0 and "usage: python -m zapsim.run" in p.stdout and "--workload FILE" in p.stdout


def test_default_trace_runs_with_config_only(tmp_path):
    """The README's main job: only CONFIG, on the bundled default trace."""
    if not (ROOT / "traces" / "default" / "manifest.json").is_file():
        pytest.skip("traces/default is not in this checkout yet")
    p = subprocess.run([sys.executable, "-m", "zapsim.run", EYERISS, "--images", "2", "--quiet"],
                       capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       timeout=600)
    assert p.returncode == 0, p.stderr
    assert _row(p.stdout, "dense")[4] == "1.000" and "MACs per image" in p.stdout
