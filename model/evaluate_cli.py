"""``sentiment-evaluate``: Evaluate a model artifact on labelled reviews."""

from __future__ import annotations

import argparse
import sys

from common import cli


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="sentiment-evaluate", description="Evaluate a model artifact on labelled reviews.").parse_args(argv)
    print("sentiment-evaluate: not yet implemented", file=sys.stderr)
    return 2


def entry() -> None:
    cli.run(main)
