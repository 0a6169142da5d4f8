"""CAP accountability: the action fields the seeds name, milestones, reopen and sustain checks

Revision ID: 0007_cap_accountability
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007_cap_accountability'
down_revision = '0004_actions'
branch_labels = None
depends_on = None

TEXT = ('failure_mode', 'control', 'root_cause', 'immediate_control', 'regulation')


def upgrade() -> None:
    with op.batch_alter_table('action', schema=None) as batch_op:
        for name in TEXT:
            batch_op.add_column(sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column(
            'control_owner_id', sa.Integer(),
            sa.ForeignKey('person.id', name='fk_action_control_owner_id_person'), nullable=True))
        batch_op.add_column(sa.Column('metric', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('target', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=True))
        batch_op.add_column(sa.Column('reopened', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('sustain_checked', sa.Integer(), server_default='0',
                                      nullable=False))
    op.create_table(
        'actionmilestone',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('action_id', sa.Integer(), nullable=False),
        sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('due', sa.Date(), nullable=False),
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('done_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('done_by_id', sa.Integer(), nullable=True),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('by_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['action_id'], ['action.id']),
        sa.ForeignKeyConstraint(['by_id'], ['person.id']),
        sa.ForeignKeyConstraint(['done_by_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_actionmilestone_action_id', 'actionmilestone', ['action_id'])


def downgrade() -> None:
    op.drop_index('ix_actionmilestone_action_id', table_name='actionmilestone')
    op.drop_table('actionmilestone')
    with op.batch_alter_table('action', schema=None) as batch_op:
        for name in ('sustain_checked', 'reopened', 'priority', 'target', 'metric',
                     'control_owner_id', *reversed(TEXT)):
            batch_op.drop_column(name)
