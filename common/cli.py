"""What every command's ``main`` shares: configuration errors become one clear line and exit 2."""

from __future__ import annotations

import sys
from typing import Callable, NoReturn

from common.config import ConfigError


def run(main: Callable[[], int]) -> NoReturn:
    """Run ``main`` and exit with its code; a ConfigError is a user mistake, not a traceback."""
    try:
        code = main()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
