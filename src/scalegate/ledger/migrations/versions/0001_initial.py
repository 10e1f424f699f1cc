"""Initial ledger schema: entries and the single head row that serialises appends."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("entry_id", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("salts", sa.Text, nullable=False),
        # unique: two entries can never claim the same predecessor, so the chain cannot fork
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("signatures", sa.Text, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    )
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "entry_hash": "0" * 64}])


def downgrade() -> None:
    op.drop_table("ledger_head")
    op.drop_table("ledger_entries")
