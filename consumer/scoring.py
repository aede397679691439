"""Turn one micro-batch of input messages into output and dead-letter records.

Decoding goes through the shared contract (never raises); every good review of
the batch is scored in one model call; a model error on the batch falls back to
scoring one review at a time so only the review that fails is dead-lettered.
A review with no word the model knows is dead-lettered as ``no_words``, never labelled.
The result lists one record per input message, in input order.

A shadow candidate, when given, scores the same reviews after the served model; its verdicts
ride along in the output (``"shadow"``) and never decide the label. Whatever the candidate does
wrong costs only its own fields: one failed call drops them for the batch, with no retry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from confluent_kafka import Message

from common import contract
from common.labels import Label
from model.predictor import Assessment, Scorer

log = logging.getLogger(__name__)


class OutRecord(NamedTuple):
    """One record to publish for one input message (a NamedTuple: one is made per message)."""

    source: contract.Source
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] | None
    label: Label | None = None  # the predicted label; None for a dead letter
    reason: str | None = None  # the dead-letter reason; None for a scored review
    event_time: float | None = None  # seconds since the epoch, for the end-to-end latency
    dropped: tuple[str, ...] = ()  # the optional input fields left out as empty or malformed
    true_label: Label | None = None  # the input's own label, when it carried one
    shadow: contract.ShadowVerdict | None = None  # the shadow candidate's verdict, when one ran


@dataclass(frozen=True)
class ScoredBatch:
    records: list[OutRecord]
    inference_seconds: float
    scored: int
    assessments: Sequence[Assessment] = ()  # what the served model read of each review it could read (drift signals)
    shadow_seconds: float | None = None  # the candidate's time, when it scored the batch
    shadow_error: str | None = None  # why the candidate's verdicts are missing from this batch


def score_batch(
    messages: Sequence[Message],
    scorer: Scorer,
    output_topic: str,
    dlq_topic: str,
    max_text_bytes: int = contract.DEFAULT_MAX_TEXT_BYTES,
    shadow: Scorer | None = None,
) -> ScoredBatch:
    """Decode, score and encode ``messages``; never raises for a bad message, nor for a failing ``shadow``."""
    decoded: list[contract.Review | contract.Rejection] = []
    sources: list[contract.Source] = []
    for msg in messages:
        source = contract.Source(msg.topic(), msg.partition(), msg.offset())  # type: ignore[arg-type]  # consumed: all set
        sources.append(source)
        decoded.append(contract.decode_review(msg.key(), msg.value(), source, max_text_bytes))

    good = [i for i, d in enumerate(decoded) if isinstance(d, contract.Review)]
    started = time.perf_counter()
    assessed = _assess_all([decoded[i].text for i in good], scorer)  # type: ignore[union-attr]  # good lists only the Reviews
    inference_seconds = time.perf_counter() - started
    predictions = [_verdict_or_rejection(a) for a in assessed]
    by_index = dict(zip(good, predictions, strict=True))
    readings = {
        i: (a.tokens, a.oov) for i, a in zip(good, assessed, strict=True) if not isinstance(a, contract.Rejection)
    }
    judged = [i for i in good if isinstance(by_index[i], tuple)]
    shadows, shadow_seconds, shadow_error = _shadow_verdicts([decoded[i].text for i in judged], shadow)  # type: ignore[union-attr]  # judged lists only Reviews
    shadow_by_index = dict(zip(judged, shadows, strict=False))
    scored_at = time.time()

    records: list[OutRecord] = []
    for i, (msg, item, source) in enumerate(zip(messages, decoded, sources, strict=True)):
        prediction = by_index.get(i)
        if isinstance(item, contract.Review) and isinstance(prediction, tuple):
            verdict = shadow_by_index.get(i)
            result = contract.scored(item, prediction, scorer.version, scored_at, verdict, readings.get(i))
            value = contract.encode_result(result)
            event_time = item.event_time if item.event_time is not None else _message_time(msg)
            records.append(
                OutRecord(
                    source,
                    output_topic,
                    contract.bounded_key(msg.key()),
                    value,
                    None,
                    label=result.label,
                    event_time=event_time,
                    dropped=tuple(name for name, _ in item.warnings),
                    true_label=item.true_label,
                    shadow=verdict,
                )
            )
        else:
            rejection = item if isinstance(item, contract.Rejection) else prediction
            headers = contract.dead_letter_headers(rejection, source, msg.headers(), len(msg.value() or b""))  # type: ignore[arg-type]  # a consumed message's headers are (str, bytes) pairs; the stubs type what produce takes
            value = contract.dead_letter_value(msg.value())
            records.append(
                OutRecord(source, dlq_topic, contract.bounded_key(msg.key()), value, headers, reason=rejection.code)  # type: ignore[union-attr]  # prediction is a Rejection here (a verdict took the branch above)
            )
    read = [a for a in assessed if not isinstance(a, contract.Rejection)]
    return ScoredBatch(records, inference_seconds, len(good), read, shadow_seconds, shadow_error)


def _shadow_verdicts(
    texts: list[str], shadow: Scorer | None
) -> tuple[list[contract.ShadowVerdict | None], float | None, str | None]:
    """The candidate's verdicts on the texts the served model judged: (verdicts, seconds, error)."""
    if shadow is None or not texts:
        return [], None, None
    started = time.perf_counter()
    try:
        verdicts = shadow.judge(texts)
    except Exception as exc:  # noqa: BLE001 - a broken candidate must cost its own fields, never the stream
        log.warning("shadow model failed on a batch; its verdicts are left out", extra={"error": repr(exc)[:300]})
        return [], None, repr(exc)[:300]
    if len(verdicts) != len(texts):
        log.warning(
            "shadow model returned a wrong count; its verdicts are left out",
            extra={"texts": len(texts), "verdicts": len(verdicts)},
        )
        return [], None, f"{len(verdicts)} verdicts for {len(texts)} texts"
    seconds = time.perf_counter() - started
    return [None if v is None else contract.ShadowVerdict(shadow.version, v[0], v[1]) for v in verdicts], seconds, None


_NO_WORDS = contract.Rejection(contract.NO_WORDS, "no words the model knows: the text cannot be judged")


def _assess_all(texts: list[str], scorer: Scorer) -> list[Assessment | contract.Rejection]:
    """One model call for the batch; on failure, one call per text so only the culprit is rejected."""
    if not texts:
        return []
    try:
        return list(scorer.assess(texts))
    except Exception as exc:  # noqa: BLE001 - a model error must cost one message, not the stream
        log.warning("batch scoring failed, retrying one by one", extra={"error": repr(exc)[:300], "batch": len(texts)})
    results: list[Assessment | contract.Rejection] = []
    for text in texts:
        try:
            results.extend(scorer.assess([text]))
        except Exception as exc:  # noqa: BLE001 - the same: one text's failure costs that text alone
            results.append(contract.Rejection(contract.SCORING_FAILED, f"model failed on this text: {exc!r}"[:500]))
    return results


def _verdict_or_rejection(assessed: Assessment | contract.Rejection) -> tuple[Label, float] | contract.Rejection:
    if isinstance(assessed, contract.Rejection):
        return assessed
    return _NO_WORDS if assessed.verdict is None else assessed.verdict


def _message_time(msg: Message) -> float | None:
    """The Kafka timestamp (producer create time) when the review carries no event time."""
    kind, millis = msg.timestamp()
    return millis / 1000.0 if kind != 0 and millis > 0 else None
