"""aria-* and data-* attributes for Dash components."""

from __future__ import annotations

from typing import Any


def attributes(values: dict[str, str]) -> dict[str, Any]:
    """The attributes as keywords for ``**``: Dash takes them no other way (their names are not identifiers), and
    typed as Any so that the type checker does not match each one against every typed keyword of the component."""
    return values
