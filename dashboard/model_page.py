"""The model tab: what the loaded artifact says about itself.

Reads ``metadata.json`` and ``report/metrics.json`` as model-training writes
them and shows version, training data, hyperparameters, metrics, confusion
matrix and precision-recall curve. Artifacts differ (older ones, the
published Keras 2 files): whatever a file does not hold is shown as "not in
this artifact" rather than guessed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from dash import dcc, html

from dashboard import figures

log = logging.getLogger(__name__)

NOT_IN_ARTIFACT = "not in this artifact"
_MAX_ROWS = 60


@dataclass(frozen=True)
class ModelReport:
    """The parts of an artifact the page shows; empty where the artifact has nothing."""

    folder: str
    version: str | None = None
    created: str | None = None
    preset: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    confusion: list[list[int]] | None = None
    pr_curve: tuple[list[float], list[float]] | None = None  # (recall, precision)
    libraries: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def _read_json(path: Path, problems: list[str]) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name} could not be read: {exc}")
        return {}
    if not isinstance(doc, dict):
        problems.append(f"{path.name} is not a JSON object")
        return {}
    return doc


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as "a.b" keys; scalars and short lists only (curves are drawn, not listed)."""
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            flat[name] = value
        elif isinstance(value, (list, tuple)) and len(value) <= 8 and all(not isinstance(v, (list, dict)) for v in value):
            flat[name] = ", ".join(str(v) for v in value)
    return flat


def find_confusion(doc: Mapping[str, Any]) -> list[list[int]] | None:
    """A 2x2 confusion matrix (rows true negative/positive) under any key naming one."""
    for key, value in _walk(doc):
        if "confusion" not in key.lower():
            continue
        if isinstance(value, list) and len(value) == 2 and all(isinstance(r, list) and len(r) == 2 for r in value):
            return [[int(v) for v in row] for row in value]
        if isinstance(value, Mapping) and {"tn", "fp", "fn", "tp"} <= set(value):
            # label 1 = negative is the positive class of training: tp = negatives found.
            return [[int(value["tp"]), int(value["fn"])], [int(value["fp"]), int(value["tn"])]]
    return None


def find_pr_curve(doc: Mapping[str, Any]) -> tuple[list[float], list[float]] | None:
    """(recall, precision) lists under a key naming a precision-recall curve."""
    for key, value in _walk(doc):
        lowered = key.lower()
        if isinstance(value, Mapping) and ("pr" in lowered or "precision_recall" in lowered or "curve" in lowered):
            precision, recall = value.get("precision"), value.get("recall")
            if isinstance(precision, list) and isinstance(recall, list) and len(precision) == len(recall) > 1:
                return [float(r) for r in recall], [float(p) for p in precision]
    return None


def _walk(doc: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in doc.items():
        name = f"{prefix}{key}"
        yield name, value
        if isinstance(value, Mapping):
            yield from _walk(value, name + ".")


def load_report(model_dir: str | Path) -> ModelReport:
    """Everything the page can show about the artifact in ``model_dir``; never raises."""
    folder = Path(model_dir)
    problems: list[str] = []
    meta = _read_json(folder / "metadata.json", problems)
    report = _read_json(folder / "report" / "metrics.json", problems)
    if not meta:
        problems.append(f"no readable metadata.json in {folder}")
    metrics_doc = report or (meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {})
    scalar_metrics = {k: v for k, v in flatten(metrics_doc).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return ModelReport(
        folder=str(folder),
        version=_text(meta.get("version")),
        created=_text(meta.get("created")),
        preset=_text(meta.get("preset")),
        data=flatten(meta["data"]) if isinstance(meta.get("data"), dict) else {},
        hyperparameters=flatten(meta["hyperparameters"]) if isinstance(meta.get("hyperparameters"), dict) else {},
        metrics=scalar_metrics,
        confusion=find_confusion(metrics_doc),
        pr_curve=find_pr_curve(metrics_doc),
        libraries=flatten(meta["libraries"]) if isinstance(meta.get("libraries"), dict) else {},
        problems=tuple(problems),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table(rows: Mapping[str, Any]) -> html.Div:
    if not rows:
        return html.P(NOT_IN_ARTIFACT, className="muted")
    shown = list(rows.items())[:_MAX_ROWS]
    return html.Table(
        html.Tbody([html.Tr([html.Th(k), html.Td(_format(v))]) for k, v in shown]),
        className="kv-table",
    )


def _card(title: str, *children: Any, wide: bool = False) -> html.Div:
    return html.Div([html.H3(title), *children], className="card wide" if wide else "card")


def render(report: ModelReport) -> html.Div:
    """The model tab's content."""
    summary = {
        "version": report.version or NOT_IN_ARTIFACT,
        "created": report.created or NOT_IN_ARTIFACT,
        "preset": report.preset or NOT_IN_ARTIFACT,
        "folder": report.folder,
    }
    confusion = (
        dcc.Graph(id="model-confusion", figure=figures.confusion_figure(report.confusion, ("negative", "positive")), config={"displayModeBar": False})
        if report.confusion
        else html.P(NOT_IN_ARTIFACT, className="muted")
    )
    curve = (
        dcc.Graph(id="model-pr-curve", figure=figures.curve_figure(*report.pr_curve, "recall", "precision"), config={"displaylogo": False})
        if report.pr_curve
        else html.P(NOT_IN_ARTIFACT, className="muted")
    )
    problems = [html.Div(p, className="banner warning") for p in report.problems]
    return html.Div(
        [
            *problems,
            html.Div(
                [
                    _card("Model", _table(summary)),
                    _card("Evaluation metrics", _table(report.metrics)),
                    _card("Training data", _table(report.data)),
                    _card("Hyperparameters", _table(report.hyperparameters)),
                ],
                className="grid two",
            ),
            html.Div(
                [_card("Confusion matrix (test split)", confusion), _card("Precision–recall curve (class: negative)", curve)],
                className="grid two",
            ),
            html.Div([_card("Libraries", _table(report.libraries))], className="grid two"),
        ],
        id="model-page",
    )
