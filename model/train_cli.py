"""``sentiment-train``: train the LSTM sentiment model and write an artifact folder."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from common import cli, config, logs
from common.config import ConfigError
from common.readers import FORMATS, MalformedInput
from common.values import non_negative_float, positive_float, positive_int

if TYPE_CHECKING:
    from model.train import TrainOptions

EPILOG = """\
examples:
  # the default model (masked BiLSTM, early stopping on validation AUC), checked on a held-out test file
  sentiment-train --data train.ft.txt.bz2 extra.ft.txt.bz2 --test test.ft.txt.bz2 --out model/artifacts/default
  # the published procedure exactly
  sentiment-train --preset seed --data train.ft.txt.bz2 --out /tmp/seed-model
  # a quick smoke run
  sentiment-train --data train.ft.txt.bz2 --limit 2000 --epochs 1 --out /tmp/quick
  # carry on after an interruption (same arguments plus --resume)
  sentiment-train --data train.ft.txt.bz2 --out /tmp/m --resume

Validation (early stopping) is 20% of the --data reviews, stratified; --test is never trained or stopped on.
Exit codes: 0 done, 2 bad arguments or input (too many malformed lines, no labels), 130 interrupted (Ctrl-C:
the message gives the command that carries on from the last finished epoch).
"""


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _dropout(text: str) -> float:
    """A share of tokens to drop: 1 would replace every word, leaving nothing to learn from."""
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def _seed(text: str) -> int:
    """NumPy's seeds, which Keras' set_random_seed passes on, are 0 to 2**32 - 1."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be between 0 and 4294967295, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from model.train import PRESETS

    parser = argparse.ArgumentParser(
        prog="sentiment-train",
        description="Train the BiLSTM sentiment model on labelled review files (Kaggle fastText, plain or .bz2; "
        "CSV; JSONL) in bounded memory, and write an artifact folder: model.keras, tokenizer.json, model.onnx, "
        "metadata.json and report/ (metrics, plots, TF-IDF baseline).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data", nargs="+", type=Path, required=True, metavar="FILE", help="training files (several allowed)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="artifact folder to write (checkpoints go to DIR/checkpoints)",
    )
    parser.add_argument(
        "--test",
        type=Path,
        metavar="FILE",
        help="held-out file evaluated at the end; never used for training or early stopping",
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help="; ".join(f"{p.name}: {p.description}" for p in PRESETS.values()) + " (default: default)",
    )
    parser.add_argument("--epochs", type=positive_int, help="override the preset's epochs")
    parser.add_argument("--learning-rate", type=positive_float, help="override the preset's Adam learning rate")
    parser.add_argument("--batch-size", type=positive_int, help="override the preset's batch size")
    parser.add_argument(
        "--monitor",
        choices=("val_auc", "val_loss", "val_accuracy", "val_recall"),
        help="override the early-stopping metric (loss is minimised, the others maximised)",
    )
    parser.add_argument("--patience", type=positive_int, help="override the early-stopping patience in epochs")
    parser.add_argument(
        "--mask",
        dest="masked",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="override masking of the padding (--no-mask = the published unmasked model, served without ONNX)",
    )
    parser.add_argument(
        "--weight-decay",
        type=non_negative_float,
        metavar="WD",
        help="override the preset's decoupled weight decay (each step every weight -= weight * WD * "
        "learning rate); 0 = off",
    )
    parser.add_argument(
        "--token-dropout",
        type=_dropout,
        metavar="P",
        help="override the preset's word dropout: each epoch, replace each training token by the "
        "out-of-vocabulary token with probability P; 0 = off",
    )
    parser.add_argument(
        "--limit", type=positive_int, metavar="N", help="read at most N reviews from each file (quick runs)"
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=positive_int,
        metavar="N",
        help="train (and validate) on at most N batches per epoch (smoke and memory runs)",
    )
    parser.add_argument(
        "--seed", type=_seed, default=0, help="seed of weight initialisation, dropout and shuffling (default 0)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the last epoch checkpoint in DIR/checkpoints"
    )
    parser.add_argument("--keep-checkpoints", action="store_true", help="keep DIR/checkpoints after a successful run")
    parser.add_argument(
        "--no-baseline", dest="baseline", action="store_false", help="skip the TF-IDF + logistic regression baseline"
    )
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
        type=_fraction,
        default=0.01,
        metavar="FRACTION",
        help="stop when more than this share of a file's lines are malformed (default 0.01)",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    config.add_options(parser, config.READING_OPTIONS, kafka=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reading = config.reading(config.resolve(config.READING_OPTIONS, args))
    logs.setup()
    from model.train import INTERRUPTED, TrainingInputError, TrainOptions, train

    def interrupted(_signum: int, _frame: object) -> None:
        INTERRUPTED.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)

    for path in [*args.data, *([args.test] if args.test else [])]:
        if str(path) != "-" and not path.is_file():
            raise ConfigError(f"no such data file: {path}")
    command = "sentiment-train " + shlex.join(sys.argv[1:] if argv is None else argv)
    options = TrainOptions(
        data=list(args.data),
        out=args.out,
        preset=args.preset,
        test=args.test,
        fmt=args.fmt,
        text_column=args.text_column,
        label_column=args.label_column,
        reading=reading,
        limit=args.limit,
        seed=args.seed,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        monitor=args.monitor,
        patience=args.patience,
        masked=args.masked,
        weight_decay=args.weight_decay,
        token_dropout=args.token_dropout,
        steps_per_epoch=args.steps_per_epoch,
        max_malformed=args.max_malformed,
        resume=args.resume,
        keep_checkpoints=args.keep_checkpoints,
        baseline=args.baseline,
        command=command,
        progress=args.progress,
    )
    preset = options.hyperparameters()
    if preset.weight_decay * preset.learning_rate >= 1:  # each step would take all of every weight, or more
        raise ConfigError(
            f"--weight-decay {preset.weight_decay:g} x learning rate {preset.learning_rate:g} must be below 1"
        )
    try:
        metadata = train(options)
    except (MalformedInput, TrainingInputError) as exc:
        raise ConfigError(str(exc)) from None
    except KeyboardInterrupt:
        if args.progress:
            print(file=sys.stderr)  # off the progress bar's line
        print(resume_hint(options, preset.epochs), file=sys.stderr)
        return cli.EXIT_INTERRUPTED
    summary = {
        "out": str(args.out),
        "version": metadata["version"],
        "metrics": metadata["metrics"],
        "baseline": metadata["baseline"],
    }
    print(json.dumps(summary, indent=2))
    return 0


def resume_hint(options: TrainOptions, epochs: int) -> str:
    """What Ctrl-C leaves behind and the command that carries on from it (an epoch's checkpoint is all that counts)."""
    state = options.checkpoint_dir / "state.json"
    if not state.is_file():
        return "interrupted before the first epoch ended: nothing to resume; run the same command again"
    done = json.loads(state.read_text(encoding="utf-8"))["epochs_done"]
    command = options.command if "--resume" in shlex.split(options.command) else f"{options.command} --resume"
    return (
        f"interrupted after epoch {done} of {epochs} (checkpoint in {options.checkpoint_dir}); "
        f"to carry on:\n  {command}"
    )


def entry() -> None:
    cli.run(main)
