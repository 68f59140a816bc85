"""The kiosks' MAC keys for heartbeats, cached in memory.

A heartbeat is MACed like every kiosk message (X9.19 under the kiosk's MAK
from sign-on), so one kiosk cannot speak for another. The bank's
SecureChannel reads the kiosk's row in a database transaction per message; at
5,000 kiosks x one heartbeat per 15 s that would be ~333 transactions a second
for nothing, so the fleet keeps each kiosk's unwrapped MAK here and reads the
row again only when the kiosk announces a newer key version (it signed on
again: one point read) or its MAC stops verifying (at most once a second per
kiosk, so a stream of forged messages does not become a stream of reads)."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine

from host.schema.bank import kiosks
from common.crypto import tdes_decrypt

RELOAD_AT_MOST_EVERY_S = 1.0

_ROW = select(kiosks.c.key_version, kiosks.c.mak_under_tmk, kiosks.c.last_counter) \
    .where(kiosks.c.kiosk_id == bindparam("kiosk_id"))


@dataclass(frozen=True, slots=True)
class KioskKey:
    key_version: int
    mak: bytes | None          # None: configured but never signed on
    bank_counter: int          # the bank channel's last accepted counter when loaded


class KeyCache:
    def __init__(self, engine: Engine, tmks: dict[str, bytes], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self.tmks, self.clock = engine, tmks, clock
        self._keys: dict[str, KioskKey] = {}
        self._loaded_at: dict[str, float] = {}

    def cached(self, kiosk_id: str) -> KioskKey | None:
        return self._keys.get(kiosk_id)

    def may_reload(self, kiosk_id: str) -> bool:
        last = self._loaded_at.get(kiosk_id)
        return last is None or self.clock() - last >= RELOAD_AT_MOST_EVERY_S

    def wants_reload(self, kiosk_id: str, version_hint: int | None) -> bool:
        """Before verifying: no key yet (throttled), or the kiosk announces a newer version."""
        key = self._keys.get(kiosk_id)
        if key is None:
            return self.may_reload(kiosk_id)
        return version_hint is not None and version_hint > key.key_version

    def load(self, kiosk_id: str) -> KioskKey:
        """Read the kiosk's row (blocking: the caller picks the thread)."""
        with self.engine.connect() as conn:
            row = conn.execute(_ROW, {"kiosk_id": kiosk_id}).first()
        # stamped only once the row is read: a read that failed (the database
        # restarting) must not throttle the next heartbeat's reload into a
        # "not signed on" 401; it tries again and gets the outage's 503
        self._loaded_at[kiosk_id] = self.clock()
        if row is None or not row.mak_under_tmk:
            key = KioskKey(0 if row is None else row.key_version, None, 0 if row is None else row.last_counter)
        else:
            mak = tdes_decrypt(self.tmks[kiosk_id], bytes.fromhex(row.mak_under_tmk))
            key = KioskKey(row.key_version, mak, row.last_counter)
        self._keys[kiosk_id] = key
        return key
