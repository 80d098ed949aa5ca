"""ZAP reuse keys, contiguous inputs, early refusals and overlapping image sets, on tiny random nets (no data)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from zapsim.errors import ZapsimError
from zapsim.trace import trace_model
from zapsim.trace.data import ImageSet, to_tensor
from zapsim.trace.placement import ZapNet
from zapsim.trace.zap_training import images_sha256, zap_key, zap_meta


class FlatNet(nn.Module):
    """conv-ReLU, conv-BN-ReLU, then a flatten with ``x.view(x.size(0), -1)`` (needs contiguous NCHW)."""

    def __init__(self, padding=1, **conv_kw):
        super().__init__()
        self.c0 = nn.Conv2d(3, 8, 3, padding=1)
        self.c1 = nn.Conv2d(8, 8, 3, padding=padding, **conv_kw)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 8 * 8, 5)

    def forward(self, x):
        x = torch.relu(self.c0(x))
        x = torch.relu(self.bn(self.c1(x)))
        return self.fc(x.view(x.size(0), -1))


def _net(seed: int, **kw) -> nn.Module:
    torch.manual_seed(seed)
    m = FlatNet(**kw)
    with torch.no_grad():
        m.bn.running_mean.uniform_(-0.3, 0.3)
    return m.eval()


def _images(seed: int, n: int, name: str, first: int = 0) -> ImageSet:
    rng = np.random.default_rng(seed)
    return ImageSet(rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), rng.integers(0, 5, n),
                    {"name": name, "indices": [first, first + n - 1], "exact": True})


EV = _images(1, 6, "synthetic", 0)
TR = _images(2, 24, "synthetic", 100)
KW = dict(train_images=TR, thresholds=[0.0], budgets=[], epochs=1, batch_size=12, trace_images=2,
          eval_batch_size=3, progress=False)


def test_to_tensor_is_contiguous_nchw():
    img = np.arange(2 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 4, 5, 3)
    x = to_tensor(img)
    assert x.shape == (2, 3, 4, 5) and x.is_contiguous()
    assert x.view(2, -1).shape == (2, 60)  # the flatten that crashed on the permuted view
    # channel c of pixel (h, w) is img[n, h, w, c]
    assert float(x[1, 2, 3, 4]) == pytest.approx((img[1, 3, 4, 2] / 255 - 0.406) / 0.225, rel=1e-6)


def test_same_class_different_weights_train_twice_same_net_reuses(tmp_path):
    zd = tmp_path / "zaps"
    a = trace_model(_net(0), EV, out=tmp_path / "a", zap_dir=zd, **KW)
    b = trace_model(_net(1), EV, out=tmp_path / "b", zap_dir=zd, **KW)
    assert not a["zaps"]["reused"] and not b["zaps"]["reused"]  # two trainings
    assert a["zaps"]["key"] != b["zaps"]["key"]
    assert len(list(zd.glob("*.pt"))) == 2
    parts_a, parts_b = a["zaps"]["meta"]["key_parts"], b["zaps"]["meta"]["key_parts"]
    assert parts_a["host_sha256"] != parts_b["host_sha256"]
    assert {k for k in parts_a if parts_a[k] != parts_b[k]} == {"host_sha256"}
    again = trace_model(_net(0), EV, out=tmp_path / "a2", zap_dir=zd, **KW)
    assert again["zaps"]["reused"] and again["zaps"]["key"] == a["zaps"]["key"]
    assert again["zaps"]["file"] == a["zaps"]["file"]
    # the key and its parts are in the manifest
    man = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert man["zaps"]["key"] == a["zaps"]["key"] == zap_key(man["zaps"]["settings"]["key_parts"])
    assert man["zaps"]["settings"]["key_parts"]["training"]["epochs"] == 1
    # no machine directory in the manifest: the file is named by where it was found
    assert man["zaps"]["file"] == "zap-dir:" + a["zaps"]["file"].rsplit("/", 1)[-1]
    assert man["dataset"]["overlap"]["allowed"] is False and man["dataset"]["overlap"]["identical_images"] == 0


def test_key_covers_image_content_preprocessing_and_hyperparameters():
    net = ZapNet(_net(0), to_tensor(EV.images[:1]))
    net.attach_zaps("checkerboard")
    pm = np.array([[1, 0], [0, 1]])
    base = dict(pattern_name="checkerboard", pattern=pm, epochs=1, batch_size=12, lr=0.01, seed=0, augment=True)

    def key(images=TR, **kw):
        return zap_meta(net, {"name": "m"}, images, **(base | kw))["key"]

    k0 = key()
    assert key() == k0
    other = _images(3, len(TR), "synthetic", 100)  # same count, same name and indices, other pixels
    assert images_sha256(other) != images_sha256(TR) and key(other) != k0
    relabelled = ImageSet(TR.images, (TR.labels + 1) % 5, TR.info)
    assert key(relabelled) != k0
    norm = ImageSet(TR.images, TR.labels, TR.info | {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]})
    assert key(norm) != k0
    for change in ({"epochs": 2}, {"batch_size": 8}, {"lr": 0.02}, {"seed": 1}, {"augment": False},
                   {"max_steps": 3}, {"pattern_name": "p33", "pattern": np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]])}):
        assert key(**change) != k0, change
    # the weights as they are now: an in-place change of one BN statistic changes the key
    with torch.no_grad():
        net.gm.bn.running_var[0] += 1.0
    assert key() != k0


class _NoTraining(Exception):
    pass


@pytest.fixture
def no_training(monkeypatch):
    """Training (and even attaching ZAPs) raises: a refusal must come before either."""
    calls = []

    def boom(*a, **k):
        calls.append(1)
        raise _NoTraining("training started")

    monkeypatch.setattr("zapsim.trace.train_zaps", boom)
    monkeypatch.setattr("zapsim.trace.prepare_zaps", boom)
    return calls


@pytest.mark.parametrize("kw,frag", [
    ({"padding": "same"}, "layer 'c1': padding='same' is not supported"),
    ({"dilation": 2, "padding": 2}, "layer 'c1': dilation=(2, 2) is not supported"),
    ({"padding_mode": "reflect"}, "layer 'c1': padding_mode='reflect' is not supported"),
])
def test_conv_options_refused_before_training(tmp_path, no_training, kw, frag):
    with pytest.raises(ZapsimError, match=frag.replace("(", r"\(").replace(")", r"\)")):
        trace_model(_net(0, **kw), EV, out=tmp_path / "t", zap_dir=tmp_path / "z", **KW)
    assert no_training == [] and not (tmp_path / "t").exists() and not (tmp_path / "z").exists()


def test_data_dependent_control_flow_refused(tmp_path, no_training):
    class Branchy(FlatNet):
        def forward(self, x):
            x = torch.relu(self.c0(x))
            if x.mean() > 0:  # depends on the data: torch.fx cannot trace it
                x = torch.relu(self.bn(self.c1(x)))
            return self.fc(x.view(x.size(0), -1))

    with pytest.raises(ZapsimError, match="cannot trace Branchy with torch.fx.*data-dependent control flow"):
        trace_model(Branchy().eval(), EV, out=tmp_path / "t", **KW)
    assert no_training == []


def test_overlapping_images_refused_unless_allowed(tmp_path, no_training):
    same_pixels = ImageSet(EV.images.copy(), EV.labels, {"name": "elsewhere", "indices": [0, 5]})
    with pytest.raises(ZapsimError, match="overlap: 6 evaluation images have identical pixels.*--allow-overlap"):
        trace_model(_net(0), EV, out=tmp_path / "t", **(KW | {"train_images": same_pixels}))
    # other pixels (a lossy copy, say) of the same source images: indices 3..5 of 'synthetic' in both
    copy = _images(9, 24, "synthetic", 3)
    with pytest.raises(ZapsimError, match="overlap: 3 source indices of 'synthetic' are in both sets"):
        trace_model(_net(0), EV, out=tmp_path / "t", **(KW | {"train_images": copy}))
    assert no_training == [] and not (tmp_path / "t").exists()


def test_overlap_allowed_is_recorded(tmp_path):
    tr = ImageSet(np.concatenate([EV.images[:2], TR.images]), np.concatenate([EV.labels[:2], TR.labels]),
                  {"name": "mixed"})
    trace_model(_net(0), EV, out=tmp_path / "t", zap_dir=tmp_path / "z", allow_overlap=True,
                **(KW | {"train_images": tr}))
    ds = json.loads((tmp_path / "t" / "manifest.json").read_text())["dataset"]
    assert ds["overlap"] == {"identical_images": 2, "same_source_indices": 0, "source": None, "allowed": True}
    assert ds["disjoint"].startswith("NOT disjoint")


def test_densenet_like_and_relu6_nets_trace_end_to_end(tmp_path):
    """A cat-split net and a ReLU6 net through trace_model: each producer's trace masks are its own channels."""
    from test_placement import DenseLike, MobileNetLike, _init  # tests/ is on sys.path (pytest prepend mode)

    from zapsim.trace_format import read_trace

    dense = nn.Sequential(_init(DenseLike()), nn.AdaptiveAvgPool2d(1), nn.Flatten())  # 4 logits
    res = trace_model(dense.eval(), EV, out=tmp_path / "d", zap_dir=tmp_path / "z", **KW)
    t = read_trace(res["path"], verify=True)
    assert [l.name for l in t.layers if l.zap] == ["0.conv_a", "0.conv_b"]
    names = [l.name for l in t.layers]
    a, b, c = names.index("0.conv_a"), names.index("0.conv_b"), names.index("0.conv_c")
    for op in ("dense", "t0.00"):
        inp = t.mask(op, c, "in")
        for li, sl in ((a, slice(0, 6)), (b, slice(14, 24))):
            comp = t.mask(op, li, "computed")
            comp = np.ones_like(inp[:, sl]) if comp is None else comp
            assert np.array_equal(inp[:, sl], t.mask(op, li, "out") & comp), (op, names[li])
    m = trace_model(_init(MobileNetLike()), EV, out=tmp_path / "m", zap_dir=tmp_path / "z", **KW)
    assert [l.name for l in read_trace(m["path"]).layers if l.zap] == ["pw.0", "head"]


@pytest.mark.parametrize("value", ["nan", "0", "-1"])
def test_cli_max_zap_mac_share_checked_before_loading(value, tmp_path, capsys):
    from zapsim.errors import cli_main
    from zapsim.trace.__main__ import main

    assert cli_main(main, ["resnet20", "--max-zap-mac-share", value, "--out", str(tmp_path / "t")]) == 2
    assert f"--max-zap-mac-share {float(value)}: must be > 0 ('inf' for no limit)" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
