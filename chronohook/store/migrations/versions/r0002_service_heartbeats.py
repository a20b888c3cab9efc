"""The services' heartbeats, read by /readyz (issue 17, decision 0042).

Revision ID: 0002
Revises: 0001

One row per running timer, executor and projector process (chronohook/heartbeats.py). The table's schema below is this
revision's own copy, frozen: a later change goes into a new revision.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import BigInteger, Column, MetaData, String, Table

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def schema() -> MetaData:
    """The table this revision adds."""
    schema = MetaData()
    Table(
        "service_heartbeats",
        schema,
        Column("service", String(64), primary_key=True),
        Column("instance", String(255), primary_key=True),
        Column("beat_ms", BigInteger, nullable=False),
        Column("started_ms", BigInteger, nullable=False),
    )
    return schema


def upgrade() -> None:
    schema().create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    schema().drop_all(op.get_bind())
