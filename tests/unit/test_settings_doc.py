"""docs/settings.md is generated from the settings model: every setting has a description, and the file says what the
model says. Both failures say exactly what to run."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from chronohook.settings import Settings
from chronohook.settings_doc import COMMAND, main, render, undocumented

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "settings.md"
REGENERATE = f"then run `{COMMAND}` from the repository root and commit docs/settings.md"


def test_every_setting_has_a_description() -> None:
    # Given the settings model
    # When its fields are looked at
    missing = undocumented(Settings)
    # Then each says what it does
    assert missing == [], (
        f"chronohook/settings.py: no description for {', '.join(missing)}. Give each one "
        '`Field(default=..., description="...")` (what it does and what a user sees when it applies: the comment '
        f"above the field, moved into it), {REGENERATE}."
    )


def test_docs_settings_md_is_up_to_date() -> None:
    # Given docs/settings.md as committed
    committed = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else ""
    # When the reference is generated from the model
    generated = render(Settings)
    # Then they are the same
    assert committed == generated, f"docs/settings.md is out of date with chronohook/settings.py: {REGENERATE}."


def test_every_setting_has_a_row() -> None:
    # Given the generated reference
    text = render(Settings)
    # Then every field has a row naming its variable
    for name in Settings.model_fields:
        assert f"| `CHRONOHOOK_{name.upper()}` |" in text


class _Mode(StrEnum):
    fast = "fast"
    safe = "safe"


class _Sample(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAMPLE_")

    port: int = Field(default=8000, ge=0, le=65535, description="A port.")
    wait_s: float = Field(default=2.0, gt=0, le=30, description="A wait | with a pipe.")
    name: str | None = Field(default=None, min_length=1, max_length=9, description="A name.")
    path: Path = Field(default=Path("data"), description="A directory.")
    secret: SecretStr = Field(default=SecretStr(""), description="A password.")
    protocol: Literal["PLAINTEXT", "SSL"] = Field(default="PLAINTEXT", description="A protocol.")
    mode: _Mode = Field(default=_Mode.safe, description="A mode.")
    on: bool = Field(default=True, description="A switch.")
    max_bytes: int = Field(default=2 * 1_048_576, ge=1_024, description="A size.")
    node: int = Field(default=0, json_schema_extra={"doc_default": "unset"}, description="Read when set.")
    bare: int = 1


@pytest.mark.parametrize(
    ("variable", "row"),
    [
        ("SAMPLE_PORT", "| `SAMPLE_PORT` | `8000` | integer, 0 to 65535 | A port. |"),
        ("SAMPLE_WAIT_S", "| `SAMPLE_WAIT_S` | `2` | number, > 0, ≤ 30 | A wait \\| with a pipe. |"),
        ("SAMPLE_NAME", "| `SAMPLE_NAME` | unset | text, 1 to 9 characters | A name. |"),
        ("SAMPLE_PATH", "| `SAMPLE_PATH` | `data` | path | A directory. |"),
        ("SAMPLE_SECRET", "| `SAMPLE_SECRET` | empty | text (secret) | A password. |"),
        ("SAMPLE_PROTOCOL", "| `SAMPLE_PROTOCOL` | `PLAINTEXT` | one of `PLAINTEXT`, `SSL` | A protocol. |"),
        ("SAMPLE_MODE", "| `SAMPLE_MODE` | `safe` | one of `fast`, `safe` | A mode. |"),
        ("SAMPLE_ON", "| `SAMPLE_ON` | `true` | true or false | A switch. |"),
        ("SAMPLE_MAX_BYTES", "| `SAMPLE_MAX_BYTES` | `2097152` (2 MiB) | integer, ≥ 1024 | A size. |"),
        ("SAMPLE_NODE", "| `SAMPLE_NODE` | unset | integer | Read when set. |"),
        ("SAMPLE_BARE", "| `SAMPLE_BARE` | `1` | integer | (no description) |"),
    ],
)
def test_a_row_shows_variable_default_range_and_meaning(variable: str, row: str) -> None:
    # Given a model with one field of each kind
    # When its reference is rendered
    rows = [line for line in render(_Sample).splitlines() if line.startswith(f"| `{variable}` |")]
    # Then the field's row shows its variable, default, what it takes and its description
    assert rows == [row]


def test_a_field_without_description_is_named() -> None:
    # Given a model with one field lacking a description
    # Then that field, and only it, is reported
    assert undocumented(_Sample) == ["bare"]


def test_the_command_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given no document yet
    path = tmp_path / "settings.md"
    # When --check looks at it, then it fails, naming the command to run
    assert main(["--check", str(path)]) == 1
    assert COMMAND in capsys.readouterr().err
    # When the command writes it, then --check passes (both exit 1 only while a field lacks a description) and the
    # file is the rendered reference
    expected = 1 if undocumented(Settings) else 0
    assert main([str(path)]) == expected
    assert main(["--check", str(path)]) == expected
    assert path.read_text(encoding="utf-8") == render(Settings)
