"""Working keys: issued at sign-on, kept per kiosk wrapped under its TMK.

The host's copy of each kiosk's TMK is in its config ([kiosks."<id>"] tmk); the
database holds the PIK and MAK only as wrapped under that TMK, so a copy of the
database alone does not give the keys away (on a real site all of this lives in
an HSM)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from host.schema.bank import kiosks
from common.crypto import kcv, tdes_decrypt, wrap_key


@dataclass(frozen=True, slots=True)
class KioskState:
    kiosk_id: str
    last_counter: int
    key_version: int
    pik: bytes | None     # clear working keys (in memory only), None before the first sign-on
    mak: bytes | None


def new_key() -> bytes:
    """A fresh random double-length 3DES key; never degenerate (K1 == K2)."""
    while True:
        key = secrets.token_bytes(16)
        if key[:8] != key[8:]:
            return key


_KIOSK = select(kiosks.c.kiosk_id, kiosks.c.last_counter, kiosks.c.key_version,
                kiosks.c.pik_under_tmk, kiosks.c.mak_under_tmk) \
    .where(kiosks.c.kiosk_id == bindparam("kiosk_id")).with_for_update()   # one message per kiosk at a time


@lru_cache(maxsize=256)
def _unwrap(tmk: bytes, wrapped_hex: str) -> bytes:
    return tdes_decrypt(tmk, bytes.fromhex(wrapped_hex))   # memoised: 3DES set-up is the slow part


def load_kiosk(conn: Connection, kiosk_id: str, tmk: bytes) -> KioskState:
    """The kiosk's row (created on first contact: every configured kiosk may sign on)."""
    row = conn.execute(_KIOSK, {"kiosk_id": kiosk_id}).first()
    if row is None:
        if register_kiosk(conn, kiosk_id):
            return KioskState(kiosk_id, 0, 0, None, None)
        # PostgreSQL: another message of this kiosk registered it meanwhile (and
        # may have moved its counter): its row, read and locked now
        row = conn.execute(_KIOSK, {"kiosk_id": kiosk_id}).one()
    pik = _unwrap(tmk, row.pik_under_tmk) if row.pik_under_tmk else None
    mak = _unwrap(tmk, row.mak_under_tmk) if row.mak_under_tmk else None
    return KioskState(kiosk_id, row.last_counter, row.key_version, pik, mak)


def register_kiosk(conn: Connection, kiosk_id: str) -> bool:
    """Insert the kiosk's row if missing (seed, first contact). True if inserted."""
    if conn.dialect.name == "postgresql":
        # many writers: two first contacts may both find no row; the second
        # insert waits for the first and then does nothing (no unique violation)
        done = conn.execute(pg_insert(kiosks).values(kiosk_id=kiosk_id, last_counter=0, key_version=0)
                            .on_conflict_do_nothing(index_elements=[kiosks.c.kiosk_id]))
        return done.rowcount == 1
    if conn.execute(select(kiosks.c.kiosk_id).where(kiosks.c.kiosk_id == kiosk_id)).first():
        return False
    conn.execute(insert(kiosks).values(kiosk_id=kiosk_id, last_counter=0, key_version=0))
    return True


# Conditional: the counter is accepted by this UPDATE, in the message's own
# transaction, only while it is above the stored one. Two workers (or two
# connections) with one counter: the second UPDATE waits for the first's row
# lock, then finds the condition false and changes nothing (rowcount 0), so a
# counter is never accepted twice even where no SELECT ... FOR UPDATE ran first.
_ADVANCE = update(kiosks).where(kiosks.c.kiosk_id == bindparam("k_id"),
                                kiosks.c.last_counter < bindparam("counter")) \
    .values(last_counter=bindparam("counter"))


def advance_counter(conn: Connection, kiosk_id: str, counter: int) -> bool:
    """Accept `counter` for the kiosk: False (nothing written) when it is not above the stored one."""
    return conn.execute(_ADVANCE, {"k_id": kiosk_id, "counter": counter}).rowcount == 1


def sign_on(conn: Connection, state: KioskState, tmk: bytes, now: datetime) -> dict[str, object]:
    """Issue a fresh PIK and MAK, keep them, and return the sign-on reply:
    the keys wrapped under the TMK (3DES ECB) with their check values."""
    pik, mak = new_key(), new_key()
    while mak == pik:
        mak = new_key()
    version = state.key_version + 1
    wrapped_pik, wrapped_mak = wrap_key(tmk, pik).hex().upper(), wrap_key(tmk, mak).hex().upper()
    conn.execute(update(kiosks).where(kiosks.c.kiosk_id == state.kiosk_id).values(
        key_version=version, pik_under_tmk=wrapped_pik, mak_under_tmk=wrapped_mak, signed_on_at=now))
    return {"pin_key": wrapped_pik, "pin_kcv": kcv(pik).hex().upper(),
            "mac_key": wrapped_mak, "mac_kcv": kcv(mak).hex().upper(), "key_version": version}
