"""benchmarks.audit: the shortcut audit stored at registration

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: benchmarks registered before the audit existed have none, and keep being served.
    op.add_column('benchmarks', sa.Column('audit', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('benchmarks', schema=None) as batch_op:
        batch_op.drop_column('audit')
