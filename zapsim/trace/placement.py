"""Find where ZAPs go in any ``torch.nn.Module`` from its ``torch.fx`` graph, and wire probes in.

The method's rules (``../shared/docs/zap-method.md``):

* a ZAP follows each conv whose output goes through a ReLU, either directly
  (conv -> [BatchNorm] -> ReLU) or after a residual add
  (conv -> [BatchNorm] -> add -> ReLU);
* none on the network's first conv, none on fully connected layers, none on
  1x1 shortcut/downsample convs.  When two convs meet at an add (main branch
  and downsample shortcut), the ReLU belongs to the one deeper in the graph
  (more convs between it and the network input); the other is the shortcut.

Every conv and linear layer also gets an output probe (a :class:`LayerSite`)
after the tensor its ZAP would cover (the ReLU output for ReLU layers, the raw
output otherwise) and a forward pre-hook on its input, so the tracer can record
what each layer received and produced.  Only ``nn.Conv2d`` and ``nn.Linear``
modules are layers; functional convs are not seen.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from ..errors import ZapsimError
from ..trace_format import TraceLayer, make_layer
from .zap import ZAP

_RELU_FUNCS = {F.relu, torch.relu, torch.relu_}
_ADD_FUNCS = {operator.add, operator.iadd, torch.add}
_BN_TYPES = (nn.BatchNorm2d, nn.BatchNorm1d)


@dataclass
class LayerInfo:
    """One conv/linear layer of the network, in execution order."""

    name: str  # qualified module name, e.g. 'layer1.0.conv1'
    kind: str  # 'conv' or 'fc'
    module: nn.Module
    relu: bool  # the covered tensor is a ReLU output
    zap_eligible: bool
    covered_node: str  # fx node whose output the probe sees
    reason: str  # why it has or has not a ZAP (for reports and tests)


class LayerSite(nn.Module):
    """Probe after a layer's covered tensor; applies the layer's ZAP when one is attached and enabled.

    ``threshold=None`` passes the tensor through untouched (the dense network,
    and training, where every ZAP must see the clean output).
    """

    def __init__(self, index: int):
        super().__init__()
        self.index = index
        self.zap: ZAP | None = None
        self.threshold: float | None = None
        self.recorder: Any = None  # object with .out(index, x) and .computed(index, x, m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rec = self.recorder
        if rec is not None:
            rec.out(self.index, x)
        if self.zap is None or self.threshold is None:
            return x
        m = self.zap.computed_mask(x, self.threshold)
        if rec is not None:
            rec.computed(self.index, x, m)
        # where() rather than x * m: a fully computed map is returned bit for bit.
        return torch.where(m, x, torch.zeros((), dtype=x.dtype, device=x.device))


def _is_module(gm: fx.GraphModule, node: fx.Node, types: tuple[type, ...]) -> bool:
    return node.op == "call_module" and isinstance(gm.get_submodule(str(node.target)), types)


def _is_relu(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(str(node.target)), nn.ReLU)
    if node.op == "call_function":
        return node.target in _RELU_FUNCS
    return node.op == "call_method" and node.target in ("relu", "relu_")


def _is_add(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in _ADD_FUNCS
    return node.op == "call_method" and node.target in ("add", "add_", "__iadd__")


def _single_user(node: fx.Node) -> fx.Node | None:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


class ZapNet(nn.Module):
    """A traced copy of a model with a probe after every conv/linear layer and ZAPs where the rules allow."""

    def __init__(self, model: nn.Module, example: torch.Tensor):
        super().__init__()
        model = model.eval()
        try:
            gm = fx.symbolic_trace(model)
        except Exception as exc:  # data-dependent control flow etc.
            raise ZapsimError(f"cannot trace {type(model).__name__} with torch.fx ({type(exc).__name__}: {exc})") from None
        self.layers = self._find_layers(gm)
        if not self.layers:
            raise ZapsimError(f"{type(model).__name__} has no nn.Conv2d or nn.Linear layer to trace")
        self.sites = nn.ModuleList([LayerSite(i) for i in range(len(self.layers))])
        gm.add_submodule("zapsim_sites", self.sites)
        nodes = {n.name: n for n in gm.graph.nodes}
        for i, info in enumerate(self.layers):
            node = nodes[info.covered_node]
            with gm.graph.inserting_after(node):
                probe = gm.graph.call_module(f"zapsim_sites.{i}", (node,))
            node.replace_all_uses_with(probe, delete_user_cb=lambda u, p=probe: u is not p)
        gm.graph.lint()
        gm.recompile()
        self.gm = gm
        self.recorder: Any = None
        self._hooks = []
        for i, info in enumerate(self.layers):
            self._hooks.append(info.module.register_forward_pre_hook(self._make_pre_hook(i)))
        self.shapes = self._probe_shapes(example)

    # ---------------------------------------------------------------- graph analysis

    @staticmethod
    def _find_layers(gm: fx.GraphModule) -> list[LayerInfo]:
        layer_nodes = [n for n in gm.graph.nodes if _is_module(gm, n, (nn.Conv2d, nn.Linear))]
        seen: dict[str, int] = {}
        for n in layer_nodes:
            seen[str(n.target)] = seen.get(str(n.target), 0) + 1
        reused = [k for k, v in seen.items() if v > 1]
        if reused:
            raise ZapsimError(f"modules called more than once are not supported: {', '.join(reused)}")
        # depth = most convs on any path from the input; tells a main branch from its shortcut
        depth: dict[fx.Node, int] = {}
        for n in gm.graph.nodes:
            d = max((depth[a] for a in n.all_input_nodes), default=0)
            depth[n] = d + (1 if _is_module(gm, n, (nn.Conv2d,)) else 0)
        # each conv's path to a ReLU: conv -> [BN] -> ReLU, or conv -> [BN] -> add -> ReLU
        reach: dict[fx.Node, tuple[fx.Node, bool]] = {}  # conv -> (relu node, via_add)
        for n in layer_nodes:
            if not _is_module(gm, n, (nn.Conv2d,)):
                continue
            cur = n
            nxt = _single_user(cur)
            while nxt is not None and _is_module(gm, nxt, _BN_TYPES):
                cur, nxt = nxt, _single_user(nxt)
            if nxt is not None and _is_relu(gm, nxt):
                reach[n] = (nxt, False)
            elif nxt is not None and _is_add(nxt):
                after = _single_user(nxt)
                if after is not None and _is_relu(gm, after):
                    reach[n] = (after, True)
        owners: dict[fx.Node, fx.Node] = {}  # relu -> owning conv
        for conv, (relu, _) in reach.items():
            if relu not in owners or depth[conv] > depth[owners[relu]]:
                owners[relu] = conv
        first_conv = next((n for n in layer_nodes if _is_module(gm, n, (nn.Conv2d,))), None)
        layers = []
        for n in layer_nodes:
            mod = gm.get_submodule(str(n.target))
            name = str(n.target)
            if isinstance(mod, nn.Linear):
                layers.append(LayerInfo(name, "fc", mod, False, False, n.name, "fully connected: no ZAP"))
                continue
            if n in reach and owners[reach[n][0]] is n:
                relu, via_add = reach[n]
                if n is first_conv:
                    why, ok = "first conv of the network: no ZAP", False
                else:
                    why, ok = ("ReLU after residual add" if via_add else "conv followed by ReLU"), True
                layers.append(LayerInfo(name, "conv", mod, True, ok, relu.name, why))
            elif n in reach:
                layers.append(LayerInfo(name, "conv", mod, False, False, n.name, "shortcut conv into a residual add: no ZAP"))
            else:
                layers.append(LayerInfo(name, "conv", mod, False, False, n.name, "output not followed by a ReLU: no ZAP"))
        return layers

    def _make_pre_hook(self, index: int) -> Callable:
        def hook(_module, args):
            if self.recorder is not None:
                self.recorder.inp(index, args[0])

        return hook

    @torch.no_grad()
    def _probe_shapes(self, example: torch.Tensor) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        shapes: list[Any] = [[None, None] for _ in self.layers]

        class _ShapeRec:
            def inp(self, i, x):
                shapes[i][0] = tuple(x.shape[1:])

            def out(self, i, x):
                shapes[i][1] = tuple(x.shape[1:])

            def computed(self, i, x, m):
                pass

        self.set_recorder(_ShapeRec())
        try:
            self.gm(example[:1])
        finally:
            self.set_recorder(None)
        return [(tuple(a), tuple(b)) for a, b in shapes]

    # ---------------------------------------------------------------- use

    def set_recorder(self, recorder: Any) -> None:
        self.recorder = recorder
        for s in self.sites:
            s.recorder = recorder

    @property
    def zap_layers(self) -> list[int]:
        """Indices of the layers that may carry a ZAP."""
        return [i for i, info in enumerate(self.layers) if info.zap_eligible]

    def attach_zaps(self, pattern: Any = "checkerboard", pattern_name: str | None = None) -> nn.ModuleDict:
        """Create a fresh ZAP (default init) on every eligible layer; returns them keyed by layer name."""
        zaps = nn.ModuleDict()
        for i in self.zap_layers:
            c = self.shapes[i][1][0]
            z = ZAP(c, pattern, pattern_name).eval()  # train mode only inside train_zaps
            self.sites[i].zap = z
            zaps[self.layers[i].name.replace(".", "/")] = z
        return zaps

    def zap(self, index: int) -> ZAP:
        z = self.sites[index].zap
        if z is None:
            raise ZapsimError(f"layer '{self.layers[index].name}' has no ZAP attached")
        return z

    def set_thresholds(self, thresholds: dict[str, float] | None) -> None:
        """Enable ZAPs with per-layer thresholds (layer name -> threshold); None disables all (dense)."""
        names = {self.layers[i].name: i for i in self.zap_layers}
        if thresholds is not None:
            unknown = sorted(set(thresholds) - set(names))
            if unknown:
                raise ZapsimError(f"thresholds name layers without a ZAP: {', '.join(unknown)}")
        for i in self.zap_layers:
            self.sites[i].threshold = None if thresholds is None else thresholds.get(self.layers[i].name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gm(x)

    def trace_layers(self) -> list[TraceLayer]:
        """The trace format's layer table (every conv and the FC layers, in execution order)."""
        out = []
        for i, info in enumerate(self.layers):
            (in_shape, out_shape) = self.shapes[i]
            z = self.sites[i].zap
            zkw: dict[str, Any] = {}
            if z is not None:
                zkw = {"zap_pattern": z.pattern_name, "zap_matrix": z.pattern.tolist()}
            if info.kind == "fc":
                f_in, f_out = int(torch.Size(in_shape).numel()), int(torch.Size(out_shape).numel())
                out.append(make_layer(info.name, f_in, 1, 1, f_out, kernel=1, kind="fc", relu=False))
                continue
            m: nn.Conv2d = info.module  # type: ignore[assignment]
            if m.dilation not in ((1, 1), 1) or isinstance(m.padding, str) or m.padding_mode != "zeros":
                raise ZapsimError(f"layer '{info.name}': only dilation 1 and explicit zero padding are supported")
            layer = make_layer(info.name, in_shape[0], in_shape[1], in_shape[2], m.out_channels, kernel=m.kernel_size,
                               stride=m.stride, padding=m.padding, groups=m.groups, relu=info.relu, **zkw)
            if layer.out_shape != tuple(out_shape):
                raise ZapsimError(f"layer '{info.name}': output {out_shape} disagrees with the conv rule {layer.out_shape}")
            out.append(layer)
        return out
