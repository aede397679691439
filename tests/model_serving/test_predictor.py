"""The Predictor: every backend agrees with TensorFlow, the fast paths are batch-invariant and TensorFlow-free,
bad input is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.paths import PROJECT_ROOT
from model import fused
from model.artifact import ModelLoadError
from model.predictor import Predictor, length_groups

FAST_BACKENDS = ("fused", "onnxruntime")


@pytest.fixture(scope="module")
def onnx_predictor(fixture_artifact: Path) -> Predictor:
    return Predictor.load(fixture_artifact, backend="onnxruntime")


@pytest.fixture(scope="module")
def fused_predictor(fixture_artifact: Path) -> Predictor:
    return Predictor.load(fixture_artifact, backend="fused")


def test_auto_backend_is_fused_and_carries_the_metadata(fixture_artifact: Path) -> None:
    predictor = Predictor.load(fixture_artifact)
    assert predictor.backend == "fused"
    assert predictor.version == json.loads((fixture_artifact / "metadata.json").read_text())["version"]
    assert predictor.metadata["preset"] == "test-fixture"


def _assert_agrees_with_tensorflow(folder: Path, texts: list[str], backend: str) -> None:
    fast = Predictor.load(folder, backend=backend).predict_proba(texts)
    reference = Predictor.load(folder, backend="tensorflow").predict_proba(texts)
    assert fast.shape == reference.shape == (len(texts),)
    difference = np.abs(fast - reference)
    assert difference.max() <= 1e-4, f"max |{backend} - keras| = {difference.max():.3g}"
    decided = np.abs(reference - 0.5) > 1e-4
    np.testing.assert_array_equal((fast > 0.5)[decided], (reference > 0.5)[decided])
    assert np.ptp(reference) > 0.1  # the model really tells reviews apart, so agreement means something


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_fast_backends_agree_with_tensorflow_on_the_default_model_over_the_whole_test_sample(
    default_artifact: Path, test_texts: list[str], backend: str
) -> None:
    _assert_agrees_with_tensorflow(default_artifact, test_texts, backend)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_fast_backends_agree_with_tensorflow_on_the_fixture_model(
    fixture_artifact: Path, test_texts: list[str], backend: str
) -> None:
    _assert_agrees_with_tensorflow(fixture_artifact, test_texts[:1500], backend)


def test_predict_labels_follow_the_probability(onnx_predictor: Predictor, test_texts: list[str]) -> None:
    texts = test_texts[:300]
    results = onnx_predictor.predict(texts)
    proba = onnx_predictor.predict_proba(texts)
    assert [p for _, p in results] == pytest.approx(proba.tolist(), abs=0)
    assert [label for label, _ in results] == ["negative" if p > 0.5 else "positive" for p in proba]
    assert {label for label, _ in results} == {"negative", "positive"}


@pytest.mark.parametrize("bad", ["", " ", "\n\t  "])
def test_empty_or_whitespace_text_is_refused(onnx_predictor: Predictor, bad: str) -> None:
    with pytest.raises(ValueError, match="text 1 is empty"):
        onnx_predictor.predict(["fine review", bad])


def test_non_text_input_is_refused(onnx_predictor: Predictor) -> None:
    with pytest.raises(TypeError, match="not one string"):
        onnx_predictor.predict("a single string")
    with pytest.raises(TypeError, match="text 0 is int"):
        onnx_predictor.predict([3])  # type: ignore[list-item]  # the wrong type on purpose
    assert onnx_predictor.predict([]) == []


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_text_without_known_words_still_scores_like_keras(fixture_artifact: Path, backend: str) -> None:
    texts = ["!!!", "zzqx qqzx", "a " * 400 + "great"]  # no tokens, only OOV, longer than 166 tokens
    fast = Predictor.load(fixture_artifact, backend=backend).predict_proba(texts)
    reference = Predictor.load(fixture_artifact, backend="tensorflow").predict_proba(texts)
    np.testing.assert_allclose(fast, reference, atol=1e-5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_review_scores_the_same_whatever_its_batch(onnx_predictor: Predictor, test_texts: list[str], data) -> None:
    review = data.draw(st.sampled_from(test_texts[:2000]), label="review")
    mates = data.draw(st.lists(st.sampled_from(test_texts), max_size=150), label="batch-mates")
    position = data.draw(st.integers(0, len(mates)), label="position")
    alone = onnx_predictor.predict_proba([review])[0]
    batch = mates[:position] + [review] + mates[position:]
    in_batch = onnx_predictor.predict_proba(batch)[position]
    assert abs(float(in_batch) - float(alone)) <= 1e-6


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fused_scores_a_review_bitwise_the_same_alone_in_any_batch_and_order(
    fused_predictor: Predictor, test_texts: list[str], data
) -> None:
    reviews = data.draw(st.lists(st.sampled_from(test_texts[:2000]), min_size=1, max_size=8), label="reviews")
    mates = data.draw(st.lists(st.sampled_from(test_texts), max_size=150), label="batch-mates")
    batch = data.draw(st.permutations(reviews + mates), label="batch order")
    alone = np.concatenate([fused_predictor.predict_proba([review]) for review in batch])
    in_batch = fused_predictor.predict_proba(batch)
    np.testing.assert_array_equal(in_batch.view(np.uint32), alone.view(np.uint32))


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_thread_count_does_not_change_results(fixture_artifact: Path, test_texts: list[str], backend: str) -> None:
    texts = test_texts[:300]
    one = Predictor.load(fixture_artifact, backend=backend, threads=1).predict_proba(texts)
    three = Predictor.load(fixture_artifact, backend=backend, threads=3).predict_proba(texts)
    np.testing.assert_allclose(one, three, rtol=0, atol=1e-6 if backend == "onnxruntime" else 0)


def test_without_the_kernel_auto_serves_with_onnxruntime_and_fused_is_a_load_error(
    fixture_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fused, "kernel", None)
    assert Predictor.load(fixture_artifact).backend == "onnxruntime"
    with pytest.raises(ModelLoadError, match="kernel is not built"):
        Predictor.load(fixture_artifact, backend="fused")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 166), max_size=300), st.integers(1, 64))
def test_length_groups_partition_the_batch_in_length_order(lengths: list[int], cap: int) -> None:
    groups = length_groups(lengths, cap)
    flat = [i for group in groups for i in group]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths)
    assert all(0 < len(group) <= cap for group in groups)


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_fast_paths_never_import_tensorflow(fixture_artifact: Path, backend: str) -> None:
    script = (
        "import sys\n"
        "from model.predictor import Predictor\n"
        f"p = Predictor.load({str(fixture_artifact)!r}, backend={backend!r})\n"
        "p.predict(['it broke after a week'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'torch'))\n"
        "print(heavy[:5])\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_unknown_backend_and_bad_threads_are_load_errors(fixture_artifact: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown backend 'torch'"):
        Predictor.load(fixture_artifact, backend="torch")
    with pytest.raises(ModelLoadError, match="threads"):
        Predictor.load(fixture_artifact, threads=0)


def test_missing_folder_is_a_clear_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        Predictor.load(tmp_path / "nowhere")
    with pytest.raises(ModelLoadError, match="metadata.json is missing"):
        Predictor.load(tmp_path)


# -- text the model cannot read ------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_predictor(default_artifact: Path) -> Predictor:
    return Predictor.load(default_artifact)


def _known_words(predictor: Predictor, text: str) -> list[str]:
    """The README's rule, restated from the vocabulary itself: in-vocabulary words of 2+ characters with a letter."""
    index, limit = (
        predictor.tokenizer.word_index,
        predictor.tokenizer.num_words or len(predictor.tokenizer.word_index) + 1,
    )
    return [
        w
        for w in predictor.tokenizer.words(text)
        if w in index
        and index[w] < limit
        and w != predictor.tokenizer.oov_token
        and len(w) > 1
        and any(c.isalpha() for c in w)
    ]


