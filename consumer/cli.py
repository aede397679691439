"""``sentiment-consumer``: Score reviews from the input topic in micro-batches and publish results."""

from __future__ import annotations

import argparse
import sys

from common import cli


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="sentiment-consumer", description="Score reviews from the input topic in micro-batches and publish results.").parse_args(argv)
    print("sentiment-consumer: not yet implemented", file=sys.stderr)
    return 2


def entry() -> None:
    cli.run(main)
