"""documentation sampling: the weekly sample of records to audit, and the team's settings

Revision ID: 0007_sampling
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007_sampling'
down_revision = '0004_actions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sampling', sa.JSON(), server_default='{}', nullable=False))
    op.create_table(
        'docsample',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('week', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column('drawn_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column('defect_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('audited_by_id', sa.Integer(), nullable=True),
        sa.Column('audited_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['audited_by_id'], ['person.id']),
        sa.ForeignKeyConstraint(['contact_id'], ['contact.id']),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.ForeignKeyConstraint(['team_id'], ['team.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('team_id', 'week', 'contact_id'),
    )
    with op.batch_alter_table('docsample', schema=None) as batch_op:
        batch_op.create_index('ix_docsample_team_week', ['team_id', 'week'], unique=False)
        batch_op.create_index(batch_op.f('ix_docsample_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    op.drop_table('docsample')
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.drop_column('sampling')
