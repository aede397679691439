"""The one inference API: raw review texts in, (label, p_negative) out.

Four engines behind one ``Predictor``:

- ``fused`` (default when the artifact has model.onnx and the kernel is built):
  the same graph's weights run by a kernel of our own, with the first layer's
  input projection folded into a per-word table (model/fused.py); no TensorFlow,
  no onnxruntime, bitwise batch-invariant results.
- ``onnxruntime`` (the fallback where the kernel is not built): TensorFlow is never
  imported, so a consumer is ready in well under a second in a small process.
  A batch is sorted by token count and cut into sub-batches, each padded only
  to its own longest review; the graph's ``sequence_lens`` make every review's
  result independent of its batch-mates and of the padding.
- ``tensorflow``: the Keras model on 166-wide pre-padded input, exactly as it
  was trained. The reference the fast path is tested against.
- ``legacy``: the published Keras 2 artifacts (a ``.h5`` model and its
  tokenizer.json), see model/legacy.py.

Loading is safe: checksums are verified before anything is parsed, Keras loads
in safe mode, Lambda layers (arbitrary code) are refused, nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from common.labels import Label
from model import artifact, fused
from model.artifact import ModelLoadError
from model.fused import Engine
from model.tokenizer import KerasTokenizer, left_aligned, pad

if TYPE_CHECKING:
    from model.explain import Explanation

__all__ = ["Predictor", "ModelLoadError", "BACKENDS"]

BACKENDS = ("auto", "fused", "onnxruntime", "tensorflow", "legacy")
# Length-sorted reviews go to the ONNX graph in groups of at most this many; a new group starts
# early when the next review is longer than GROUP_GROWTH x the group's first + GROUP_SLACK tokens.
# Why: onnxruntime's LSTM steps every row of a call to the call's longest review, so rows of
# very different lengths waste work, while tiny calls pay per-call overhead. Measured on the
# test sample (1 thread, CPU-seconds): this rule beat fixed groups of 16, 32 and 64 by 5-70%.
DEFAULT_SUB_BATCH = 64
GROUP_GROWTH = 1.2
GROUP_SLACK = 4
# Keras calls on fixed-width input: one compiled call per this many reviews.
KERAS_BATCH = 256


class Assessment(NamedTuple):
    """One text as the model read it."""

    verdict: tuple[Label, float] | None  # (label, p_negative); None when it holds no word the model knows
    tokens: int  # words the tokenizer read, before the model's max_len window
    oov: int  # of them, read as the out-of-vocabulary token


class Judge(Protocol):
    """What the dashboard needs of a model: its version and its verdicts. Predictor is one; tests and benchmarks
    pass small stand-ins. (Read-only properties, so a plain attribute or a property both satisfy it.)"""

    @property
    def version(self) -> str: ...

    def judge(self, texts: Sequence[str]) -> list[tuple[Label, float] | None]: ...


class Scorer(Judge, Protocol):
    """What the stream (consumer/) needs of a model: a Judge that also shows its artifact's metadata and assesses
    each review (its verdict, word and out-of-vocabulary counts, for the drift metrics)."""

    @property
    def metadata(self) -> Mapping[str, Any]: ...  # the artifact's metadata.json

    def assess(self, texts: Sequence[str]) -> list[Assessment]: ...


class Predictor:
    """Scores review texts with a trained model; build it with :meth:`load`."""

    def __init__(self, engine: Engine, tokenizer: KerasTokenizer, metadata: dict, backend: str) -> None:
        self._engine = engine
        self.tokenizer = tokenizer
        self.metadata = metadata
        self.version: str = metadata["version"]
        self.backend = backend
        self.max_len: int = metadata["max_len"]
        self._word_ids = known_word_ids(tokenizer)
        self._oov_id = tokenizer.word_index.get(tokenizer.oov_token) if tokenizer.oov_token is not None else None

    @classmethod
    def load(cls, model_dir: str | Path, backend: str = "auto", threads: int | None = None) -> Predictor:
        """Load an artifact folder (or a folder of published Keras 2 files).

        ``backend``: "auto" picks the fused engine when the artifact has model.onnx and
        the kernel is built (onnxruntime when it is not, or cannot run this graph), the
        legacy loader for a Keras 2 folder, else tensorflow. ``threads``: CPU threads
        the engine may use (None = :func:`default_threads` for fused and onnxruntime,
        the engine's own default for TensorFlow).
        Raises ModelLoadError (a ValueError) with a message naming what is wrong.
        A symlinked folder (a ``current`` pointer, model/registry.py) is resolved once, so every file comes from
        the same artifact even when the link is swapped during the load.
        """
        if backend not in BACKENDS:
            raise ModelLoadError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if threads is not None and threads < 1:
            raise ModelLoadError(f"threads must be a positive integer, got {threads}")
        folder = Path(model_dir).resolve()
        from model import legacy

        if backend == "legacy" or (backend == "auto" and legacy.is_legacy_folder(folder)):
            engine, tokenizer, metadata = legacy.load(folder, threads)
            return cls(engine, tokenizer, metadata, "legacy")

        listed = artifact.read_metadata(folder)["files"]
        fallback = backend == "auto"
        if backend == "auto":
            backend = (
                ("fused" if fused.available() else "onnxruntime") if artifact.ONNX_FILE in listed else "tensorflow"
            )
        model_file = artifact.MODEL_FILE if backend == "tensorflow" else artifact.ONNX_FILE
        metadata = artifact.verify(folder, required=(artifact.TOKENIZER_FILE, model_file))
        tokenizer = _load_tokenizer(folder / artifact.TOKENIZER_FILE)
        if backend == "fused":
            try:
                engine = fused.fused_engine(folder / model_file, metadata["max_len"], threads or default_threads())
            except ModelLoadError:
                if not fallback:
                    raise
                backend = "onnxruntime"  # a graph the kernel does not know: onnxruntime runs any export
        if backend == "onnxruntime":
            engine = _onnx_engine(folder / model_file, metadata["max_len"], threads)
        elif backend == "tensorflow":
            engine = _keras_engine(folder / model_file, metadata["max_len"], threads)
        return cls(engine, tokenizer, metadata, backend)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """p(negative) per text, float32 of shape (n,). Empty or whitespace-only text is a ValueError."""
        _check_texts(texts)
        if not len(texts):
            return np.zeros(0, dtype=np.float32)
        return self._engine(self.tokenizer.texts_to_sequences(texts))

    def explain(self, text: str, top: int = 5) -> Explanation:
        """Each word's effect on p_negative (occlusion, one batched call; see model/explain.py).

        A text :meth:`judge` would not label (no word the model knows) is a ValueError: its score is the
        model's bias, and attributions of it would explain nothing.
        """
        return self.explain_many([text], top)[0]

    def explain_many(self, texts: Sequence[str], top: int = 5) -> list[Explanation]:
        """:meth:`explain` for several texts in one engine call (faster per text: the engine's threads fill)."""
        from model.explain import explain_many, occlusion_by_variants

        for text, verdict in zip(texts, self.judge(texts), strict=True):
            if verdict is None:
                raise ValueError(f"the text has no word the model knows; there is nothing to explain: {text[:80]!r}")
        engine = self._engine
        occlude = engine.occlude if isinstance(engine, fused.FusedEngine) else occlusion_by_variants(engine)
        return explain_many(occlude, self.tokenizer, self.max_len, list(texts), top)

    def predict(self, texts: Sequence[str]) -> list[tuple[Label, float]]:
        """[(label, p_negative)] per text; the label is negative iff p_negative is above DECISION_THRESHOLD."""
        return [_verdict(p) for p in self.predict_proba(texts)]

    def judge(self, texts: Sequence[str]) -> list[tuple[Label, float] | None]:
        """As :meth:`predict`, but None for a text with no word the model knows (see :func:`known_word_ids`).

        Why: such a text reaches the network as nothing but padding or OOV ids, and what comes out (about 0.49)
        is the model's bias, not a judgement of the review; the stream and the dashboard must not label it.
        """
        return [assessment.verdict for assessment in self.assess(texts)]

    def assess(self, texts: Sequence[str]) -> list[Assessment]:
        """:meth:`judge`'s verdicts with what the tokenizer read of each text (the stream's drift signals), from
        the one tokenization the verdicts need."""
        _check_texts(texts)
        sequences = self.tokenizer.texts_to_sequences(texts)
        readable = [i for i, seq in enumerate(sequences) if not self._word_ids.isdisjoint(seq)]
        verdicts: list[tuple[Label, float] | None] = [None] * len(sequences)
        if readable:
            for i, p in zip(readable, self._engine([sequences[i] for i in readable]), strict=True):
                verdicts[i] = _verdict(p)
        oov = self._oov_id
        return [
            Assessment(verdict, len(seq), seq.count(oov) if oov is not None else 0)
            for verdict, seq in zip(verdicts, sequences, strict=True)
        ]

    def __repr__(self) -> str:
        return f"Predictor(version={self.version!r}, backend={self.backend!r})"


def _check_texts(texts: Sequence[str]) -> None:
    if isinstance(texts, str):
        raise TypeError("predict_proba takes a sequence of texts, not one string; wrap it in a list")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__}, not str")
        if not text or text.isspace():
            raise ValueError(f"text {i} is empty or whitespace only; there is nothing to score")


def _verdict(p_negative: float) -> tuple[Label, float]:
    return Label.of(p_negative), float(p_negative)


def known_word_ids(tokenizer: KerasTokenizer) -> frozenset[int]:
    """Ids of the tokens that count as words the model knows: in its vocabulary (below ``num_words``, not the OOV
    token), two characters or more, at least one of them a letter.

    Why not every vocabulary token: alone, a single letter ("N/A" is "n" and "a") or a number ("42", "10/10")
    says nothing of a review's sentiment, yet the vocabulary holds them. One such word is enough, whatever share
    of the text is out of vocabulary: the least readable review of the test sample has 3 known words in 24 tokens
    and real reviews must never be refused (README, "Message contract").
    """
    limit = tokenizer.num_words
    return frozenset(
        i
        for word, i in tokenizer.word_index.items()
        if (not limit or i < limit) and word != tokenizer.oov_token and len(word) > 1 and any(c.isalpha() for c in word)
    )


def _load_tokenizer(path: Path) -> KerasTokenizer:
    try:
        return KerasTokenizer.from_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not a Keras tokenizer JSON: {exc}") from None


def default_threads() -> int:
    """CPUs this process may use, at most 4 (beyond that the small LSTM gains little)."""
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _onnx_engine(path: Path, max_len: int, threads: int | None, sub_batch: int = DEFAULT_SUB_BATCH) -> Engine:
    """Length-sorted sub-batches through the ONNX graph, ``threads`` of them at a time.

    Why threads of our own rather than onnxruntime's intra-op pool: this LSTM's
    per-time-step matrices are tiny (hidden 48/24/12), so splitting one step
    across threads costs more in synchronisation than it saves (measured:
    slower than one thread). Independent sub-batches on single-threaded runs
    scale instead; onnxruntime releases the GIL while it runs.
    """
    import onnxruntime as ort

    workers = threads or default_threads()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for a bad graph
        raise ModelLoadError(f"{path} is not a loadable ONNX model: {exc}") from None
    pool = ThreadPoolExecutor(workers, thread_name_prefix="onnx") if workers > 1 else None
    outputs = [artifact.ONNX_OUTPUT]

    def score(tails: list[list[int]]) -> np.ndarray:
        ids, lengths = left_aligned(tails, max_len)
        return session.run(outputs, {artifact.ONNX_INPUT_IDS: ids, artifact.ONNX_INPUT_LENGTHS: lengths})[0]

    def run(sequences: list[list[int]]) -> np.ndarray:
        tails = [seq[-max_len:] for seq in sequences]
        groups = length_groups([len(t) for t in tails], sub_batch)
        chunks = [[tails[i] for i in rows] for rows in groups]
        results = pool.map(score, chunks) if pool is not None and len(chunks) > 1 else map(score, chunks)
        out = np.empty(len(tails), dtype=np.float32)
        for rows, p in zip(groups, results, strict=True):
            out[rows] = p
        return out

    return run


def length_groups(lengths: Sequence[int], cap: int) -> list[list[int]]:
    """Indices sorted by length, cut into groups of similar length (see GROUP_GROWTH)."""
    groups: list[list[int]] = []
    group: list[int] = []
    limit = 0.0
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if group and (len(group) >= cap or lengths[i] > limit):
            groups.append(group)
            group = []
        if not group:
            limit = lengths[i] * GROUP_GROWTH + GROUP_SLACK
        group.append(i)
    if group:
        groups.append(group)
    return groups


def refuse_lambda_layers(config: object, source: Path) -> None:
    """Raise if a (Keras 2 or 3) model config holds a Lambda layer: it would run code from the file."""
    if isinstance(config, dict):
        if config.get("class_name") == "Lambda":
            raise ModelLoadError(f"{source} contains a Lambda layer (arbitrary code); refusing to load it")
        values: Iterable[object] = config.values()
    elif isinstance(config, list):
        values = config
    else:
        return
    for value in values:
        refuse_lambda_layers(value, source)


def _keras_engine(path: Path, max_len: int, threads: int | None) -> Engine:
    """The reference: Keras 3 on 166-wide pre-padded input, as trained."""
    try:
        with zipfile.ZipFile(path) as archive:
            refuse_lambda_layers(json.loads(archive.read("config.json")), path)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not a Keras 3 model file: {exc}") from None
    import keras

    if threads is not None:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - keras raises many types for a bad file
        raise ModelLoadError(f"{path} could not be loaded by Keras: {exc}") from None

    def run(sequences: list[list[int]]) -> np.ndarray:
        x = pad(sequences, max_len)
        parts = [np.asarray(model.predict_on_batch(x[i : i + KERAS_BATCH])) for i in range(0, len(x), KERAS_BATCH)]
        return np.concatenate(parts).reshape(-1).astype(np.float32)

    return run
