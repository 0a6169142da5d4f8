"""referrals: the front-door gate (eligibility basis, pending authorisation, next-day validation)

Revision ID: 0007_referrals
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0007_referrals'
down_revision = '0004_actions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.add_column(sa.Column('referrals', sa.JSON(), server_default='{}', nullable=False))
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('authoriser', sa.Boolean(), server_default='0',
                                      nullable=False))
    op.create_table(
        'referral',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('basis', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('added_by_id', sa.Integer(), nullable=True),
        sa.Column('authorised_by_id', sa.Integer(), nullable=True),
        sa.Column('authorised_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('declined_by_id', sa.Integer(), nullable=True),
        sa.Column('declined_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('declined_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('reminded_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('sampled', sa.Boolean(), nullable=False),
        sa.Column('sample_day', sa.Date(), nullable=True),
        sa.Column('validated_by_id', sa.Integer(), nullable=True),
        sa.Column('validated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(['added_by_id'], ['person.id']),
        sa.ForeignKeyConstraint(['authorised_by_id'], ['person.id']),
        sa.ForeignKeyConstraint(['declined_by_id'], ['person.id']),
        sa.ForeignKeyConstraint(['team_id'], ['team.id']),
        sa.ForeignKeyConstraint(['validated_by_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ref'),
    )
    op.create_index('ix_referral_team_status', 'referral', ['team_id', 'status'])
    op.create_index('ix_referral_sample_day', 'referral', ['sample_day'])


def downgrade() -> None:
    op.drop_index('ix_referral_sample_day', table_name='referral')
    op.drop_index('ix_referral_team_status', table_name='referral')
    op.drop_table('referral')
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('authoriser')
    with op.batch_alter_table('team', schema=None) as batch_op:
        batch_op.drop_column('referrals')
