"""What every command's ``main`` shares: exit codes for the failures every command can meet, as one clear line.

2: a ConfigError, a user mistake that a restart will not fix; 1: a TransientError, something outside this
process that is missing now (a broker that does not answer), so a supervisor should restart the command;
130: Ctrl-C. A traceback is never the answer to either.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

from common.config import ConfigError

EXIT_TRANSIENT = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


class TransientError(RuntimeError):
    """A failure outside this process that may pass (the broker is down): exit 1, restart me."""


def run(main: Callable[[], int]) -> NoReturn:
    """Run ``main`` and exit with its code; a ConfigError or TransientError is one line, not a traceback."""
    try:
        code = main()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_CONFIG
    except TransientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = EXIT_TRANSIENT
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    sys.exit(code)
