"""The host API's OpenAPI 3.1 document, assembled from the app's route table and
the schemas declared beside each handler (host.api_spec). Served at
GET /api/v1/openapi.json (host.app); docs/host-api.md says where it lives and
docs/security.md why it is open."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from starlette.routing import BaseRoute, Mount, Route

from host.api_spec import ENVELOPE, ERROR, JSON, Operation, described

API_PREFIX = "/api/"
OPENAPI_PATH = "/api/v1/openapi.json"
VERSION = "1"

_ENVELOPE_TEXT = (
    "Every kiosk message is a POST whose body is one compact JSON object carrying the envelope "
    "`kiosk_id` (the kiosk's id in the host's `[kiosks]`) and `counter` (above the last one the host "
    "accepted from this kiosk: bank, card-centre and heartbeat messages draw from one sequence), "
    "beside the message's own fields. Header `X-MAC` is the ISO 9797-1 alg. 3 (X9.19) MAC, 8 bytes "
    "as 16 hex digits, of the bytes `POST <path>\\n` followed by the exact body bytes "
    "(common.crypto.request_mac), under the MAK of the kiosk's last sign-on; the sign-on itself is "
    "MACed under the kiosk's TMK. Checks, in order: body at most 64 KiB (413), JSON object with the "
    "envelope, nested at most 16 deep (400 bad_request), known kiosk (401 unknown_kiosk), signed on "
    "(401 not_signed_on), MAC (401 bad_mac), counter (409 replay), the message's own fields "
    "(400 bad_request). A refused message changes nothing. Once the key is known (bad_mac onwards) "
    "the reply carries `X-MAC`: the X9.19 MAC of its exact body bytes under the request's key.")

_STATUS_TEXT = {
    200: "done", 303: "to the sign-in page", 400: "bad_request: the body or a field is malformed",
    401: "unknown_kiosk, not_signed_on or bad_mac", 404: "not found", 409: "replay: the counter is not new",
    413: "bad_request: the body is larger than 64 KiB (nothing read further, no X-MAC)",
    503: "the host is not configured for this (no keys for the area) or its database is down",
}
_SIGNED_STATUSES = (400, 401, 409, 413)
_MAC_HEADER = {"X-MAC": {"description": "X9.19 MAC of the exact reply body under the request's key "
                                         "(absent when the key is not known: 401 unknown_kiosk, "
                                         "not_signed_on; 413; 503)",
                         "schema": {"type": "string", "pattern": "^[0-9A-F]{16}$"}}}


class UndescribedRoute(LookupError):
    """An API route without a schema (host.api_spec.describe): describe it."""


def api_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str, Callable[..., Any]]]:
    """(method, path, endpoint) of every route under /api/, mounts included;
    anything under /api/ that is not a plain route is refused, so nothing hides there."""
    for route in routes:
        if isinstance(route, Route):
            path = prefix + route.path
            if path.startswith(API_PREFIX):
                for method in sorted((route.methods or set()) - {"HEAD"}):
                    yield method, path, route.endpoint
        elif isinstance(route, Mount):
            path = prefix + route.path
            if (path + "/").startswith(API_PREFIX) or API_PREFIX.startswith(path + "/"):
                if not route.routes:
                    raise UndescribedRoute(f"{path}: a mount without routes under {API_PREFIX}")
                yield from api_routes(route.routes, path)
        elif (prefix + str(getattr(route, "path", ""))).startswith(API_PREFIX):
            raise UndescribedRoute(f"{route!r} under {API_PREFIX}: not a route this description can read")


def _operation_id(method: str, path: str) -> str:
    words = re.findall(r"[a-z0-9]+", path.removeprefix("/api/v1/").lower())
    return method.lower() + "_" + "_".join(words)


def _request_schema(request: JSON | None) -> JSON:
    """The envelope and the message's own fields, as one object."""
    own = request or {"type": "object", "properties": {}, "required": []}
    return {"type": "object", "properties": {**ENVELOPE["properties"], **own["properties"]},
            "required": sorted({*ENVELOPE["required"], *own["required"]})}


def _responses(op: Operation) -> JSON:
    signed = op.auth != "open"
    statuses = sorted({200, *(_SIGNED_STATUSES if signed else ()), *op.statuses})
    shapes = op.shapes or {}
    responses: JSON = {}
    for status in statuses:
        schema = op.reply if status == 200 else shapes.get(status, ERROR)
        entry: JSON = {"description": _STATUS_TEXT.get(status, str(status)),
                       "content": {"application/json": {"schema": schema}}}
        if signed:
            entry["headers"] = _MAC_HEADER
        responses[str(status)] = entry
    return responses


def _operation(op: Operation, method: str, path: str) -> JSON:
    doc: JSON = {"operationId": _operation_id(method, path), "summary": op.summary,
                 "responses": _responses(op)}
    if op.description:
        doc["description"] = op.description
    params = re.findall(r"{([^}:]+)(?::[^}]*)?}", path)
    if params:
        doc["parameters"] = [{"name": name, "in": "path", "required": True,
                              "schema": (op.params or {}).get(name, {"type": "string"})} for name in params]
    if op.auth == "open":
        doc["security"] = []
    else:
        doc["security"] = [{"kioskTmk" if op.auth == "tmk" else "kioskMak": []}]
        doc["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": _request_schema(op.request)}}}
    return doc


def openapi_document(routes: Sequence[BaseRoute], *, title: str = "Estate kiosk host API") -> JSON:
    """The OpenAPI document of every route under /api/ in `routes`;
    UndescribedRoute names any route without a schema."""
    paths: JSON = {}
    missing = []
    for method, path, endpoint in api_routes(routes):
        op = described(endpoint)
        if op is None:
            missing.append(f"{method} {path}")
            continue
        paths.setdefault(path, {})[method.lower()] = _operation(op, method, path)
    if missing:
        raise UndescribedRoute("API routes without a schema (host.api_spec.describe): " + ", ".join(missing))
    mac = {"type": "apiKey", "in": "header", "name": "X-MAC"}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": VERSION, "description": _ENVELOPE_TEXT},
        "paths": paths,
        "components": {
            "schemas": {"Envelope": ENVELOPE, "Error": ERROR},
            "securitySchemes": {
                "kioskMak": {**mac, "description": "X9.19 MAC of `POST <path>\\n` + body under the MAK "
                                                   "of the kiosk's last sign-on (see info)"},
                "kioskTmk": {**mac, "description": "the same MAC under the kiosk's TMK (sign-on only)"},
            },
        },
    }
