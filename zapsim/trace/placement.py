"""Find where ZAPs go in any ``torch.nn.Module`` from its ``torch.fx`` graph, and wire probes in.

The method's rules (Shomron et al., ECCV 2020; docs/tracer.md), as applied to real networks:

* a ZAP follows each conv whose output reaches an activation that outputs
  exact zeros for negative inputs -- ReLU, ReLU6, Hardtanh(0, x>0),
  Threshold(0, 0), ``clamp(min=0)`` -- in any spelling (module, ``F.relu``,
  ``torch.relu``, ``x.relu_()``, ``inplace=True``), either directly
  (conv -> [BN] -> ReLU), after a residual add (conv -> [BN] -> add -> ReLU)
  or after a channel concatenation (conv -> [BN] -> cat -> [BN] -> ReLU, as
  in DenseNet/Inception); a concatenation's ReLU output is split by channel,
  and each producing conv gets a ZAP on its own channels;
* modules that are the identity in eval mode (Dropout variants, Identity,
  ``F.dropout(training=False)``) are looked through, as are BatchNorms;
* none on the network's first conv, none on fully connected layers, none on
  1x1 shortcut/downsample convs.  When two convs meet at an add (main branch
  and downsample shortcut), the ReLU belongs to the one deeper in the graph
  (more convs between it and the network input); the other is the shortcut;
* none where the ZAP would cost more than ``max_zap_mac_share``
  (:data:`MAX_ZAP_MAC_SHARE`, 50%) of its layer's MACs: the ZAP's MACs are
  18 per output (two depthwise 3x3 convs), the layer's k*k*C_in/groups, so a
  depthwise 3x3 conv's ZAP costs 200% of it and a 1x1 conv on 32 channels
  56%.  The default checkerboard predicts half of the outputs, so such a ZAP
  cannot pay for itself even if every predicted output were zero.

Every "no ZAP" reason names what was found instead (``followed by GELU``).

What the tracer cannot record is refused when the ZapNet is built, before
any training: a functional conv/linear/matmul or a custom (non-torch)
function in the graph, a parameterised layer other than ``nn.Conv2d`` /
``nn.Linear`` / normalisation / PReLU (``nn.Conv1d``, ``nn.ConvTranspose2d``,
RNNs, attention ...), ``padding="same"``, dilation other than 1, a padding
mode other than zeros, a module called twice, and data-dependent control flow
(``torch.fx`` cannot trace it).  Each refusal names the layer or graph node.

Every conv and linear layer also gets an output probe (a :class:`LayerSite`)
after the tensor its ZAP would cover (the ReLU output -- or its channel slice
-- for ReLU layers, the raw output otherwise) and a forward pre-hook on its
input, so the tracer can record what each layer received and produced.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.dropout import _DropoutNd

from ..errors import ZapsimError
from ..trace_format import TraceLayer, make_layer
from .zap import ZAP

# A ZAP may cost at most this share of its layer's MACs by default (see the module docstring).
MAX_ZAP_MAC_SHARE = 0.5
# A ZAP's MACs per output element: two depthwise 3x3 convs (as counted in trace_format.make_layer).
ZAP_MACS_PER_OUTPUT = 18

_RELU_FUNCS = {F.relu, torch.relu, torch.relu_, F.relu6}
if hasattr(F, "relu_"):
    _RELU_FUNCS.add(F.relu_)
_HARDTANH_FUNCS = {F.hardtanh, F.hardtanh_}
_CLAMP_FUNCS = {torch.clamp, torch.clip, torch.clamp_, torch.clip_}
_CLAMP_MIN_FUNCS = {torch.clamp_min, torch.clamp_min_}
_THRESHOLD_FUNCS = {F.threshold, F.threshold_}
_ADD_FUNCS = {operator.add, operator.iadd, torch.add}
_CAT_FUNCS = {torch.cat, torch.concat, torch.concatenate}
_BN_TYPES = (nn.BatchNorm2d, nn.BatchNorm1d)
_IDENTITY_TYPES = (_DropoutNd, nn.Identity)
_DROPOUT_FUNCS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout}
# graph functions that compute MACs no probe would see
_MAC_FUNCS = {F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d, F.linear,
              F.bilinear, torch.matmul, torch.mm, torch.bmm, torch.einsum, operator.matmul, torch.addmm,
              torch.baddbmm, torch.tensordot, F.unfold}
if hasattr(F, "scaled_dot_product_attention"):
    _MAC_FUNCS.add(F.scaled_dot_product_attention)
_MAC_METHODS = {"matmul", "mm", "bmm", "__matmul__", "addmm", "baddbmm", "unfold"}
# parameterised torch.nn leaf modules that are elementwise or per-channel (no MACs to record)
_CHEAP_PARAM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm,
                      nn.modules.instancenorm._InstanceNorm, nn.PReLU)
_TORCH_MODULES = {"torch", "_operator", "operator", "builtins", "math"}


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
    cat_slot: int | None = None  # position among the concatenated tensors whose ReLU it covers (channel slice)
    cat_node: str | None = None  # that concatenation's fx node


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


class SplitSite(nn.Module):
    """Probe after the ReLU of a channel concatenation: each producing conv's channels go through its own site.

    ``parts`` are the concatenated tensors (passed only for their channel
    counts, which are known only at run time); slices of other producers
    pass through untouched.  The LayerSites are shared with
    ``ZapNet.sites`` (held in a plain list, not registered twice).
    """

    def __init__(self, slots: dict[int, LayerSite]):
        super().__init__()
        self.slots = dict(slots)

    def forward(self, x: torch.Tensor, *parts: torch.Tensor) -> torch.Tensor:
        out, changed, lo = [], False, 0
        for k, p in enumerate(parts):
            hi = lo + p.shape[1]
            seg = x[:, lo:hi]
            site = self.slots.get(k)
            if site is not None:
                got = site(seg)
                changed = changed or got is not seg
                seg = got
            out.append(seg)
            lo = hi
        # nothing skipped: the ReLU output itself, bit for bit and without a copy
        return torch.cat(out, 1) if changed else x


def _is_module(gm: fx.GraphModule, node: fx.Node, types: tuple[type, ...]) -> bool:
    return node.op == "call_module" and isinstance(gm.get_submodule(str(node.target)), types)


def _arg(node: fx.Node, pos: int, name: str, default: Any = None) -> Any:
    """Argument ``pos`` (counting the input tensor as 0) or keyword ``name`` of a call node."""
    if len(node.args) > pos:
        return node.args[pos]
    return node.kwargs.get(name, default)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _zero_floor(lo: Any, hi: Any) -> bool:
    """clamp(x, lo, hi) outputs exact zeros for x <= 0 and passes positives: lo == 0, hi None or > 0."""
    return _num(lo) and lo == 0 and (hi is None or (_num(hi) and hi > 0))


def _is_relu(gm: fx.GraphModule, node: fx.Node) -> bool:
    """An activation whose output is 0 exactly where its input is <= 0 (ReLU, ReLU6, Hardtanh(0, x), ...)."""
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        if isinstance(m, nn.ReLU):
            return True
        if isinstance(m, nn.Hardtanh):  # ReLU6 is Hardtanh(0, 6)
            return _zero_floor(m.min_val, m.max_val)
        if isinstance(m, nn.Threshold):
            return m.threshold == 0 and m.value == 0
        return False
    if node.op == "call_function":
        t = node.target
        if t in _RELU_FUNCS:
            return True
        if t in _HARDTANH_FUNCS:
            return _zero_floor(_arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0))
        if t in _CLAMP_FUNCS:
            return _zero_floor(_arg(node, 1, "min"), _arg(node, 2, "max"))
        if t in _CLAMP_MIN_FUNCS:
            return _zero_floor(_arg(node, 1, "min"), None)
        if t in _THRESHOLD_FUNCS:
            return _arg(node, 1, "threshold") == 0 and _arg(node, 2, "value") == 0
        return False
    if node.op == "call_method":
        t = node.target
        if t in ("relu", "relu_"):
            return True
        if t in ("clamp", "clamp_", "clip", "clip_"):
            return _zero_floor(_arg(node, 1, "min"), _arg(node, 2, "max"))
        if t in ("clamp_min", "clamp_min_"):
            return _zero_floor(_arg(node, 1, "min"), None)
    return False


def _is_add(node: fx.Node) -> bool:
    if node.op == "call_function":
        return node.target in _ADD_FUNCS
    return node.op == "call_method" and node.target in ("add", "add_", "__iadd__")


def _is_cat(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target in _CAT_FUNCS


def _passes_through(gm: fx.GraphModule, node: fx.Node) -> bool:
    """BatchNorm (per channel, keeps zeros' places for the ZAP's purpose) or an eval-mode identity."""
    if node.op == "call_module":
        return isinstance(gm.get_submodule(str(node.target)), _BN_TYPES + _IDENTITY_TYPES)
    if node.op == "call_function" and node.target in _DROPOUT_FUNCS:
        return _arg(node, 2, "training", True) is False
    return node.op == "call_method" and node.target in ("contiguous",)


def _describe(gm: fx.GraphModule, node: fx.Node) -> str:
    """What a graph node is, for reasons and refusals: 'GELU', 'sigmoid', '.flatten()', 'the network output'."""
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        if isinstance(m, nn.Hardtanh):
            return f"{type(m).__name__}({m.min_val:g}, {m.max_val:g})"
        return f"{type(m).__name__} '{node.target}'"
    if node.op == "call_function":
        return getattr(node.target, "__name__", str(node.target))
    if node.op == "call_method":
        return f".{node.target}()"
    if node.op == "output":
        return "the network output"
    return f"{node.op} {node.target}"


def _scope(node: fx.Node) -> str:
    """The module whose forward() made this node ('' for the top level), from fx's module stack."""
    stack = node.meta.get("nn_module_stack") or {}
    names = [k for k in stack if k]
    return str(names[-1]) if names else ""


