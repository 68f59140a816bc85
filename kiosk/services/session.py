"""The kiosk's session with the bank front-end: sign-on fetches the working
keys (the MAC key for every signed message, the PIN key for the pad), and a
refusal of our MAC key is answered by signing on again. One session serves
the bill look-up, the bill payments, the IC wallet and the fleet's heartbeat.
A kiosk that only looks bills up (`kiosk bill`) has no PIN pad: its session
fetches the keys and keeps the PIN key nowhere."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from kiosk.backend_client.bank import WorkingKeys
from kiosk.devices.ports import PinPad
from kiosk.domain.errors import KioskError, NotSignedOn

log = logging.getLogger(__name__)

T = TypeVar("T")


class KeySource(Protocol):
    async def sign_on(self) -> WorkingKeys: ...


class HostSession:
    def __init__(self, bank: KeySource, pinpad: PinPad | None) -> None:
        self._bank, self._pinpad = bank, pinpad
        self._lock = asyncio.Lock()
        self.signed_on = False

    async def start(self) -> None:
        """Sign on before going into service; a host that is down is no reason not
        to (the settling task and the next payment try again)."""
        try:
            await self.sign_on()
        except KioskError as exc:
            log.warning("sign-on at start failed: %s", exc)

    async def sign_on(self) -> None:
        async with self._lock:
            keys = await self._bank.sign_on()
            if self._pinpad is not None:
                await self._pinpad.load_pin_key(keys.pin_key_wrapped, keys.pin_kcv)
            self.signed_on = True

    async def ensure_signed_on(self) -> None:
        if not self.signed_on:
            await self.sign_on()   # HostUnavailable if the host is still down

    async def renew(self) -> None:
        """The host refused our MAC key: the keys we hold are void (and with them
        any PIN block made under the old PIN key). Sign on again."""
        self.signed_on = False
        await self.sign_on()

    async def with_sign_on(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except NotSignedOn:   # the host changed nothing: sign on and send once more
            await self.sign_on()
            return await call()
