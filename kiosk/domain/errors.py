"""Typed errors, split by who must act. Each carries a catalogue key for the
message a resident sees (see kiosk/i18n.py); the adapters (host clients,
device drivers, the card protocol) raise nothing else.

The tree, drawn by who acts (the class hierarchy follows where the error is
raised: a card's refusal comes from the card, so it is a CardError too)::

    KeyedError (common/errors.py: any error a person is shown)
    |-- BadHouseNumber, BadSwipe (common/errors.py: the shared parsers'; also ValueError)
    `-- KioskError
    |
    |-- business refusals: the answer is no, nothing is broken; the resident
    |   chooses again (another amount, card or PIN), staff need not act
    |     BadHouseNumber (common)            HouseNotFound (HostRejected)
    |     PaymentsSuspended (HostError): a reversal or cancel is unacknowledged
    |     CardPinWrong, CardPinBlocked, WalletInsufficient, WalletLimitExceeded,
    |     CardBlacklisted, NotOurCard, NotTheSameCard            (all CardError)
    |
    |-- HostError: the host or the way to it
    |     HostUnavailable    nothing happened: retrying is safe
    |     HostRejected       the host answered no; it changed nothing
    |       NotSignedOn        our MAC key is not accepted: sign on again
    |       HouseNotFound      (a refusal, above)
    |     BadHostReply       an answer we cannot understand
    |     OutcomeUnknown     the request left, its answer did not come back:
    |                        the money step is undone (reversal / cancel)
    |     PaymentsSuspended  (a refusal, above)
    |     the bank link over ISO 8583 (kiosk/backend_client/bank8583/):
    |       BankUnavailable (HostUnavailable)  39 96/97, or not sent: nothing charged
    |       BankReversalPending (HostUnavailable)  a 0400 is unacknowledged: nothing new sent
    |       BankDeclined (HostRejected)        a response code of the page's §5
    |       BankSignOnRequired (NotSignedOn)   39 99/A0: sign on, PIN again
    |       BankKeyCheckFailed (BadHostReply)  field 62's check value: old keys kept
    |       BankNoReply (OutcomeUnknown)       reversal reason 98 / A0 / 06
    |
    `-- DeviceError: a device, or the card in it
          ReaderFault, PinPadFault, PrinterFault > PaperOut      staff act
          BadSwipe (common), SwipeTimeout, PinEntryCancelled,
          PinEntryTimeout                                        resident acts
          CardError: the IC card in the reader (not the reader itself)
            CardRemoved, CardFault > CardBlockMalformed, CardMacInvalid,
            CardKeyMissing, CardAuthRefused (a MIFARE sector refused our key),
            CardTorn (the card left during a write: bring it back),
            OneCardNeedsStaff (the one-card's purse cannot be trusted)
            and the card's refusals above
            the prepaid meter card's (kiosk/cards/meter.py): NotAMeterCard,
            MeterMacInvalid, MeterNoChallenge, MeterWriteDenied, MeterCardTorn
            and the vending host's refusals of it (kiosk/services/meter.py),
            MeterRefused > MeterNotApplied, MeterOverLimit, MeterCardLost,
            MeterForeign, MeterCardRejected, MeterQuantityRefused

    OutOfService (KioskError): staff took the kiosk out of service; no fault."""
from __future__ import annotations

from common.errors import KeyedError


class KioskError(KeyedError):
    """Base of every error the kiosk shows to a resident."""


# --- host errors: unavailable vs rejected vs outcome unknown ------------------
class HostError(KioskError):
    message_key = "error.host"


class HostUnavailable(HostError):
    """No answer, connection refused, 5xx: nothing happened, retrying is safe."""

    message_key = "error.host_unavailable"


class HostRejected(HostError):
    """The host answered and said no."""

    message_key = "error.host_rejected"


class NotSignedOn(HostRejected):
    """The host does not accept our MAC key (restarted keys, new kiosk): sign on again."""


class HouseNotFound(HostRejected):
    message_key = "error.house_not_found"


class BadHostReply(HostError):
    """The host answered something we cannot understand."""

    message_key = "error.host_bad_reply"


class OutcomeUnknown(HostError):
    """No answer, a broken connection or a bad MAC after the request left:
    a reversal is journaled and sent; the resident is told nothing was charged
    once it is acknowledged."""

    message_key = "error.outcome_unknown"


class PaymentsSuspended(HostError):
    """A reversal is still pending: no new payment may start."""

    message_key = "error.payments_suspended"


# --- the bank link (ISO 8583, ../shared/BANK-8583.md §5) ------------------------
# Response codes the page lists; each has its catalogue text `bank.rc.<code>`.
BANK_RESPONSE_CODES = ("14", "51", "54", "55", "61", "62", "75", "94", "96", "97", "99", "A0")


