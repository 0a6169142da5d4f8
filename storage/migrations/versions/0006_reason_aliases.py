"""reason codes: the other ways staff type them (config `aliases`)

Revision ID: 0006_reason_aliases
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_reason_aliases'
down_revision = '0004_actions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reasoncode', schema=None) as batch_op:
        batch_op.add_column(sa.Column('aliases', sa.JSON(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('reasoncode', schema=None) as batch_op:
        batch_op.drop_column('aliases')
