"""Issue 10.6: the tracer's "net of ZAP" in the simulator's definition equals the simulator's ZAP MAC count."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the tracer needs torch")

from zapsim.sim.arch import ArchConfig  # noqa: E402
from zapsim.sim.simulate import zap_macs_per_chunk  # noqa: E402
from zapsim.trace.evaluate import _zap_actual_macs  # noqa: E402
from zapsim.trace_format import make_layer  # noqa: E402


@pytest.mark.parametrize("pattern,h,w", [("checkerboard", 8, 8), ("p60", 5, 7), ("p33", 1, 6)])
def test_tracer_zap_macs_equal_the_simulators(pattern, h, w):
    rng = np.random.default_rng(0)
    layer = make_layer("l", 4, h, w, 6, padding=1, zap_pattern=pattern)
    M, E, F = layer.out_shape
    out_nz = rng.random((3, M, E, F)) < 0.45
    i_s = layer.zap.computed_first(E, F)
    arch = ArchConfig(name="a", source="<test>")  # zap_unit.skip_zero_inputs: true, as shipped
    assert arch.zap_unit.skip_zero_inputs
    sim = sum(int(zap_macs_per_chunk(arch, layer, out_nz[n], i_s, np.zeros((M, E), dtype=np.int64), 1).sum())
              for n in range(3))
    t = torch.from_numpy(~i_s)
    tracer = _zap_actual_macs(torch.from_numpy(out_nz), t, int(t.sum()) * 3 * M)
    assert tracer == sim
    # and it is below the dense upper bound the other definition subtracts (18 per position, ZapSpec.macs)
    assert tracer < 3 * layer.zap.macs
    # hand count: a lone nonzero at the corner (0, 0) of I_s feeds 2 x 2 = 4 outputs of conv 1 (2 x 1 on a
    # one-row map), and 9 per predicted position come on top for conv 2
    one = np.zeros((1, M, E, F), dtype=bool)
    one[0, 0, 0, 0] = True  # outside I_s (p33 starts with a predicted position): not an input of the ZAP
    corner = (2 if E > 1 else 1) * (2 if F > 1 else 1) if i_s[0, 0] else 0
    assert _zap_actual_macs(torch.from_numpy(one), t, 0) == corner
    assert _zap_actual_macs(torch.from_numpy(one), t, 5) == corner + 45
