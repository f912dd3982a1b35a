"""An index on predictions.created: the purge of old predictions (PREDICTION_DAYS) walks it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("predictions_created", "predictions", ["created"])


def downgrade() -> None:
    op.drop_index("predictions_created", table_name="predictions")
