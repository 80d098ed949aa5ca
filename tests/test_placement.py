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
