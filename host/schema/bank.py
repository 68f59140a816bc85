"""The bank front-end's tables (docs/payments.md): the kiosks' keys and
counters, card accounts, transactions and the journal, and the property
ledger and the kiosks' backup copies it writes with them. Money is integer fen.

No table holds a clear PAN: bank_accounts keeps a keyed hash (the look-up) and
the PAN encrypted (host.bank.card_vault); every other table holds a masked PAN
(first 6 / last 4) or the account id."""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from host.schema.metadata import metadata


kiosks = Table(
    "kiosks", metadata,
    Column("kiosk_id", String(32), primary_key=True),
    Column("last_counter", BigInteger, nullable=False, default=0),   # last accepted message counter
    Column("key_version", Integer, nullable=False, default=0),       # +1 at every sign-on
    Column("pik_under_tmk", String(32)),   # working keys as issued: hex, wrapped under the kiosk's TMK
    Column("mak_under_tmk", String(32)),
    Column("signed_on_at", DateTime),
)

bank_accounts = Table(
    "bank_accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("pan_hash", String(64), nullable=False, unique=True, index=True),  # hex HMAC-SHA256(pan_hash_key, PAN)
    Column("pan_enc", String(96), nullable=False),            # hex nonce||AES-GCM(pan_key, PAN)||tag; statements only
    Column("masked_pan", String(19), nullable=False),
    Column("holder", String(100), nullable=False),
    Column("expiry", String(4), nullable=False),              # YYMM: valid to the end of that month
    Column("status", String(8), nullable=False),              # active | blocked
    Column("balance_fen", BigInteger, nullable=False),
    Column("daily_limit_fen", BigInteger, nullable=False),
    Column("pin_offset", String(12), nullable=False),         # IBM 3624 PIN offset under the PVK; never the PIN
    Column("pin_tries", Integer, nullable=False, default=0),  # consecutive wrong PINs; 3 locks the PIN
)

