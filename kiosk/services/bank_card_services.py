"""银行卡服务 bank-card services: a bank card's balance inquiry and PIN change
over the bank link (issue 16 item 4; BANK-8583.md §4 "balance inquiry" and
"PIN change"; docs/bank-link.md "Bank-card services").

Rules:
- only PIN blocks leave the PIN pad (`PinPad.collect_pin`, ISO 9564 format 0
  under the PIK); the clear PIN never reaches this module;
- the two entries of a new PIN are compared as PIN blocks: format 0 has no
  random fill, so under one PIK and one PAN the same PIN gives the same
  block, and different PINs different blocks. Both are made under the key the
  pad holds between two entries with no bank exchange in between, so a
  mismatch is the resident's, never a key change. A mismatch sends nothing;
- the balance is shown and, if the resident asks, printed; it is never
  journaled, stored or logged (neither is the card: the swipe lives in the
  caller's memory until it is done);
- nothing here moves money: no journal entry, no reversal (the link sends
  none for these messages either), no settling task.

The link is reached through `BankCardPort` (ports.py), which `BankLink`
satisfies; its errors are the bank errors of kiosk.domain.errors.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from common.bank_card import CardSwipe
from common.money import Money
from kiosk.devices.ports import CardReader, KeySlot, PinKey, PinPad, ReceiptPrinter
from kiosk.domain.errors import KioskError
from kiosk.domain.receipt import Receipt
from kiosk.services.ports import PIN_TIMEOUT_S, BankCardPort
from kiosk.services.receipts import print_logged

log = logging.getLogger(__name__)

PIN_BLOCK_SIZE = 8


class NewPinMismatch(KioskError):
    """The new PIN's two entries differ: nothing was sent, the PIN is unchanged."""

    message_key = "bankcard.pin.mismatch"


@dataclass(frozen=True, slots=True)
class BalanceReceipt(Receipt):
    """A balance slip: the masked card and the balance, nothing of a payment."""

    def lines(self) -> list[str]:
        return [self.estate, self.title,
                f"终端号 Kiosk: {self.kiosk_id}",
                f"时间 Time: {self.when:%Y-%m-%d %H:%M:%S}",
                "-" * 32,
                f"卡号 Card: {self.masked_pan}",
                f"可用余额 Balance  {self.total.yuan:>10}",
                "-" * 32,
                "余额以银行记录为准",
                "The bank's records prevail."]


class BankCardServices:
    """Swipe, PIN blocks from the pad, and the bank's answer; the screens route."""

    def __init__(self, *, link: BankCardPort, reader: CardReader, pinpad: PinPad, printer: ReceiptPrinter,
                 estate: str, kiosk_id: str, now: Callable[[], datetime]) -> None:
        self.link = link
        self.reader, self.pinpad, self.printer = reader, pinpad, printer
        self.estate, self.kiosk_id, self.now = estate, kiosk_id, now

    # --- the card and its PIN blocks --------------------------------------------------
    async def read_card(self, timeout_s: float) -> CardSwipe:
        return await self.reader.read_swipe(timeout_s)

    async def prepare_keys(self) -> None:
        """Before a PIN is typed: sign on if the link would (else the block the
        resident types would be made under a PIK the next exchange voids) and
        hand the pad the new PIK. BankUnavailable when the bank cannot be reached."""
        if self.link.sign_on_due:
            keys = await self.link.sign_on()
            await self.pinpad.load_pin_key(KeySlot.BANK, keys.pin_key_wrapped, keys.pin_kcv)

    async def collect_pin(self, swipe: CardSwipe, on_key: Callable[[PinKey, int], None]) -> bytes:
        """One PIN block from the pad for this card (the keys made ready first)."""
        await self.prepare_keys()
        return await self.pinpad.collect_pin(KeySlot.BANK, swipe.pan, on_key, PIN_TIMEOUT_S)

    async def aclose(self) -> None:
        await self.link.aclose()

    async def cancel_devices(self) -> None:
        await asyncio.gather(self.reader.cancel(), self.pinpad.cancel(), return_exceptions=True)

    # --- the two services ------------------------------------------------------------------
    async def balance(self, swipe: CardSwipe, pin_block: bytes) -> Money:
        """The card's available balance. Raises BankDeclined (code, tries left),
        BankUnavailable / BankReversalPending (not sent), BankSignOnRequired
        (PIN again), BankNoReply (no answer: nothing changed either way)."""
        _check_block(pin_block)
        balance = await self.link.balance(_bare_track(swipe), pin_block)
        log.info("balance inquiry answered for %s", swipe.masked_pan)   # never the balance
        return balance

    async def change_pin(self, swipe: CardSwipe, old_block: bytes, new_block: bytes, again_block: bytes) -> None:
        """The old PIN's block and the new PIN's two. NewPinMismatch (nothing
        sent) when the two new entries differ; else the bank's errors as for
        `balance`, BankNoReply meaning the PIN may or may not have changed."""
        for block in (old_block, new_block, again_block):
            _check_block(block)
        if not hmac.compare_digest(new_block, again_block):
            raise NewPinMismatch("the new PIN's two entries differ")
        await self.link.change_pin(_bare_track(swipe), old_block, new_block)
        log.info("PIN changed for %s", swipe.masked_pan)

    # --- the slip, only when asked ---------------------------------------------------------
    def balance_receipt(self, masked_pan: str, balance: Money) -> BalanceReceipt:
        return BalanceReceipt(estate=self.estate, kiosk_id=self.kiosk_id, when=self.now(), house_no="", items=(),
                              total=balance, masked_pan=masked_pan, txn_id="balance inquiry", reference="",
                              auth_code="", title="余额查询凭条 / BALANCE INQUIRY")

    async def print_balance(self, masked_pan: str, balance: Money) -> bool:
        """True if printed; a printer failure is logged (without the balance), never raised."""
        return await print_logged(self.printer, self.balance_receipt(masked_pan, balance))


def _check_block(block: bytes) -> None:
    if len(block) != PIN_BLOCK_SIZE:
        raise ValueError("a PIN block is 8 bytes")


def _bare_track(swipe: CardSwipe) -> str:
    """Track 2 as field 35 carries it: `digits=digits`, without the sentinels."""
    return swipe.track2.strip(";?")
