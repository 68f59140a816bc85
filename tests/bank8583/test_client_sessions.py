"""Sign-on and settlement of the kiosk's 8583 client: keys from field 62 with
their check values (a bad one keeps the old keys), sign on again when the
header asks and on a new business day; settlement balanced and unbalanced
(batch upload); and no PAN, track or PIN digits in clear on the socket."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from common.bank8583.fields import Field61, Totals
from common.bank8583.keys import WorkingKeys, ecb_encrypt
from common.clock import ManualClock
from common.crypto import pin_block_format0
from common.money import Money
from kiosk.backend_client.bank8583.client import BankLink
from kiosk.backend_client.bank8583.settlement import next_batch
from kiosk.domain.errors import BankKeyCheckFailed, BankNoReply, BankUnavailable
from kiosk.services.journal import Journal
from tests.support import bank_peer as peer
from tests.support.bank8583 import KEYS, PAN, PIN, TRACK2, TMK
from tests.support.bank_peer import BankPeer, asks_sign_on, bad_check_value, payment, unbalanced

bank_peer, bank, clock, journal, loaded_keys = peer.bank_peer, peer.bank, peer.clock, peer.journal, peer.loaded_keys

NEW_KEYS = WorkingKeys(bytes.fromhex("0123456789ABCDEF1032547698BADCFE"), bytes.fromhex("89ABCDEF0123456776543210FEDCBA98"),
                       bytes.fromhex("FEDCBA98765432100123456789ABCDEF"))


async def test_a_bad_check_value_fails_the_sign_on_and_keeps_the_old_keys(
        bank: BankLink, bank_peer: BankPeer, loaded_keys: list[tuple[bytes, bytes]]) -> None:
    await bank.sign_on()
    bank_peer.keys = NEW_KEYS
    bank_peer.script(bad_check_value)
    with pytest.raises(BankKeyCheckFailed):
        await bank.sign_on()
    bank_peer.keys = KEYS
    await bank.echo()   # the reply's MAC checks under the old MAK, the request's under it too
    assert loaded_keys == []


async def test_the_batch_comes_from_the_sign_on_reply(bank: BankLink, bank_peer: BankPeer, journal: Journal) -> None:
    bank_peer.batch = "000417"
    await bank.sign_on()
    assert journal.bank_batch() == "000417"
    await bank.sign_on()
    assert bank_peer.requests()[-1].fields[60] == "00000417004"   # the 0800 carries the current batch


async def test_a_reply_asking_for_sign_on_is_obeyed_before_the_next_request(
        bank: BankLink, bank_peer: BankPeer, loaded_keys: list[tuple[bytes, bytes]]) -> None:
    await bank.sign_on()
    bank_peer.script(asks_sign_on)
    await bank.echo()
    assert bank.sign_on_due
    await bank.echo()
    assert [m.mti for m in bank_peer.requests()] == ["0800", "0820", "0800", "0820"]
    assert len(loaded_keys) == 1   # the PIN pad took the new PIK through its key loading


async def test_a_new_business_day_signs_on_first(bank: BankLink, bank_peer: BankPeer, clock: ManualClock) -> None:
    await bank.sign_on()
    await bank.echo()
    clock.advance(timedelta(hours=14).total_seconds())   # 10:15:30 -> 00:15:30 the next day
    await bank.echo()
    assert [m.mti for m in bank_peer.requests()] == ["0800", "0820", "0800", "0820"]


async def test_an_unbalanced_settlement_uploads_the_batch(bank: BankLink, bank_peer: BankPeer,
                                                          journal: Journal) -> None:
    await bank.sign_on()
    await bank.pay(payment("T1", 120174))
    await bank.pay(payment("T2", 500))
    bank_peer.script(peer.decline("51"))
    await bank.pay(payment("T3", 700))   # declined: not a debit
    bank_peer.script(unbalanced)
    result = await bank.settle()
    assert (result.balanced, result.uploaded, result.totals.debit, result.totals.debit_count) == \
        (False, 2, Money(120674), 2)
    sent = bank_peer.requests()
    settle, uploads, end = sent[4], sent[5:7], sent[7]
    assert Totals.parse(str(settle.fields[48])) == Totals(Money(120674), 2)
    purchases = [m for m in sent if m.mti == "0200"][:2]
    for upload, purchase in zip(uploads, purchases, strict=True):
        assert upload.mti == "0320" and str(upload.fields[60]).endswith("201")
        assert upload.fields[4] == purchase.fields[4]
        assert upload.fields[37] == "261205" + str(purchase.fields[11])   # the 0210's RRN
        assert Field61.parse(str(upload.fields[61])) == Field61("000001", str(purchase.fields[11]), "1205")
        assert upload.fields[11] > settle.fields[11]   # each its own new STAN
    assert (end.mti, end.fields[48], str(end.fields[60])[-3:]) == ("0320", "0002", "202")
    assert journal.bank_batch() == "000002"
    await bank.pay(payment("T4", 100))
    assert str(bank_peer.requests()[-1].fields[60])[2:8] == "000002"


async def test_a_settlement_refused_keeps_the_batch_open(bank: BankLink, bank_peer: BankPeer,
                                                         journal: Journal) -> None:
    await bank.sign_on()
    await bank.pay(payment())
    bank_peer.script(peer.decline("96", mac=True))
    with pytest.raises(BankUnavailable):
        await bank.settle()
    assert journal.bank_batch() == "000001" and len(journal.bank_debits("000001")) == 1


def test_the_batch_number_wraps() -> None:
    assert (next_batch("000001"), next_batch("999999")) == ("000002", "000001")


async def test_no_pan_track_or_pin_in_clear_on_the_socket(bank: BankLink, bank_peer: BankPeer) -> None:
    await bank.sign_on()
    await bank.pay(payment())
    bank_peer.script(peer.silent)
    with pytest.raises(BankNoReply):
        await bank.pay(payment("T2"))
    await bank.reverse("T2", 120174, "")
    block = ecb_encrypt(KEYS.pik, pin_block_format0(PIN, PAN))
    await bank.balance(TRACK2, block)
    await bank.change_pin(TRACK2, block, ecb_encrypt(KEYS.pik, pin_block_format0("654321", PAN)))
    sent = b"".join(bank_peer.received).hex().upper()
    clear_track = TRACK2.replace("=", "D")
    discretionary = TRACK2.split("=")[1]
    for secret in (clear_track, discretionary[:-1], PIN, "654321", pin_block_format0(PIN, PAN).hex().upper(),
                   TMK.hex().upper(), KEYS.mak.hex().upper(), KEYS.tdk.hex().upper(), KEYS.pik.hex().upper()):
        assert secret not in sent
    for secret in (PAN, TRACK2, PIN):
        assert secret.encode() not in b"".join(bank_peer.received)
    assert all(2 not in m.fields for m in bank_peer.requests())   # field 2 is never sent
    # The page's track encryption (§3) covers the 8 bytes before the last: the
    # PAN's digits stay readable at the start of field 35 (docs/bank-link.md).
    assert all(str(m.fields[35]).startswith(PAN) for m in bank_peer.requests() if 35 in m.fields)


async def test_the_journal_keeps_no_card_data_for_the_link(bank: BankLink, bank_peer: BankPeer, journal: Journal,
                                                           tmp_path: Path) -> None:
    await bank.sign_on()
    await bank.pay(payment())
    bank_peer.script(peer.silent)
    with pytest.raises(BankNoReply):
        await bank.pay(payment("T2"))   # its reversal is journaled, owed
    journal.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("journal.db*"))
    for secret in (PAN, PAN[-13:], TRACK2.split("=")[1], PIN):
        assert secret.encode() not in stored


async def test_a_refused_sign_on_is_nothing_done(bank: BankLink, bank_peer: BankPeer) -> None:
    bank_peer.script(peer.decline("97"))
    with pytest.raises(BankUnavailable) as raised:
        await bank.sign_on()
    assert raised.value.message_key == "bank.rc.97"
    assert bank.sign_on_due
