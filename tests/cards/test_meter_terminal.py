"""The kiosk's meter card terminal (kiosk/cards/meter.py) against the virtual
meter user card (kiosk/devices/sim/meter_card.py) with nothing in between, the
vending host's part played by common/meter_keys: the sale, the card's
refusals (nothing written), typed errors, and a tear after each APDU of the
write followed by a rewrite, which the meter applies exactly once."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from common.clock import ManualClock
from common.meter_card import MeterReturn, Utility, can_sell, next_purchase
from common.meter_keys import sign_purchase, write_mac
from kiosk.cards.meter import MeterCard
from kiosk.devices.sim.meter import Outcome, SimulatedMeter
from kiosk.devices.sim.meter_card import VirtualMeterCard
from kiosk.domain.errors import (CardFault, CardMacInvalid, CardRemoved, CardTorn, MeterCardTorn, MeterMacInvalid,
                                 MeterNoChallenge, MeterWriteDenied, NotAMeterCard, NotOurCard, ReaderFault)
from tests.support.meters import EF01_7, EF01_8, EF02_C, KEYS, METER, Direct, HostSigner, fixed_challenges, seeded_card

WRITE = bytes.fromhex("04D6810018")
OK = b"\x90\x00"


def sw(answer: bytes) -> str:
    return answer[-2:].hex().upper()


def terminal(card: VirtualMeterCard) -> tuple[MeterCard, Direct]:
    transport = Direct(card)
    meter_card = MeterCard(transport)
    meter_card.select()
    return meter_card, transport


def test_a_sale_reads_checks_writes_and_reads_back() -> None:
    card = seeded_card()
    kiosk, transport = terminal(card)
    ef01, ef02 = kiosk.read_purchase(), kiosk.read_return()
    assert (ef01, ef02) == (EF01_7, EF02_C)
    assert can_sell(ef01, ef02, 10000, hoarding_max=200000)
    image = sign_purchase(KEYS.pk, next_purchase(ef01, METER, Utility.ELECTRICITY, 10000)).encode()   # the host
    signer = HostSigner()
    kiosk.write_purchase(image, signer)
    assert card.ef01() == image == EF01_8.encode()
    assert [apdu[:5].hex().upper() for apdu in transport.sent[-3:]] == ["0084000004", "04D6810018", "00B0810014"]
    assert len(signer.calls) == 1 and signer.calls[0][1] == image
    assert not can_sell(kiosk.read_purchase(), kiosk.read_return(), 1, 200000)   # until the meter applied it


def test_a_wrong_mac_is_refused_and_nothing_is_written() -> None:
    card = seeded_card()
    kiosk, _ = terminal(card)

    def bad_signer(challenge: bytes, image: bytes) -> bytes:
        mac = write_mac(KEYS.uk, challenge, image)
        return mac[:3] + bytes([mac[3] ^ 0xFF])
    with pytest.raises(MeterMacInvalid) as raised:
        kiosk.write_purchase(EF01_8.encode(), bad_signer)
    assert isinstance(raised.value, CardMacInvalid) and raised.value.message_key == "error.meter_mac_invalid"
    assert card.ef01() == EF01_7.encode()
    # a MAC of another meter's UK is just as wrong
    other = HostSigner("310100012346")
    with pytest.raises(MeterMacInvalid):
        kiosk.write_purchase(EF01_8.encode(), other)
    assert card.ef01() == EF01_7.encode()


def test_the_challenge_is_good_for_one_attempt_and_a_reset_voids_it() -> None:
    card = seeded_card()
    image = EF01_8.encode()
    assert sw(card.process(WRITE + image + bytes(4))) == "6984"          # never asked for one
    challenge = card.process(bytes.fromhex("0084000004"))[:4]
    mac = write_mac(KEYS.uk, challenge, image)
    assert sw(card.process(WRITE + image + mac[:3] + bytes([mac[3] ^ 0xFF]))) == "9302"
    assert sw(card.process(WRITE + image + mac)) == "6984"               # used by the wrong attempt
    challenge = card.process(bytes.fromhex("0084000004"))[:4]
    assert card.process(bytes.fromhex("00B0810014"))[-2:] == OK           # reads leave it alone
    assert card.process(WRITE + image + write_mac(KEYS.uk, challenge, image)) == OK
    assert sw(card.process(WRITE + image + write_mac(KEYS.uk, challenge, image))) == "6984"
    assert card.ef01() == image

    kiosk, _ = terminal(card)

    def signer_then_reset(challenge: bytes, image: bytes) -> bytes:
        card.reset()                                                      # the session ends meanwhile
        return write_mac(KEYS.uk, challenge, image)
    with pytest.raises(MeterNoChallenge):
        kiosk.write_purchase(EF01_7.encode(), signer_then_reset)
    assert card.ef01() == image


def test_a_plain_write_of_the_purchase_file_is_refused() -> None:
    card = seeded_card()
    assert sw(card.process(bytes.fromhex("00D6810014") + EF01_8.encode())) == "6982"
    assert card.ef01() == EF01_7.encode()


class Scripted:
    """A transport answering 9000 to everything but the write, which gets `sw`."""

    def __init__(self, write_sw: str) -> None:
        self.write_sw = bytes.fromhex(write_sw)

    def transmit(self, apdu: bytes) -> bytes:
        if apdu[:2] == b"\x04\xD6":
            return self.write_sw
        if apdu[:2] == b"\x00\x84":
            return bytes(4) + OK
        return EF01_8.encode() + OK


@pytest.mark.parametrize(("status", "error"), [
    ("9302", MeterMacInvalid), ("6984", MeterNoChallenge), ("6982", MeterWriteDenied), ("6F00", CardFault)])
def test_the_write_refusals_are_typed(status: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        MeterCard(Scripted(status)).write_purchase(EF01_8.encode(), HostSigner())


def test_each_error_has_its_text() -> None:
    from kiosk.i18n import tr
    for error in (NotAMeterCard("x"), MeterMacInvalid("x"), MeterNoChallenge("x"), MeterWriteDenied("x"),
                  MeterCardTorn(METER)):
        assert tr(error.message_key) != error.message_key


def test_a_card_without_the_meter_application_and_a_reader_fault() -> None:
    class Stranger:
        def transmit(self, apdu: bytes) -> bytes:
            return b"\x6A\x82"

    class Broken:
        def transmit(self, apdu: bytes) -> bytes:
            raise ReaderFault("pcscd went away")
    with pytest.raises(NotAMeterCard) as raised:
        MeterCard(Stranger()).select()
    assert isinstance(raised.value, NotOurCard)
    with pytest.raises(ReaderFault):
        MeterCard(Broken()).read_return()


def test_a_file_that_breaks_the_layout_is_a_card_fault() -> None:
    class Garbled:
        def transmit(self, apdu: bytes) -> bytes:
            return (b"\xAA" * (20 if apdu[2] == 0x81 else 24)) + OK
    with pytest.raises(CardFault):
        MeterCard(Garbled()).read_purchase()
    with pytest.raises(CardFault):
        MeterCard(Garbled()).read_return()


def test_the_virtual_card_keeps_its_files(tmp_path: Path) -> None:
    card = VirtualMeterCard.create(tmp_path, meter=METER, utility=Utility.ELECTRICITY, holder="3-2-301")
    with pytest.raises(FileExistsError):
        VirtualMeterCard.create(tmp_path, meter=METER, utility=Utility.ELECTRICITY)
    fixed_challenges(card, "11223344")
    MeterCard(Direct(card)).write_purchase(EF01_8.encode(), HostSigner())
    again = VirtualMeterCard.in_folder(tmp_path, METER)
    assert again.ef01() == EF01_8.encode() and again.ef02() == bytes(24) and again.holder == "3-2-301"
    assert (tmp_path / "meters" / f"{METER}.json").exists() and not list(tmp_path.glob("*.json"))


# --- tears ---------------------------------------------------------------------------
# the write's APDUs: 0 GET CHALLENGE, 1 the secure write, 2 EF 01 read back
@pytest.mark.parametrize("applied", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("step", [0, 1, 2], ids=["challenge", "write", "read-back"])
def test_a_tear_then_a_rewrite_gives_the_purchase_to_the_meter_exactly_once(step: int, applied: bool) -> None:
    card = seeded_card()
    meter = SimulatedMeter.create(METER, Utility.ELECTRICITY, maximum=200000, low_credit=5000,
                                  clock=ManualClock(datetime(2026, 12, 5, 18, 0)), remaining=3520,
                                  cumulative=121480, last_count=7)
    kiosk, _ = terminal(card)
    sold = 10000                                     # what the host sold and took money for
    image = sign_purchase(KEYS.pk, next_purchase(kiosk.read_purchase(), METER, Utility.ELECTRICITY, sold))
    seen = 0

    def pull(apdu: bytes) -> str | None:
        nonlocal seen
        seen += 1
        return ("after" if applied else "before") if seen == step + 1 else None
    card.fault = pull
    with pytest.raises((CardRemoved, CardTorn)) as raised:
        kiosk.write_purchase(image.encode(), HostSigner())
    assert isinstance(raised.value, MeterCardTorn) is (step > 0)   # after the write went out: torn
    card.fault = None
    written = card.ef01() == image.encode()
    assert written is (step == 2 or (step == 1 and applied))
    # the card is back: the same image again, with a new challenge
    again, _ = terminal(card)
    again.write_purchase(image.encode(), HostSigner())
    assert card.ef01() == image.encode()
    first, second = meter.take(card), meter.take(card)
    assert (first.outcome, second.outcome) == (Outcome.APPLIED, Outcome.ALREADY_APPLIED)
    assert first.added + second.added == sold == meter.state.remaining - 3520   # units conserved
    ef02 = MeterReturn.decode(card.ef02())
    assert ef02.last_count == image.count and can_sell(image, ef02, 1, 200000)
