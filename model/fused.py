"""The fused engine: the exported network run by a kernel of our own (model/_fused_lstm.c).

Why: the first BiLSTM multiplies each token's embedding by its input weights, a
product that depends only on the word. Here it is computed once per vocabulary
entry at load time (a table of num_words x 2 directions x 4 gates x 48 floats,
23 MB for the default model), so the first layer adds a table row where
onnxruntime does a matrix product: about 29% of the model's multiply-adds gone.
onnxruntime's LSTM operator cannot take a precomputed input projection.

The weights are read from model.onnx (the graph model/onnx_export.py writes), so
the engine computes what onnxruntime computes and needs no other file. Reviews
are scored unpadded, longest first, in chunks that a thread pool hands to the
kernel (it releases the GIL); a review's result is bitwise the same whatever
its batch-mates, chunking and thread count (the kernel's comment says why).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path

import numpy as np

from model.artifact import ModelLoadError

try:
    import model._fused_lstm as kernel
except ImportError:  # not built (no C compiler at install time): Predictor falls back to onnxruntime
    kernel = None

Engine = Callable[[list[list[int]]], np.ndarray]
# Rows per kernel call. Longest-first chunks of this size let a pool of two threads
# finish together; each call costs a few microseconds, a review tens.
CHUNK_ROWS = 16
# Occlusion: a review's variants go to the kernel in spans of this many sequences, OCCLUSION_JOBS spans per call
# (the kernel steps 4 spans' reviews together). Each span recomputes its review's first layer once.
OCCLUSION_SPAN = 32
OCCLUSION_JOBS = 4
# The kernel steps 4 reviews together and keeps 16 floats per vector: gate widths must be multiples of 16.
GATE_MULTIPLE = 16


def available() -> bool:
    """Whether the kernel was built with this installation."""
    return kernel is not None


def _onnx_to_kernel_gates(matrix: np.ndarray) -> np.ndarray:
    """Scale the candidate gate c (ONNX order i, o, f, c on the last axis) by 2.

    Why: tanh(x) = 2 sigmoid(2x) - 1, so the kernel runs one sigmoid over all four
    gates; doubling is exact in binary floating point, so no result moves.
    """
    scaled = np.array(matrix, dtype=np.float32, copy=True)
    hidden = scaled.shape[-1] // 4
    scaled[..., 3 * hidden :] *= 2
    return scaled


# Ops of the exported graph that only move data (model/onnx_export.py); the rest must be what the kernel computes.
_LAYOUT_OPS = ("Transpose", "Reshape")


def _weights(path: Path) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """(embedding, [(W, R, B) per LSTM in graph order], dense kernel, dense bias) from model.onnx.

    Refuses (ModelLoadError) any graph but Gather -> bidirectional LSTM x N -> MatMul -> Add -> Sigmoid
    with the LSTMs' default activations, so the kernel never computes something else than the file says.
    """
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # noqa: BLE001 - onnx raises protobuf's DecodeError and others for a bad file
        raise ModelLoadError(f"{path} is not an ONNX model: {exc}") from None
    nodes = [node for node in graph.node if node.op_type not in _LAYOUT_OPS]
    kinds = [node.op_type for node in nodes]
    lstms = nodes[1:-3]
    if not (
        kinds[:1] == ["Gather"]
        and kinds[-3:] == ["MatMul", "Add", "Sigmoid"]
        and lstms
        and all(node.op_type == "LSTM" and _plain_bidirectional(node) for node in lstms)
    ):
        raise ModelLoadError(
            f"{path} is not the BiLSTM graph the fused engine runs ({' -> '.join(kinds)}); use onnxruntime"
        )
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    try:
        layers = [(tensors[node.input[1]], tensors[node.input[2]], tensors[node.input[3]]) for node in lstms]
        return tensors[nodes[0].input[0]], layers, tensors[nodes[-3].input[1]], tensors[nodes[-2].input[1]]
    except (KeyError, IndexError) as exc:
        raise ModelLoadError(f"{path}: weight {exc} is not an initializer; use onnxruntime") from None


def _plain_bidirectional(lstm) -> bool:
    """A bidirectional LSTM with nothing but its hidden size set (default activations, no clip, no peepholes)."""
    attributes = {a.name: a for a in lstm.attribute}
    return (
        set(attributes) == {"direction", "hidden_size"}
        and attributes["direction"].s == b"bidirectional"
        and len(lstm.input) == 5
    )


def _kernel_network(path: Path) -> tuple[tuple, tuple]:
    """The kernel's (layers, dense) arguments: per layer (hidden, projection or table, bias, recurrent)."""
    embedding, lstms, dense_kernel, dense_bias = _weights(path)
    layers: list[tuple[int, np.ndarray, np.ndarray | None, np.ndarray]] = []
    for n, (w, r, b) in enumerate(lstms):
        directions, gates, inputs = w.shape
        hidden = gates // 4
        if directions != 2 or r.shape != (2, gates, hidden) or b.shape != (2, 2 * gates) or gates % GATE_MULTIPLE:
            raise ModelLoadError(
                f"{path}: LSTM {n + 1} is not bidirectional with 4 x hidden a multiple of {GATE_MULTIPLE}"
            )
        projection = _onnx_to_kernel_gates(np.swapaxes(w, 1, 2)).transpose(1, 0, 2).reshape(inputs, 2 * gates)
        recurrent = np.ascontiguousarray(_onnx_to_kernel_gates(np.swapaxes(r, 1, 2)))
        bias = _onnx_to_kernel_gates(b[:, :gates] + b[:, gates:]).reshape(-1)
        if n == 0:
            projection = _table(embedding.astype(np.float32), projection, bias)
        layers.append(
            (hidden, np.ascontiguousarray(projection), None if n == 0 else bias, recurrent)
        )  # a table holds its bias
    dense = (np.ascontiguousarray(dense_kernel.reshape(-1), dtype=np.float32), float(dense_bias.reshape(-1)[0]))
    return tuple(layers), dense


