"""``python -m producer`` = ``sentiment-producer``."""

from producer.cli import entry

entry()
