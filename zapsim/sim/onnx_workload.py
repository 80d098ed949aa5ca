"""An ONNX model as a dense workload: its convolutions and fully connected layers, shapes by ONNX shape inference.

``python -m zapsim.run CONFIG --workload model.onnx`` (the ``onnx`` extra:
``pip install zapsim[onnx]``).  The model's graph is shape-inferred
(``onnx.shape_inference.infer_shapes``), then every node that costs MACs
becomes a layer, in graph order:

* ``Conv``: 2-D, ``group``, ``strides``, symmetric ``pads`` (or ``auto_pad``
  SAME_UPPER / SAME_LOWER / VALID when it gives symmetric padding), kernel
  from ``kernel_shape`` or the weight's shape; dilations other than 1 and
  asymmetric padding are refused (zapsim's mappings have neither).
* ``Gemm`` and ``MatMul`` with a 2-D weight (an initializer, or a ``Constant``
  node's value): an fc layer (``transB`` honoured) on the input's K
  features; an input of shape (N, T, K) is T rows of the product, a 1x1
  convolution over a T x 1 map.  A MatMul of two activations (attention)
  has no weights and is left out.
* ``relu``: true when the node's output reaches a ``Relu`` through at most
  ``BatchNormalization`` / ``Add`` (a residual) nodes.

Pooling, additions, activations and reshapes cost no MACs and no traffic
here, as in traces (``docs/simulator.md``).  Layer names are the nodes'
names (their first output's when a node has none), made unique.  The batch
dimension is ignored: every count is per image.  External weight data is
never loaded (a model file reads nothing beside it), and the file size is
bounded.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..trace_format import TraceLayer, make_layer

MAX_ONNX_BYTES = 2 << 30
_PASS_THROUGH = ("BatchNormalization", "Add", "Identity")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ConfigError("an ONNX workload needs the onnx package: pip install 'zapsim[onnx]' (or pip install onnx)") from None
    return onnx


def load_onnx(path: str | Path) -> list[TraceLayer]:
    """The MAC-bearing layers of an ONNX model (module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such ONNX file")
    if p.stat().st_size > MAX_ONNX_BYTES:
        raise ConfigError(f"{p}: {p.stat().st_size} bytes; an ONNX workload may have at most {MAX_ONNX_BYTES}")
    onnx = _onnx()
    try:
        model = onnx.load(str(p), load_external_data=False)
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, InferenceError ...
        raise ConfigError(f"{p}: not a readable ONNX model ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})") from None
    g = model.graph
    shapes: dict[str, list[int | None]] = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    consts = {init.name: list(init.dims) for init in g.initializer}
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    consts[node.output[0]] = list(a.t.dims)
    consumers: dict[str, list] = {}
    for node in g.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)

    def feeds_relu(name: str, depth: int = 0) -> bool:
        for n in consumers.get(name, []):
            if n.op_type == "Relu":
                return True
            if n.op_type in _PASS_THROUGH and depth < 4 and feeds_relu(n.output[0], depth + 1):
                return True
        return False

    layers: list[TraceLayer] = []
    seen: dict[str, int] = {}
    for idx, node in enumerate(g.node):
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        base = node.name or (node.output[0] if node.output else f"node{idx}")
        name = base if base not in seen else f"{base}_{seen[base]}"
        seen[base] = seen.get(base, 0) + 1
        where = f"{p}: node '{base}' ({node.op_type})"
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            layers.append(_conv(where, name, node, attrs, shapes, consts, feeds_relu(node.output[0])))
        else:
            layer = _fc(where, name, node, attrs, shapes, consts, feeds_relu(node.output[0]))
            if layer is not None:
                layers.append(layer)
    if not layers:
        raise ConfigError(f"{p}: the model has no Conv, Gemm or MatMul node with known shapes")
    return layers


def _known(where: str, what: str, shape) -> list[int]:
    if shape is None or any(d is None or d < 1 for d in shape):
        raise ConfigError(f"{where}: the shape of its {what} is not known after shape inference ({shape}); give the "
                          "model's input a fixed shape")
    return [int(d) for d in shape]


def _conv(where, name, node, attrs, shapes, consts, relu) -> TraceLayer:
    x = _known(where, "input", shapes.get(node.input[0]))
    if len(x) != 4:
        raise ConfigError(f"{where}: a {len(x) - 2}-D convolution; zapsim simulates 2-D convolutions (N, C, H, W)")
    _, c, h, w = x
    wshape = consts.get(node.input[1]) or shapes.get(node.input[1])
    wshape = _known(where, "weight", wshape)
    m = wshape[0]
    k = list(attrs.get("kernel_shape") or wshape[2:])
    strides = list(attrs.get("strides") or [1, 1])
    dil = list(attrs.get("dilations") or [1, 1])
    group = int(attrs.get("group", 1))
    if dil != [1, 1]:
        raise ConfigError(f"{where}: dilations {dil}; zapsim's mappings take dilation 1 only")
    pads = list(attrs.get("pads") or [0, 0, 0, 0])
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for n, kk, s in ((h, k[0], strides[0]), (w, k[1], strides[1])):
            total = max(0, (-(-n // s) - 1) * s + kk - n)
            pads.append(total)
        if any(t % 2 for t in pads):
            raise ConfigError(f"{where}: auto_pad {auto} pads {pads} (odd: one side more than the other); zapsim "
                              "takes symmetric padding only")
        pads = [pads[0] // 2, pads[1] // 2, pads[0] // 2, pads[1] // 2]
    elif auto == "VALID":
        pads = [0, 0, 0, 0]
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise ConfigError(f"{where}: pads {pads} are not symmetric; zapsim takes symmetric padding only")
    if c % group or m % group:
        raise ConfigError(f"{where}: group {group} does not divide C = {c} and M = {m}")
    try:
        layer = make_layer(name, c, h, w, m, kernel=tuple(k), stride=tuple(strides), padding=(pads[0], pads[1]),
                           groups=group, kind="conv", relu=relu)
    except Exception as exc:
        raise ConfigError(f"{where}: {exc}") from None
    y = shapes.get(node.output[0])
    if y is not None and None not in y and y[1:] != [layer.c_out, layer.h_out, layer.w_out]:
        raise ConfigError(f"{where}: ONNX infers an output of {y[1:]}, zapsim {list(layer.out_shape)}")
    return layer


def _fc(where, name, node, attrs, shapes, consts, relu) -> TraceLayer | None:
    wname = node.input[1]
    wshape = consts.get(wname)
    if wshape is None or len(wshape) != 2:
        if node.op_type == "MatMul":
            return None  # an activation x activation product (attention): no weights, not a layer zapsim maps
        raise ConfigError(f"{where}: the weight {wname!r} is not a 2-D initializer")
    k, n = wshape
    if node.op_type == "Gemm":
        if attrs.get("transA", 0):
            raise ConfigError(f"{where}: transA = 1 is not supported")
        if attrs.get("transB", 0):
            n, k = wshape
    x = shapes.get(node.input[0])
    if x is not None and None not in x and x[-1] != k:
        raise ConfigError(f"{where}: input features {x[-1]} do not match the weight's {k}")
    rows = 1
    if x is not None and None not in x and len(x) >= 3:
        for d in x[1:-1]:
            rows *= d  # (N, T, K) x (K, N_out): T rows of one product, a 1x1 conv over a T x 1 map
    if rows > 1:
        return make_layer(name, k, rows, 1, n, kernel=1, kind="conv", relu=relu)
    return make_layer(name, k, 1, 1, n, kernel=1, kind="fc", relu=relu)
