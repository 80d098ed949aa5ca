"""Synthetic traces: requested density, spatial clustering, propagation, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from zapsim.errors import ZapsimError
from zapsim.patterns import computed_first_mask
from zapsim.synthetic import build_synthetic_trace, op_id_for_threshold
from zapsim.trace_format import make_layer, read_trace

LAYERS = [
    make_layer("conv1", 3, 24, 24, 8, 3, 1, 1),
    make_layer("conv2", 8, 24, 24, 8, 3, 1, 1, zap_pattern="checkerboard"),
    make_layer("conv3", 8, 24, 24, 16, 3, 2, 1, zap_pattern="p40"),
    make_layer("fc", 16, 1, 1, 10, 1, kind="fc", relu=False),
]


def _build(tmp_path, name="s", **kw):
    args = dict(num_images=2, density=0.4, correlation=2.0, thresholds=(-0.5, 0.0, 0.5), seed=3)
    args.update(kw)
    return read_trace(build_synthetic_trace(tmp_path / name, LAYERS, **args))


def test_marked_synthetic_with_params(tmp_path):
    t = _build(tmp_path)
    assert t.synthetic and t.manifest["synthetic_params"]["density"] == 0.4
    assert [o.id for o in t.operating_points] == ["dense"] + [op_id_for_threshold(x) for x in (-0.5, 0.0, 0.5)]


def test_density_is_as_requested(tmp_path):
    t = _build(tmp_path)
    for name in ("conv1", "conv2", "conv3"):
        assert t.mask("dense", name, "out").mean() == pytest.approx(0.4, abs=0.01)
    assert t.mask("dense", "conv1", "in").all()  # input_density=1: a dense image


def test_correlation_clusters_zeros(tmp_path):
    # Probability that a right-hand neighbour has the same value: 0.5^2+0.5^2 = 0.5 for
    # independent pixels at density 0.5, much higher for a smoothed field.
    def agreement(t):
        m = t.mask("dense", "conv2", "out")
        return (m[..., 1:] == m[..., :-1]).mean()

    white = _build(tmp_path, "w", density=0.5, correlation=0.0)
    smooth = _build(tmp_path, "c", density=0.5, correlation=3.0)
    assert agreement(white) == pytest.approx(0.5, abs=0.03)
    assert agreement(smooth) > 0.8


def test_zap_semantics_and_propagation(tmp_path):
    t = _build(tmp_path)
    first = computed_first_mask("checkerboard", 24, 24)
    previous = None
    for t_id in ("t-0.50", "t0.00", "t0.50"):
        computed = t.mask(t_id, "conv2", "computed")
        assert computed[:, :, first].all()  # I_s is always computed
        if previous is not None:
            assert not (computed & ~previous).any()  # a higher threshold never computes more
        previous = computed
        # The next layer receives exactly what conv2 produced, skips included.
        assert np.array_equal(t.mask(t_id, "conv3", "in"), t.mask(t_id, "conv2", "out") & computed)
    assert t.mask_file("dense", "conv2", "computed") is None
    assert t.mask_file("t0.00", "conv1", "computed") is None  # no ZAP on the first layer


def test_perfect_predictor_at_zero_noise(tmp_path):
    t = _build(tmp_path, noise=0.0)
    out = t.mask("t0.00", "conv2", "out")
    computed = t.mask("t0.00", "conv2", "computed")
    assert not (out & ~computed).any()  # no nonzero is ever skipped
    first = computed_first_mask("checkerboard", 24, 24)
    assert np.array_equal(computed[:, :, ~first], out[:, :, ~first])


def test_deterministic(tmp_path):
    a = _build(tmp_path, "a")
    b = _build(tmp_path, "b")
    for f in sorted(a.path.rglob("*.bin")):
        assert f.read_bytes() == (b.path / f.relative_to(a.path)).read_bytes()
    c = _build(tmp_path, "c", seed=4)
    assert not np.array_equal(a.mask("dense", "conv2", "out"), c.mask("dense", "conv2", "out"))


def test_bad_arguments(tmp_path):
    with pytest.raises(ZapsimError, match=r"density must be within \[0, 1\], got 1.5"):
        build_synthetic_trace(tmp_path / "x", LAYERS, density=1.5)
    with pytest.raises(ZapsimError, match="at least one layer"):
        build_synthetic_trace(tmp_path / "x", [])
