"""The fused engine's kernel at its boundary: the product it shares with the table, and the input it refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model import fused
from model.artifact import ONNX_FILE, ModelLoadError
from model.predictor import Predictor


@pytest.fixture(scope="module")
def network(fixture_artifact: Path) -> tuple[tuple, tuple]:
    return fused._kernel_network(fixture_artifact / ONNX_FILE)


def _score(network: tuple[tuple, tuple], sequences: list[list[int]]) -> np.ndarray:
    layers, dense = network
    offsets = np.cumsum([0] + [len(s) for s in sequences]).astype(np.int64)
    ids = np.array([i for s in sequences for i in s], dtype=np.int32)
    out = np.full(len(sequences), np.nan, dtype=np.float32)
    fused.kernel.score(layers, dense, ids, offsets, np.arange(len(sequences), dtype=np.int32), out)
    return out


def test_the_kernels_product_is_a_matrix_product() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(13, 50)).astype(np.float32)  # 13 rows: a short last tile of 4
    w = rng.normal(size=(50, 112)).astype(np.float32)  # 112 columns: blocks of 64, 32 and 16
    bias = rng.normal(size=112).astype(np.float32)
    out = np.empty((13, 112), dtype=np.float32)
    fused.kernel.affine(x, w, bias, out, 50, 112)
    np.testing.assert_allclose(out, x.astype(np.float64) @ w + bias, rtol=0, atol=1e-4)


def test_a_token_id_outside_the_vocabulary_is_refused_not_read(network) -> None:
    vocabulary = network[0][0][1].shape[0]
    with pytest.raises(IndexError, match=f"token id {vocabulary} is outside the vocabulary"):
        _score(network, [[5, vocabulary]])
    with pytest.raises(IndexError, match="outside the vocabulary"):
        _score(network, [[-1]])


def test_offsets_that_do_not_rise_to_the_ids_are_refused(network) -> None:
    layers, dense = network
    ids = np.array([5, 6, 7], dtype=np.int32)
    out = np.empty(2, dtype=np.float32)
    rows = np.arange(2, dtype=np.int32)
    for offsets in ([0, 2, 1], [0, 2, 4]):
        with pytest.raises(ValueError, match="offsets must rise"):
            fused.kernel.score(layers, dense, ids, np.array(offsets, dtype=np.int64), rows, out)
    with pytest.raises(IndexError, match="row out of range"):
        fused.kernel.score(layers, dense, ids, np.array([0, 1, 3], dtype=np.int64), np.array([2], dtype=np.int32), out)


def test_weights_of_the_wrong_type_are_refused(network) -> None:
    (first, *rest), dense = network
    hidden, table, bias, recurrent = first
    layers = ((hidden, table.astype(np.float64), bias, recurrent), *rest)
    with pytest.raises(TypeError, match="proj must be float32"):
        fused.kernel.score(
            layers,
            dense,
            np.zeros(1, np.int32),
            np.array([0, 1], np.int64),
            np.zeros(1, np.int32),
            np.empty(1, np.float32),
        )


def test_an_empty_review_scores_the_output_bias(network) -> None:
    dense_bias = network[1][1]
    np.testing.assert_allclose(_score(network, [[]]), 1 / (1 + np.exp(-dense_bias)), rtol=1e-6)


def test_a_graph_the_kernel_does_not_compute_is_refused(fixture_artifact: Path, tmp_path: Path) -> None:
    import onnx
    from onnx import helper

    model = onnx.load(str(fixture_artifact / ONNX_FILE))
    lstm = next(node for node in model.graph.node if node.op_type == "LSTM")
    lstm.attribute.append(helper.make_attribute("clip", 3.0))  # onnxruntime would clip the cell; the kernel cannot
    path = tmp_path / ONNX_FILE
    onnx.save(model, str(path))
    with pytest.raises(ModelLoadError, match="not the BiLSTM graph the fused engine runs"):
        fused._kernel_network(path)


def test_auto_falls_back_to_onnxruntime_when_the_kernel_refuses_the_graph(
    fixture_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args) -> None:
        raise ModelLoadError("not the BiLSTM graph the fused engine runs")

    monkeypatch.setattr(fused, "fused_engine", refuse)
    assert Predictor.load(fixture_artifact).backend == "onnxruntime"
    with pytest.raises(ModelLoadError, match="not the BiLSTM graph"):
        Predictor.load(fixture_artifact, backend="fused")


def test_layers_whose_shapes_do_not_fit_together_are_a_load_error(
    fixture_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layers, dense = fused._kernel_network(fixture_artifact / ONNX_FILE)
    monkeypatch.setattr(fused, "_kernel_network", lambda _path: (layers[:1] + layers[2:], dense))  # layer 2 left out
    with pytest.raises(
        ModelLoadError, match="cannot run these weights \\(layer 1 takes 48 inputs, the layer below gives 96\\)"
    ):
        fused.fused_engine(fixture_artifact / ONNX_FILE, 166, 1)


def _occlude(network: tuple[tuple, tuple], sequences: list[list[int]], jobs: list[tuple[int, int, int]]) -> np.ndarray:
    layers, dense = network
    offsets = np.cumsum([0] + [len(s) for s in sequences]).astype(np.int64)
    ids = np.array([i for s in sequences for i in s], dtype=np.int32)
    out = np.full(len(ids) + len(sequences), np.nan, dtype=np.float32)
    fused.kernel.occlude(layers, dense, ids, offsets, np.array(jobs, dtype=np.int32).reshape(-1, 3), out)
    return out


def test_occlusion_scores_each_variant_bitwise_as_the_variant_alone(network) -> None:
    rng = np.random.default_rng(3)
    vocabulary = network[0][0][1].shape[0]
    sequences = [rng.integers(1, vocabulary, size=n).tolist() for n in (1, 2, 3, 9, 40)]
    # spans cut at odd places, listed out of order: a tile mixes reviews and parts of reviews
    jobs = [
        (row, first, min(first + 5, len(seq) + 1))
        for row, seq in enumerate(sequences)
        for first in range(0, len(seq) + 1, 5)
    ]
    out = _occlude(network, sequences, [jobs[i] for i in rng.permutation(len(jobs))])
    for row, seq in enumerate(sequences):
        variants = [seq] + [seq[:i] + seq[i + 1 :] for i in range(len(seq))]
        at = sum(len(s) + 1 for s in sequences[:row])
        np.testing.assert_array_equal(
            out[at : at + len(seq) + 1], _score(network, variants), err_msg=f"length {len(seq)}"
        )


def test_occlusion_refuses_an_empty_review_and_sequences_past_the_review(network) -> None:
    with pytest.raises(IndexError, match="empty review"):
        _occlude(network, [[5], []], [(1, 0, 1)])
    with pytest.raises(IndexError, match="must lie in"):
        _occlude(network, [[5, 6]], [(0, 0, 4)])
    with pytest.raises(IndexError, match="job row out of range"):
        _occlude(network, [[5, 6]], [(1, 0, 1)])