def bank_message_key(code: str) -> str:
    return f"bank.rc.{code}" if code in BANK_RESPONSE_CODES else "bank.rc.other"


class BankUnavailable(HostUnavailable):
    """The front-end could not be reached, or answered 96 (system malfunction)
    or 97 (terminal not registered): nothing was charged, retrying is safe."""

    message_key = "bank.rc.96"

    def __init__(self, detail: str = "", code: str = "96") -> None:
        super().__init__(detail or f"bank answered {code}")
        self.response_code = code
        self.message_key = "bank.rc.97" if code == "97" else "bank.rc.96"


class BankTlsFailed(BankUnavailable):
    """[bank] link_tls: the TLS handshake failed — the front-end's certificate
    or host name did not verify against the configured CA, or the front-end
    refused this kiosk's certificate. A link failure: nothing was sent."""


class BankReversalPending(HostUnavailable):
    """A reversal (0400) is not acknowledged yet: the link sends nothing new
    until it is (BANK-8583.md §4). This request never left."""

    message_key = "bank.reversal_pending"


class BankDeclined(HostRejected):
    """The bank answered no with a response code of the page's §5 (field 39);
    `tries_left` when a wrong PIN's 63 says `T=<n>`."""

    message_key = "bank.rc.other"

    def __init__(self, code: str, tries_left: int | None = None, detail: str = "") -> None:
        super().__init__(detail or f"bank declined with {code}")
        self.response_code, self.tries_left = code, tries_left
        self.message_key = bank_message_key(code)


class BankSignOnRequired(NotSignedOn):
    """39 99 (PIN error) or A0 (MAC error): the kiosk signs on again and the
    resident enters the PIN again. Nothing was charged."""

    message_key = "bank.rc.99"


class BankKeyCheckFailed(BadHostReply):
    """A working key of the sign-on reply failed its check value: the sign-on
    failed and the old keys stay."""


class BankNoReply(OutcomeUnknown):
    """The request left and no matching, authentic reply came: a reversal is
    journaled with `reason` (98 no reply, A0 bad MAC, 06 other) and resent
    until acknowledged."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or f"no valid reply (reversal reason {reason})")
        self.reason = reason


# --- devices: who must act differs (staff for a fault, resident for a card) --
class DeviceError(KioskError):
    message_key = "error.device"


class ReaderFault(DeviceError):
    """The card reader itself failed (port gone, no answer): staff must act."""

    message_key = "error.reader_fault"


class SwipeTimeout(DeviceError):
    message_key = "error.swipe_timeout"


class PinPadFault(DeviceError):
    message_key = "error.pinpad_fault"


class PinEntryCancelled(DeviceError):
    message_key = "error.pin_cancelled"


class PinEntryTimeout(DeviceError):
    message_key = "error.pin_timeout"


class PrinterFault(DeviceError):
    message_key = "error.printer_fault"


class PaperOut(PrinterFault):
    message_key = "error.paper_out"


# --- IC cards (docs/cards.md §3): the resident must act, unless it is a fault --
class CardError(DeviceError):
    """Something about the IC card in the reader (not the reader itself:
    that is ReaderFault)."""

    message_key = "error.card"


class CardRemoved(CardError):
    """The card left the field. Raised by the transport; a service that was
    writing turns it into CardTorn."""

    message_key = "error.card_removed"


class CardFault(CardError):
    """The card answered something unexpected or nothing usable: take it and
    present it again."""

    message_key = "error.card_fault"


class NotOurCard(CardError):
    """The card has no e-purse application of ours (6A82 on select)."""

    message_key = "error.not_our_card"


class CardPinWrong(CardError):
    message_key = "error.card_pin_wrong"

    def __init__(self, tries_left: int, detail: str = "") -> None:
        super().__init__(detail or f"wrong card PIN, {tries_left} tries left")
        self.tries_left = tries_left


class CardPinBlocked(CardError):
    message_key = "error.card_pin_blocked"


class WalletInsufficient(CardError):
    message_key = "error.wallet_insufficient"


class WalletLimitExceeded(CardError):
    """The load would take the wallet over its maximum balance (9402)."""

    message_key = "error.wallet_limit"


class CardMacInvalid(CardError):
    """The card refused a MAC (9302): it did not apply the transaction."""

    message_key = "error.card_mac_invalid"


class CardKeyMissing(CardError):
    """The card has no key for the requested operation (9403)."""

    message_key = "error.card_key_missing"


class CardBlacklisted(CardError):
    message_key = "error.card_blacklisted"


class CardTorn(CardError):
    """The card left during a write: whether it applied the transaction is
    unknown until the same card (`serial`, 20 hex digits) is back."""

    message_key = "error.card_torn"

    def __init__(self, serial: str, detail: str = "") -> None:
        super().__init__(detail or f"card {serial} torn during a write")
        self.serial = serial


class CardAuthRefused(CardError):
    """A MIFARE Classic sector refused authentication with the key we were
    given (63 00 to AUTHENTICATE): not our card, or a key we do not hold."""

    message_key = "error.card_auth_refused"


class CardBlockMalformed(CardFault):
    """A one-card block failed the layout's checks (XOR, inverted copy, value
    block): the card is damaged or was written by someone else."""

    message_key = "error.card_block_malformed"


class OneCardNeedsStaff(CardError):
    """The one-card's purse cannot be trusted (its copies or its public info
    disagree in a way no tear explains): refused, shown to staff."""

    message_key = "error.onecard_needs_staff"

    def __init__(self, uid: str, reason: str) -> None:
        super().__init__(f"one-card {uid}: {reason}")
        self.uid, self.reason = uid, reason


class OneCardRefused(CardError):
    """The host refused the one-card at its presentation (docs/onecard.md
    "Presentation"): `code` is the host's (mirror_mismatch, auth_code, lost,
    expired, blacklisted, ...). Anything but a plain status is shown to staff."""

    message_key = "error.onecard_needs_staff"

    def __init__(self, uid: str, code: str) -> None:
        super().__init__(f"one-card {uid} refused: {code}")
        self.uid, self.code = uid, code
        self.message_key = {"lost": "error.onecard_lost", "returned": "error.onecard_lost",
                            "expired": "error.onecard_expired", "blacklisted": "error.card_blacklisted",
                            "unknown_onecard": "error.not_our_card"}.get(code, "error.onecard_needs_staff")


class NotTheSameCard(CardError):
    """Tear recovery: a different card was presented than the one being written."""

    message_key = "error.card_not_same"


# --- the prepaid meter user card (docs/meters.md) ------------------------------
class NotAMeterCard(NotOurCard):
    """The card has no `ESTATE.METER` application (6A82 on select)."""

    message_key = "error.not_a_meter_card"


class MeterMacInvalid(CardMacInvalid):
    """The card refused the secure write's MAC (9302): nothing was written."""

    message_key = "error.meter_mac_invalid"


