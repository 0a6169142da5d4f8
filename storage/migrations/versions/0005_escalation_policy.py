"""escalation policy: reasons that account for the client; escalations that used up the chain

Revision ID: 0005_escalation_policy
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005_escalation_policy'
down_revision = '0004_actions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reasoncode', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accounts_for_client', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exhausted_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))
    # The default until the config is next synced: only hospital accounts for the client.
    op.execute("UPDATE reasoncode SET accounts_for_client = true WHERE code = 'hospital'")


def downgrade() -> None:
    with op.batch_alter_table('escalation', schema=None) as batch_op:
        batch_op.drop_column('exhausted_at')
    with op.batch_alter_table('reasoncode', schema=None) as batch_op:
        batch_op.drop_column('accounts_for_client')
