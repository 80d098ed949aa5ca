"""ZAP placement from the module graph, on small locally defined networks (no data, no torchvision)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zapsim.errors import ZapsimError
from zapsim.trace.placement import ZapNet


class TinyVGG(nn.Module):
    """VGG-shaped: conv-bn-relu stacks with max-pools, then a Linear-ReLU-Linear classifier."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1),  # no ReLU after it: no ZAP
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 5))

    def forward(self, x):
        return self.classifier(self.features(x))


class TVBasicBlock(nn.Module):
    """torchvision's BasicBlock: one ReLU module used twice, `out += identity`, optional 1x1 downsample."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TVBottleneck(nn.Module):
    """torchvision's Bottleneck: 1x1 -> 3x3 -> 1x1 (x4), downsample 1x1 conv on the shortcut."""

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        cout = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


class TinyTVResNet(nn.Module):
    """torchvision-ResNet-shaped: stem conv-bn-relu-maxpool, BasicBlocks, a Bottleneck, avgpool, fc."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(TVBasicBlock(8, 8), TVBasicBlock(8, 16, 2))
        self.layer2 = nn.Sequential(TVBottleneck(16, 4, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 7)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _init(model: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics so ReLUs produce real zeros and nonzeros
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _zaps(net: ZapNet) -> dict[str, bool]:
    return {l.name: l.zap_eligible for l in net.layers}


def test_vgg_like_placement():
    net = ZapNet(_init(TinyVGG()), torch.zeros(1, 3, 16, 16))
    assert _zaps(net) == {
        "features.0": False,  # first conv
        "features.3": True,  # conv -> ReLU without BN
        "features.6": True,
        "features.10": False,  # no ReLU after it
        "classifier.1": False,  # FC
        "classifier.3": False,
    }
    assert [l.relu for l in net.layers] == [True, True, True, False, False, False]
    kinds = [t.kind for t in net.trace_layers()]
    assert kinds == ["conv"] * 4 + ["fc"] * 2
    fc = net.trace_layers()[4]
    assert (fc.c_in, fc.h_in, fc.w_in, fc.c_out, fc.macs) == (256, 1, 1, 32, 256 * 32)


def test_torchvision_resnet_like_placement():
    # no cost limit: the tiny Bottleneck's 1x1 convs (16 and 4 input channels) would be too dear for a ZAP
    net = ZapNet(_init(TinyTVResNet()), torch.zeros(1, 3, 32, 32), max_zap_mac_share=None)
    assert _zaps(net) == {
        "conv1": False,  # the stem: the network's first conv
        "layer1.0.conv1": True,
        "layer1.0.conv2": True,  # ReLU after the residual add (identity shortcut)
        "layer1.1.conv1": True,
        "layer1.1.conv2": True,  # main branch: deeper than the downsample conv meeting it at the add
        "layer1.1.downsample.0": False,  # 1x1 shortcut conv
        "layer2.0.downsample.0": False,
        "layer2.0.conv1": True,  # 1x1 conv followed by a ReLU: a ZAP (only shortcut 1x1 convs are excluded)
        "layer2.0.conv2": True,
        "layer2.0.conv3": True,  # 1x1 conv whose output goes through the add and its ReLU
        "fc": False,
    }
    names = [l.name for l in net.layers]
    # execution order follows the graph: the downsample of layer2.0 runs first in its forward()
    assert names.index("layer1.1.conv2") < names.index("layer1.1.downsample.0")
    assert names.index("layer2.0.downsample.0") < names.index("layer2.0.conv1")
    reasons = {l.name: l.reason for l in net.layers}
    assert "shortcut" in reasons["layer1.1.downsample.0"]
    assert "residual add" in reasons["layer1.1.conv2"]
    # with the default limit (50%): a ZAP costs 18 MACs per output, a 1x1 conv on C_in inputs C_in per output
    dflt = ZapNet(_init(TinyTVResNet()), torch.zeros(1, 3, 32, 32))
    assert _zaps(dflt) == _zaps(net) | {"layer2.0.conv1": False, "layer2.0.conv3": False}
    why = {l.name: l.reason for l in dflt.layers}
    assert "cost 112% of the layer's MACs" in why["layer2.0.conv1"]  # 18 / 16
    assert "cost 450% of the layer's MACs" in why["layer2.0.conv3"]  # 18 / 4


@pytest.mark.parametrize("cls,shape", [(TinyVGG, (2, 3, 16, 16)), (TinyTVResNet, (2, 3, 32, 32))])
def test_probes_do_not_change_the_network(cls, shape):
    model = _init(cls())
    net = ZapNet(model, torch.zeros(1, *shape[1:]))
    x = torch.randn(*shape)
    with torch.no_grad():
        ref = model(x)
        assert torch.equal(net(x), ref)
        net.attach_zaps("p33")
        net.set_thresholds({net.layers[i].name: float("-inf") for i in net.zap_layers})
        assert torch.equal(net(x), ref)  # every output computed: bit-identical logits
        net.set_thresholds({net.layers[i].name: float("inf") for i in net.zap_layers})
        assert not torch.equal(net(x), ref)  # only I_s computed: the output must change


def test_block_output_skips_reach_the_shortcut():
    """A skipped element of a block's output is a zero of the block output for *every* consumer."""
    model = _init(TinyTVResNet())
    net = ZapNet(model, torch.zeros(1, 3, 32, 32))
    net.attach_zaps("checkerboard")
    seen = {}

    class Rec:
        def inp(self, i, x):
            seen[("in", net.layers[i].name)] = x.clone()

        def out(self, i, x):
            pass

        def computed(self, i, x, m):
            seen[("m", net.layers[i].name)] = m.clone()

    net.set_thresholds({net.layers[i].name: 0.5 for i in net.zap_layers})
    net.set_recorder(Rec())
    with torch.no_grad():
        net(torch.randn(2, 3, 32, 32))
    net.set_recorder(None)
    m = seen[("m", "layer1.0.conv2")]
    assert not m.all()
    # both the next block's conv1 and its downsample shortcut see zeros where block 1.0's ZAP skipped
    for consumer in ("layer1.1.conv1", "layer1.1.downsample.0"):
        assert (seen[("in", consumer)][~m] == 0).all()


