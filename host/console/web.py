"""What every console page shares: who is asking (session cookie), in which
language, whether their role may, the CSRF check on every state-changing
request, rendering, and the security headers."""
from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote

import anyio
import anyio.to_thread
import jinja2
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from host.config import HostSettings
from host.console import i18n
from host.console.accounts import Accounts, StaffUser
from host.console.audit import AuditLog
from host.console.fleet_view import FleetIndex
from host.console.sessions import COOKIE, Session, Sessions, csrf_ok
from host.fleet.service import Fleet
from common.clock import Clock

T = TypeVar("T")
TEMPLATES = Path(__file__).parent / "templates"
PREFIX = "/console"
LANG_COOKIE = "console_lang"
LOGIN_COOKIE = "console_login"     # double-submit token of the sign-in form (no session yet)
MAX_FORM = 16 * 1024
HASHING_THREADS = 2                # password hashes at once (128 MiB each), in threads of their own

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


@dataclass(frozen=True, slots=True)
class Staff:
    user: StaffUser
    session: Session
    ip: str

    @property
    def csrf(self) -> str:
        return self.session.csrf_token


class Forbidden(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class FormTooLarge(Forbidden):
    """A form body over MAX_FORM (refused before it is read whole)."""

    def __init__(self) -> None:
        super().__init__("error.bad_input")


class Console:
    """The console's dependencies, built once per app."""

    def __init__(self, settings: HostSettings, engine: Engine, fleet: Fleet, *,
                 clock: Clock, accounts: Accounts | None = None) -> None:
        self.settings, self.engine, self.fleet, self.clock = settings, engine, fleet, clock
        self.accounts = accounts or Accounts(engine, settings.console, clock=clock.wall)
        self.sessions = Sessions(engine, settings.console, clock=clock.wall)
        self.audit = AuditLog(engine, clock=clock.wall)
        self.fleet_index = FleetIndex(fleet.registry)
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.globals.update(money=i18n.money, full_time=i18n.full_time, prefix=PREFIX,
                                when=lambda epoch: i18n.when(epoch, clock.wall()))
        self._inline = engine.dialect.name == "sqlite"
        self._hash_limiter: anyio.CapacityLimiter | None = None

    def today(self) -> date:
        return self.clock.today()

    def wall(self) -> float:
        """Epoch seconds: what the pages' "3 min ago" and times are measured from."""
        return self.clock.wall()

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Small reads inline on SQLite (cheaper than a thread hop); the rest in a worker thread."""
        if self._inline:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)

    async def in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Off the event loop: writes (they wait on fsync), scans."""
        return await run_in_threadpool(fn, *args, **kwargs)

    async def hashing(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Password hashing (sign-in, adding users): at most HASHING_THREADS at
        once, each in a thread of its own limiter. Waiting callers wait on the
        event loop, holding no thread: the shared pool, which the kiosks'
        payments use, is never filled with sign-ins waiting for a hash."""
        if self._hash_limiter is None:          # made on the event loop, at first use
            self._hash_limiter = anyio.CapacityLimiter(HASHING_THREADS)
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self._hash_limiter)

    # --- who is asking -------------------------------------------------------------
    @staticmethod
    def lang(request: Request) -> str:
        return i18n.pick_lang(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))

    @staticmethod
    def ip(request: Request) -> str:
        return request.client.host if request.client else ""

    async def staff(self, request: Request) -> Staff | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        session = await self.db(self.sessions.lookup, token)
        if session is None:
            return None
        if self.sessions.needs_touch(session):
            await self.in_thread(self.sessions.touch, session)
        user = await self.db(self.accounts.get, session.user_id)
        if user is None or user.disabled:
            return None
        return Staff(user, session, self.ip(request))

    # --- responses ------------------------------------------------------------------
    def render_text(self, template: str, request: Request, **context: Any) -> str:
        lang = self.lang(request)
        return self.env.get_template(template).render(
            t=i18n.translator(lang), lang=lang, path=request.url.path,
            query=request.url.query, duration=lambda s: i18n.duration(s, lang), **context)

    def row_renderer(self, request: Request) -> Callable[[Any], str]:
        """Renders one fleet table row (_fleet_row.html) in the request's language."""
        lang = self.lang(request)
        template, t = self.env.get_template("_fleet_row.html"), i18n.translator(lang)
        return lambda row: template.render(t=t, lang=lang, row=row)

    def render(self, template: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("staff", None)
        context.setdefault("estate", self.settings.estate_name)
        return HTMLResponse(self.render_text(template, request, **context), status_code=status)

    def error(self, request: Request, staff: Staff | None, status: int, key: str, **values: Any) -> Response:
        if wants_json(request):
            return JSONResponse({"error": key.split(".")[-1]}, status_code=status)
        return self.render("error.html", request, status, staff=staff, message_key=key, values=values)


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def safe_next(value: str | None) -> str:
    """Only back into the console: never an open redirect."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/"


async def read_form(request: Request) -> dict[str, str]:
    """application/x-www-form-urlencoded, last value wins; bounded: FormTooLarge
    as soon as the declared length or the bytes received pass MAX_FORM."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM):
        raise FormTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise FormTooLarge()
    if not body:
        return {}
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def same_origin(request: Request) -> bool:
    """Defence in depth beside the token: a browser's Origin must be ours."""
    origin = request.headers.get("origin")
    if origin is None:     # not a browser form or fetch (a test client, curl): the token decides
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


Handler = Callable[[Request, Staff, dict[str, str]], Awaitable[Response]]


def guarded(console: Console, role: str = "viewer") -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Signed in (else to the sign-in page), role at least `role` (else 403),
    and for a POST: same origin and the session's CSRF token (else 403)."""
    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            staff = await console.staff(request)
            if staff is None:
                if request.method == "GET" and not wants_json(request):
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)
                return JSONResponse({"error": "not_signed_in"}, status_code=401) if wants_json(request) else \
                    RedirectResponse(f"{PREFIX}/login?expired=1", status_code=303)
            form: dict[str, str] = {}
            if request.method == "POST":
                try:
                    form = await read_form(request)
                except Forbidden as exc:
                    return console.error(request, staff, 400, exc.key, detail="form too large")
                given = form.get("csrf_token") or request.headers.get("x-csrf-token")
                if not same_origin(request) or not csrf_ok(staff.csrf, given):
                    return console.error(request, staff, 403, "error.csrf")
            if not staff.user.can(role):
                return console.error(request, staff, 403, "error.forbidden")
            try:
                return await handler(request, staff, form)
            except Forbidden as exc:
                return console.error(request, staff, 403, exc.key)
        return endpoint
    return wrap


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


class SecurityHeaders:
    """CSP without inline script or style, no framing, no sniffing; pages are
    not cached (they hold card and staff data); static files may be."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith(PREFIX + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
                            (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
