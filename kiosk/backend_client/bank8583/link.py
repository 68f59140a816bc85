"""The TCP transport to the front-end: one frame out, one frame back.

A failure is typed by what it says about the request: a connection that could
not be opened (or a frame that could not be written on a fresh one) means the
request never left (`BankUnavailable`); once it is written, a timeout, a cut
connection or a malformed reply is "no reply" (`BankNoReply`, reason 98).

With `settings.tls` the connection is TLS (kiosk/backend_client/bank8583/tls.py);
a handshake that fails — the front-end's certificate or host name does not
verify — is `BankTlsFailed`, a `BankUnavailable`: no frame left. A front-end
refusing our client certificate under TLS 1.3 does so after our side of the
handshake is done and the frame written: we see the connection closed with no
reply, "no reply" like any other (docs/bank-link.md "TLS on the link").
"""
from __future__ import annotations

import asyncio
import logging
import ssl

from common.bank8583.errors import WireError
from common.bank8583.framing import LEN_SIZE, frame_length
from kiosk.backend_client.bank8583.settings import LinkSettings
from kiosk.domain.errors import BankNoReply, BankTlsFailed, BankUnavailable

log = logging.getLogger(__name__)

NO_REPLY = "98"


class Link:
    def __init__(self, settings: LinkSettings) -> None:
        self._settings = settings
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._tls: ssl.SSLContext | None = settings.tls.context() if settings.tls is not None else None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn[1].close()
            try:
                await conn[1].wait_closed()
            except OSError:
                pass

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        s = self._settings
        if self._conn is not None:
            reader, writer = self._conn
            # a persistent connection the front-end closed while idle: reopen it
            # before sending, so it is never mistaken for a lost reply
            if not reader.at_eof() and not writer.is_closing():
                return self._conn
            await self.close()
        try:
            async with asyncio.timeout(s.connect_timeout_s):   # the TLS handshake included
                self._conn = await asyncio.open_connection(
                    s.host, s.port, ssl=self._tls, server_hostname=s.host if self._tls else None)
        except ssl.SSLError as exc:
            detail = ": ".join(str(part) for part in (exc.reason, getattr(exc, "verify_message", None)) if part)
            raise BankTlsFailed(f"TLS to bank front-end {s.host}:{s.port} failed ({detail or exc!r})") from exc
        except (OSError, TimeoutError) as exc:
            raise BankUnavailable(f"bank front-end {s.host}:{s.port} not reachable: {exc!r}") from exc
        return self._conn

    async def exchange(self, frame: bytes) -> bytes:
        """Send `frame`, return the one frame that answers it (LEN included)."""
        reader, writer = await self._connect()
        try:
            writer.write(frame)
            await writer.drain()
        except OSError as exc:
            await self.close()
            # the bytes may sit in the kernel's buffer already: treat as sent
            raise BankNoReply(NO_REPLY, f"connection lost while sending: {exc!r}") from exc
        try:
            async with asyncio.timeout(self._settings.reply_timeout_s):
                reply = await self._read_frame(reader)
        except TimeoutError as exc:
            await self.close()
            raise BankNoReply(NO_REPLY, "no reply in time") from exc
        except (OSError, asyncio.IncompleteReadError, WireError) as exc:
            await self.close()
            raise BankNoReply(NO_REPLY, f"no usable reply: {exc!r}") from exc
        if not self._settings.persistent:
            await self.close()
        return reply

    async def _read_frame(self, reader: asyncio.StreamReader) -> bytes:
        prefix = await reader.readexactly(LEN_SIZE)
        count = frame_length(prefix)
        if count > self._settings.max_frame:
            raise WireError(f"LEN {count} is over the {self._settings.max_frame} bytes we read", "LEN")
        return prefix + await reader.readexactly(count)
