"""The row-stationary cycle engine: event-driven kernels == per-cycle stepping on random small cases (seeded)."""

from __future__ import annotations

import numpy as np

from zapsim.sim.arch import arch_from_dict
from zapsim.sim.cycle import row_stationary as crs
from zapsim.sim.cycle import stepping
from zapsim.trace_format import make_layer


def _random_case(rng: np.random.Generator):
    k = int(rng.choice([1, 3, 5]))
    s = int(rng.integers(1, 3))
    p = int(rng.integers(0, k // 2 + 1))
    g = int(rng.choice([1, 1, 2]))
    cin, cout = g * int(rng.integers(1, 4)), g * int(rng.integers(1, 5))
    h, w = int(rng.integers(k, 9)), int(rng.integers(k, 9))
    layer = make_layer("x", cin, h, w, cout, k, s, p, groups=g,
                       zap_pattern=str(rng.choice(["checkerboard", "p33", "p60", "p40"])))
    arch = arch_from_dict({
        "name": "rand",
        "pe_array": {"rows": int(rng.integers(1, 6)), "cols": int(rng.integers(1, 6)),
                     "macs_per_cycle": int(rng.integers(1, 3)), "ifmap_spad_words": int(rng.choice([5, 12])),
                     "weight_spad_words": int(rng.choice([10, 20, 224])), "psum_spad_words": int(rng.integers(1, 5)),
                     "mac_pipeline_depth": int(rng.integers(1, 4)), "ifmap_fifo_words": int(rng.integers(0, 4)),
                     "skip_check_cycles": int(rng.integers(0, 3))},
        "noc": {"multicast": bool(rng.integers(0, 2)), "ifmap_bus_words_per_cycle": int(rng.integers(1, 4)),
                "filter_bus_words_per_cycle": int(rng.integers(1, 5)),
                "psum_bus_words_per_cycle": int(rng.integers(1, 3)), "psum_hop_cycles": int(rng.integers(0, 3))},
        "global_buffer": {"size_bytes": 1 << 20, "banks": int(rng.integers(1, 5)),
                          "ports_per_bank": int(rng.integers(1, 3))},
        "sparsity": {"zero_inputs": str(rng.choice(["ignore", "gate", "skip"])),
                     "zap_outputs": str(rng.choice(["skip", "gate"]))},
        "zap_unit": {"placement": str(rng.choice(["dedicated", "array"])), "macs_per_cycle": int(rng.integers(1, 40)),
                     "skip_zero_inputs": bool(rng.integers(0, 2)), "transfer_words_per_cycle": int(rng.integers(1, 5))},
    })
    n = int(rng.integers(1, 3))
    inm = rng.random((n, *layer.in_shape)) < rng.random()
    out = rng.random((n, *layer.out_shape)) < rng.random()
    comp = rng.random((n, *layer.out_shape)) < rng.random()
    return arch, layer, inm, out, comp, n, bool(rng.integers(0, 2))


def _both(arch, layer, inm, out, comp, n, zap):
    x = crs.layer_inputs(arch, layer, inm, out, comp if zap else None, zap, n)
    m = x["m"]
    array_z = 0
    if zap and arch.zap_unit.placement != "dedicated":
        array_z = int(-(-int(x["zm"].sum()) // (arch.num_pes * arch.pe_array.macs_per_cycle)))
    args = (n, m.geometry(), x["conv"], crs.params(arch), x["in_mode"], np.ascontiguousarray(x["pre"]), x["ncs_a"],
            np.ascontiguousarray(x["ncs_c"]), x["ncs_dense"], zap, x["i_t"], x["chk"], np.ascontiguousarray(x["zc"]),
            x["z_need"], array_z, max(1, m.n_items), x["max_words"])
    return crs.control.rs_layer(*args), stepping.step_layer(*args)


def test_event_driven_equals_stepping_on_random_cases():
    rng = np.random.default_rng(909)
    kinds = set()
    for case in range(120):
        arch, layer, inm, out, comp, n, zap = _random_case(rng)
        ev, st = _both(arch, layer, inm, out, comp, n, zap)
        assert list(ev) == list(st), f"case {case}: zap={zap} n={n} {layer} {arch.pe_array} {arch.noc} {arch.sparsity}"
        assert ev[0] > 0
        kinds.add((zap, arch.sparsity.zero_inputs, arch.pe_array.ifmap_fifo_words == 0))
    assert len(kinds) >= 8  # the cases cover ZAP / dense, every input mode, FIFO and no FIFO
