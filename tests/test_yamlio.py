"""The bounded YAML reader: duplicate keys, alias bombs and deep nesting are refused with the file and line."""

import time

import pytest

from zapsim.errors import ConfigError
from zapsim.sim.arch import load_arch
from zapsim.yamlio import MAX_DEPTH, load_yaml_text


def test_plain_yaml_and_a_few_aliases_read_as_safe_load_would():
    d = load_yaml_text("x: &x {k: [1, 2]}\ny: *x\nz: null\n", "t.yaml")
    assert d == {"x": {"k": [1, 2]}, "y": {"k": [1, 2]}, "z": None}
    assert load_yaml_text("", "t.yaml") is None


def test_duplicate_key_is_refused_with_both_lines(tmp_path):
    with pytest.raises(ConfigError, match=r"t.yaml, line 3: key 'b' appears twice in one mapping \(first on line 2\)"):
        load_yaml_text("a:\n  b: 1\n  b: 2\n", "t.yaml")
    p = tmp_path / "a.yaml"
    p.write_text("pe_array: {rows: 12, rows: 99}\n")
    with pytest.raises(ConfigError, match="key 'rows' appears twice"):
        load_arch(p)


def test_billion_laughs_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    p = tmp_path / "bomb.yaml"
    p.write_text("name: bomb\nignored_key:\n" + "\n".join("  " + ln for ln in lines) + "\n")
    t = time.perf_counter()
    with pytest.raises(ConfigError, match="aliases expand to"):
        load_arch(p)
    assert time.perf_counter() - t < 5  # generous: the refusal is linear in the file, the expansion is 9**10


def test_deep_nesting_is_refused_not_a_recursion_error():
    with pytest.raises(ConfigError, match=f"nested deeper than {MAX_DEPTH}"):
        load_yaml_text("[" * 100_000 + "]" * 100_000, "deep.yaml")
