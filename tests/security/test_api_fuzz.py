"""Property-based fuzzing of the host API against its own published description
(issue 13, deliverable 7), on the in-process demo host.

Bodies are generated from each route's request schema in the served OpenAPI
document (hypothesis-jsonschema; docs/security.md says why not schemathesis):
valid ones, valid ones with one field replaced by any JSON value, any JSON at
all, and bytes that are not JSON. The signed routes' bodies are signed by the
test kiosk (tests/support/signing.py), so they pass the channel and reach the
handler; the same bodies unsigned are refused. Every answer must be a status
the description lists for that route, with a JSON body matching the schema it
gives for that status: never a 500, never a traceback. The number of examples
is bounded (EXAMPLES) so the whole file runs in the normal suite in seconds."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

from host.openapi import OPENAPI_PATH
from tests.support.inprocess import InProcessHost, start_in_process, stop_in_process
from tests.support.databases import BACKENDS, Databases
from tests.support.signing import KioskSigner

EXAMPLES = 12          # per route and kind of body: ~20 routes x 3 kinds, ~20 s in all
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(HealthCheck))
ENVELOPE = ("kiosk_id", "counter")

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


@pytest.fixture(scope="module", params=BACKENDS)
def host(request: pytest.FixtureRequest, demo_db: Path, demo_estate: Callable[[str, Path], str],
         databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessHost]:
    """The demo host in process, once per backend (PostgreSQL is stricter than
    SQLite about what a column takes: the fuzzed bodies must meet both)."""
    folder = tmp_path_factory.mktemp("fuzz")
    url = demo_estate(request.param, folder)
    running = start_in_process(demo_db, folder, url)
    yield running
    stop_in_process(running)
    databases.release(url)


@pytest.fixture(scope="module")
def kiosk(host: InProcessHost) -> KioskSigner:
    signer = host.kiosk()
    assert signer.sign_on().status == 200
    return signer


@pytest.fixture(scope="module")
def document(host: InProcessHost) -> dict[str, Any]:
    return host.client.get(OPENAPI_PATH).json()


def _operations(document: dict[str, Any], *, signed: bool) -> list[tuple[str, str, dict[str, Any]]]:
    found = [(method.upper(), path, op) for path, item in document["paths"].items() for method, op in item.items()
             if bool(op["security"]) == signed]
    # sign-on last: a fuzzed sign-on that succeeds gives the kiosk new keys
    return sorted(found, key=lambda entry: (entry[1] == "/api/v1/bank/sign-on", entry[1]))


def _request_schema(operation: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    return schema


def check(operation: dict[str, Any], status: int, content_type: str, body: bytes, where: str) -> Any:
    """The answer is one the description lists, shaped as it says; returns the JSON."""
    assert str(status) in operation["responses"], f"{where}: {status} is not documented: {body[:300]!r}"
    assert content_type.startswith("application/json"), f"{where}: {content_type} {body[:300]!r}"
    reply = json.loads(body)
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(reply)]
    assert not errors, f"{where}: the {status} reply does not match its schema: {errors[:3]} {reply}"
    return reply


class Signed:
    """Sends fuzzed bodies to one signed route as the test kiosk and checks each answer."""

    def __init__(self, kiosk: KioskSigner, path: str, operation: dict[str, Any], seen: Counter[tuple[str, int]]):
        self.kiosk, self.path, self.operation, self.seen = kiosk, path, operation, seen
        self.sign_on = operation["security"] == [{"kioskTmk": []}]

    def send(self, fields: dict[str, Any], *, sign: bool = True) -> int:
        raw = self.kiosk.body({k: v for k, v in fields.items() if k not in ENVELOPE})
        key = (self.kiosk.tmk if self.sign_on else self.kiosk.mak) if sign else None
        reply = self.kiosk.send(self.path, raw, key)
        return self.answer(reply.status, reply.body, reply.mac, key)

    def send_raw(self, raw: bytes) -> int:
        reply = self.kiosk.send(self.path, raw, self.kiosk.mak)
        return self.answer(reply.status, reply.body, reply.mac, None)

    def answer(self, status: int, body: bytes, mac: str | None, key: bytes | None) -> int:
        check(self.operation, status, "application/json", body, f"POST {self.path}")
        self.seen[(self.path, status)] += 1
        if status == 200:
            assert key is not None and mac is not None, "a 200 without a valid signature"
            if self.sign_on:        # the kiosk takes the new keys, as a real one does
                assert self.kiosk.sign_on().status == 200
        return status


@pytest.fixture(scope="module")
def seen(host: InProcessHost) -> Counter[tuple[str, int]]:      # one per backend's host
    return Counter()


def _each_signed(document: dict[str, Any], kiosk: KioskSigner, seen: Counter[tuple[str, int]],
                 test: Callable[[Signed], None]) -> None:
    for _, path, operation in _operations(document, signed=True):
        test(Signed(kiosk, path, operation, seen))


def test_valid_bodies_unsigned_are_refused_and_signed_reach_the_handler(document: dict[str, Any], kiosk: KioskSigner,
                                               seen: Counter[tuple[str, int]]) -> None:
    def fuzz(route: Signed) -> None:
        @FUZZ
        @given(from_schema(_request_schema(route.operation)))
        def run(body: dict[str, Any]) -> None:
            # unsigned: refused by the channel, whatever the body says
            assert route.send(body, sign=False) in (401, 503), route.path
            # signed as the kiosk: past the channel (no 401, 409, 413), to the handler's own answer
            assert route.send(body) in (200, 400, 503), route.path
        run()
    _each_signed(document, kiosk, seen, fuzz)
    assert {path for path, status in seen if status == 200} >= {
        "/api/v1/bank/sign-on", "/api/v1/property/transactions", "/api/v1/cards/blacklist", "/api/v1/cards/status",
        "/api/v1/cards/seen", "/api/v1/fleet/heartbeat"}, seen


def test_signed_bodies_with_one_field_of_any_json(document: dict[str, Any], kiosk: KioskSigner,
                                                 seen: Counter[tuple[str, int]]) -> None:
    def fuzz(route: Signed) -> None:
        schema = _request_schema(route.operation)
        names = sorted(set(schema["properties"]) - set(ENVELOPE)) or ["extra"]

        @FUZZ
        @given(from_schema(schema), st.sampled_from(names), JSON_VALUES)
        def run(body: dict[str, Any], name: str, value: Any) -> None:
            assert route.send({**body, name: value}) in (200, 400, 503), route.path
        run()
    _each_signed(document, kiosk, seen, fuzz)


def test_signed_bodies_that_are_not_a_message(document: dict[str, Any], kiosk: KioskSigner,
                                              seen: Counter[tuple[str, int]]) -> None:
    def fuzz(route: Signed) -> None:
        @FUZZ
        @given(st.one_of(JSON_VALUES.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)))
        def run(raw: bytes) -> None:
            assert route.send_raw(raw) in (400, 401, 503), route.path
        run()
    _each_signed(document, kiosk, seen, fuzz)


def test_open_routes_answer_as_described(document: dict[str, Any], host: InProcessHost) -> None:
    for method, path, operation in _operations(document, signed=False):
        params = operation.get("parameters", [])

        @FUZZ
        @given(st.fixed_dictionaries({p["name"]: from_schema(p["schema"]) | st.text(max_size=30) for p in params}))
        def run(values: dict[str, str]) -> None:
            url = path
            for name, value in values.items():
                url = url.replace("{" + name + "}", quote(value, safe=""))
            reply = host.client.request(method, url)
            if reply.status_code == 404 and not params:
                pytest.fail(f"{url}: 404")
            if not (reply.status_code == 404 and any(not v or v in (".", "..") for v in values.values())):
                check(operation, reply.status_code, reply.headers["content-type"], reply.content, f"{method} {url}")
        run()
