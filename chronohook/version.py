"""The installed package's version: pyproject.toml's ``[project] version``, read from the package's metadata."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as distribution_version

DISTRIBUTION = "chronohook"
# A source tree imported without being installed (no metadata): a version that sorts before every release.
UNKNOWN = "0+unknown"


@cache
def version() -> str:
    """chronohook's version, as ``chronohook --version`` and ``GET /version`` tell it."""
    try:
        return distribution_version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN
