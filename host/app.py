"""The ASGI app the kiosks call (docs/host-api.md). Every kiosk route is a
signed message (the bill look-up too: host/bill_lookup.py); health stays open
and says nothing but its status. Every route under /api/ is described
(host.api_spec) and the description is served at /api/v1/openapi.json
(host.openapi)."""
from __future__ import annotations

import json
import logging
import os

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from host.api_spec import Operation, describe, enum, obj
from host.bank.api import bank_routes
from host.cards.api import card_routes
from host.onecard.api import onecard_routes
from host.transfers.api import transfer_routes
from host.meters.api import meter_routes
from host.bill_lookup import bill_routes
from host.config import HostSettings
from host.console.mount import management_routes
from host.openapi import OPENAPI_PATH, openapi_document
from host import migrations
from host import faults
from host.db import WriterBusy, is_outage
from host.faults import FaultScope
from host.workers import WORKER_HEADER_ENV, WorkerHeader, WorkerRole
from common.clock import Clock, SystemClock

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


# Health is open (a load balancer or monitor asks without a credential), so it
# says whether the host answers and nothing else: no estate, no error text.
_HEALTH = Operation("Whether the host and its database answer", auth="open", statuses=(503,),
                    reply=obj({"status": enum("ok")}), shapes={503: obj({"status": enum("unavailable")})})
_OPENAPI = Operation("This description of the host API (OpenAPI 3.1)", auth="open", reply={"type": "object"})


def create_app(settings: HostSettings, engine: Engine, *, clock: Clock | None = None,
               worker: WorkerRole | None = None) -> Starlette:
    """`clock` is the host's one source of "now" (bill dates, late fees, business
    days, heartbeats, the console): tests and demos set it. `worker`: this process
    is one of several (host.workers): the fleet is shared through the database."""
    clock = clock or SystemClock()
    # Here so that the fleet, which reads its tables at once, and the console find
    # every table whoever opened the database: an empty one is created at head, one
    # whose schema is not this release's is refused (SchemaNotCurrent: `kiosk host migrate`).
    migrations.ready(engine)
    faults.install(engine)      # tests only (host.faults): nothing without KIOSK_HOST_FAULTS
    # SQLite in WAL mode: the health check is a sub-millisecond local read that
    # never waits on a writer, so it runs on the event loop. A networked database
    # (PostgreSQL) can stall, so there the blocking call goes to the thread pool.
    inline = engine.dialect.name == "sqlite"

    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    @describe(_HEALTH)
    async def health(_: Request) -> JSONResponse:
        try:
            ping() if inline else await run_in_threadpool(ping)
        except Exception:  # noqa: BLE001 - any database failure means "not healthy"
            log.exception("health: the database does not answer")      # the detail goes to the log only
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def server_error(_: Request, exc: Exception) -> JSONResponse:
        return _error(500, "internal_error", type(exc).__name__)

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL restarting or unreachable (docs/host.md "Faults"): the kiosk
        # retries later; the traceback goes to the log, never into the reply
        if not is_outage(exc):
            log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
            return _error(500, "internal_error", type(exc).__name__)
        log.warning("%s %s: the database is unavailable (%s)", request.method, request.url.path,
                    type(exc).__name__)
        return _error(503, "database_unavailable", "the host's database is not answering; try again")

    described: list[bytes] = []

    @describe(_OPENAPI)
    async def openapi(_: Request) -> Response:
        return Response(described[0], media_type="application/json")

    routes: list[BaseRoute] = [
        Route("/api/v1/health", health, methods=["GET"]),
        *bill_routes(settings, engine, clock),   # the bill look-up, a signed kiosk message
        Route(OPENAPI_PATH, openapi, methods=["GET"]),   # open: docs/security.md says why
        *bank_routes(settings, engine, clock),   # payments, keys, backup copies (docs/payments.md)
        *card_routes(settings, engine, clock),   # IC wallet card centre (docs/cards.md §5)
        *onecard_routes(settings, engine, clock),   # the estate one-card (docs/onecard.md)
        *transfer_routes(settings, engine, clock),   # money between two cards (docs/cards.md "Transfers")
        *meter_routes(settings, engine, clock),  # prepaid meter vending (docs/meters.md)
        *management_routes(settings, engine, clock, worker),   # heartbeats + staff console (docs/console.md)
    ]
    # built once, from the route table itself: a route without a schema stops the app here
    described.append(json.dumps(openapi_document(routes), ensure_ascii=False).encode("utf-8"))
    middleware = []
    if worker is not None and os.environ.get(WORKER_HEADER_ENV):    # tests only: which worker answered
        middleware.append(Middleware(WorkerHeader, role=worker))
    if faults.armed():                          # tests only: fault points (host.faults)
        middleware.append(Middleware(FaultScope))
    handlers = {500: server_error, DBAPIError: database_error, PoolTimeout: database_error,
                WriterBusy: database_error}
    return Starlette(routes=routes, exception_handlers=handlers, middleware=middleware)