def test_reused_module_is_refused():
    class Reuse(nn.Module):
        def __init__(self):
            super().__init__()
            self.c0 = nn.Conv2d(3, 4, 3, padding=1)
            self.c = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return torch.relu(self.c(torch.relu(self.c(torch.relu(self.c0(x))))))

    with pytest.raises(ZapsimError, match="more than once"):
        ZapNet(Reuse().eval(), torch.zeros(1, 3, 8, 8))


def test_functional_and_method_relus_count():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)
            self.b = nn.Conv2d(4, 4, 3, padding=1)
            self.c = nn.Conv2d(4, 4, 3, padding=1)
            self.d = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            x = torch.nn.functional.relu(self.a(x))
            x = self.b(x).relu()
            y = torch.relu(self.c(x) + x)
            return torch.sigmoid(self.d(y))  # not a ReLU

    net = ZapNet(Mixed().eval(), torch.zeros(1, 3, 8, 8))
    assert _zaps(net) == {"a": False, "b": True, "c": True, "d": False}


# ----------------------------------------------------------------------------- real-network spellings (issue 11.3)

F = torch.nn.functional


def my_op(x):
    """A user's function that torch.fx keeps as one opaque call (fx.wrap): a custom op."""
    return x * 2


torch.fx.wrap("my_op")


