"""The heartbeat as the kiosk sends it (docs/console.md): a signed message like
every other (kiosk id, counter, X9.19 MAC under the MAK from sign-on), whose
reply carries the commands staff sent and confirms the results received."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kiosk.backend_client.signed import SignedChannel
from kiosk.domain.errors import BadHostReply, NotSignedOn

HEARTBEAT_PATH = "/api/v1/fleet/heartbeat"


@dataclass(frozen=True, slots=True)
class CommandOrder:
    id: int
    token: str        # tells a new command from an old one with the same id (a host database reset)
    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    acked: frozenset[int]               # results the host has recorded: forget them
    commands: tuple[CommandOrder, ...]  # to run (again until acknowledged: run each once)


class FleetClient:
    def __init__(self, channel: SignedChannel, keys: Callable[[], Any]) -> None:
        """`keys()` returns the current WorkingKeys (BankClient.keys) or None before sign-on."""
        self._channel = channel
        self._keys = keys

    async def aclose(self) -> None:
        await self._channel.aclose()

    async def heartbeat(self, *, interval_s: float, status: dict[str, Any],
                        acks: list[dict[str, Any]]) -> HeartbeatReply:
        """Raises NotSignedOn (sign on, then again), HostUnavailable, HostRejected, BadHostReply."""
        keys = self._keys()
        if keys is None:
            raise NotSignedOn("no working keys yet")
        reply = await self._channel.post(HEARTBEAT_PATH, {
            "type": "heartbeat", "key_version": keys.key_version, "interval_s": interval_s,
            "status": status, "acks": acks}, keys.mac_key, financial=False)
        return parse_reply(reply)


def parse_reply(reply: dict[str, Any]) -> HeartbeatReply:
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
