"""The front-end's TCP server (asyncio): many terminals at once, each
connection read frame by frame — LEN(2), then LEN bytes — and answered in
order. One exchange per connection is the contract's default; a terminal may
keep its connection for more (BANK-8583.md §1), until it closes it or goes
quiet for the read timeout.

Bounds (docs/bank-link.md "The reference front-end"): a LEN above
`link_max_frame` or too short for a header is not read, and the connection is
closed; a whole frame (LEN and body) must arrive within `link_read_timeout_s`
of its first byte being awaited, so a slow-loris connection is cut; a frame
that does not parse closes the connection without a reply; at most
MAX_CONNECTIONS connections are served at once, more are closed at accept.
The database work of a frame runs on a worker thread, never on the loop.

With `[bank] link_tls_cert`/`link_tls_key` the link is TLS only (1.2 or
later; with `link_client_ca` the terminal's certificate is required): each
accepted connection does its handshake first, within `link_read_timeout_s`,
and one that fails (a plain-TCP terminal, an unknown client certificate) is
logged and closed before a byte of it is read as a frame."""
from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from contextlib import suppress
from typing import Final

from sqlalchemy.engine import Engine

from common.bank8583.errors import WireError
from common.bank8583.framing import LEN_SIZE, frame_length
from common.clock import Clock
from host.bank.frontend.dispatch import FrontEndHandler
from host.config import BankLink, HostSettings
from host.config.bank import server_context

log = logging.getLogger(__name__)

MAX_CONNECTIONS: Final = 64


class BankFrontEnd:
    """`await start()` listens (link.port 0: a free port, then in `port`);
    `await close()` stops listening and cuts the open connections."""

    def __init__(self, settings: HostSettings, link: BankLink, engine: Engine, clock: Clock) -> None:
        self.link = link
        self.handler = FrontEndHandler(settings, link, engine, clock)
        self.port = link.port
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.Task[None]] = set()
        # built once, at construction: a certificate that no longer loads fails here, not per connection
        self._tls: ssl.SSLContext | None = (server_context(*link.tls, link.client_ca)
                                            if link.tls is not None else None)

    async def start(self, sock: socket.socket | None = None) -> None:
        """`sock`: a socket already listening (several workers share one: host.workers)."""
        if sock is not None:
            self._server = await asyncio.start_server(self._connection, sock=sock)
        else:
            self._server = await asyncio.start_server(self._connection, self.link.host, self.link.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._open):
                task.cancel()
            with suppress(Exception):
                await self._server.wait_closed()
            self._server = None
            await asyncio.to_thread(self.handler.close)   # the group-commit writer, after its last batch

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._open) >= MAX_CONNECTIONS or task is None:
            log.warning("bank link: %d connections open, one more refused", len(self._open))
            writer.close()
            return
        self._open.add(task)
        try:
            if self._tls is not None and not await self._handshake(writer):
                return
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._open.discard(task)
            writer.close()
            with suppress(Exception):
                await writer.wait_closed()

    async def _handshake(self, writer: asyncio.StreamWriter) -> bool:
        """TLS on an accepted connection; False (logged) when it fails: the peer
        spoke plain TCP, did not trust our certificate, or had none we accept."""
        assert self._tls is not None
        peer = writer.get_extra_info("peername")
        try:
            await writer.start_tls(self._tls, ssl_handshake_timeout=self.link.read_timeout_s)
        except (OSError, TimeoutError) as exc:   # ssl.SSLError is an OSError
            log.warning("bank link: TLS handshake with %s failed (%s): connection closed", peer,
                        getattr(exc, "reason", None) or exc.__class__.__name__)
            return False
        return True

    async def _read_frame(self, reader: asyncio.StreamReader) -> bytes | None:
        """One whole frame, or None: the peer closed, was too slow, or sent a
        LEN out of bounds (then nothing more is read)."""
        try:
            async with asyncio.timeout(self.link.read_timeout_s):
                prefix = await reader.readexactly(LEN_SIZE)
                try:
                    count = frame_length(prefix)
                except WireError as exc:
                    log.info("bank link: %s: connection closed", exc)
                    return None
                if count > self.link.max_frame:
                    log.info("bank link: LEN %d over the bound %d: connection closed", count, self.link.max_frame)
                    return None
                return prefix + await reader.readexactly(count)
        except asyncio.IncompleteReadError:
            return None
        except TimeoutError:
            log.info("bank link: no whole frame within %.1f s: connection closed", self.link.read_timeout_s)
            return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (frame := await self._read_frame(reader)) is not None:
            reply = await asyncio.to_thread(self.handler.handle, frame)
            if reply is None:
                return
            writer.write(reply)
            async with asyncio.timeout(self.link.read_timeout_s):
                await writer.drain()
