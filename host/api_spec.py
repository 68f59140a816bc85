"""What each host API route takes and answers, as JSON Schemas declared beside
its handler (`@describe(Operation(...))`), and the building blocks they share.
host.openapi assembles them, walking the app's route table, into the OpenAPI
document the host serves: the description cannot drift from the routes (a
route without one stops the app from being built) and it is the one place the
shapes are written (docs/host-api.md points here, tests/security fuzz it).

A signed message's `request` schema names its own fields only; the envelope
(`kiosk_id`, `counter`) and the X-MAC header are the channel's (host.bank.security)
and are added by host.openapi. Digits are `[0-9]`, never `\\d` (which matches
any Unicode digit): the host takes ASCII digits only."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

JSON = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

# How a route is reached: a message signed under the MAK of the kiosk's last
# sign-on, one signed under its TMK (sign-on itself), or open (no credential).
Auth = Literal["mak", "tmk", "open"]


@dataclass(frozen=True, slots=True)
class Operation:
    summary: str
    reply: JSON                              # the 200 reply's schema
    request: JSON | None = None              # a signed message's own fields (beyond the envelope)
    auth: Auth = "mak"
    # statuses besides 200 and the signed channel's own (400, 401, 409, 413)
    statuses: tuple[int, ...] = ()
    description: str = ""
    params: JSON | None = None               # path parameters' schemas, by name
    shapes: dict[int, JSON] | None = None    # by status: a body that is not {"error", "message"}


_DESCRIBED: dict[Callable[..., Any], Operation] = {}


def describe(operation: Operation) -> Callable[[F], F]:
    """Declares what the decorated handler (or endpoint) takes and answers."""
    def mark(fn: F) -> F:
        _DESCRIBED[fn] = operation
        return fn
    return mark


def described(fn: Callable[..., Any]) -> Operation | None:
    return _DESCRIBED.get(fn)


def inherit(endpoint: F, handler: Callable[..., Any], *, statuses: tuple[int, ...] = ()) -> F:
    """The HTTP endpoint made around a handler (the channels' `secured(...)`)
    answers as the handler is described, plus the endpoint's own `statuses`
    (503 when a host has no keys for the area). Undescribed stays undescribed."""
    operation = described(handler)
    if operation is not None:
        merged = operation.statuses + tuple(s for s in statuses if s not in operation.statuses)
        _DESCRIBED[endpoint] = replace(operation, statuses=merged)
    return endpoint


# --- building blocks ------------------------------------------------------------------
def text(max_len: int, *, pattern: str | None = None, min_len: int = 1) -> JSON:
    schema: JSON = {"type": "string", "minLength": min_len, "maxLength": max_len}
    if pattern is not None:
        schema["pattern"] = pattern
    return schema


def integer(minimum: int = 0, maximum: int = 2 ** 63 - 1) -> JSON:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def hex_bytes(size: int) -> JSON:
    return text(2 * size, pattern=f"^[0-9A-Fa-f]{{{2 * size}}}$", min_len=2 * size)


def enum(*values: Any) -> JSON:
    return {"enum": list(values)}


def nullable(schema: JSON) -> JSON:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(required: JSON, optional: JSON | None = None) -> JSON:
    """An object with these properties; others are allowed and ignored (a kiosk
    of a later version may send more), unless a handler says otherwise."""
    properties = {**required, **(optional or {})}
    return {"type": "object", "properties": properties, "required": sorted(required)}


def array(items: JSON, max_items: int, *, min_items: int = 0, unique: bool = False) -> JSON:
    schema: JSON = {"type": "array", "items": items, "minItems": min_items, "maxItems": max_items}
    if unique:
        schema["uniqueItems"] = True
    return schema


TXN_ID = text(64)
# building-unit-room (common.house; a building or unit 0 is refused as 400 too)
HOUSE_NO = text(16, pattern="^[0-9]{1,3}-[0-9]{1,2}-[0-9]{3,4}$", min_len=7)
PERIOD = text(7, pattern="^[0-9]{4}-(0[1-9]|1[0-2])$", min_len=7)
PERIODS = array(PERIOD, 25, min_items=1, unique=True)
DAY = text(10, pattern="^[0-9]{4}-[0-9]{2}-[0-9]{2}$", min_len=10)
FEN = integer()
AMOUNT_FEN = integer(1)
REASON = {"type": "string"}        # cut and withheld, never refused (a reason acknowledges money in doubt)
DECLINED = obj({"txn_id": TXN_ID, "result": enum("declined"), "code": text(32),
                "tries_left": nullable(integer())})

# The signed channel (host.bank.security): every message's envelope and every error reply.
ENVELOPE = obj({"kiosk_id": text(32), "counter": integer()})
ERROR = obj({"error": text(64), "message": {"type": "string"}})
