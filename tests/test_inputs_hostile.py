"""Every bad input a message, bounded work, no code from data (issue 12.2 outside the tracer, 12.3, 12.6)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from zapsim.errors import ConfigError, DataError, ZapsimError, cli_main, short
from zapsim.limits import check_run_budget
from zapsim.sim.arch import load_arch
from zapsim.sim.workload import load_workload

ROOT = Path(__file__).resolve().parents[1]
EYERISS = str(ROOT / "arch_configs" / "eyeriss_like.yaml")


def _arch_error(tmp_path: Path, text: str) -> str:
    p = tmp_path / "a.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_arch(p)
    return str(e.value)


# --------------------------------------------------------------------------- values the simulator cannot represent


@pytest.mark.parametrize("text, key", [
    ("pe_array: {rows: 1000000000}", "pe_array.rows"),
    ("clock_mhz: 1.0e-320", "clock_mhz"),
    ("dram: {bandwidth_bytes_per_cycle: 1.0e-300}", "dram.bandwidth_bytes_per_cycle"),
    ("global_buffer: {size_bytes: 1000000000000000000000000000000}", "global_buffer.size_bytes"),
    ("pe_array: {macs_per_cycle: 100000000000000000000}", "pe_array.macs_per_cycle"),
    ("noc: {bandwidth_words_per_cycle: 1.0e-300}", "noc.bandwidth_words_per_cycle"),
    ("global_buffer: {read_bandwidth_words_per_cycle: 1.0e-300}", "global_buffer.read_bandwidth_words_per_cycle"),
    ("zap_unit: {buffer_words: 100000000000000000000}", "zap_unit.buffer_words"),
    ("energy: {actions: {mac: 1.0e+300}}", "energy.actions.mac"),
])
def test_unrepresentable_arch_values_are_refused(tmp_path, text, key):
    msg = _arch_error(tmp_path, text + "\n")
    assert f"{key} = " in msg and "out of range; allowed: " in msg, msg


def test_billion_laughs_as_an_energy_action_and_in_a_workload(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    t0 = time.perf_counter()
    msg = _arch_error(tmp_path, "energy:\n  actions:\n" + "\n".join("    " + ln for ln in lines) + "\n    mac: *a9\n")
    assert "aliases expand to" in msg or "alias references" in msg
    wl = tmp_path / "w.yaml"
    wl.write_text("x:\n" + "\n".join("  " + ln for ln in lines) + "\nlayers: *a9\n")
    with pytest.raises(ConfigError, match="aliases expand to|alias references"):
        load_workload(wl)
    assert time.perf_counter() - t0 < 10


# --------------------------------------------------------------------------- workloads: bounds and budgets


def _wl(tmp_path: Path, text: str, name: str = "w.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_huge_layer_is_refused_with_a_message(tmp_path):
    p = _wl(tmp_path, "- {name: big, c_in: 100000, h_in: 100000, c_out: 100000, kernel: 3, padding: 1}\n")
    with pytest.raises(ConfigError, match=r"layer 0 \('big'\): c_in = 100000 is more than 65,536"):
        load_workload(p)


def test_over_budget_run_is_refused_before_simulating(tmp_path, capsys, monkeypatch):
    import zapsim.sim.simulate as sim
    from zapsim.run import main

    monkeypatch.setattr(sim, "simulate", lambda *a, **k: pytest.fail("simulated an over-budget run"))
    p = _wl(tmp_path, "- {name: big, c_in: 256, h_in: 1024, c_out: 256, kernel: 3, padding: 1}\n")
    layers = load_workload(p)  # 256x1024x1024: allowed, about 4 GiB
    est = check_run_budget(layers, num_ops=1, images=1)
    assert 3 * 2**30 < est["memory_bytes"] < 6 * 2**30
    rc = cli_main(main, [EYERISS, "--workload", str(p), "--max-memory-gib", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "needs about 4.4 GiB of memory, more than the 1.0 GiB limit" in err, err
    rc = cli_main(main, [EYERISS, "--workload", str(p), "--max-macs", "1e9"])
    assert rc == 2 and "more than the 1e+09 limit" in capsys.readouterr().err
    monkeypatch.setenv("ZAPSIM_MAX_MEMORY_GIB", "zero")
    rc = cli_main(main, [EYERISS, "--workload", str(p)])
    assert rc == 2 and "ZAPSIM_MAX_MEMORY_GIB='zero': not a number" in capsys.readouterr().err


def test_messages_quote_a_short_prefix_of_a_huge_value(tmp_path):
    huge = "x" * 300_000  # (a crafted workload once made a 312 MB message line)
    p = _wl(tmp_path, f"- {{name: {huge}, c_in: 4, h_in: 8, c_out: 4}}\n")
    with pytest.raises(ConfigError) as e:
        load_workload(p)
    assert len(str(e.value)) < 500 and "300,000 characters" in str(e.value)
    p = _wl(tmp_path, f"- {{name: a, c_in: '{huge}', h_in: 8, c_out: 4}}\n")
    with pytest.raises(ConfigError) as e:
        load_workload(p)
    assert len(str(e.value)) < 500
    msg = _arch_error(tmp_path, f"pe_array: {{rows: '{huge}'}}\n")
    assert len(msg) < 500 and "pe_array.rows" in msg
    msg = _arch_error(tmp_path, f"{huge[:1000]}: 1\n")  # YAML allows plain keys of up to 1024 characters
    assert len(msg) < 1000 and "unknown key" in msg
    assert short(list(range(10**6))).endswith("(list of 1,000,000)")


def test_csv_with_a_byte_order_mark_reads(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes("\ufeffLayer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                  "Strides,\nC1, 10, 10, 3, 3, 4, 8, 1,\n".encode())
    (layer,) = load_workload(p)
    assert (layer.name, layer.c_in, layer.c_out, layer.h_out) == ("C1", 4, 8, 8)


def test_layer_names_cannot_steer_timeline_files(tmp_path, capsys):
    from zapsim.run import main
    from zapsim.synthetic import build_synthetic_trace
    from zapsim.trace_format import make_layer

    evil = "../../../evil/" + "a" * 300
    tr = build_synthetic_trace(tmp_path / "tr", [make_layer(evil[:200], 3, 6, 6, 4, padding=1)], num_images=1)
    small = _wl(tmp_path, "pe_array: {rows: 3, cols: 3}\nglobal_buffer: {size_kb: 8}\n", "small.yaml")
    out = tmp_path / "deep" / "out"
    assert cli_main(main, [str(small), "--trace", str(tr), "--out", str(out), "--timeline", "0", "--quiet"]) == 0
    capsys.readouterr()
    made = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
                  and not p.is_relative_to(tmp_path / "tr") and p.suffix != ".yaml")
    assert made and all(m.startswith("deep/out/") and m.count("/") == 2 for m in made), made
    assert not (tmp_path / "evil").exists()


# --------------------------------------------------------------------------- the last line of defence


def test_unexpected_exception_is_one_line_with_a_hint(capsys, monkeypatch):
    def buggy(argv):
        raise RuntimeError("boom " + "y" * 10_000)

    monkeypatch.delenv("ZAPSIM_DEBUG", raising=False)
    assert cli_main(buggy, []) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("internal error: RuntimeError: boom")
    assert "please file an issue with this command" in err and "ZAPSIM_DEBUG=1" in err and len(err) < 600
    monkeypatch.setenv("ZAPSIM_DEBUG", "1")
    assert cli_main(buggy, []) == 1
    assert "Traceback" in capsys.readouterr().err
    assert cli_main(lambda argv: (_ for _ in ()).throw(ZapsimError("bad\ninput")), []) == 2
    assert capsys.readouterr().err == "error: bad | input\n"


def test_empty_data_directory_is_an_error(tmp_path, monkeypatch):
    from zapsim.trace.data import data_roots

    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="--data .*empty: the directory is empty"):
        data_roots(tmp_path / "empty")
    monkeypatch.setenv("ZAPSIM_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="ZAPSIM_DATA=.*: the directory is empty"):
        data_roots()


def test_trace_target_helper_for_the_trace_command(tmp_path):
    from zapsim.trace_format import check_trace_target

    with pytest.raises(ZapsimError, match="empty path"):
        check_trace_target("", False)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ZapsimError, match="is a file, not a directory"):
        check_trace_target(tmp_path / "f" / "t", False)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes").write_text("x")
    with pytest.raises(ZapsimError, match="does not hold a zapsim trace"):
        check_trace_target(tmp_path / "d", True)
    assert check_trace_target(tmp_path / "new" / "t", False) == tmp_path / "new" / "t"


# --------------------------------------------------------------------------- source rules, checked over the tree


def _sources() -> list[Path]:
    return [p for d in ("zapsim", "experiments", "benchmarks") for p in (ROOT / d).rglob("*.py")]


def test_every_yaml_read_goes_through_the_bounded_reader():
    bad = []
    for p in _sources():
        if p.name == "yamlio.py":
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if re.search(r"\byaml\.(safe_load|load|full_load|unsafe_load|compose|load_all|safe_load_all)\(", line):
                bad.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, "YAML read without zapsim.yamlio:\n" + "\n".join(bad)


def test_np_load_never_allows_pickles_outside_the_tracer():
    # zapsim/trace/ (the tracer's data loaders) is checked by the tracer's own tests (issue 12.2)
    bad = []
    for p in _sources():
        if "zapsim/trace/" in p.as_posix():
            continue
        text = p.read_text()
        for m in re.finditer(r"\bnp\.load\(([^)]*)\)", text):
            if "allow_pickle=False" not in m.group(1):
                bad.append(f"{p.relative_to(ROOT)}: np.load({m.group(1)})")
        if re.search(r"^\s*(import pickle|from pickle|import dill|import cloudpickle)", text, re.M):
            bad.append(f"{p.relative_to(ROOT)}: imports a pickle module")
    assert not bad, "\n".join(bad)
