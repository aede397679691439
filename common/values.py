"""Number values every command reads from a flag or an environment variable, refused with one clear reason.

One home for them: the configuration surface (common/config.py) and each command's own flags (argparse ``type=``)
must accept and refuse the same words. Their own module, because common/cli.py imports common/config.py.
"""

from __future__ import annotations

import argparse
import math


class BadValue(ValueError, argparse.ArgumentTypeError):
    """A refused value. A ValueError, which the configuration surface reports with the variable's name; an
    ArgumentTypeError, so that argparse prints this reason rather than "invalid positive_int value"."""


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise BadValue(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise BadValue(f"must be zero or a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not 0.0 < value < math.inf:  # also refuses nan, which compares false to everything
        raise BadValue(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < math.inf:
        raise BadValue(f"must be zero or a positive number, got {text}")
    return value
