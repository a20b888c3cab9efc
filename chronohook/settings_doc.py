"""docs/settings.md, generated from the settings model (chronohook/settings.py): every ``CHRONOHOOK_*`` variable, its
default, what it takes and what it does, from each field's ``description``.

    python -m chronohook.settings_doc            # (re)write docs/settings.md; run from the repository root
    python -m chronohook.settings_doc --check    # exit 1 when docs/settings.md is not what the model says

tests/unit/test_settings_doc.py fails while a field has no description or the file is out of date.
"""

from __future__ import annotations

import argparse
import enum
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from chronohook.settings import Settings

DOCUMENT = Path("docs") / "settings.md"
COMMAND = "python -m chronohook.settings_doc"
# A field's json_schema_extra key for a default shown otherwise than its value (one read only when set).
DOC_DEFAULT = "doc_default"
MIB = 1_048_576

HEADER = f"""\
# Settings

<!-- Generated from chronohook/settings.py by `{COMMAND}`: change a setting's description there, not here. -->

Every process reads its settings once, at start, from `CHRONOHOOK_*` environment variables (names are
case-insensitive); `chronohook dev` passes its own to the services it starts. A value of the wrong kind or out of its
range stops the process at start with an error naming the setting.

| Variable | Default | Takes | What it does |
| --- | --- | --- | --- |
"""


def variable(settings: type[BaseSettings], name: str, field: FieldInfo) -> str:
    """The environment variable a field is read from."""
    if isinstance(field.validation_alias, str):
        return field.validation_alias.upper()
    prefix = str(settings.model_config.get("env_prefix", ""))
    return f"{prefix}{field.alias or name}".upper()


def undocumented(settings: type[BaseSettings] = Settings) -> list[str]:
    """The fields without a description, in the order the model declares them."""
    return [name for name, field in settings.model_fields.items() if not (field.description or "").strip()]


def render(settings: type[BaseSettings] = Settings) -> str:
    """The whole document: one row per field, in the order the model declares them."""
    rows = [
        "| "
        + " | ".join(
            (
                f"`{variable(settings, name, field)}`",
                _default(name, field),
                _takes(field),
                _cell(field.description or "(no description)"),
            )
        )
        + " |"
        for name, field in settings.model_fields.items()
    ]
    return HEADER + "\n".join(rows) + "\n"


def _default(name: str, field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and DOC_DEFAULT in extra:
        return str(extra[DOC_DEFAULT])
    if field.default_factory is not None:
        value: Any = field.get_default(call_default_factory=True, validated_data={})
    else:
        value = field.default
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, int) and name.endswith("_bytes") and value >= MIB and value % MIB == 0:
        return f"`{value}` ({value // MIB} MiB)"
    return f"`{value}`"


def _takes(field: FieldInfo) -> str:
    return ", ".join(part for part in (_kind(field.annotation), _range(field.metadata)) if part)


def _kind(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        kinds = [_kind(arg) for arg in get_args(annotation) if arg is not type(None)]
        return " or ".join(kinds)
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    names: dict[Any, str] = {
        bool: "true or false",
        int: "integer",
        float: "number",
        str: "text",
        Path: "path",
        SecretStr: "text (secret)",
    }
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _range(metadata: Sequence[Any]) -> str:
    """The bounds a field's constraints set: ``0 to 65535``, ``> 0, ≤ 900``, ``1 to 249 characters``."""
    low = high = ""
    shortest = longest = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"≥ {_number(item.ge)}"
        elif isinstance(item, annotated_types.Gt):
            low = f"> {_number(item.gt)}"
        elif isinstance(item, annotated_types.Le):
            high = f"≤ {_number(item.le)}"
        elif isinstance(item, annotated_types.Lt):
            high = f"< {_number(item.lt)}"
        elif isinstance(item, annotated_types.MinLen):
            shortest = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            longest = item.max_length
    if low.startswith("≥") and high.startswith("≤"):
        bounds = f"{low[2:]} to {high[2:]}"
    else:
        bounds = ", ".join(part for part in (low, high) if part)
    if shortest is not None and longest is not None:
        length = f"{shortest} to {longest} characters"
    elif shortest is not None:
        length = f"at least {shortest} characters"
    elif longest is not None:
        length = f"at most {longest} characters"
    else:
        length = ""
    return ", ".join(part for part in (bounds, length) if part)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", nargs="?", type=Path, default=DOCUMENT, help=f"the document (default: {DOCUMENT})")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the document is out of date")
    args = parser.parse_args(argv)
    text = render()
    missing = undocumented()
    if missing:
        print(f"chronohook/settings.py: no description for {', '.join(missing)}", file=sys.stderr)
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is out of date: run `{COMMAND}` from the repository root", file=sys.stderr)
            return 1
        return 1 if missing else 0
    args.path.write_text(text, encoding="utf-8")
    print(f"wrote {args.path} ({len(Settings.model_fields)} settings)")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
