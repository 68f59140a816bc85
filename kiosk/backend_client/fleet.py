"""The heartbeat as the kiosk sends it (docs/console.md): a signed message like
every other (kiosk id, counter, X9.19 MAC under the MAK from sign-on), whose
reply carries the commands staff sent and confirms the results received.

The request's parts are TypedDicts rather than dataclasses: they are the JSON
objects themselves (the heartbeat sends them as they are, and the fleet
service keeps unconfirmed results in its state file as they are), so the
bytes on the wire are exactly what the fields say."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, TypedDict

from kiosk.backend_client.bank import WorkingKeys
from kiosk.backend_client.signed import SignedChannel
from kiosk.domain.errors import BadHostReply, NotSignedOn

HEARTBEAT_PATH = "/api/v1/fleet/heartbeat"

# A command's arguments as staff's console sent them (a JSON object): each
# handler reads and checks its own.
CommandArgs = dict[str, object]
# The journal's figures (Journal.day_figures, Journal.backlog_figures) as it
# counts them; the host checks their fields (host/fleet/model.py).
Figures = dict[str, object]


class DeviceState(TypedDict):
    state: str                   # ok | fault | paper_near_end | paper_out | unknown
    reason: NotRequired[str]     # a fault's detail, at most 200 characters


class LastError(TypedDict):
    at: str                      # ISO time, to the second
    message: str


class KioskStatus(TypedDict):
    """What every heartbeat reports."""

    app_version: str
    uptime_s: int
    screen: str
    out_of_service: bool
    in_transaction: bool
    devices: dict[str, DeviceState]
    today: Figures
    backlog: Figures
    last_error: LastError | None
    # the last bank settlement (kiosk.services.bank_settlement): batch, balanced,
    # debit/credit counts and fen, uploaded, at, trigger; left out before the first
    settlement: NotRequired[Figures | None]


AckStatus = Literal["done", "failed", "unsupported"]


class CommandAck(TypedDict):
    """A command's result, sent with every heartbeat until the host confirms it."""

    id: int
    status: AckStatus
    result: str                  # at most 300 characters


class HeartbeatRequest(TypedDict):
    type: Literal["heartbeat"]
    key_version: int
    interval_s: float
    status: KioskStatus
    acks: list[CommandAck]


@dataclass(frozen=True, slots=True)
class CommandOrder:
    id: int
    token: str        # tells a new command from an old one with the same id (a host database reset)
    name: str
    args: CommandArgs


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    acked: frozenset[int]               # results the host has recorded: forget them
    commands: tuple[CommandOrder, ...]  # to run (again until acknowledged: run each once)


class FleetClient:
    def __init__(self, channel: SignedChannel, keys: Callable[[], WorkingKeys | None]) -> None:
        """`keys()` returns the current WorkingKeys (BankClient.keys) or None before sign-on."""
        self._channel = channel
        self._keys = keys

    async def aclose(self) -> None:
        await self._channel.aclose()

    async def heartbeat(self, *, interval_s: float, status: KioskStatus, acks: list[CommandAck]) -> HeartbeatReply:
        """Raises NotSignedOn (sign on, then again), HostUnavailable, HostRejected, BadHostReply."""
        keys = self._keys()
        if keys is None:
            raise NotSignedOn("no working keys yet")
        request: HeartbeatRequest = {"type": "heartbeat", "key_version": keys.key_version,
                                     "interval_s": interval_s, "status": status, "acks": acks}
        reply = await self._channel.post(HEARTBEAT_PATH, dict(request), keys.mac_key, financial=False)
        return parse_reply(reply)


def parse_reply(reply: dict[str, Any]) -> HeartbeatReply:
    """The host's JSON, checked field by field: it is untrusted until here."""
    acked, commands = reply.get("acked"), reply.get("commands")
    if not isinstance(acked, list) or not all(isinstance(i, int) for i in acked) or not isinstance(commands, list):
        raise BadHostReply(f"heartbeat reply {reply!r}")
    orders = []
    for item in commands:
        if not (isinstance(item, dict) and isinstance(item.get("id"), int) and isinstance(item.get("name"), str)
                and isinstance(item.get("token", ""), str) and isinstance(item.get("args", {}), dict)):
            raise BadHostReply(f"heartbeat command {item!r}")
        orders.append(CommandOrder(item["id"], item.get("token", ""), item["name"], item.get("args", {})))
    return HeartbeatReply(frozenset(acked), tuple(orders))
