"""``sentiment-producer``: Send reviews to the input topic from a file, stdin or --text."""

from __future__ import annotations

import argparse
import sys

from common import cli


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="sentiment-producer", description="Send reviews to the input topic from a file, stdin or --text.").parse_args(argv)
    print("sentiment-producer: not yet implemented", file=sys.stderr)
    return 2


def entry() -> None:
    cli.run(main)
