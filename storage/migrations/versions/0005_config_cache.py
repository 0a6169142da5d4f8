"""configstate: a token that moves on with each config sync (per-process caches follow it);
outbox.stale: a live post whose payload is re-rendered at delivery

Revision ID: 0005_config_cache
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0005_config_cache'
down_revision = '0004_actions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('configstate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stale', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('stale')
    op.drop_table('configstate')
