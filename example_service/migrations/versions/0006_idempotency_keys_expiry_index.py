"""idempotency keys: an index on expires_at

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 19:33:26.747216

The service purges expired keys every few minutes (`IdempotencyKeys.purging`); the
index lets that DELETE find them without reading the day's other keys.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_idempotency_keys_expires_at"), "idempotency_keys", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_expires_at"), table_name="idempotency_keys")