bank_journal = Table(
    "bank_journal", metadata,
    Column("id", Integer, primary_key=True),
    Column("business_day", Date, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("kiosk_id", String(32), nullable=False),
    Column("txn_id", String(64), nullable=False),
    Column("type", String(24), nullable=False),     # sale | reversal | wallet_load | wallet_load_reversal | wallet_unload
    Column("result", String(10), nullable=False),   # approved | declined (sale); reversed | not_found (reversal)
    Column("code", String(64)),                     # decline code, or the reversal's reason
    Column("masked_pan", String(19)),
    Column("amount_fen", BigInteger, nullable=False),
    Column("reference", String(12)),
    Column("auth_code", String(6)),
    Index("ix_bank_journal_day", "business_day"),
    Index("ix_bank_journal_txn", "txn_id"),
)

property_ledger = Table(
    "property_ledger", metadata,
    Column("id", Integer, primary_key=True),
    Column("txn_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),      # payment | reversal
    Column("household_id", ForeignKey("households.id"), nullable=False),
    Column("periods", String(200), nullable=False), # "2026-08,2026-09,2026-10"
    Column("amount_fen", BigInteger, nullable=False),   # bills + late fee; negative for a reversal
    Column("late_fee_fen", BigInteger, nullable=False), # the late-fee part (negative for a reversal)
    Column("reference", String(12), nullable=False),
    Column("business_day", Date, nullable=False),
    Column("at", DateTime, nullable=False),
    UniqueConstraint("txn_id", "kind", name="uq_property_ledger_txn_kind"),
    Index("ix_property_ledger_day", "business_day"),      # reconciliation, a day at a time
)

property_backups = Table(
    "property_backups", metadata,
    Column("txn_id", String(64), primary_key=True),
    Column("kiosk_id", String(32), nullable=False),
    Column("house_no", String(16)),
    Column("amount_fen", BigInteger),
    Column("masked_pan", String(19)),
    Column("result", String(24)),
    Column("reference", String(12)),
    Column("auth_code", String(6)),
    Column("at", String(32)),
    Column("txn_json", Text, nullable=False),     # the copy as the kiosk sent it
    Column("received_at", DateTime, nullable=False),
    Index("ix_property_backups_at", "at"),                # reconciliation: the copies of a day
    # the console's search and day totals pair each link purchase with its copy by the RRN (0006)
    Index("ix_property_backups_reference", "reference"),
)


# --- the ISO 8583 link (host.bank.frontend, docs/bank-link.md "The reference front-end") ---
# Tables of revision 0002. Terminals are field 41 (ans8); the journal is keyed
# by terminal + batch + STAN, the authority for the link's money.

bank_link_sessions = Table(
    "bank_link_sessions", metadata,
    Column("terminal_id", String(8), primary_key=True),
    Column("kiosk_id", String(32), nullable=False),            # whose TMK ([bank.terminals])
    Column("key_version", Integer, nullable=False, default=0),  # +1 at every sign-on
    Column("pik_under_tmk", String(32)),   # working keys: hex, wrapped under the TMK; NULL: signed off
    Column("mak_under_tmk", String(32)),
    Column("tdk_under_tmk", String(32)),
    Column("batch", String(6), nullable=False),                # the open batch (60.2)
    Column("business_day", Date),                              # the day of the last sign-on
    Column("signed_on_at", DateTime),
)

bank_link_journal = Table(
    "bank_link_journal", metadata,
    Column("id", Integer, primary_key=True),
    Column("terminal_id", String(8), nullable=False),
    Column("batch", String(6), nullable=False),
    Column("stan", String(6), nullable=False),
    Column("kind", String(10), nullable=False),      # purchase | balance | pin_change
    # approved | declined | reversed (a reversal came: a tombstone when nothing was there)
    Column("state", String(10), nullable=False),
    Column("code", String(2), nullable=False),       # field 39 answered
    Column("account_id", ForeignKey("bank_accounts.id")),
    Column("masked_pan", String(19)),
    Column("amount_fen", BigInteger, nullable=False),
    Column("rrn", String(12)),                       # field 37 answered
    Column("auth_code", String(6)),                  # field 38 (approved purchases)
    Column("bill_ref", String(163)),                 # field 63 of a purchase: the household and months
    Column("business_day", Date, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("reversed_at", DateTime),
    Column("reversal_code", String(2)),              # the reversal's 39: 98 | A0 | 06
    UniqueConstraint("terminal_id", "batch", "stan", name="uq_bank_link_journal_key"),
    Index("ix_bank_link_journal_account_day", "account_id", "business_day"),
    Index("ix_bank_link_journal_day", "business_day"),
    Index("ix_bank_link_journal_rrn", "rrn"),        # a copy's booking and reconciliation find the line by RRN (0006)
)

bank_link_settlements = Table(
    "bank_link_settlements", metadata,
    Column("id", Integer, primary_key=True),
    Column("terminal_id", String(8), nullable=False),
    Column("batch", String(6), nullable=False),
    Column("business_day", Date, nullable=False),
    Column("at", DateTime, nullable=False),
    Column("kiosk_debit_fen", BigInteger, nullable=False),     # field 48 as the kiosk sent it
    Column("kiosk_debit_count", Integer, nullable=False),
    Column("bank_debit_fen", BigInteger, nullable=False),      # the journal's totals of the batch
    Column("bank_debit_count", Integer, nullable=False),
    Column("result", String(10), nullable=False),              # balanced | unbalanced
    Column("uploaded", Integer),                               # 0320s received, at the end of upload
    Column("closed_at", DateTime),                             # the batch closed (balanced, or upload ended)
    Index("ix_bank_link_settlements_terminal", "terminal_id", "batch"),
)

bank_link_uploads = Table(
    "bank_link_uploads", metadata,
    Column("id", Integer, primary_key=True),
    Column("settlement_id", ForeignKey("bank_link_settlements.id"), nullable=False),
    Column("batch", String(6), nullable=False),      # field 61: the original's batch and STAN
    Column("stan", String(6), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("rrn", String(12), nullable=False),
    Column("matched", Boolean, nullable=False),      # the journal holds this approved debit
    Index("ix_bank_link_uploads_settlement", "settlement_id"),
)

# The link's retrieval reference numbers (field 37): one counter for every terminal.
bank_link_counters = Table(
    "bank_link_counters", metadata,
    Column("name", String(16), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
