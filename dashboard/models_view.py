"""The Models tab: the served model beside its shadow candidate, and the live stream beside the training data.

Everything comes from the results the live view reads (each carries the served verdict, the shadow's when one
runs, and the words read) and from the training reference in the dashboard's own model's metadata.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dashboard import figures
from dashboard.aggregates import ModelCounts, ModelOps

ROLES = ("served", "shadow")


@dataclass(frozen=True)
class ModelsView:
    accuracy: list[dict[str, Any]]  # one row per (version, role)
    drift: list[dict[str, Any]]  # one row per statistic of each served version
    agreement: figures.Figure
    disagreements: list[dict[str, Any]]
    summary: str  # the tab in one sentence, for screen readers and the top of the tab


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def accuracy_rows(counts: Mapping[tuple[str, str], ModelCounts]) -> list[dict[str, Any]]:
    ordered = sorted(counts.items(), key=lambda item: (ROLES.index(item[0][1]), item[0][0]))
    return [
        {
            "model": version,
            "role": role,
            "judged": c.judged,
            "positive": _share(c.positive, c.judged),
            "labelled": c.labelled,
            "accuracy": _share(c.correct, c.labelled),
        }
        for (version, role), c in ordered
    ]


def drift_rows(
    counts: Mapping[tuple[str, str], ModelCounts], references: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Out-of-vocabulary and positive shares of each served version, against its training reference when known."""
    rows = []
    for (version, role), c in sorted(counts.items()):
        if role != "served":
            continue
        reference = references.get(version) or {}
        for name, live, key in (
            ("out-of-vocabulary words", _share(c.oov_tokens, c.tokens), "oov_share"),
            ("positive reviews", _share(c.positive, c.judged), "positive_share"),
        ):
            known = reference.get(key)
            rows.append(
                {
                    "model": version,
                    "statistic": name,
                    "live": live,
                    "training": f"{known:.1%}" if isinstance(known, (int, float)) else "not known",
                }
            )
    return rows


def disagreement_rows(ops: ModelOps, limit: int = 20) -> list[dict[str, Any]]:
    rows = []
    for result in ops.disagreements[:limit]:
        shadow = result.shadow
        assert shadow is not None
        rows.append(
            {
                "review": result.text or "",
                "served": f"{result.label} ({result.p_negative:.3f})",
                "shadow": f"{shadow.label} ({shadow.p_negative:.3f})",
                "true": result.true_label or "",
                "models": f"{result.model_version} / {shadow.model_version}",
            }
        )
    return rows


def render(ops: ModelOps, references: Mapping[str, Mapping[str, Any]]) -> ModelsView:
    agreed = sum(a for _, a, _ in ops.agreement)
    compared = sum(c for _, _, c in ops.agreement)
    if compared:
        summary = (
            f"The shadow agreed with the served model on {agreed:,} of {compared:,} reviews "
            f"({_share(agreed, compared)})."
        )
    else:
        summary = "No shadow candidate in the stream: start the consumer with --shadow-model-dir to compare one."
    return ModelsView(
        accuracy_rows(ops.counts),
        drift_rows(ops.counts, references),
        figures.agreement_figure(ops.agreement),
        disagreement_rows(ops),
        summary,
    )
