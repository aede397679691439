"""``sentiment-dashboard``: Serve the live sentiment dashboard."""

from __future__ import annotations

import argparse
import sys

from common import cli


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="sentiment-dashboard", description="Serve the live sentiment dashboard.").parse_args(argv)
    print("sentiment-dashboard: not yet implemented", file=sys.stderr)
    return 2


def entry() -> None:
    cli.run(main)
