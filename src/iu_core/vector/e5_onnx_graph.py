"""The e5 encoder as an ONNX graph, built from the shipped weights, then quantised to int8.

The graph takes the summed word, position and type embeddings of a padded
batch (``embeddings``, float32 [batch, tokens, 384]; the word rows are looked
up outside the graph, since the table has 250k rows and a batch needs a few
hundred) and the attention mask (``mask``, float32 [batch, tokens], 1 for a
token and 0 for padding), and returns each text's mean-pooled last hidden
state (``pooled``, [batch, 384]; not yet L2-normalised). Each layer is the
BERT block the reference engine runs: Q/K/V projections, scaled dot-product
attention over the text's own tokens, output projection, residual and
LayerNorm, a GELU (erf) feed-forward, residual and LayerNorm.

``build_int8_model`` writes the float graph next to its destination, then
lets onnxruntime's dynamic quantiser turn every MatMul's weights into int8
(activations are quantised per call), which is what makes it fast on a CPU.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from iu_core.vector.e5_weights import E5Weights

__all__ = ["OPSET", "build_int8_model"]

OPSET = 17  # LayerNormalization


def build_int8_model(weights: E5Weights, destination: Path) -> None:
    """Write the int8 encoder of ``weights`` to ``destination`` (a temporary float model beside it)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    float_path = destination.with_suffix(".float.onnx")
    onnx.save_model(_float_model(weights), str(float_path))
    # The quantiser advises, through the root logger, a pre-processing pass that
    # needs shape inference this plain graph does not: keep that advice out of the log.
    quiet = _DropRecordsFrom("onnxruntime")
    logging.getLogger().addFilter(quiet)
    try:
        quantize_dynamic(str(float_path), str(destination), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.getLogger().removeFilter(quiet)
        float_path.unlink(missing_ok=True)


class _DropRecordsFrom(logging.Filter):
    def __init__(self, package: str) -> None:
        super().__init__()
        self.package = package

    def filter(self, record: logging.LogRecord) -> bool:
        return self.package not in record.pathname


def _float_model(weights: E5Weights) -> Any:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hidden, heads = weights.hidden, weights.heads
    head_dim = hidden // heads
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def const(name: str, value: npt.NDArray[np.generic]) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def linear(x: str, prefix: str, n_in: int) -> str:
        weight = weights.matrix(f"{prefix}.w", n_in).T  # (in, out) for MatMul
        product = node("MatMul", [x, const(f"{prefix}.w", weight)], f"{prefix}.mm")
        return node("Add", [product, const(f"{prefix}.b", weights.vector(f"{prefix}.b"))], f"{prefix}.out")

    def layer_norm(x: str, prefix: str) -> str:
        return node(
            "LayerNormalization",
            [
                x,
                const(f"{prefix}.w", weights.vector(f"{prefix}.w")),
                const(f"{prefix}.b", weights.vector(f"{prefix}.b")),
            ],
            f"{prefix}.out",
            axis=-1,
            epsilon=float(weights.eps),
        )

    split_heads = const("shape.heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = const("shape.merge", np.array([0, 0, hidden], dtype=np.int64))
    scale = const("attention.scale", np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))
    one = const("one", np.array(1.0, dtype=np.float32))
    half = const("half", np.array(0.5, dtype=np.float32))
    root2 = const("sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    # Padding keys get -1e9 before the softmax: their weight is exactly 0.
    blocked = node("Sub", [one, "mask"], "mask.blocked")
    bias = node("Mul", [blocked, const("mask.big", np.array(-1e9, dtype=np.float32))], "mask.bias")
    bias = node("Unsqueeze", [bias, const("axes.1_2", np.array([1, 2], dtype=np.int64))], "mask.bias4")

    x = layer_norm("embeddings", "emb.ln")
    for i in range(weights.layers):
        p = f"l{i}"
        q = node(
            "Transpose",
            [node("Reshape", [linear(x, f"{p}.q", hidden), split_heads], f"{p}.q4")],
            f"{p}.qt",
            perm=[0, 2, 1, 3],
        )
        k = node(
            "Transpose",
            [node("Reshape", [linear(x, f"{p}.k", hidden), split_heads], f"{p}.k4")],
            f"{p}.kt",
            perm=[0, 2, 3, 1],
        )
        v = node(
            "Transpose",
            [node("Reshape", [linear(x, f"{p}.v", hidden), split_heads], f"{p}.v4")],
            f"{p}.vt",
            perm=[0, 2, 1, 3],
        )
        scores = node("Mul", [node("MatMul", [q, k], f"{p}.qk"), scale], f"{p}.scaled")
        probs = node("Softmax", [node("Add", [scores, bias], f"{p}.masked")], f"{p}.probs", axis=-1)
        context = node("Transpose", [node("MatMul", [probs, v], f"{p}.ctx4")], f"{p}.ctxt", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, merge_heads], f"{p}.ctx")
        x = layer_norm(node("Add", [x, linear(context, f"{p}.ao", hidden)], f"{p}.res1"), f"{p}.aln")
        up = linear(x, f"{p}.fi", hidden)
        erf = node("Erf", [node("Div", [up, root2], f"{p}.gelu.div")], f"{p}.gelu.erf")
        gelu = node(
            "Mul",
            [node("Mul", [up, half], f"{p}.gelu.half"), node("Add", [erf, one], f"{p}.gelu.one")],
            f"{p}.gelu",
        )
        x = layer_norm(node("Add", [x, linear(gelu, f"{p}.fo", weights.ffn)], f"{p}.res2"), f"{p}.oln")

    # Mean over each text's own tokens.
    mask3 = node("Unsqueeze", ["mask", const("axes.2", np.array([2], dtype=np.int64))], "mask3")
    summed = node(
        "ReduceSum",
        [node("Mul", [x, mask3], "masked.hidden"), const("axes.tokens", np.array([1], dtype=np.int64))],
        "pooled.sum",
        keepdims=0,
    )
    count = node(
        "ReduceSum", [mask3, const("axes.tokens2", np.array([1], dtype=np.int64))], "pooled.count", keepdims=0
    )
    node("Div", [summed, count], "pooled")

    graph = helper.make_graph(
        nodes,
        "multilingual-e5-small",
        [
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "tokens", hidden]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", hidden])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
