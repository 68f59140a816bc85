"""[console] in the host config: sessions, lockout, cookies, demo accounts."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from common.settings import Section


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    session_idle_minutes: int = 30     # signed out after this long without a request
    session_max_hours: int = 12        # and after this long in any case (one shift)
    lockout_failures: int = 5          # consecutive wrong passwords that lock an account
    lockout_minutes: int = 15          # for this long
    secure_cookies: bool = False       # true when staff reach the host over HTTPS (a site behind its proxy)
    demo_accounts: bool = False        # DEMO ONLY: create the published demo accounts if no account exists


def load_console_settings(section: Section, *, https: bool = False) -> ConsoleSettings:
    """`https`: the host serves HTTPS itself, so its cookies are Secure unless the
    section says otherwise."""
    def within(low: int, high: int) -> Callable[[int], str | None]:
        return lambda v: None if low <= v <= high else f"must be {low}..{high}"

    settings = ConsoleSettings(
        session_idle_minutes=section.get("session_idle_minutes", int, 30, check=within(1, 24 * 60)),
        session_max_hours=section.get("session_max_hours", int, 12, check=within(1, 24 * 7)),
        lockout_failures=section.get("lockout_failures", int, 5, check=within(1, 100)),
        lockout_minutes=section.get("lockout_minutes", int, 15, check=within(1, 24 * 60)),
        secure_cookies=section.get("secure_cookies", bool, https),
        demo_accounts=section.get("demo_accounts", bool, False),
    )
    section.reject_unknown()
    return settings