UNREADABLE = [
    "!!!!",
    "....",
    "!!!???",
    "\x00" * 8,
    "\x01\x02\x1b\x7f",
    "😀👍🔥",
    "N/A",
    "42",
    "10/10",
    "null",
    "zzqx qqzx",
    "— … ·",
    "\u200b\u200b",
]


@pytest.mark.parametrize("text", UNREADABLE)
def test_text_with_no_word_the_model_knows_is_not_judged(default_predictor: Predictor, text: str) -> None:
    assert _known_words(default_predictor, text) == []
    assert default_predictor.judge(["A fine kettle.", text]) == [default_predictor.predict(["A fine kettle."])[0], None]


def test_judge_equals_predict_on_every_test_review(default_predictor: Predictor, test_texts: list[str]) -> None:
    assert default_predictor.judge(test_texts) == default_predictor.predict(test_texts)


vocabulary_word = st.sampled_from(["great", "broke", "the", "a", "n", "42", "ok", "zzqx", "null"])
noise = st.text(alphabet=st.sampled_from(list("!?.,;:-_()[]{}\"'/\\ \t\n\x00\x01\x1f😀—…0123456789")), max_size=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.one_of(vocabulary_word, noise, st.text(max_size=8)), min_size=1, max_size=8)
    .map("".join)
    .filter(lambda t: t.strip())
)
def test_no_input_gets_a_label_without_a_word_the_model_knows(default_predictor: Predictor, text: str) -> None:
    [verdict] = default_predictor.judge([text])
    assert (verdict is None) == (_known_words(default_predictor, text) == [])
