"""The tracer on real weights and images (skipped without ZAPSIM_DATA); kept to a few seconds each."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from zapsim.errors import cli_main
from zapsim.trace import trace_model
from zapsim.trace.__main__ import main as trace_main
from zapsim.trace.data import ImageSet, load_cifar10_eval, load_cifar10_train_split, to_tensor
from zapsim.trace.models import load_cifar_resnet
from zapsim.trace.placement import ZapNet
from zapsim.trace.zap_training import train_zaps, zap_loss
from zapsim.trace_format import read_trace

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def real(zapsim_data):
    torch.set_num_threads(2)
    model, info = load_cifar_resnet("resnet20", data=zapsim_data)
    ev = load_cifar10_eval(zapsim_data)
    tr = load_cifar10_train_split(zapsim_data)
    return model, info, ev, tr


def _net(model, pattern="checkerboard", seed=0):
    net = ZapNet(model, torch.zeros(1, 3, 32, 32))
    torch.manual_seed(seed)
    net.attach_zaps(pattern)
    return net


def test_resnet20_layer_table(real):
    model, *_ = real
    net = _net(model)
    layers = net.trace_layers()
    assert len(layers) == 20  # 19 convs + the FC layer
    assert [l.name for l in layers if l.zap] == [f"layer{k}.{i}.conv{j}" for k in (1, 2, 3) for i in range(3)
                                                  for j in (1, 2)]
    assert layers[0].zap is None and layers[0].relu and layers[-1].kind == "fc" and layers[-1].c_in == 64
    assert sum(l.zap.params for l in layers if l.zap) == sum(p.numel() for p in net.sites.parameters())
    assert sum(l.zap.params for l in layers if l.zap) == 24 * 6 * (16 + 32 + 64)


def test_threshold_below_every_score_reproduces_baseline_logits(real):
    model, _, ev, _ = real
    net = _net(model)  # untrained ZAPs: scores are arbitrary, which is the point
    x = to_tensor(ev.images[:64])
    with torch.no_grad():
        ref = model(x)
        # the lowest score of any ZAP on these images, found with the ZAPs dense
        scores = []

        class Rec:
            def inp(self, i, t):
                pass

            def out(self, i, t):
                if net.sites[i].zap is not None:
                    scores.append(float(net.sites[i].zap.score(t).min()))

            def computed(self, i, t, m):
                pass

        net.set_recorder(Rec())
        net(x)
        net.set_recorder(None)
        net.set_thresholds({net.layers[i].name: min(scores) - 1.0 for i in net.zap_layers})
        assert torch.equal(net(x), ref)
        # only I_s computed: real post-ReLU maps have non-zeros on I_t, so the logits must change
        # (guaranteed, unlike a finite threshold, whose effect depends on the untrained scores)
        net.set_thresholds({net.layers[i].name: float("inf") for i in net.zap_layers})
        assert not torch.equal(net(x), ref)


def test_computed_first_and_monotone_thresholds_on_real_activations(real):
    model, _, ev, _ = real
    net = _net(model, "p60", seed=3)
    layer = net.layers.index(next(l for l in net.layers if l.name == "layer3.0.conv2"))  # 8x8: p60 border effects
    got = {}

    class Rec:
        def inp(self, i, t):
            pass

        def out(self, i, t):
            if i == layer:
                got["ofm"] = t.clone()

        def computed(self, i, t, m):
            pass

    net.set_recorder(Rec())
    with torch.no_grad():
        net(to_tensor(ev.images[:16]))
    net.set_recorder(None)
    ofm = got["ofm"]
    assert 0.05 < float((ofm > 0).float().mean()) < 0.95  # real post-ReLU map, partly zero
    z = net.zap(layer)
    with torch.no_grad():
        s = z.score(ofm)
        i_s = z.computed_first(8, 8)
        assert int(i_s.sum()) == 38
        prev = None
        for t in np.linspace(-2, 2, 21):
            m = z.computed_mask(ofm, float(t), s)
            assert m[:, :, i_s].all()
            if prev is not None:
                assert not (m & ~prev).any()
            prev = m


def test_training_steps_and_is_deterministic(real):
    # What training guarantees on any CPU: it takes its steps (every ZAP's parameters
    # move), reports a finite loss per epoch, and the same seed gives the same bits.
    # How much a few steps lower the loss depends on the machine's arithmetic and is
    # not asserted (issue 11.10).
    model, _, ev, tr = real
    net = _net(model, seed=1)
    held_out = to_tensor(ev.images[:64])  # never trained on
    init = {i: [p.detach().clone() for p in net.zap(i).parameters()] for i in net.zap_layers}
    hist = train_zaps(net, tr.subset(512), epochs=1, batch_size=64, max_steps=8, seed=1, progress=False)
    with torch.no_grad():
        after = float(zap_loss(net, held_out))
    assert len(hist) == 1 and np.isfinite(after)
    for i in net.zap_layers:
        assert any(not torch.equal(a, b) for a, b in zip(init[i], net.zap(i).parameters())), i
    # same seed, same data: bit-identical ZAPs
    net2 = _net(model, seed=1)
    train_zaps(net2, tr.subset(512), epochs=1, batch_size=64, max_steps=8, seed=1, progress=False)
    for i in net.zap_layers:
        for (k, a), b in zip(net.zap(i).state_dict().items(), net2.zap(i).state_dict().values()):
            assert torch.equal(a, b), k


def test_trace_round_trip_and_propagation(real, tmp_path):
    model, info, ev, tr = real
    evs, trs = ev.subset(48), tr.subset(256)
    kw = dict(train_images=trs, model_info=info, thresholds=[0.0], budgets=[0.1], epochs=1, batch_size=128,
              trace_images=6, calib_images=128, eval_batch_size=16, zap_dir=tmp_path / "zaps", progress=False)
    res = trace_model(model, evs, out=tmp_path / "t", **kw)
    assert not res["zaps"]["reused"]
    t = read_trace(tmp_path / "t", verify=True)
    assert t.num_images == 6 and [o.id for o in t.operating_points] == ["dense", "t0.00", "budget0.1"]
    assert t.model["sha256"] == info["sha256"] and t.dataset["accuracy_indices"] == [0, 47]
    assert t.dataset["zap_training_indices"] == [1017, 1017 + 255]
    names = [l.name for l in t.layers]
    i1, i2 = names.index("layer2.1.conv1"), names.index("layer2.1.conv2")
    # dense: every layer computed; its input is the previous probe's output exactly
    assert t.mask_file("dense", i1, "computed") is None
    # dense masks equal an independent forward hook on the plain model (block outputs)
    outs = {}
    hook = model.layer2[1].register_forward_hook(lambda m, a, o: outs.__setitem__("b", o.detach().clone()))
    with torch.no_grad():
        logits = model(to_tensor(evs.images[:6]))
    hook.remove()
    assert np.array_equal(t.mask("dense", i2, "out"), (outs["b"] != 0).numpy())
    assert np.array_equal(t.mask("dense", "conv1", "in"), np.ones((6, 3, 32, 32), bool))  # normalised pixels
    # with ZAPs on: what conv2 received is conv1's output where conv1's ZAP computed it
    for op in ("t0.00", "budget0.1"):
        out1, comp1, in2 = t.mask(op, i1, "out"), t.mask(op, i1, "computed"), t.mask(op, i2, "in")
        # Guaranteed whatever the short training learned (it may compute every output of
        # a layer: issue 11.10): the next layer sees exactly the computed non-zeros.
        assert np.array_equal(in2, out1 & comp1)
        assert t.mask(op, i1, "computed")[:, :, 0::2, 0::2].all()  # checkerboard I_s always computed
    # accuracy: dense top-1 recomputed on the plain model over all 48 images
    with torch.no_grad():
        pred = model(to_tensor(evs.images)).argmax(1).numpy()
    dense = t.op("dense")
    assert dense.accuracy["top1"] == pytest.approx(float((pred == evs.labels).mean()))
    assert dense.accuracy["num_images"] == 48
    assert logits.shape == (6, 10)
    # stats: categories on I_t sum to 1, skipped never above the predicted half, MAC reductions consistent
    st = t.op("t0.00").stats
    zap_macs = sum(l.zap.macs for l in t.layers if l.zap)
    dense_macs = sum(l.macs for l in t.layers)
    assert st["dense_macs_per_image"] == dense_macs
    assert st["mac_reduction"] - st["mac_reduction_net_of_zap"] == pytest.approx(zap_macs / dense_macs)
    for s in st["layers"].values():
        assert sum(s["categories_on_predicted_set"].values()) == pytest.approx(1.0)
        assert 0 <= s["skipped_fraction"] <= 0.5
    # the markdown report reads the same numbers back
    from zapsim.trace.report import layer_table, ops_table, summary_table

    rows = ops_table(t).splitlines()
    assert len(rows) == 2 + 3 and rows[3].startswith("| t0.00 | 0 | ")
    assert f"{100 * st['mac_reduction']:.1f}%" in rows[3]
    lrows = layer_table(t, ["t0.00"]).splitlines()
    assert len(lrows) == 2 + 18 and lrows[2].startswith("| layer1.0.conv1 | 16x32x32 | 12.5% | ")
    summ = summary_table([t], drops=[100.0]).splitlines()[2]  # a 100-point drop admits every op
    best = max((o for o in t.operating_points if o.kind != "dense"), key=lambda o: o.stats["mac_reduction"])
    assert summ.startswith("| resnet20 | checkerboard | 1 | ") and f"| {best.id}, " in summ
    # a second trace with the same settings reuses the trained ZAPs and gives the same numbers
    res2 = trace_model(model, evs, out=tmp_path / "t2", **kw)
    assert res2["zaps"]["reused"] and res2["rows"] == res["rows"]
    m1 = json.loads((tmp_path / "t" / "manifest.json").read_text())
    m2 = json.loads((tmp_path / "t2" / "manifest.json").read_text())
    assert m1["files"] == m2["files"]  # bit-identical masks (sha256 of every file)
    # The tracer's prediction categories, recounted independently from the masks of a
    # trace that holds every evaluated image.
    t3 = read_trace(trace_model(model, evs.subset(6), out=tmp_path / "t3", **kw)["path"])
    for op in ("t0.00", "budget0.1"):
        for li, layer in enumerate(t3.layers):
            if layer.zap is None:
                continue
            nz, comp = t3.mask(op, li, "out"), t3.mask(op, li, "computed")
            pred_t = ~layer.zap.computed_first(layer.h_out, layer.w_out)[None, None]
            counts = t3.op(op).stats["layers"][layer.name]["category_counts"]
            assert counts == {
                "nonzero_pred_zero": int((nz & ~comp & pred_t).sum()),
                "zero_pred_zero": int((~nz & ~comp & pred_t).sum()),
                "zero_pred_nonzero": int((~nz & comp & pred_t).sum()),
                "nonzero_pred_nonzero": int((nz & comp & pred_t).sum()),
            }, (op, layer.name)
            assert t3.op(op).stats["layers"][layer.name]["skipped_fraction"] == pytest.approx((~comp).mean())


def test_cli_errors_leave_nothing_behind(real, tmp_path, capsys, monkeypatch):
    out = tmp_path / "x"
    assert cli_main(trace_main, ["resnet99", "--out", str(out)]) == 2
    assert "unknown model 'resnet99'" in capsys.readouterr().err
    assert cli_main(trace_main, ["resnet20", "--thresholds", "0,abc", "--out", str(out)]) == 2
    assert "'abc' is not a number" in capsys.readouterr().err
    assert cli_main(trace_main, ["resnet20", "--pattern", "p50", "--out", str(out)]) == 2
    assert "p50" in capsys.readouterr().err
    out.mkdir()
    (out / "keep").write_text("mine")
    assert cli_main(trace_main, ["resnet20", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and (out / "keep").read_text() == "mine"
    monkeypatch.setenv("ZAPSIM_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr("zapsim.trace.data._fallback_roots", lambda: [])
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    assert cli_main(trace_main, ["resnet20", "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "ZAPSIM_DATA" in err and str(tmp_path / "empty") in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "x"] or sorted(
        p.name for p in tmp_path.iterdir()) == ["x"]


def test_cli_small_run_prints_table(real, tmp_path, capsys, zapsim_data):
    argv = ["resnet20", "--data", str(zapsim_data), "--images", "40", "--train-images", "128", "--epochs", "1",
            "--thresholds", "0.2", "--budgets", "", "--trace-images", "4", "--out", str(tmp_path / "c"),
            "--zap-dir", str(tmp_path / "z"), "--quiet"]
    assert cli_main(trace_main, argv) == 0
    text = capsys.readouterr().out
    assert "dense" in text and "t0.20" in text and "MAC red." in text
    t = read_trace(tmp_path / "c")
    assert t.num_images == 4 and t.op("t0.20").accuracy["num_images"] == 40
    assert "1017..9999" not in json.dumps(t.dataset) and t.dataset["zap_training_indices"] == [1017, 1144]


def test_imageset_subset_keeps_indices():
    s = ImageSet(np.zeros((10, 2, 2, 3), np.uint8), np.arange(10), {"indices": [5, 14]})
    assert s.subset(3).info["indices"] == [5, 7] and len(s.subset(3)) == 3


@pytest.mark.parametrize("pattern", ["checkerboard", "p33"])
def test_default_settings_find_the_bundled_zaps(real, pattern, tmp_path):
    """The bundled files' stored keys are the keys of the default run (full JPEG split, default hyperparameters)."""
    from zapsim.trace import prepare_zaps
    from zapsim.trace.zap_training import BUNDLED_DIR, find_saved_zaps, zap_meta

    model, info, _, tr = real
    net = ZapNet(model, torch.zeros(1, 3, 32, 32))
    z = prepare_zaps(net, info, tr, pattern=pattern, zap_dir=tmp_path, save=False, progress=False)
    assert z["reused"] and z["file"].startswith(str(BUNDLED_DIR)) and z["file"].endswith(f"-{z['key'][:12]}.pt")
    # a different training subset of the same model: another key, nothing bundled matches
    net2 = ZapNet(model, torch.zeros(1, 3, 32, 32))
    net2.attach_zaps(pattern)
    pm = net2.zap(net2.zap_layers[0]).pattern
    meta = zap_meta(net2, info, tr.subset(len(tr) - 1), pattern_name=pattern, pattern=pm, epochs=5, batch_size=128,
                    lr=0.01, seed=0, augment=True)
    assert meta["key"] != z["key"] and find_saved_zaps(meta, tmp_path) is None
