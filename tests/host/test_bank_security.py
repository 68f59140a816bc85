"""Sign-on and message security over real HTTP on loopback: working keys
wrapped under the TMK with check values, X-MAC over the exact body bytes on
requests and replies, the strictly increasing counter, and refusals that
change nothing."""
from __future__ import annotations

import json

import httpx
import pytest

from tests.support.host_env import BankEnv, OTHER_KIOSK, OTHER_TMK, TEST_TMK
from host.bank.security import encode
from common.crypto import kcv, mac_x919, request_mac, tdes_decrypt

from tests.support.databases import BACKENDS, SQLITE

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL

BACKUP = "/api/v1/property/transactions"     # a signed route like every kiosk write


def test_sign_on_issues_fresh_wrapped_keys_with_check_values(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    reply = kiosk.sign_on()
    assert reply.status == 200 and reply.mac_ok          # MAC under the TMK
    keys = reply.json
    assert set(keys) == {"pin_key", "pin_kcv", "mac_key", "mac_kcv", "key_version"}
    assert keys["key_version"] == 1
    pik = tdes_decrypt(TEST_TMK, bytes.fromhex(keys["pin_key"]))
    mak = tdes_decrypt(TEST_TMK, bytes.fromhex(keys["mac_key"]))
    assert kcv(pik) == bytes.fromhex(keys["pin_kcv"]) and kcv(mak) == bytes.fromhex(keys["mac_kcv"])
    assert len(pik) == len(mak) == 16 and pik != mak
    assert pik[:8] != pik[8:] and mak[:8] != mak[8:]
    assert (kiosk.pik, kiosk.mak) == (pik, mak)

    again = kiosk.sign_on()                               # every sign-on: new keys, next version
    assert again.status == 200 and again.json["key_version"] == 2
    assert again.json["mac_key"] != keys["mac_key"] and again.json["pin_key"] != keys["pin_key"]


def test_old_working_keys_die_at_the_next_sign_on(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    old_mak = kiosk.mak
    kiosk.sign_on()
    raw = kiosk.body({"txn": {"txn_id": "X-1"}})
    reply = kiosk.send(BACKUP, raw, old_mak)
    assert reply.status == 401 and reply.json["error"] == "bad_mac"


def test_the_host_keeps_only_wrapped_keys(bank: BankEnv) -> None:
    bank.kiosk.sign_on()
    rows = bank.dump()["kiosks"]
    text = repr(rows).upper()
    assert bank.kiosk.mak.hex().upper() not in text and bank.kiosk.pik.hex().upper() not in text


def test_unknown_kiosk_and_not_signed_on(bank: BankEnv) -> None:
    stranger = bank.signer("KIOSK-NOBODY", TEST_TMK)
    try:
        reply = stranger.sign_on()
        assert reply.status == 401 and reply.json["error"] == "unknown_kiosk" and reply.mac is None
    finally:
        stranger.close()
    other = bank.signer(OTHER_KIOSK, OTHER_TMK)        # configured, never signed on
    try:
        other.mak = bytes(range(16))
        reply = other.backup({"txn_id": "X-1"})
        assert reply.status == 401 and reply.json["error"] == "not_signed_on"
        assert other.sign_on().status == 200 and other.backup({"txn_id": "X-1"}).json == {"stored": True}
    finally:
        other.close()


def test_sign_on_needs_the_tmk(bank: BankEnv) -> None:
    wrong = bank.signer(bank.kiosk.kiosk_id, OTHER_TMK)
    try:
        reply = wrong.sign_on()
        assert reply.status == 401 and reply.json["error"] == "bad_mac"
    finally:
        wrong.close()


@pytest.mark.parametrize("raw,message", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "object"),
    (b'{"counter": 5}', "kiosk_id"),
    (b'{"kiosk_id": "KIOSK-TEST-01"}', "counter"),
    (b'{"kiosk_id": "KIOSK-TEST-01", "counter": -1}', "counter"),
    (b'{"kiosk_id": "KIOSK-TEST-01", "counter": true}', "counter"),
])
@pytest.mark.backends(SQLITE)      # refused by the parser, before any database: one backend is enough
def test_malformed_bodies_are_400(bank: BankEnv, raw: bytes, message: str) -> None:
    before = bank.dump()
    reply = bank.kiosk.send("/api/v1/bank/sign-on", raw, TEST_TMK)
    assert reply.status == 400 and reply.json["error"] == "bad_request" and message in reply.json["message"]
    assert bank.dump() == before


