"""The training report beside an artifact: metrics.json, a short REPORT.md and PNG plots.

Documentation only (loading never reads it), so a reviewer can judge a model without running it:
what it was trained on, how it did against the TF-IDF baseline on the same split, and the plots
(training history, confusion matrix, precision-recall curve) made with matplotlib's Agg backend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from model.artifact import PR_PLOT, REPORT_METRICS_FILE

HISTORY_PLOT = "training_history.png"
CONFUSION_PLOT = "confusion_matrix.png"


def write(
    folder: Path,
    metadata: Mapping[str, Any],
    evaluation: Mapping[str, Mapping[str, Any]],
    history: Mapping[str, list[float]],
    baseline: Mapping[str, Any] | None,
    test_scores: tuple[np.ndarray, np.ndarray] | None,
) -> Path:
    """Write the report for an artifact whose ``metadata`` was just saved; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {
        "version": metadata.get("version"),
        "lstm": dict(evaluation),
        "baseline": None
        if baseline is None
        else {"model": baseline["model"], "train_reviews": baseline["train_reviews"], **baseline["metrics"]},
        "history": dict(history),
    }
    (folder / REPORT_METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    plots = [_history_plot(folder / HISTORY_PLOT, history, metadata)]
    main_set = "test" if "test" in evaluation else "validation"
    plots.append(_confusion_plot(folder / CONFUSION_PLOT, evaluation[main_set], main_set))
    if test_scores is not None:
        plots.append(_pr_plot(folder / PR_PLOT, test_scores, baseline))
    (folder / "REPORT.md").write_text(
        _markdown(metadata, evaluation, baseline, [p for p in plots if p]), encoding="utf-8"
    )
    return folder


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _history_plot(path: Path, history: Mapping[str, list[float]], metadata: Mapping[str, Any]) -> str | None:
    if not history.get("loss"):
        return None
    plt = _pyplot()
    names = [m for m in ("loss", "accuracy", "auc", "recall") if m in history]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        ax.plot(epochs, history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_xticks(epochs)
        ax.legend()
    best = metadata.get("hyperparameters", {}).get("best_epoch")
    fig.suptitle(f"training history (best epoch restored: {best})")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path.name


def _confusion_plot(path: Path, metrics: Mapping[str, Any], set_name: str) -> str:
    plt = _pyplot()
    cm = np.asarray(metrics["confusion_matrix"]["matrix"])
    labels = metrics["confusion_matrix"]["labels"]
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(cm, cmap="Blues")
    for (i, j), count in np.ndenumerate(cm):
        ax.text(j, i, f"{count:,}", ha="center", va="center", color="white" if count > cm.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix ({set_name}, n={metrics['n']:,})")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path.name


def _pr_plot(path: Path, test_scores: tuple[np.ndarray, np.ndarray], baseline: Mapping[str, Any] | None) -> str:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    plt = _pyplot()
    labels, scores = test_scores
    fig, ax = plt.subplots(figsize=(4.5, 3.6))
    curves = [("LSTM", scores)]
    if baseline is not None and "test" in baseline.get("scores", {}):
        curves.append(("TF-IDF + LR", baseline["scores"]["test"]))
    for name, p in curves:
        precision, recall, _ = precision_recall_curve(labels, p)
        ax.plot(recall, precision, label=f"{name} (AP {average_precision_score(labels, p):.3f})")
    ax.set_xlabel("recall (negative)")
    ax.set_ylabel("precision (negative)")
    ax.set_title("precision-recall, test set")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path.name


def _markdown(
    metadata: Mapping[str, Any], evaluation: Mapping[str, Any], baseline: Mapping[str, Any] | None, plots: list[str]
) -> str:
    hp = metadata.get("hyperparameters", {})
    data = metadata.get("data", {})
    lines = [
        f"# Model {metadata.get('version')} ({metadata.get('preset')} preset)",
        "",
        f"Made by: `{metadata.get('command') or '(library call)'}`",
        "",
        *[f"Resumed with: `{c}`\n" for c in metadata.get("resumed_with") or []],
        f"Trained on {data.get('train_reviews', 0):,} reviews, early-stopped on {data.get('validation_reviews', 0):,} "
        f"held out of the same files (stratified 80/20, random_state {hp.get('split_random_state')}); "
        f"best epoch {hp.get('best_epoch')} of {hp.get('epochs_run')} run.",
        "",
        "| input file | reviews | negative | sha256 |",
        "| --- | ---: | ---: | --- |",
    ]
    for f in data.get("train_files", []):
        lines.append(f"| {Path(f['path']).name} | {f['reviews']:,} | {f['negative']:,} | {f['sha256'][:16]}... |")
    if data.get("test_file"):
        t = data["test_file"]
        lines.append(
            f"| {Path(t['path']).name} (held-out test) | {t['reviews']:,} | {t['negative']:,} | {t['sha256'][:16]}... |"
        )
    lines += [
        "",
        "| set | model | accuracy | ROC AUC | average precision | F1 negative | F1 positive |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for set_name in ("test", "validation"):
        rows = [("LSTM", evaluation.get(set_name))]
        if baseline is not None:
            rows.append(("TF-IDF + LR", baseline["metrics"].get(set_name)))
        for model_name, m in rows:
            if m:
                lines.append(
                    f"| {set_name} | {model_name} | {m['accuracy']:.4f} | {_fmt(m['roc_auc'])} | "
                    f"{_fmt(m['average_precision'])} | "
                    f"{m['per_class']['negative']['f1']:.4f} | {m['per_class']['positive']['f1']:.4f} |"
                )
    if baseline is not None:
        lines += [
            "",
            f"Baseline: {baseline['model']}, trained on {baseline['train_reviews']:,} of the same training rows.",
        ]
    lines += ["", "## Hyperparameters", "", "| name | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in sorted(hp.items()) if k != "description"]
    lines += ["", hp.get("description", ""), ""]
    differences = metadata.get("differences_from_published")
    if differences is not None:  # absent from artifacts made before it was computed per run
        lines += ["## Differences from the published procedure, and why", ""]
        lines += [f"- {d}" for d in differences] or ["None: this run followed the published procedure."]
        lines += [""]
    lines += [f"![{Path(p).stem.replace('_', ' ')}]({p})" for p in plots]
    timings = metadata.get("timings", {})
    lines += ["", "Timings (s): " + ", ".join(f"{k.replace('_seconds', '')} {v}" for k, v in timings.items()), ""]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
