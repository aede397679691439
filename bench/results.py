"""bench/RESULTS.md is shared: each benchmark replaces only its own ``## <area>`` section."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def replace_section(heading: str, body: str, results: Path = RESULTS) -> None:
    """Put ``heading`` + ``body`` in place of that section (or append it), leaving the others untouched."""
    section = f"{heading}\n\n{body.strip()}\n"
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + ("" if end < 0 else text[end:])
    results.write_text(text)