class MeterNoChallenge(CardError):
    """A secure write with no challenge, or one already used (6984): nothing
    was written; a new GET CHALLENGE and a new MAC are needed."""

    message_key = "error.meter_write_refused"


class MeterWriteDenied(CardError):
    """The card refused a write without secure messaging (6982): nothing written."""

    message_key = "error.meter_write_refused"


class MeterCardTorn(CardTorn):
    """The meter card left during the write or before it was read back: write
    the same image again (a new challenge); the meter applies each count once."""

    message_key = "error.meter_card_torn"

    def __init__(self, meter: str, detail: str = "") -> None:
        super().__init__(meter, detail or f"meter card {meter} torn during the write")
        self.meter = meter


class MeterRefused(CardError):
    """The vending host will not sell onto this card now (a business refusal:
    nothing is broken). `code` is the host's (docs/host-api.md "Prepaid meters")."""

    message_key = "error.meter_refused"

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or f"meter sale refused: {code}")
        self.code = code


class MeterNotApplied(MeterRefused):
    """The card's last purchase has not reached the meter (or a reissued card
    has never been in it): insert the card into the meter first."""

    message_key = "error.meter_not_applied"


class MeterOverLimit(MeterRefused):
    """Remaining + this purchase would exceed the meter's hoarding limit."""

    message_key = "error.meter_over_limit"


class MeterCardLost(MeterRefused):
    """The card was reported lost: staff reissue a new one."""

    message_key = "error.meter_card_lost"


class MeterForeign(MeterRefused):
    """Not a prepaid meter of this estate."""

    message_key = "error.meter_foreign"


class MeterCardRejected(MeterRefused):
    """The card's files do not carry the meter's MACs, or it is not the card the
    meter's last sale went to: staff look at it."""

    message_key = "error.meter_card_rejected"


class MeterNumberNeeded(MeterRefused):
    """A card never sold onto (EF 01 blank) names no meter: the resident types
    the meter number printed on it (a wrong one fails the card's write MAC)."""

    message_key = "meter.number.prompt"


class MeterQuantityRefused(MeterRefused):
    """The quantity or amount cannot be sold (too small, too large for the card)."""

    message_key = "error.meter_quantity"


# --- fleet: staff's word, not a fault -----------------------------------------
class OutOfService(KioskError):
    """Staff took the kiosk out of service (a console command): no new
    transaction starts. Raised by FleetService.begin_transaction."""

    message_key = "error.out_of_service"