def _where(node: fx.Node) -> str:
    sc = _scope(node)
    return f"graph node '{node.name}'" + (f" in module '{sc}'" if sc else " in the top-level forward()")


def _walk(gm: fx.GraphModule, start: fx.Node) -> tuple[fx.Node | None, fx.Node, list[fx.Node]]:
    """Follow single users through pass-through nodes; returns (next node or None, last node, its users)."""
    cur = start
    while True:
        users = list(cur.users)
        if len(users) != 1:
            return None, cur, users
        if not _passes_through(gm, users[0]):
            return users[0], cur, users
        cur = users[0]


def _after(gm: fx.GraphModule, nxt: fx.Node | None, users: list[fx.Node]) -> str:
    if nxt is not None:
        return f"followed by {_describe(gm, nxt)}"
    if not users:
        return "output unused"
    return f"used by {len(users)} consumers ({', '.join(_describe(gm, u) for u in users)})"


class ZapNet(nn.Module):
    """A traced copy of a model with a probe after every conv/linear layer and ZAPs where the rules allow.

    ``max_zap_mac_share``: a ZAP costing more than this share of its layer's
    MACs is not placed (None: no limit, every qualifying conv gets one).
    """

    def __init__(self, model: nn.Module, example: torch.Tensor, *, max_zap_mac_share: float | None = MAX_ZAP_MAC_SHARE):
        super().__init__()
        model = model.eval()
        name = type(model).__name__
        try:
            gm = fx.symbolic_trace(model)
        except Exception as exc:  # data-dependent control flow etc.
            msg = str(exc).splitlines()[0] if str(exc) else ""
            raise ZapsimError(
                f"cannot trace {name} with torch.fx ({type(exc).__name__}: {msg}); data-dependent control flow "
                "(if/for/while on tensor values) and non-traceable code are not supported") from None
        self._refuse_unsupported(gm, name)
        self.layers = self._find_layers(gm, max_zap_mac_share)
        if not self.layers:
            raise ZapsimError(f"{name} has no nn.Conv2d or nn.Linear layer to trace")
        self.sites = nn.ModuleList([LayerSite(i) for i in range(len(self.layers))])
        gm.add_submodule("zapsim_sites", self.sites)
        nodes = {n.name: n for n in gm.graph.nodes}
        groups: dict[str, list[int]] = {}
        for i, info in enumerate(self.layers):
            groups.setdefault(info.covered_node, []).append(i)
        splits = nn.ModuleList()
        gm.add_submodule("zapsim_splits", splits)  # before the graph names its entries
        for covered, idx in groups.items():
            node = nodes[covered]
            cat = [self.layers[i] for i in idx if self.layers[i].cat_slot is not None]
            if cat:
                cat_node = nodes[str(cat[0].cat_node)]
                if len(cat) != len(idx):
                    raise ZapsimError(f"internal: layers {[self.layers[i].name for i in idx]} share a probe")
                splits.append(SplitSite({l.cat_slot: self.sites[i] for i, l in zip(idx, cat)}))
                args = (node, *cat_node.args[0])
                with gm.graph.inserting_after(node):
                    probe = gm.graph.call_module(f"zapsim_splits.{len(splits) - 1}", args)
            else:
                (i,) = idx
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
        self.trace_layers()  # every layer's shape rule, before anything is trained

    @property
    def host_sha256(self) -> str:
        """sha256 of the host network's parameters and buffers as they are now (the probes' ZAPs excluded)."""
        from .zap_training import tensors_sha256  # zap_training imports this module

        own = ("zapsim_sites.", "zapsim_splits.")
        named = [(k, v) for k, v in self.gm.named_parameters() if not k.startswith(own)]
        named += [(f"buffer:{k}", v) for k, v in self.gm.named_buffers() if not k.startswith(own)]
        return tensors_sha256(named)

    # ---------------------------------------------------------------- graph analysis

    @staticmethod
    def _refuse_unsupported(gm: fx.GraphModule, name: str) -> None:
        """Refuse, by name, what the tracer cannot record: functional MAC ops, custom ops, other layers, conv options."""
        for n in gm.graph.nodes:
            if n.op == "call_function":
                t = n.target
                tname = f"{getattr(t, '__module__', None) or 'torch'}.{getattr(t, '__name__', t)}"
                if t in _MAC_FUNCS:
                    raise ZapsimError(
                        f"{name}: functional {tname} at {_where(n)} computes MACs the tracer cannot record; "
                        "write it as an nn.Conv2d / nn.Linear module")
                mod = getattr(t, "__module__", None)
                # torch itself, not torchvision & co (torchvision.ops.deform_conv2d would be an unseen conv)
                if mod is not None and not (mod in _TORCH_MODULES or str(mod).startswith("torch.")):
                    raise ZapsimError(
                        f"{name}: custom op {tname} at {_where(n)}: the tracer cannot see what it computes; "
                        "only torch operations and torch.nn modules are supported")
            elif n.op == "call_method" and n.target in _MAC_METHODS:
                raise ZapsimError(f"{name}: tensor method .{n.target}() at {_where(n)} computes MACs the tracer "
                                  "cannot record; only nn.Conv2d / nn.Linear layers are supported")
            elif n.op == "call_module":
                m = gm.get_submodule(str(n.target))
                kind = type(m).__name__
                if isinstance(m, nn.Conv2d):
                    ZapNet._check_conv(name, str(n.target), m)
                elif isinstance(m, nn.Linear) or isinstance(m, _CHEAP_PARAM_TYPES):
                    continue
                elif any(True for _ in m.parameters(recurse=True)) or isinstance(m, nn.modules.conv._ConvNd):
                    raise ZapsimError(f"{name}: layer '{n.target}' is an nn.{kind}, which the tracer does not "
                                      "support (layers: nn.Conv2d, nn.Linear; plus normalisation and activations)")

    @staticmethod
    def _check_conv(name: str, lname: str, m: nn.Conv2d) -> None:
        if isinstance(m.padding, str) and m.padding != "valid":
            raise ZapsimError(f"{name}: layer '{lname}': padding={m.padding!r} is not supported; give explicit "
                              "zero padding (an int or a pair), e.g. padding=1 for a 3x3 conv")
        if tuple(m.dilation) != (1, 1):
            raise ZapsimError(f"{name}: layer '{lname}': dilation={tuple(m.dilation)} is not supported; "
                              "only dilation 1")
        if m.padding_mode != "zeros":
            raise ZapsimError(f"{name}: layer '{lname}': padding_mode={m.padding_mode!r} is not supported; "
                              "only 'zeros'")

    @staticmethod
    def _find_layers(gm: fx.GraphModule, max_share: float | None = MAX_ZAP_MAC_SHARE) -> list[LayerInfo]:
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
        # each conv's path to a ReLU: conv -> P* -> ReLU, conv -> P* -> add -> P* -> ReLU,
        # or conv -> P* -> cat -> P* -> ReLU (P: BatchNorm or an eval-mode identity)
        reach: dict[fx.Node, tuple[fx.Node, str, int | None, fx.Node | None]] = {}  # conv -> (relu, via, slot, cat)
        why_not: dict[fx.Node, str] = {}
        for n in layer_nodes:
            if not _is_module(gm, n, (nn.Conv2d,)):
                continue
            nxt, cur, users = _walk(gm, n)
            if nxt is not None and _is_relu(gm, nxt):
                reach[n] = (nxt, "direct", None, None)
            elif nxt is not None and _is_add(nxt):
                after, _, u2 = _walk(gm, nxt)
                if after is not None and _is_relu(gm, after):
                    reach[n] = (after, "add", None, None)
                else:
                    why_not[n] = f"residual add {_after(gm, after, u2)}, not by a ReLU-like activation: no ZAP"
            elif nxt is not None and _is_cat(nxt):
                dim = _arg(nxt, 1, "dim", 0)
                parts = nxt.args[0] if isinstance(nxt.args[0], (list, tuple)) else ()
                slots = [k for k, p in enumerate(parts) if p is cur]
                after, _, u2 = _walk(gm, nxt)
                if dim not in (1, -3):
                    why_not[n] = f"concatenated along dim {dim}, not the channels: no ZAP"
                elif not parts:
                    why_not[n] = "concatenated from a list built at run time (not a literal list): no ZAP"
                elif len(slots) != 1:
                    why_not[n] = "concatenated more than once in the same torch.cat: no ZAP"
                elif after is not None and _is_relu(gm, after):
                    reach[n] = (after, "cat", slots[0], nxt)
                else:
                    why_not[n] = f"concatenation {_after(gm, after, u2)}, not by a ReLU-like activation: no ZAP"
            else:
                why_not[n] = f"output {_after(gm, nxt, users)}, not by a ReLU-like activation: no ZAP"
        owners: dict[fx.Node, fx.Node] = {}  # relu reached through an add -> owning conv
        for conv, (relu, via, _, _) in reach.items():
            if via != "cat" and (relu not in owners or depth[conv] > depth[owners[relu]]):
                owners[relu] = conv
        first_conv = next((n for n in layer_nodes if _is_module(gm, n, (nn.Conv2d,))), None)
        layers = []
        for n in layer_nodes:
            mod = gm.get_submodule(str(n.target))
            name = str(n.target)
            if isinstance(mod, nn.Linear):
                layers.append(LayerInfo(name, "fc", mod, False, False, n.name, "fully connected: no ZAP"))
                continue
            if n not in reach:
                layers.append(LayerInfo(name, "conv", mod, False, False, n.name, why_not[n]))
                continue
            relu, via, slot, cat = reach[n]
            if via != "cat" and owners[relu] is not n:
                layers.append(LayerInfo(name, "conv", mod, False, False, n.name,
                                        "shortcut conv into a residual add: no ZAP"))
                continue
            act = _describe(gm, relu)
            why = {"direct": f"conv followed by ReLU ({act})", "add": f"ReLU after residual add ({act})",
                   "cat": f"ReLU ({act}) after a channel concatenation: ZAP on this conv's channels"}[via]
            ok = True
            share = ZAP_MACS_PER_OUTPUT / (mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups))
            if n is first_conv:
                why, ok = "first conv of the network: no ZAP", False
            elif max_share is not None and share > max_share:
                what = "depthwise conv" if mod.groups == mod.in_channels and mod.groups > 1 else "conv"
                why, ok = (f"{what}: its ZAP would cost {100 * share:.0f}% of the layer's MACs, more than the "
                           f"{100 * max_share:.0f}% allowed (max_zap_mac_share / --max-zap-mac-share): no ZAP"), False
            layers.append(LayerInfo(name, "conv", mod, True, ok, relu.name, why, slot,
                                    cat.name if cat is not None else None))
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
            ZapNet._check_conv("network", info.name, m)
            if len(in_shape) != 3:
                raise ZapsimError(f"layer '{info.name}': input {in_shape} is not C x H x W (NCHW batches expected)")
            pad = 0 if m.padding == "valid" else m.padding
            layer = make_layer(info.name, in_shape[0], in_shape[1], in_shape[2], m.out_channels, kernel=m.kernel_size,
                               stride=m.stride, padding=pad, groups=m.groups, relu=info.relu, **zkw)
            if layer.out_shape != tuple(out_shape):
                raise ZapsimError(f"layer '{info.name}': output {out_shape} disagrees with the conv rule {layer.out_shape}")
            out.append(layer)
        return out
