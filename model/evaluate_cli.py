"""``sentiment-evaluate``: score a labelled review file with a model artifact and print one JSON object."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import cli, config
from common.config import DEFAULT_MODEL_DIR, ConfigError
from common.readers import FORMATS, ErrorCounter, MalformedInput
from common.values import positive_int

EPILOG = """\
output (stdout, one JSON object): model, version, backend, file, n, accuracy, per_class {negative, positive:
precision, recall, f1, support}, average_precision, roc_auc (negative = class of interest), confusion_matrix
(rows true, columns predicted, order negative, positive), reviews_per_second (scoring only), malformed_lines,
dropped_lines (ratings --stars leaves out), warnings (also on stderr: labels that look inverted, i.e. accuracy below
0.5 with ROC AUC below 0.25).

example:
  sentiment-evaluate --model model/artifacts/default --data test.ft.txt.bz2
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentiment-evaluate",
        description="Evaluate a model artifact on a labelled review file (fastText, CSV or JSONL; plain or .bz2).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=DEFAULT_MODEL_DIR,
        metavar="DIR",
        help=f"artifact folder (default {DEFAULT_MODEL_DIR})",
    )
    parser.add_argument(
        "--data", required=True, metavar="FILE", help="labelled review file; - reads stdin (fastText lines)"
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "onnxruntime", "tensorflow"),
        default="auto",
        help="inference backend (default auto)",
    )
    parser.add_argument("--batch-size", type=positive_int, default=256, help="reviews per predict call (default 256)")
    parser.add_argument("--threads", type=positive_int, help="inference threads (default: the backend's)")
    parser.add_argument("--limit", type=positive_int, metavar="N", help="evaluate the first N reviews only")
    parser.add_argument(
        "--format", dest="fmt", choices=FORMATS, default="auto", help="input format (default: from the file name)"
    )
    parser.add_argument("--text-column", default="text", help="CSV/JSONL text column (default text)")
    parser.add_argument(
        "--label-column",
        default="label",
        help="CSV/JSONL label column, 1 = negative, 0 = positive (star ratings with --stars) (default label)",
    )
    parser.add_argument(
        "--max-malformed",
        type=float,
        default=0.01,
        metavar="FRACTION",
        help="fail when more than this share of lines are malformed (default 0.01)",
    )
    config.add_options(parser, config.READING_OPTIONS, kafka=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reading = config.reading(config.resolve(config.READING_OPTIONS, args))
    from model.evaluate import evaluate_file
    from model.predictor import ModelLoadError, Predictor

    if args.data != "-" and not Path(args.data).is_file():
        raise ConfigError(f"no such data file: {args.data}")
    try:
        predictor = Predictor.load(args.model, backend=args.backend, threads=args.threads)
    except ModelLoadError as exc:
        raise ConfigError(str(exc)) from None
    try:
        result = evaluate_file(
            predictor,
            args.data,
            fmt=args.fmt,
            text_column=args.text_column,
            label_column=args.label_column,
            limit=args.limit,
            batch_size=args.batch_size,
            errors=ErrorCounter(max_fraction=args.max_malformed),
            reading=reading,
        )
    except (MalformedInput, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    backend = getattr(predictor, "backend", args.backend)
    print(
        json.dumps(
            {
                "model": str(args.model),
                "version": predictor.version,
                "backend": backend,
                "file": str(args.data),
                **result,
            }
        )
    )
    return 0


def entry() -> None:
    cli.run(main)
