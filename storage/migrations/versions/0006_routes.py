"""routes: today's routes confirmed per team (`routes ok`), and by when

Revision ID: 0006_routes
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0006_routes'
down_revision = '0004_actions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.add_column(sa.Column('routes_by', sqlmodel.sql.sqltypes.AutoString(),
                                      server_default='09:00', nullable=False))
    op.create_table(
        'routecheck',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('by_id', sa.Integer(), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(['by_id'], ['person.id']),
        sa.ForeignKeyConstraint(['team_id'], ['team.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('team_id', 'day'),
    )


def downgrade() -> None:
    op.drop_table('routecheck')
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.drop_column('routes_by')