class MobileNetLike(nn.Module):
    """ReLU6 everywhere: stem, depthwise 3x3 (its ZAP would cost 200%), pointwise 1x1 on 64 channels (28%)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU6(inplace=True))
        self.dw = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False), nn.BatchNorm2d(64),
                                nn.ReLU6(inplace=True))
        self.pw = nn.Sequential(nn.Conv2d(64, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6())
        self.head = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.hardtanh(self.head(self.pw(self.dw(self.stem(x)))), 0.0, 6.0)  # functional ReLU6 spelling
        return self.fc(x.mean((2, 3)))


def test_relu6_mobilenet_like_and_depthwise_cost():
    net = ZapNet(_init(MobileNetLike()), torch.zeros(1, 3, 8, 8))
    assert _zaps(net) == {"stem.0": False, "dw.0": False, "pw.0": True, "head": True, "fc": False}
    why = {l.name: l.reason for l in net.layers}
    assert "depthwise conv: its ZAP would cost 200% of the layer's MACs" in why["dw.0"]  # 18 / (3*3*1)
    assert "ReLU6" in why["pw.0"] and "Hardtanh" not in why["pw.0"]
    forced = ZapNet(_init(MobileNetLike()), torch.zeros(1, 3, 8, 8), max_zap_mac_share=None)
    assert _zaps(forced)["dw.0"] is True  # the option places it anyway
    loose = ZapNet(_init(MobileNetLike()), torch.zeros(1, 3, 8, 8), max_zap_mac_share=2.0)
    assert _zaps(loose)["dw.0"] is True  # 200% is not more than 200%
    assert [l.relu for l in net.layers] == [True, True, True, True, False]


@pytest.mark.parametrize("act,ok", [
    (lambda x: F.relu(x, inplace=True), True),
    (lambda x: x.relu_(), True),
    (lambda x: torch.relu_(x), True),
    (lambda x: F.relu6(x), True),
    (lambda x: torch.clamp(x, min=0), True),
    (lambda x: x.clamp(0, 6), True),
    (lambda x: x.clamp_min(0.0), True),
    (lambda x: torch.clip(x, 0.0), True),
    (lambda x: F.threshold(x, 0.0, 0.0), True),
    (lambda x: F.hardtanh(x, 0, 1), True),
    (lambda x: F.hardtanh(x), False),  # Hardtanh(-1, 1): negatives are not zeroed
    (lambda x: x.clamp(min=-1), False),
    (lambda x: F.leaky_relu(x), False),
    (lambda x: F.gelu(x), False),
], ids=["F.relu-inplace", "relu_", "torch.relu_", "relu6", "clamp-min0", "clamp-0-6", "clamp_min", "clip",
        "threshold", "hardtanh-0-1", "hardtanh", "clamp-min-1", "leaky", "gelu"])
def test_every_zero_floor_spelling_qualifies(act, ok):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)
            self.b = nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return act(self.b(torch.relu(self.a(x))))

    net = ZapNet(Net().eval(), torch.zeros(1, 3, 6, 6), max_zap_mac_share=None)
    assert _zaps(net)["b"] is ok


def test_no_zap_reasons_name_what_was_found():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 8, 3, padding=1)
            self.b = nn.Conv2d(8, 8, 3, padding=1)
            self.gelu = nn.GELU()
            self.c = nn.Conv2d(8, 8, 3, padding=1)
            self.d = nn.Conv2d(8, 8, 3, padding=1)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            x = torch.relu(self.a(x))
            x = self.gelu(self.b(x))
            y = self.c(x)
            x = torch.sigmoid(y) + F.relu(y)  # two consumers
            return self.pool(self.d(x))

    net = ZapNet(Net().eval(), torch.zeros(1, 3, 8, 8), max_zap_mac_share=None)
    why = {l.name: l.reason for l in net.layers}
    assert why["b"] == "output followed by GELU 'gelu', not by a ReLU-like activation: no ZAP"
    assert why["c"].startswith("output used by 2 consumers (sigmoid, relu)")
    assert why["d"].startswith("output followed by MaxPool2d 'pool'")


class DropoutNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 16, 3, padding=1)
        self.b = nn.Conv2d(16, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.drop = nn.Dropout2d(0.3)
        self.idt = nn.Identity()
        self.c = nn.Conv2d(16, 16, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.a(x))
        x = F.relu(self.idt(self.drop(self.bn(self.b(x)))))  # Dropout2d and Identity between BN and ReLU
        return F.relu(F.dropout(self.c(x), 0.5, self.training))  # functional dropout, eval mode


def test_dropout_and_identity_are_looked_through():
    model = _init(DropoutNet())
    net = ZapNet(model, torch.zeros(1, 3, 8, 8))
    assert _zaps(net) == {"a": False, "b": True, "c": True}
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ref = model(x)
        assert torch.equal(net(x), ref)
        net.attach_zaps("checkerboard")
        net.set_thresholds({"b": float("inf"), "c": float("inf")})
        assert not torch.equal(net(x), ref)

    class Training(DropoutNet):  # F.dropout with the default training=True drops even in eval: not an identity
        def forward(self, x):
            x = torch.relu(self.a(x))
            return F.relu(F.dropout(self.b(x), 0.5))

    why = {l.name: l.reason for l in ZapNet(Training().eval(), torch.zeros(1, 3, 8, 8)).layers}
    assert why["b"].startswith("output followed by dropout")


class DenseLike(nn.Module):
    """conv_a, conv_b and a pass-through of the block input concatenated, then BN -> ReLU -> conv_c."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.conv_a = nn.Conv2d(8, 6, 3, padding=1)
        self.conv_b = nn.Conv2d(8, 10, 3, padding=1)
        self.bn_b = nn.BatchNorm2d(10)
        self.bn = nn.BatchNorm2d(24)
        self.conv_c = nn.Conv2d(24, 4, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = torch.cat([self.conv_a(x), x, self.bn_b(self.conv_b(x))], dim=1)
        return self.conv_c(F.relu(self.bn(y)))


def test_densenet_like_cat_gets_a_zap_per_producer():
    model = _init(DenseLike())
    net = ZapNet(model, torch.zeros(1, 3, 8, 8))
    assert _zaps(net) == {"stem": False, "conv_a": True, "conv_b": True, "conv_c": False}
    tl = {l.name: l for l in net.trace_layers()}
    assert (tl["conv_a"].c_out, tl["conv_b"].c_out, tl["conv_c"].c_in) == (6, 10, 24)
    assert tl["conv_a"].relu and tl["conv_b"].relu
    got = {}

    class Rec:
        def inp(self, i, x):
            got[("in", net.layers[i].name)] = x.clone()

        def out(self, i, x):
            got[("out", net.layers[i].name)] = x.clone()

        def computed(self, i, x, m):
            got[("m", net.layers[i].name)] = m.clone()

    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ref = model(x)
        post = F.relu(model.bn(torch.cat([model.conv_a(torch.relu(model.stem(x))), torch.relu(model.stem(x)),
                                          model.bn_b(model.conv_b(torch.relu(model.stem(x))))], 1)))
        net.set_recorder(Rec())
        assert torch.equal(net(x), ref)
        # each producer's probe sees its own channels of the ReLU output
        assert torch.equal(got[("out", "conv_a")], post[:, 0:6]) and torch.equal(got[("out", "conv_b")], post[:, 14:24])
        net.attach_zaps("checkerboard")
        net.set_thresholds({"conv_a": float("-inf"), "conv_b": float("-inf")})
        assert torch.equal(net(x), ref)  # everything computed: bit-identical
        net.set_thresholds({"conv_a": 0.3, "conv_b": float("inf")})
        net(x)
        net.set_recorder(None)
    inp = got[("in", "conv_c")]
    ma, mb = got[("m", "conv_a")], got[("m", "conv_b")]
    assert not mb.all()
    # conv_c receives each producer's channels with that producer's skips, the pass-through channels untouched
    assert torch.equal(inp[:, 0:6], torch.where(ma, post[:, 0:6], 0.0))
    assert torch.equal(inp[:, 6:14], post[:, 6:14])
    assert torch.equal(inp[:, 14:24], torch.where(mb, post[:, 14:24], 0.0))


def test_dense_connectivity_cat_with_several_consumers_names_them():
    class Dense(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.c1 = nn.Conv2d(8, 8, 3, padding=1)
            self.c2 = nn.Conv2d(16, 8, 3, padding=1)

        def forward(self, x):
            x = torch.relu(self.stem(x))
            y = torch.cat([x, self.c1(x)], 1)  # used by c2's ReLU and by the next cat: two different ReLU outputs
            return torch.cat([y, torch.relu(self.c2(torch.relu(y)))], 1)

    net = ZapNet(Dense().eval(), torch.zeros(1, 3, 8, 8), max_zap_mac_share=None)
    why = {l.name: l.reason for l in net.layers}
    assert why["c1"].startswith("concatenation used by 2 consumers (relu, cat)")


def test_functional_conv_refused_by_name():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 4, 3, 3))

        def forward(self, x):
            return F.conv2d(x, self.w, padding=1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)
            self.block = Block()

        def forward(self, x):
            return torch.relu(self.block(torch.relu(self.a(x))))

    with pytest.raises(ZapsimError, match=r"Net: functional torch\.conv2d at graph node 'conv2d' in module 'block'"):
        ZapNet(Net().eval(), torch.zeros(1, 3, 8, 8))


def test_custom_op_and_unsupported_layers_refused_by_name():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return my_op(self.a(x))

    with pytest.raises(ZapsimError, match=r"custom op .*my_op at graph node 'my_op'"):
        ZapNet(Custom().eval(), torch.zeros(1, 3, 8, 8))

    class Transposed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)
            self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)

        def forward(self, x):
            return self.up(self.a(x))

    with pytest.raises(ZapsimError, match="layer 'up' is an nn.ConvTranspose2d, which the tracer does not support"):
        ZapNet(Transposed().eval(), torch.zeros(1, 3, 8, 8))

    class Matmul(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            y = self.a(x).flatten(2)
            return y @ y.transpose(1, 2)

    with pytest.raises(ZapsimError, match="functional _operator.matmul at graph node 'matmul'"):
        ZapNet(Matmul().eval(), torch.zeros(1, 3, 8, 8))
