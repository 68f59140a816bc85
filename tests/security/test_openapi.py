"""The host publishes a machine-readable description of its API (issue 13,
deliverable 7): OpenAPI assembled from the route table and the schemas declared
beside each handler (host.api_spec, host.openapi), so it cannot drift from the
routes: it covers exactly the API routes the app answers, and an API route
without a schema stops the app from being built."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router

from host.openapi import OPENAPI_PATH, UndescribedRoute, openapi_document
from tests.support.inprocess import InProcessHost, start_in_process, stop_in_process, walk


@pytest.fixture(scope="module")
def host(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessHost]:
    running = start_in_process(demo_db, tmp_path_factory.mktemp("openapi"))
    yield running
    stop_in_process(running)


@pytest.fixture(scope="module")
def document(host: InProcessHost) -> dict[str, Any]:
    reply = host.client.get(OPENAPI_PATH)          # open: no credential (docs/security.md)
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    return reply.json()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_the_description_covers_exactly_the_api_routes_of_the_table(host: InProcessHost,
                                                                    document: dict[str, Any]) -> None:
    table = {(r.method, r.path) for r in walk(list(host.app.routes)) if r.path.startswith("/api/")}
    assert {(m, p) for m, p, _ in _operations(document)} == table
    assert len(table) >= 20          # bill, health, the description, 4 bank, 12 card centre, heartbeat


async def _new(_: Any) -> PlainTextResponse:
    return PlainTextResponse("new")


@pytest.mark.parametrize("extra", [
    Route("/api/v1/new-thing", _new, methods=["POST"]),
    Mount("/api/v2", routes=[Route("/thing", _new)]),
    Mount("/api", app=Router()),          # a mount whose routes cannot be described
])
def test_a_new_api_route_without_a_schema_is_refused(host: InProcessHost, extra: Any) -> None:
    with pytest.raises(UndescribedRoute):
        openapi_document([*host.app.routes, extra])


def test_a_route_outside_the_api_needs_no_schema(host: InProcessHost) -> None:
    assert openapi_document([*host.app.routes, Route("/console/new", _new)])["paths"]


def test_every_schema_in_it_is_valid_json_schema(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    for method, path, operation in _operations(document):
        bodies = [r["content"]["application/json"]["schema"] for r in operation["responses"].values()]
        if "requestBody" in operation:
            bodies.append(operation["requestBody"]["content"]["application/json"]["schema"])
        bodies += [p["schema"] for p in operation.get("parameters", [])]
        for schema in bodies:
            Draft202012Validator.check_schema(schema)


def test_the_signed_envelope_is_documented(document: dict[str, Any]) -> None:
    """The channel a site's own kiosk (or a bank's front-end) must speak."""
    info = document["info"]["description"]
    for words in ("kiosk_id", "counter", "X-MAC", "X9.19", "POST <path>\\n", "64 KiB", "bad_mac", "replay"):
        assert words in info, words
    schemes = document["components"]["securitySchemes"]
    assert {s["in"] for s in schemes.values()} == {"header"} and {s["name"] for s in schemes.values()} == {"X-MAC"}
    signed = [(m, p, o) for m, p, o in _operations(document) if o["security"]]
    assert {p for _, p, _ in signed} >= {"/api/v1/property/transactions", "/api/v1/fleet/heartbeat", "/api/v1/cards/seen"}
    for method, path, operation in signed:
        assert method == "POST", path
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert {"kiosk_id", "counter"} <= set(body["required"]), path
        assert {"200", "400", "401", "409", "413"} <= set(operation["responses"]), path
        assert "X-MAC" in operation["responses"]["200"]["headers"], path
    tmk = [p for _, p, o in signed if o["security"] == [{"kioskTmk": []}]]
    assert tmk == ["/api/v1/bank/sign-on"]


def test_only_the_allowed_routes_are_described_as_open(document: dict[str, Any]) -> None:
    """The description agrees with the route-table test's allow-list."""
    open_ = {(m, p) for m, p, o in _operations(document) if o["security"] == []}
    assert open_ == {("GET", "/api/v1/health"), ("GET", OPENAPI_PATH)}
