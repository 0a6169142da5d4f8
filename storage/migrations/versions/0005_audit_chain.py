"""audit hash chain: seq, prev_hash, hash and team on every audit row, the chain head, and on
PostgreSQL a trigger refusing UPDATE and DELETE on the audit table

Revision ID: 0005_audit_chain
Revises: 0004_actions
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

from storage.audit import GENESIS, digest

revision = '0005_audit_chain'
down_revision = '0004_actions'
branch_labels = None
depends_on = None

REFUSE = """
CREATE OR REPLACE FUNCTION carebot_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'auditevent is append-only: % refused (see carebot audit verify)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER auditevent_append_only BEFORE UPDATE OR DELETE ON auditevent
    FOR EACH ROW EXECUTE FUNCTION carebot_audit_append_only();
"""


def upgrade() -> None:
    op.create_table('audithead',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('seq', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))

    # Chain the rows already there, in the order they were written.
    bind = op.get_bind()
    audit = sa.table('auditevent', sa.column('id', sa.Integer), sa.column('at', sqlmodel.UTCDateTime()),
                     sa.column('actor', sa.String), sa.column('transport', sa.String),
                     sa.column('action', sa.String), sa.column('subject', sa.String),
                     sa.column('detail', sa.JSON), sa.column('team', sa.String),
                     sa.column('seq', sa.Integer), sa.column('prev_hash', sa.String),
                     sa.column('hash', sa.String))
    prev, seq = GENESIS, 0
    for row in bind.execute(sa.select(audit).order_by(audit.c.id)).mappings().all():
        seq += 1
        values = {**row, "seq": seq, "team": None, "detail": row["detail"] or {}}
        new = digest(prev, values)
        bind.execute(audit.update().where(audit.c.id == row["id"]).values(
            seq=seq, prev_hash=prev, hash=new, detail=values["detail"]))
        prev = new
    bind.execute(sa.table('audithead', sa.column('id'), sa.column('seq'), sa.column('hash'))
                 .insert().values(id=1, seq=seq, hash=prev))

    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_auditevent_seq'), ['seq'])
    if bind.dialect.name == 'postgresql':
        op.execute(REFUSE)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS auditevent_append_only ON auditevent")
        op.execute("DROP FUNCTION IF EXISTS carebot_audit_append_only()")
    with op.batch_alter_table('auditevent', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_auditevent_seq'), type_='unique')
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('seq')
        batch_op.drop_column('team')
    op.drop_table('audithead')
