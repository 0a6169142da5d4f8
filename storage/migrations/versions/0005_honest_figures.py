"""status: the fewest contacts a rate is shown on, per team

Revision ID: 0005_honest_figures
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_honest_figures'
down_revision = '0004_actions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_contacts_for_rate', sa.Integer(), server_default='20',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.drop_column('min_contacts_for_rate')
