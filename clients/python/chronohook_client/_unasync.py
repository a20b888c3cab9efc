"""Generate ``_sync_resources.py`` from ``_async_resources.py``: ``python -m chronohook_client._unasync``.

The sync client is the async one without ``async``/``await``: one source for both, so the two cannot drift (a test
compares the file with what this makes). The result is formatted with ruff, as the rest of the repository is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE / "_async_resources.py"
TARGET = HERE / "_sync_resources.py"
HEADER = (
    '"""The API\'s endpoints, grouped by resource, for ``Client``.\n\n'
    'GENERATED from ``_async_resources.py`` by ``python -m chronohook_client._unasync``: do not edit.\n"""\n\n'
)


def unasync(text: str) -> str:
    body = text.split('"""', 2)[2].lstrip("\n")  # the module docstring is replaced by HEADER
    body = body.replace("async def ", "def ").replace("await ", "")
    body = re.sub(r"\bAsync([A-Z]\w*)", r"\1", body)
    return HEADER + body


def formatted(text: str) -> str:
    """``text`` as ``ruff format`` writes it (the repository's settings apply: it runs from the target's place)."""
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(TARGET), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE,
    )
    return done.stdout


def generated() -> str:
    return formatted(unasync(SOURCE.read_text(encoding="utf-8")))


def main() -> None:
    TARGET.write_text(generated(), encoding="utf-8")


if __name__ == "__main__":
    main()
