"""``sentiment-train``: Train the LSTM sentiment model and write an artifact folder."""

from __future__ import annotations

import argparse
import sys

from common import cli


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="sentiment-train", description="Train the LSTM sentiment model and write an artifact folder.").parse_args(argv)
    print("sentiment-train: not yet implemented", file=sys.stderr)
    return 2


def entry() -> None:
    cli.run(main)
