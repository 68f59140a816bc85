"""The kiosk's sessions: with the host over the signed HTTP channel (its
sign-on fetches the MAC key of every signed message and the PIN key the card
centre checks, both under the TMK), and with the bank front-end over the ISO
8583 link (its sign-on fetches PIK, MAK and TDK; the PIK goes to the pad's
bank slot, MAK and TDK never leave the link). A refusal of our MAC key is
answered by signing on again to the party that refused it. The HTTP session
serves the bill look-up, the backup copies, the IC wallet and the fleet's
heartbeat; the link serves bill payments. A kiosk that only looks bills up
(`kiosk bill`) has no PIN pad and no link."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from kiosk.backend_client.bank import WorkingKeys
from kiosk.devices.ports import KeySlot, PinPad
from kiosk.domain.errors import KioskError, NotSignedOn

log = logging.getLogger(__name__)

T = TypeVar("T")


class KeySource(Protocol):
    async def sign_on(self) -> WorkingKeys: ...


class LinkKeySource(KeySource, Protocol):
    """The ISO 8583 link (BankLink): it knows when it must sign on again (a
    new business day, 39 99/A0, a bad MAC, header digit 6 = 3)."""

    @property
    def sign_on_due(self) -> bool: ...


class HostSession:
    def __init__(self, bank: KeySource, pinpad: PinPad | None, link: LinkKeySource | None = None) -> None:
        self._bank, self._pinpad, self._link = bank, pinpad, link
        self._lock = asyncio.Lock()
        self.signed_on = False

    async def start(self) -> None:
        """Sign on to both before going into service; one that is down is no
        reason not to (the settling task and the next payment try again)."""
        try:
            await self.sign_on()
        except KioskError as exc:
            log.warning("sign-on at start failed: %s", exc)
        try:
            await self.ensure_link_ready()
        except KioskError as exc:
            log.warning("bank link sign-on at start failed: %s", exc)

    async def sign_on(self) -> None:
        """The signed HTTP channel's sign-on: its PIN key into the pad's host slot."""
        async with self._lock:
            keys = await self._bank.sign_on()
            if self._pinpad is not None:
                await self._pinpad.load_pin_key(KeySlot.HOST, keys.pin_key_wrapped, keys.pin_kcv)
            self.signed_on = True

    async def ensure_signed_on(self) -> None:
        if not self.signed_on:
            await self.sign_on()   # HostUnavailable if the host is still down

    async def ensure_link_ready(self) -> None:
        """Before a PIN is taken for the bank: the link signed on for today, its
        PIK in the pad's bank slot (a PIN block under an older PIK is refused
        by the link). BankUnavailable while the front-end is down."""
        if self._link is None or not self._link.sign_on_due:
            return
        async with self._lock:
            if not self._link.sign_on_due:
                return
            keys = await self._link.sign_on()
            if self._pinpad is not None:
                await self._pinpad.load_pin_key(KeySlot.BANK, keys.pin_key_wrapped, keys.pin_kcv)

    async def renew(self, *, link: bool = False) -> None:
        """The host (or with `link`, the bank front-end) refused our keys: the
        keys we hold are void (and with them any PIN block made under the old
        PIN key). Sign on again to that party."""
        if link:
            await self.ensure_link_ready()
            return
        self.signed_on = False
        await self.sign_on()

    async def with_sign_on(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except NotSignedOn:   # the host changed nothing: sign on and send once more
            await self.sign_on()
            return await call()
