"""``python -m dashboard`` = ``sentiment-dashboard``."""

from dashboard.cli import entry

entry()
