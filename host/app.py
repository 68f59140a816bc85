"""The ASGI app the kiosks call (docs/host-api.md). Every kiosk route is a
signed message (the bill look-up too: host/bill_lookup.py); health stays open
and says nothing but the estate's name."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from host.bank.api import bank_routes
from host.cards.api import card_routes
from host.bill_lookup import bill_routes
from host.config import HostSettings
from host.console.mount import management_routes
from host.schema import create_tables
from common.clock import Clock, SystemClock


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def create_app(settings: HostSettings, engine: Engine, *, clock: Clock | None = None) -> Starlette:
    """`clock` is the host's one source of "now" (bill dates, late fees, business
    days, heartbeats, the console): tests and demos set it."""
    clock = clock or SystemClock()
    # Idempotent; here so that the fleet, which reads its tables at once, and the
    # console find every table whoever opened the database.
    create_tables(engine)
    # SQLite in WAL mode: the health check is a sub-millisecond local read that
    # never waits on a writer, so it runs on the event loop. A networked database
    # (PostgreSQL) can stall, so there the blocking call goes to the thread pool.
    inline = engine.dialect.name == "sqlite"

    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    async def health(_: Request) -> JSONResponse:
        try:
            ping() if inline else await run_in_threadpool(ping)
        except Exception as exc:  # noqa: BLE001 - any database failure means "not healthy"
            return _error(503, "database_unavailable", f"{type(exc).__name__}: {exc}")
        return JSONResponse({"status": "ok", "estate": settings.estate_name})

    async def server_error(_: Request, exc: Exception) -> JSONResponse:
        return _error(500, "internal_error", type(exc).__name__)

    return Starlette(
        routes=[
            Route("/api/v1/health", health, methods=["GET"]),
            *bill_routes(settings, engine, clock),   # the bill look-up, a signed kiosk message
            *bank_routes(settings, engine, clock),   # payments, keys, backup copies (docs/payments.md)
            *card_routes(settings, engine, clock),   # IC wallet card centre (docs/cards.md §5)
            *management_routes(settings, engine, clock),   # heartbeats + staff console (docs/console.md)
        ],
        exception_handlers={500: server_error},
    )
