"""questionnaire items: file digest and whether the detector was fitted on the image

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both nullable: existing rows get their digest and mark at the next pool sync (every start runs one).
    with op.batch_alter_table('survey_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('detector_trained', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('survey_items', schema=None) as batch_op:
        batch_op.drop_column('detector_trained')
        batch_op.drop_column('sha256')
