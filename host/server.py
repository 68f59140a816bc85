"""Run the host app under uvicorn in a background thread: for tests and the
one-machine demo. Port 0 picks a free port; stop() frees it and start() can
bind the same port again (tests stop the host to check the kiosk recovers)."""
from __future__ import annotations

import socket
import threading

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._ready.set()   # listening: connections are accepted from here on


class HostServer:
    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *,
                 log_level: str = "warning", tls: tuple[str, str] | None = None) -> None:
        """`tls`: (certificate, key) PEM files to serve HTTPS (HostSettings.tls)."""
        self.app, self.host, self.port, self.log_level, self.tls = app, host, port, log_level, tls
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind despite TIME_WAIT
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]   # port 0 -> the one the OS picked, kept for restarts
        return sock

    def start(self, timeout: float = 10.0) -> None:
        """Returns once the server accepts connections. OSError if the port is taken."""
        if self.running:
            raise RuntimeError("host server already running")
        self._socket = self._bind()
        ready = threading.Event()
        cert, key = self.tls or (None, None)
        config = uvicorn.Config(self.app, log_level=self.log_level, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=5, ssl_certfile=cert, ssl_keyfile=key)
        self._server = _Server(config, ready)
        server, sock = self._server, self._socket

        def run() -> None:
            try:
                server.run(sockets=[sock])
            finally:
                ready.set()   # wake start() even if start-up failed

        self._thread = threading.Thread(target=run, name=f"host-server:{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or not server.started:
            self.stop()
            raise RuntimeError(f"host server did not start on {self.url}")

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown (in-flight requests finish), then the port is free."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> HostServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
