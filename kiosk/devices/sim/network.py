"""A TCP link between the kiosk and the host that the device bench and the
tests can break the way real networks break: refused, replies lost (the
request arrives and is acted on, the answer never comes back), or cut right
after the request went out."""
from __future__ import annotations

import enum
import socket
import threading


class LinkMode(enum.Enum):
    UP = "up"
    DOWN = "down"                  # connections refused
    DROP_REPLIES = "drop_replies"  # requests pass, replies are swallowed: the kiosk times out
    CUT_AFTER_REQUEST = "cut"      # requests pass, then the connection is reset
    TAMPER_REPLIES = "tamper"      # a reply's last body byte is altered in transit (its MAC fails)


class FaultyLink:
    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = LinkMode.UP
        self.host = host
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.port = self._listen(port)
        self.url = f"http://{host}:{self.port}"

    def _listen(self, port: int) -> int:
        self._listener = socket.create_server((self.host, port))   # SO_REUSEADDR: rebinds at once
        threading.Thread(target=self._accept_loop, args=(self._listener,), name="faulty-link",
                         daemon=True).start()
        return self._listener.getsockname()[1]

    def set_mode(self, mode: LinkMode) -> None:
        previous, self.mode = self.mode, mode
        if mode is LinkMode.DOWN:
            self._drop_all()   # established keep-alive connections break too
        if mode is LinkMode.DOWN and self._listener is not None:
            self._stop_listening()   # nobody listens: connections are refused
        elif mode is not LinkMode.DOWN and previous is LinkMode.DOWN:
            self._listen(self.port)

    def close(self) -> None:
        self._stop_listening()
        self._drop_all()

    def _stop_listening(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)   # wakes the blocked accept() on Linux
            except OSError:
                pass
            self._listener.close()
            self._listener = None

    def _drop_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns |= {client, upstream}
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, is_request: bool) -> None:
        try:
            while data := src.recv(65536):
                mode = self.mode
                if is_request:
                    dst.sendall(data)
                    if mode is LinkMode.CUT_AFTER_REQUEST:
                        # forward the rest of the request (headers and body may come in
                        # separate writes), then the kiosk's side breaks; the host still
                        # gets and serves the request
                        src.settimeout(0.1)
                        try:
                            while more := src.recv(65536):
                                dst.sendall(more)
                        except TimeoutError:
                            pass
                        src.shutdown(socket.SHUT_RDWR)
                        return
                elif mode is LinkMode.UP:
                    dst.sendall(data)
                elif mode is LinkMode.TAMPER_REPLIES:
                    dst.sendall(_tamper(data))
                # DROP_REPLIES: the reply is read and thrown away
        except OSError:
            pass
        finally:
            if not (is_request and self.mode is LinkMode.CUT_AFTER_REQUEST):
                for sock in (src, dst):
                    try:
                        sock.close()
                    except OSError:
                        pass


def _tamper(data: bytes) -> bytes:
    """Change one digit or letter near the end of a JSON reply, keeping its length."""
    for i in range(len(data) - 1, max(len(data) - 64, -1), -1):
        ch = data[i:i + 1]
        if ch.isalnum():
            swapped = b"1" if ch != b"1" else b"2"
            return data[:i] + swapped + data[i + 1:]
    return data
