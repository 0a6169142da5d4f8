"""pips: staff performance improvement plans, objectives, entries and checklist ticks

Revision ID: 0007_pips
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007_pips'
down_revision = '0004_actions'
branch_labels = None
depends_on = None

TEXT = sqlmodel.sql.sqltypes.AutoString
WHEN = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'pip',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('reviewer_id', sa.Integer(), nullable=False),
        sa.Column('note', TEXT(), nullable=True),
        sa.Column('opened_at', WHEN(), nullable=False),
        sa.Column('review_days', sa.Integer(), nullable=False),
        sa.Column('next_review', sa.Date(), nullable=False),
        sa.Column('checklist', sa.JSON(), nullable=True),
        sa.Column('state', TEXT(), nullable=False),
        sa.Column('outcome', TEXT(), nullable=True),
        sa.Column('extended_to', sa.Date(), nullable=True),
        sa.Column('extend_reason', TEXT(), nullable=True),
        sa.Column('closure', sa.JSON(), nullable=True),
        sa.Column('acked_at', WHEN(), nullable=True),
        sa.Column('closed_at', WHEN(), nullable=True),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.ForeignKeyConstraint(['reviewer_id'], ['person.id']),
        sa.ForeignKeyConstraint(['team_id'], ['team.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('pip', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pip_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pip_person_id'), ['person_id'], unique=False)
    op.create_table(
        'pipobjective',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('pip_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('text', TEXT(), nullable=False),
        sa.Column('by', sa.Date(), nullable=False),
        sa.Column('check', TEXT(), nullable=False),
        sa.Column('rag', TEXT(), nullable=True),
        sa.Column('at', WHEN(), nullable=False),
        sa.Column('by_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['by_id'], ['person.id']),
        sa.ForeignKeyConstraint(['pip_id'], ['pip.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('pip_id', 'number'),
    )
    op.create_table(
        'pipentry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('pip_id', sa.Integer(), nullable=False),
        sa.Column('kind', TEXT(), nullable=False),
        sa.Column('rating', TEXT(), nullable=True),
        sa.Column('text', TEXT(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=True),
        sa.Column('at', WHEN(), nullable=False),
        sa.Column('by_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['by_id'], ['person.id']),
        sa.ForeignKeyConstraint(['pip_id'], ['pip.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('pipentry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pipentry_pip_id'), ['pip_id'], unique=False)
    op.create_table(
        'piptick',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('pip_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('item', sa.Integer(), nullable=False),
        sa.Column('at', WHEN(), nullable=False),
        sa.ForeignKeyConstraint(['pip_id'], ['pip.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('pip_id', 'day', 'item'),
    )


def downgrade() -> None:
    op.drop_table('piptick')
    with op.batch_alter_table('pipentry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pipentry_pip_id'))
    op.drop_table('pipentry')
    op.drop_table('pipobjective')
    with op.batch_alter_table('pip', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pip_person_id'))
        batch_op.drop_index(batch_op.f('ix_pip_team_id'))
    op.drop_table('pip')
