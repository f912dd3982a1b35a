"""Predictions (server and browser) and the feedback on them.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("variant", sa.String(64), nullable=True),
        sa.Column("label", sa.String(128), nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("request_id"),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("prediction_id", sa.Integer, sa.ForeignKey("predictions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("correct", sa.Boolean, nullable=True),
        sa.Column("label", sa.String(128), nullable=True),
        sa.Column("true_label", sa.String(128), nullable=True),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("prediction_id"),
    )
    op.create_index("feedback_created", "feedback", ["created"])


def downgrade() -> None:
    op.drop_index("feedback_created", table_name="feedback")
    op.drop_table("feedback")
    op.drop_table("predictions")