def test_missing_fields_are_400_signed_and_change_nothing(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    before = bank.dump()
    reply = kiosk.post(BACKUP, {"copy": {"txn_id": "T-1"}})
    assert reply.status == 400 and reply.json["error"] == "bad_request" and reply.mac_ok
    reply = kiosk.post(BACKUP, {"txn": {"house_no": "3-2-1202"}})
    assert reply.status == 400 and reply.mac_ok
    assert bank.dump() == before                       # not even the counter moved


def test_replayed_counter_is_refused_and_changes_nothing(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    raw = kiosk.body({"txn": {"txn_id": "T-R1", "house_no": "2-1-601", "amount_fen": 100}})
    first = kiosk.send(BACKUP, raw, kiosk.mak)
    assert first.status == 200 and first.json == {"stored": True}
    before = bank.dump()
    replay = kiosk.send(BACKUP, raw, kiosk.mak)     # the same bytes again
    assert replay.status == 409 and replay.json["error"] == "replay" and replay.mac_ok
    # a new txn with an old counter is a replay too
    other = {"txn": {"txn_id": "T-R2", "house_no": "2-2-902", "amount_fen": 1}}
    stale = kiosk.send(BACKUP, kiosk.body(other, counter=kiosk.counter - 1), kiosk.mak)
    assert stale.status == 409
    equal = kiosk.send(BACKUP, kiosk.body(other, counter=kiosk.counter), kiosk.mak)
    assert equal.status == 409
    assert bank.dump() == before
    assert kiosk.post(BACKUP, other).status == 200


def test_counter_survives_a_host_restart_and_may_jump(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    kiosk.counter = 1_000_000                          # gaps are fine: strictly greater is the rule
    assert kiosk.backup({"txn_id": "X-1"}).status == 200
    with bank.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT last_counter FROM kiosks WHERE kiosk_id = 'KIOSK-TEST-01'").scalar() \
            == 1_000_001


def test_tampered_body_is_refused_and_changes_nothing(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    before = bank.dump()
    raw = kiosk.body({"txn": {"txn_id": "T-X", "house_no": "3-2-1202", "amount_fen": 126931}})
    mac = request_mac(kiosk.mak, BACKUP, raw).hex().upper()
    tampered = raw.replace(b'"house_no":"3-2-1202"', b'"house_no":"3-2-1203"')
    assert len(tampered) == len(raw) and tampered != raw      # one byte changed after the MAC
    reply = kiosk.send(BACKUP, tampered, kiosk.mak, mac=mac)
    assert reply.status == 401 and reply.json["error"] == "bad_mac" and reply.mac_ok
    missing = kiosk.http.post(bank.url + BACKUP, content=raw)      # no X-MAC at all
    assert missing.status_code == 401 and missing.json()["error"] == "bad_mac"
    garbage = kiosk.send(BACKUP, raw, kiosk.mak, mac="not hex")
    assert garbage.status == 401
    assert bank.dump() == before
    # the untouched message is still good (its counter was never used up)
    assert kiosk.send(BACKUP, raw, kiosk.mak, mac=mac).json == {"stored": True}
    assert bank.dump() != before


def test_reply_mac_covers_the_exact_reply_bytes(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    reply = kiosk.backup({"txn_id": "X-1", "house_no": "3-2-1202"})
    assert reply.status == 200 and reply.mac_ok
    assert reply.mac == mac_x919(kiosk.mak, reply.body).hex().upper()
    flipped = bytearray(reply.body)
    flipped[2] ^= 0x01
    assert mac_x919(kiosk.mak, bytes(flipped)).hex().upper() != reply.mac


def test_lower_case_mac_is_accepted(bank: BankEnv) -> None:
    kiosk = bank.kiosk
    kiosk.sign_on()
    raw = kiosk.body({"txn": {"txn_id": "X-2"}})
    reply = kiosk.send(BACKUP, raw, kiosk.mak, mac=request_mac(kiosk.mak, BACKUP, raw).hex())
    assert reply.status == 200


def test_get_is_not_a_way_around(bank: BankEnv) -> None:
    assert httpx.get(bank.url + BACKUP).status_code == 405
    body = json.dumps({"kiosk_id": "KIOSK-TEST-01", "counter": 1}).encode()
    assert httpx.post(bank.url + BACKUP, content=body).status_code == 401


def test_reply_bytes_are_compact_json() -> None:
    assert encode({"a": 1, "b": "翠"}) == '{"a":1,"b":"翠"}'.encode()
