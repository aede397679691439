"""``sentiment-model``: list the artifacts of a models folder, promote one, roll back, compute reference statistics.

The services follow the served model through ``--model-dir MODELS_DIR/current`` (model/registry.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import cli, config
from common.config import ConfigError
from common.readers import FORMATS
from model import registry

EPILOG = """\
the services serve the pointer:  SENTIMENT_MODEL_DIR=MODELS_DIR/current sentiment-consumer
  a running consumer switches within --model-poll-seconds (or at once on SIGHUP), between batches;
  the dashboard loads the pointer's model when it starts.

examples:
  sentiment-model --models-dir /models list
  sentiment-model --models-dir /models promote /models/2026-12-01
  sentiment-model --models-dir /models rollback
  sentiment-model reference model/artifacts/default --data data/amazon_polarity/train.sample.ft.txt.bz2 \\
      data/amazon_other/star_polarity.ft.txt.bz2 --write
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentiment-model",
        description="Which model the stream serves: list artifacts, promote one, roll back; reference statistics.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    config.add_options(parser, ["models_dir"], kafka=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "list", help="the artifacts under the models folder: version, preset, test metrics, which is served"
    )
    promote = commands.add_parser("promote", help="serve DIR (checked: it must load and score) through the pointer")
    promote.add_argument("dir", type=Path, metavar="DIR", help="artifact folder, in the models folder or anywhere else")
    commands.add_parser("rollback", help="serve again the model served before the current one")
    reference = commands.add_parser(
        "reference",
        help="compute an artifact's reference statistics (metadata.json 'reference') from review files",
        description="With the artifact's own tokenizer and model, no retraining. By default the files are the ones it "
        "was trained on, in the same order, and only training's validation split counts; --all-reviews "
        "counts every review (a held-out test file).",
    )
    reference.add_argument("dir", type=Path, metavar="DIR", help="artifact folder")
    reference.add_argument("--data", nargs="+", required=True, metavar="FILE", help="labelled review files")
    reference.add_argument(
        "--all-reviews", action="store_true", help="every review of the files, not the validation split"
    )
    reference.add_argument(
        "--write", action="store_true", help="record the result in DIR/metadata.json (else print it)"
    )
    reference.add_argument(
        "--format", dest="fmt", choices=FORMATS, default="auto", help="input format (default: from the file name)"
    )
    reference.add_argument("--text-column", default="text", help="CSV/JSONL text column (default text)")
    reference.add_argument(
        "--label-column", default="label", help="CSV/JSONL label column, 1 = negative (default label)"
    )
    config.add_options(reference, config.READING_OPTIONS, kafka=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "reference":
        return _reference(args)
    models_dir = config.resolve(["models_dir"], args).models_dir
    if not models_dir.is_dir():
        raise ConfigError(f"models folder {models_dir} does not exist (--models-dir, SENTIMENT_MODELS_DIR)")
    try:
        if args.command == "list":
            _print_list(models_dir)
        elif args.command == "promote":
            _print_change("promoted", registry.promote(models_dir, args.dir), models_dir)
        else:
            _print_change("rolled back", registry.rollback(models_dir), models_dir)
    except registry.RegistryError as exc:
        raise ConfigError(str(exc)) from None
    return 0


def _print_list(models_dir: Path) -> None:
    rows = registry.list_artifacts(models_dir)
    print(f"{'':2}{'folder':32} {'version':14} {'preset':12} {'created':26} {'test acc':>8} {'test auc':>8}")
    for row in rows:
        name = row.path.name if row.path.parent.resolve() == models_dir.resolve() else str(row.path)
        figures = " ".join(
            f"{row.test[k]:8.4f}" if isinstance(row.test.get(k), float) else f"{'-':>8}"
            for k in ("accuracy", "roc_auc")
        )
        print(
            f"{'*' if row.served else ' ':2}{name:32} {row.version:14} {row.preset:12} {row.created:26} {figures}"
            + (f"  ({row.problem})" if row.problem else "")
        )
    served = next((row for row in rows if row.served), None)
    target = registry.rollback_target(models_dir)
    print(f"served (*): {served.path if served else 'nothing: no pointer ' + str(models_dir / registry.POINTER)}")
    print(f"rollback would serve: {target if target else 'nothing (no earlier model recorded)'}")


def _print_change(what: str, change: registry.Change, models_dir: Path) -> None:
    if change.before == change.after:
        print(f"{change.after} (version {change.version}) is already served; nothing changed")
    else:
        print(
            f"{what}: {models_dir / registry.POINTER} -> {change.after} (version {change.version}); "
            f"before: {change.before}"
        )


def _reference(args: argparse.Namespace) -> int:
    from common.readers import MalformedInput
    from model import artifact
    from model.predictor import ModelLoadError, Predictor
    from model.reference import artifact_reference

    reading = config.reading(config.resolve(config.READING_OPTIONS, args))
    for path in args.data:
        if not Path(path).is_file():
            raise ConfigError(f"no such data file: {path}")
    try:
        predictor = Predictor.load(args.dir)
    except ModelLoadError as exc:
        raise ConfigError(str(exc)) from None
    if not args.all_reviews:
        _check_training_files(predictor.metadata, args.data)
    read_options = {
        "fmt": args.fmt,
        "text_column": args.text_column,
        "label_column": args.label_column,
        **reading.options(),
    }
    try:
        result = artifact_reference(predictor, args.data, read_options, validation_split=not args.all_reviews)
    except (MalformedInput, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    if args.write:
        path = Path(args.dir) / artifact.METADATA_FILE
        meta = json.loads(path.read_text(encoding="utf-8"))
        meta["reference"] = result
        artifact.write_metadata(Path(args.dir), meta)
    print(json.dumps(result, indent=2))
    return 0


def _check_training_files(metadata: dict, paths: list[str]) -> None:
    """The validation split is only training's when the files are training's, in its order (sha256 per file)."""
    from model.artifact import file_sha256

    trained = [f.get("sha256") for f in (metadata.get("data") or {}).get("train_files") or []]
    given = [file_sha256(Path(p)) for p in paths]
    if trained != given:
        raise ConfigError(
            "--data must be the files the model was trained on, in the same order (metadata.json data.train_files, "
            "compared by sha256); for other files add --all-reviews"
        )


def entry() -> None:
    cli.run(main)
