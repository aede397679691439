"""Export the trained Keras network as a small hand-built ONNX graph.

Why not tf2onnx: on a masked Keras LSTM it emits generic Loop/Scan graphs that
run about 4x slower. The ONNX ``LSTM`` operator already does what the mask
does, natively: given ``sequence_lens`` it runs each review over its own real
tokens only. So the graph is

    token_ids [batch, time] int64 (real tokens FIRST, zeros after)
    sequence_lens [batch] int32
    -> Transpose -> Gather(embedding) -> LSTM(bidirectional) x3 -> MatMul+Add -> Sigmoid
    -> p_negative [batch]

A Keras model trained with ``mask_zero`` on PRE-padded input computes the same
function: its forward pass skips the leading pads and ends on the last token;
its backward pass starts on the last token. Because each review's computation
stops at its own length, a review's output does not depend on its batch-mates
or on how far the batch is padded (tested in tests/model_serving).

Keras LSTM weights: kernel [in, 4H] and recurrent kernel [H, 4H] with gates
i, f, c, o; one bias [4H]. ONNX wants W [dirs, 4H, in], R [dirs, 4H, H] with
gates i, o, f, c, and B [dirs, 8H] = input bias then recurrent bias (zero here).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from model.artifact import ONNX_INPUT_IDS as INPUT_IDS
from model.artifact import ONNX_INPUT_LENGTHS as INPUT_LENGTHS
from model.artifact import ONNX_OUTPUT as OUTPUT

OPSET = 17


def _keras_gates_to_onnx(matrix: np.ndarray) -> np.ndarray:
    """Reorder the last axis from Keras' (i, f, c, o) blocks to ONNX's (i, o, f, c)."""
    i, f, c, o = np.split(matrix, 4, axis=-1)
    return np.concatenate([i, o, f, c], axis=-1)


def _lstm_weights(forward: list[np.ndarray], backward: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """ONNX W, R, B for one bidirectional layer from the two directions' [kernel, recurrent, bias]."""
    w = np.stack([_keras_gates_to_onnx(d[0]).T for d in (forward, backward)])
    r = np.stack([_keras_gates_to_onnx(d[1]).T for d in (forward, backward)])
    b = np.stack([np.concatenate([_keras_gates_to_onnx(d[2]), np.zeros_like(d[2])]) for d in (forward, backward)])
    return tuple(a.astype(np.float32) for a in (w, r, b))


def build_graph(model) -> onnx.ModelProto:
    """Build the ONNX model from a Keras model made by ``model.architecture.build_model``."""
    # Imported here: the serving path imports this module for its names and must not import Keras.
    from model.architecture import EMBEDDING_LAYER, LSTM_LAYERS, OUTPUT_LAYER

    initializers: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    (embedding,) = model.get_layer(EMBEDDING_LAYER).get_weights()
    const("embedding", embedding.astype(np.float32))
    const("shape_time_batch_features", np.array([0, 0, -1], dtype=np.int64))
    const("shape_batch_features", np.array([0, -1], dtype=np.int64))
    const("shape_batch", np.array([-1], dtype=np.int64))

    nodes.append(helper.make_node("Transpose", [INPUT_IDS], ["ids_time_major"], perm=[1, 0]))
    nodes.append(helper.make_node("Gather", ["embedding", "ids_time_major"], ["x0"], axis=0))
    x = "x0"
    for n, name in enumerate(LSTM_LAYERS, start=1):
        layer = model.get_layer(name)
        weights = layer.get_weights()
        half = len(weights) // 2
        w, r, b = _lstm_weights(weights[:half], weights[half:])
        hidden = r.shape[-1]
        const(f"{name}_W", w), const(f"{name}_R", r), const(f"{name}_B", b)
        last = n == len(LSTM_LAYERS)
        outputs = ["", f"{name}_Y_h"] if last else [f"{name}_Y"]
        nodes.append(
            helper.make_node(
                "LSTM",
                [x, f"{name}_W", f"{name}_R", f"{name}_B", INPUT_LENGTHS],
                outputs,
                name=name,
                direction="bidirectional",
                hidden_size=hidden,
            )
        )
        if not last:
            # Y [time, 2, batch, H] -> [time, batch, 2, H] -> [time, batch, 2H] = Keras' concat(fwd, bwd).
            nodes.append(helper.make_node("Transpose", [f"{name}_Y"], [f"{name}_Y_t"], perm=[0, 2, 1, 3]))
            nodes.append(helper.make_node("Reshape", [f"{name}_Y_t", "shape_time_batch_features"], [f"x{n}"]))
            x = f"x{n}"
        else:
            # Y_h [2, batch, H] -> [batch, 2, H] -> [batch, 2H].
            nodes.append(helper.make_node("Transpose", [f"{name}_Y_h"], [f"{name}_h_t"], perm=[1, 0, 2]))
            nodes.append(helper.make_node("Reshape", [f"{name}_h_t", "shape_batch_features"], ["features"]))

    kernel, bias = model.get_layer(OUTPUT_LAYER).get_weights()
    const("dense_kernel", kernel.astype(np.float32))
    const("dense_bias", bias.astype(np.float32))
    nodes.append(helper.make_node("MatMul", ["features", "dense_kernel"], ["logit_raw"]))
    nodes.append(helper.make_node("Add", ["logit_raw", "dense_bias"], ["logit"]))
    nodes.append(helper.make_node("Sigmoid", ["logit"], ["p_column"]))
    nodes.append(helper.make_node("Reshape", ["p_column", "shape_batch"], [OUTPUT]))

    graph = helper.make_graph(
        nodes,
        "review_sentiment_bilstm",
        [
            helper.make_tensor_value_info(INPUT_IDS, TensorProto.INT64, ["batch", "time"]),
            helper.make_tensor_value_info(INPUT_LENGTHS, TensorProto.INT32, ["batch"]),
        ],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch"])],
        initializer=initializers,
    )
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="review-sentiment"
    )
    onnx_model.ir_version = 8  # readable by every onnxruntime since 1.14
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def export(model, path: str | Path) -> Path:
    """Write the ONNX graph of ``model`` to ``path``."""
    path = Path(path)
    onnx.save_model(build_graph(model), str(path))
    return path


def max_abs_difference(model, onnx_path: str | Path, sequences: Sequence[Sequence[int]], max_len: int) -> float:
    """Largest |Keras - ONNX| p_negative over ``sequences`` (Keras on pre-padded input).

    Used after export to refuse a graph that does not compute what the Keras model computes.
    """
    import onnxruntime as ort

    from model.tokenizer import left_aligned, pad

    keras_p = np.asarray(model.predict(pad(sequences, max_len), batch_size=256, verbose=0)).reshape(-1)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ids, lengths = left_aligned(sequences, max_len)
    onnx_p = session.run([OUTPUT], {INPUT_IDS: ids, INPUT_LENGTHS: lengths})[0]
    return float(np.max(np.abs(keras_p - onnx_p))) if len(sequences) else 0.0