def _table(embedding: np.ndarray, projection: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The first layer's gate inputs per word, bias included: embedding @ W + b, by the kernel's own product."""
    table = np.empty((embedding.shape[0], projection.shape[1]), dtype=np.float32)
    kernel.affine(np.ascontiguousarray(embedding), np.ascontiguousarray(projection), bias, table, *projection.shape)
    return table


def fused_engine(path: Path, max_len: int, workers: int) -> FusedEngine:
    """The engine over model.onnx at ``path``: token-id lists in, p_negative out, ``workers`` threads."""
    if kernel is None:
        raise ModelLoadError("the fused engine's kernel is not built (reinstall with a C compiler); use onnxruntime")
    layers, dense = _kernel_network(path)
    try:  # no rows: the kernel checks only that the layers' shapes fit together
        kernel.score(
            layers, dense, np.zeros(0, np.int32), np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
        )
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path}: the fused kernel cannot run these weights ({exc}); use onnxruntime") from None
    return FusedEngine(layers, dense, max_len, workers)


class FusedEngine:
    """Scores token-id lists (call it: an Engine) and says what each token of a review does to its score (occlude)."""

    def __init__(self, layers: tuple, dense: tuple, max_len: int, workers: int) -> None:
        self._layers, self._dense, self.max_len = layers, dense, max_len
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="fused") if workers > 1 else None

    def __call__(self, sequences: list[list[int]]) -> np.ndarray:
        """p_negative of each sequence (its last max_len tokens)."""
        ids, offsets, lengths = _packed([seq[-self.max_len :] for seq in sequences])
        order = np.argsort(-lengths, kind="stable").astype(np.int32)
        out = np.empty(len(sequences), dtype=np.float32)
        self._each(
            [order[i : i + CHUNK_ROWS] for i in range(0, len(order), CHUNK_ROWS)],
            lambda rows: kernel.score(self._layers, self._dense, ids, offsets, rows, out),
        )
        return out

    def occlude(self, windows: list[list[int]]) -> list[np.ndarray]:
        """Per window (1 to max_len tokens): its p_negative, then its p_negative without each token in turn.

        Bitwise what calling the engine on the window and those variants gives (the kernel's occlude says why it
        is faster). Long windows are cut into spans of variants, so that one review keeps both threads busy.
        """
        if any(not 1 <= len(window) <= self.max_len for window in windows):
            raise ValueError(f"occlusion takes windows of 1 to {self.max_len} tokens")
        ids, offsets, lengths = _packed(windows)
        jobs = np.array(
            [
                (row, first, min(first + OCCLUSION_SPAN, length + 1))
                for row, length in sorted(enumerate(lengths.tolist()), key=lambda pair: -pair[1])
                for first in range(0, length + 1, OCCLUSION_SPAN)
            ],
            dtype=np.int32,
        ).reshape(-1, 3)
        out = np.empty(len(ids) + len(windows), dtype=np.float32)
        self._each(
            [jobs[i : i + OCCLUSION_JOBS] for i in range(0, len(jobs), OCCLUSION_JOBS)],
            lambda some: kernel.occlude(self._layers, self._dense, ids, offsets, some, out),
        )
        return [out[offsets[row] + row : offsets[row + 1] + row + 1] for row in range(len(windows))]

    def _each(self, chunks: list[np.ndarray], work: Callable[[np.ndarray], None]) -> None:
        """work(chunk) for every chunk, on the pool when there is more than one (the kernel releases the GIL)."""
        if self._pool is not None and len(chunks) > 1:
            list(self._pool.map(work, chunks))
        else:
            for chunk in chunks:
                work(chunk)


def _packed(sequences: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, offsets, lengths): the sequences end to end as int32, sequence i at ids[offsets[i]:offsets[i + 1]]."""
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.fromiter(chain.from_iterable(sequences), dtype=np.int32, count=int(offsets[-1]))
    return ids, offsets, lengths
