"""The model tab: what the loaded artifact says about itself.

Reads ``metadata.json`` and ``report/metrics.json`` as model-training writes
them and shows version, training data, hyperparameters, metrics, confusion
matrix and precision-recall curve. Artifacts differ (older ones, the
published Keras 2 files): whatever a file does not hold is shown as "not in
this artifact" rather than guessed.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dash import html

from dashboard import figures
from dashboard.layout import chart
from model.artifact import PR_PLOT, REPORT_DIR, REPORT_METRICS_FILE, ModelLoadError, read_metadata_object

log = logging.getLogger(__name__)

NOT_IN_ARTIFACT = "not in this artifact"
_MAX_ROWS = 60
_MAX_PNG_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class ModelReport:
    """The parts of an artifact the page shows; empty where the artifact has nothing."""

    folder: str
    version: str | None = None
    created: str | None = None
    preset: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # in words: reviews, each file, malformed lines
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # evaluated set -> metric -> value
    confusion: tuple[str, list[list[int]], list[str]] | None = None  # (set, matrix rows true, labels)
    pr_curve: tuple[str, list[float], list[float]] | None = None  # (set, recall, precision)
    pr_plot: str | None = None  # the report's PNG as a data URI, shown when the points are not kept
    history: dict[str, list[float]] = field(default_factory=dict)
    timings: dict[str, str] = field(default_factory=dict)  # in words, with the training time first
    libraries: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def _read_metadata(folder: Path, problems: list[str]) -> dict[str, Any]:
    try:
        return read_metadata_object(folder)
    except ModelLoadError as exc:
        problems.append(str(exc))
        return {}


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
    """Nested mappings (and lists of them) as "a.b" / "a.0.b" keys; long lists of numbers are left out."""
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                flat.update(flatten(item, f"{name}.{i}."))
        elif isinstance(value, (list, tuple)):
            if len(value) <= 8 and all(not isinstance(v, (list, dict)) for v in value):
                flat[name] = ", ".join(str(v) for v in value)
        else:
            flat[name] = value
    return flat


def _evaluated_sets(report: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """{set name: classification metrics}: the report's LSTM sets and baseline, else metadata's headline figures."""
    sets: dict[str, Mapping[str, Any]] = {}
    for source, prefix in ((report.get("lstm"), ""), (report.get("baseline"), "baseline ")):
        if isinstance(source, Mapping):
            sets.update({prefix + name: m for name, m in source.items() if isinstance(m, Mapping)})
    if not sets:
        for source, prefix in ((meta.get("metrics"), ""), (meta.get("baseline"), "baseline ")):
            if isinstance(source, Mapping):
                sets.update({prefix + name: m for name, m in source.items() if isinstance(m, Mapping)})
    return sets


def _main_set(sets: Mapping[str, Mapping[str, Any]]) -> str | None:
    return next((name for name in ("test", "validation") if name in sets), next(iter(sets), None))


def find_confusion(sets: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[list[int]], list[str]] | None:
    """The main set's confusion matrix ({"matrix": [[...]], "labels": [...]}, rows true)."""
    name = _main_set({k: v for k, v in sets.items() if not k.startswith("baseline")})
    found = sets.get(name, {}).get("confusion_matrix") if name else None
    if name and isinstance(found, Mapping) and isinstance(found.get("matrix"), list):
        matrix = found["matrix"]
        labels = found.get("labels") or ["negative", "positive"]
        if len(matrix) == len(labels) and all(isinstance(r, list) and len(r) == len(labels) for r in matrix):
            return name, [[int(v) for v in row] for row in matrix], [str(label) for label in labels]
    return None


def find_pr_curve(sets: Mapping[str, Mapping[str, Any]]) -> tuple[str, list[float], list[float]] | None:
    """The main set's precision-recall points, when the report keeps them ({"pr_curve": {"precision", "recall"}})."""
    name = _main_set({k: v for k, v in sets.items() if not k.startswith("baseline")})
    curve = sets.get(name, {}).get("pr_curve") if name else None
    if name and isinstance(curve, Mapping):
        precision, recall = curve.get("precision"), curve.get("recall")
        if isinstance(precision, list) and isinstance(recall, list) and len(precision) == len(recall) > 1:
            return name, [float(r) for r in recall], [float(p) for p in precision]
    return None


