"""The console's sign-in, sign-out and language routes (docs/console.md,
"Sign-in throttling": accounts.py's SignInGuard decides, this module answers)."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from host.console import i18n
from host.console.accounts import DEMO_ACCOUNTS, retry_after
from host.console.sessions import COOKIE
from host.console.web import (
    LANG_COOKIE,
    LOGIN_COOKIE,
    PREFIX,
    Console,
    FormTooLarge,
    Staff,
    guarded,
    new_login_token,
    read_form,
    safe_next,
    same_origin,
)


def _cookie_args(console: Console) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "secure": console.settings.console.secure_cookies,
            "path": PREFIX}


def signin_routes(console: Console) -> list[BaseRoute]:
    demo_checked: list[bool] = []

    async def demo_accounts() -> None:
        """DEMO ONLY ([console] demo_accounts): created when the sign-in page is first
        shown, not at start - three scrypt hashes take ~2 s, and most hosts built
        from the demo config (tests, benchmarks) never show the console."""
        if console.settings.console.demo_accounts and not demo_checked:
            demo_checked.append(True)
            await console.hashing(console.accounts.ensure_demo_accounts)

    async def login_form(request: Request) -> Response:
        await demo_accounts()
        staff = await console.staff(request)
        if staff is not None:
            return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        return _login_page(request, 200, "login.expired" if request.query_params.get("expired") else "")

    def _login_page(request: Request, status: int, message: str, **values: Any) -> Response:
        token = new_login_token()
        response = console.render("login.html", request, status, login_token=token, message=message,
                                  values=values, next=safe_next(request.query_params.get("next")),
                                  demo=DEMO_ACCOUNTS if console.settings.console.demo_accounts else ())
        response.set_cookie(LOGIN_COOKIE, token, max_age=3600, **_cookie_args(console))
        return response

    def _throttled(request: Request, outcome: str, wait_s: float) -> Response:
        """429 (this address waits) or 503 (too many sign-ins at once), with Retry-After."""
        seconds = retry_after(wait_s)
        response = _login_page(request, 429 if outcome == "throttled" else 503, "login.locked",
                               until=i18n.full_time(console.wall() + seconds))
        response.headers["Retry-After"] = str(seconds)
        return response

    async def login(request: Request) -> Response:
        """Sign-in throttling: accounts.py's docstring and docs/console.md."""
        await demo_accounts()
        try:
            form = await read_form(request)
        except FormTooLarge:
            return console.error(request, None, 413, "error.bad_input", detail="form too large")
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or form.get("login_token") != expected or not same_origin(request):
            return console.error(request, None, 403, "error.csrf")
        username, password = form.get("username", "")[:64], form.get("password", "")[:200]
        ip = console.ip(request)
        guard = console.accounts.guard
        admitted, wait_s = await console.db(guard.admit, ip)     # a read, with several workers
        if admitted != "ok":            # no hash, no database write (but one audit row a minute per address)
            if guard.note_throttled(ip):
                await console.in_thread(console.audit.record, "sign_in_failed", username=username, ip=ip,
                                        detail={"outcome": admitted})
            return _throttled(request, admitted, wait_s)
        try:
            result = await console.hashing(console.accounts.sign_in, username, password, ip)
        finally:
            guard.release(ip)
        if result.outcome != "ok" or result.user is None:
            await console.in_thread(console.audit.record, "sign_in_failed", username=username, ip=ip,
                                detail={"outcome": result.outcome})
            if result.outcome == "locked":
                return _login_page(request, 401, "login.locked", until=i18n.full_time(result.locked_until))
            return _login_page(request, 401, "login.disabled" if result.outcome == "disabled" else "login.wrong")
        token, _ = await console.in_thread(console.sessions.create, result.user.id, ip)
        await console.in_thread(console.audit.record, "sign_in", username=result.user.username, role=result.user.role,
                            ip=ip)
        response = RedirectResponse(safe_next(form.get("next")), status_code=303)
        response.set_cookie(COOKIE, token, max_age=console.settings.console.session_max_hours * 3600,
                            **_cookie_args(console))
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    @guarded(console)
    async def logout(request: Request, staff: Staff, form: dict[str, str]) -> Response:
        await console.in_thread(console.sessions.end, request.cookies.get(COOKIE, ""))
        await console.in_thread(console.audit.record, "sign_out", username=staff.user.username, role=staff.user.role,
                            ip=staff.ip)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    async def set_lang(request: Request) -> Response:
        lang = request.path_params["lang"]
        response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        if lang in i18n.LANGS:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", path=PREFIX)
        return response

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang/{lang}", set_lang, methods=["GET"]),
    ]
