"""people: where a person comes from (config | import), their email, Telegram invites and chats
bound with `bind TEAM`

Revision ID: 0007_people
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007_people'
down_revision = '0004_actions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=10),
                                      server_default='config', nullable=False))
        batch_op.add_column(sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=254),
                                      nullable=True))
    op.create_table(
        'invite',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('used_by', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['person.id']),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code_hash'),
    )
    op.create_index(op.f('ix_invite_person_id'), 'invite', ['person_id'], unique=False)
    op.create_table(
        'chatbinding',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=False),
        sa.Column('transport', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column('chat_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('bound_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('by_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['by_id'], ['person.id']),
        sa.ForeignKeyConstraint(['team_id'], ['team.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('team_id', 'transport'),
    )


def downgrade() -> None:
    op.drop_table('chatbinding')
    op.drop_index(op.f('ix_invite_person_id'), table_name='invite')
    op.drop_table('invite')
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('email')
        batch_op.drop_column('source')
