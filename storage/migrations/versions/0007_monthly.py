"""monthly: team.monthly_report, when the monthly governance report goes to the nominated
individual (the config's top-level `monthly_report`, copied to each team; "" = never)

Revision ID: 0007_monthly
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0007_monthly'
down_revision = '0004_actions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.add_column(sa.Column('monthly_report', sqlmodel.sql.sqltypes.AutoString(),
                                      server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.drop_column('monthly_report')