def _metric_rows(sets: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{set: {metric: number}}, curves and matrices left to the figures."""
    return {
        name: {
            k: v
            for k, v in flatten(
                {key: value for key, value in metrics.items() if key not in ("confusion_matrix", "pr_curve")}
            ).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) or v is None
        }
        for name, metrics in sets.items()
    }


def load_report(model_dir: str | Path) -> ModelReport:
    """Everything the page can show about the artifact in ``model_dir``; never raises."""
    folder = Path(model_dir)
    problems: list[str] = []
    meta = _read_metadata(folder, problems)
    report = _read_json(folder / REPORT_DIR / REPORT_METRICS_FILE, problems)
    sets = _evaluated_sets(report, meta)
    history: Mapping[str, Any] = report["history"] if isinstance(report.get("history"), Mapping) else {}

    def section(name: str) -> dict[str, Any]:
        return flatten(meta[name]) if isinstance(meta.get(name), Mapping) else {}

    def raw(name: str) -> Mapping[str, Any]:
        return meta[name] if isinstance(meta.get(name), Mapping) else {}

    return ModelReport(
        folder=str(folder),
        version=_text(meta.get("version")),
        created=_text(meta.get("created")),
        preset=_text(meta.get("preset")),
        data=data_rows(raw("data")),
        hyperparameters=section("hyperparameters"),
        metrics=_metric_rows(sets),
        confusion=find_confusion(sets),
        pr_curve=find_pr_curve(sets),
        pr_plot=_png_data_uri(folder / REPORT_DIR / PR_PLOT),
        history={
            k: [float(x) for x in v]
            for k, v in history.items()
            if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)
        },
        timings=timing_rows(raw("timings"), was_resumed(meta)),
        libraries=section("libraries"),
        problems=tuple(problems),
    )


# -- the training data and the timings, in words --------------------------------------------------------------

_TIMINGS = {  # metadata's timings (model.train) -> what each measured
    "vocabulary_seconds": "building the vocabulary",
    "encode_seconds": "encoding the reviews",
    "fit_seconds": "fitting the network",
    "evaluate_seconds": "evaluating",
    "baseline_seconds": "the TF-IDF baseline",
    "total_seconds": "in all",
}


def duration(seconds: float) -> str:
    """Seconds as people say them: 0.02 s, 3.1 s, 25 s, 3 min 12 s, 1 h 05 min."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def was_resumed(meta: Mapping[str, Any]) -> bool:
    """Whether training was resumed: later commands are listed in resumed_with; older artifacts only show --resume."""
    return bool(meta.get("resumed_with")) or "--resume" in str(meta.get("command") or "").split()


def training_time(timings: Mapping[str, Any], resumed: bool) -> str:
    """How long training took; a resumed run timed only its last part, and says so rather than showing that."""
    fit, total = timings.get("fit_seconds"), timings.get("total_seconds")
    if resumed:
        return "not recorded: training was resumed (--resume), and the artifact holds the timings of its last part only"
    if not isinstance(fit, (int, float)):
        return NOT_IN_ARTIFACT
    return f"{duration(fit)} fitting the network" + (
        f", {duration(total)} in all" if isinstance(total, (int, float)) else ""
    )


def timing_rows(timings: Mapping[str, Any], resumed: bool) -> dict[str, str]:
    """The training time first, then each measured step by name (of the last part, when the run was resumed)."""
    rows = {"training time": training_time(timings, resumed)}
    prefix = "last part: " if resumed else ""
    for key, seconds in timings.items():
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            rows[prefix + _TIMINGS.get(key, key.removesuffix("_seconds").replace("_", " "))] = duration(seconds)
    return rows


def _count(value: Any) -> str | None:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else None


def _file_sentence(summary: Mapping[str, Any]) -> str:
    """ "train.ft.txt.bz2: 13,290 reviews (6,625 negative); 13,290 lines read, none malformed"."""
    text = str(summary.get("path", "a file"))
    reviews, negative = _count(summary.get("reviews")), _count(summary.get("negative"))
    if reviews:
        text += f": {reviews} reviews" + (f" ({negative} negative)" if negative else "")
    malformed = summary.get("malformed")
    if isinstance(malformed, Mapping) and _count(malformed.get("lines")):
        bad = malformed.get("malformed") or 0
        share = malformed.get("malformed_fraction")
        text += f"; {malformed['lines']:,} lines read, " + (
            "none malformed"
            if not bad
            else f"{bad:,} malformed" + (f" ({share:.2%})" if isinstance(share, float) else "")
        )
    return text


def data_rows(data: Mapping[str, Any]) -> dict[str, str]:
    """What the model learned from, in words; keys this page does not know are listed as they are."""
    rows: dict[str, Any] = {}
    known = {"reviews", "train_reviews", "validation_reviews", "train_files", "test_file"}
    if _count(data.get("reviews")):
        split = [
            f"{_count(data.get(k))} for {use}"
            for k, use in (("train_reviews", "training"), ("validation_reviews", "validation"))
            if _count(data.get(k))
        ]
        rows["reviews"] = f"{data['reviews']:,}" + (f": {', '.join(split)}" if split else "")
    files = [f for f in data.get("train_files") or [] if isinstance(f, Mapping)]
    for number, summary in enumerate(files, 1):
        rows["training file" + (f" {number}" if len(files) > 1 else "")] = _file_sentence(summary)
    if isinstance(data.get("test_file"), Mapping):
        rows["test file"] = _file_sentence(data["test_file"])
    rows.update(flatten({k: v for k, v in data.items() if k not in known}))
    return rows


def _png_data_uri(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(b"\x89PNG") or len(data) > _MAX_PNG_BYTES:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table(rows: Mapping[str, Any]) -> html.P | html.Table:
    """Key and value per row; a value that is not there (None, empty) is no row at all."""
    shown = [(k, v) for k, v in rows.items() if v is not None and v != ""][:_MAX_ROWS]
    if not shown:
        return html.P(NOT_IN_ARTIFACT, className="muted")
    return html.Table(
        html.Tbody([html.Tr([html.Th(k), html.Td(_format(v))]) for k, v in shown]),
        className="kv-table",
    )


def _metric_name(key: str) -> str:
    """ "per_class.negative.f1" reads as "negative f1"."""
    return key.removeprefix("per_class.").replace(".", " ").replace("_", " ")


def _metrics_table(metrics: Mapping[str, Mapping[str, Any]]) -> html.P | html.Table:
    """Metrics down, evaluated sets across, so the LSTM and the baseline sit side by side."""
    if not metrics:
        return html.P(NOT_IN_ARTIFACT, className="muted")
    names = list(dict.fromkeys(k for values in metrics.values() for k in values))[:_MAX_ROWS]
    return html.Table(
        [
            html.Thead(html.Tr([html.Th("metric"), *[html.Th(s) for s in metrics]])),
            html.Tbody(
                [
                    html.Tr([html.Th(_metric_name(n)), *[html.Td(_format(metrics[s].get(n, "–"))) for s in metrics]])
                    for n in names
                ]
            ),
        ],
        className="kv-table metrics-table",
        id="model-metrics",
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
    if report.confusion:
        set_name, matrix, labels = report.confusion
        confusion_title = f"Confusion matrix ({set_name})"
        confusion: Any = chart(
            "model-confusion", figures.confusion_figure(matrix, labels), confusion_title, {"displayModeBar": False}
        )
    else:
        confusion, confusion_title = html.P(NOT_IN_ARTIFACT, className="muted"), "Confusion matrix"
    if report.pr_curve:
        set_name, recall, precision = report.pr_curve
        curve_title = f"Precision–recall ({set_name})"
        curve: Any = chart(
            "model-pr-curve",
            figures.curve_figure(recall, precision, "recall (negative)", "precision (negative)"),
            curve_title,
            {"displaylogo": False},
        )
    elif report.pr_plot:
        curve = html.Div(
            [
                html.Img(
                    src=report.pr_plot, className="report-plot", alt="precision-recall curve from the training report"
                ),
                html.P(
                    "The report's static plot: the curve's points are not in this artifact's metrics.json.",
                    className="muted",
                ),
            ]
        )
        curve_title = "Precision–recall (test)"
    else:
        curve, curve_title = html.P(NOT_IN_ARTIFACT, className="muted"), "Precision–recall"
    history: Any = (
        chart(
            "model-history",
            figures.history_figure(report.history),
            "Training history per epoch",
            {"displayModeBar": False},
        )
        if report.history
        else html.P(NOT_IN_ARTIFACT, className="muted")
    )
    return html.Div(
        [
            *[html.Div(p, className="banner warning") for p in report.problems],
            html.Div(
                [_card("Model", _table(summary)), _card("Evaluation", _metrics_table(report.metrics))],
                className="grid two",
            ),
            html.Div([_card(confusion_title, confusion), _card(curve_title, curve)], className="grid two"),
            html.Div(
                [_card("Training history", history), _card("Hyperparameters", _table(report.hyperparameters))],
                className="grid two",
            ),
            html.Div(
                [
                    _card("Training data", _table(report.data)),
                    _card("Timings and libraries", _table({**report.timings, **report.libraries})),
                ],
                className="grid two",
            ),
        ],
        id="model-page",
    )
