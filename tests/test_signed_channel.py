"""The order of a kiosk's signed messages. The host accepts a message's counter
only above the last one it accepted (docs/payments.md), so all the kiosk's
signed channels share one MessageCounter and a message keeps the turn until its
reply is in: two messages in flight at once (a backup copy from the settling
task and a look-up, a payment, a heartbeat) can no longer reach the host out of
order and have the lower counter refused as a replay."""
import asyncio
import json

import httpx
import pytest

from common.crypto import mac_x919
from kiosk.backend_client.signed import MessageCounter, SignedChannel
from kiosk.domain.errors import OutcomeUnknown

KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


class CounterCheckingHost:
    """Accepts a counter only above the last accepted one, as the host does; the
    message numbered `slow` spends a while on the wire before the host sees it,
    and a message to the path `lost` never gets a reply."""

    def __init__(self, *, slow: int = 0, lost: str = "") -> None:
        self.slow, self.lost = slow, lost
        self.last = 0
        self.accepted: list[int] = []
        self.refused: list[int] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        counter = json.loads(request.read())["counter"]
        if counter == self.slow:
            await asyncio.sleep(0.05)
        if request.url.path == self.lost:
            raise httpx.ReadTimeout("no reply", request=request)
        if counter <= self.last:
            self.refused.append(counter)
            return self._reply(409, {"error": "replay", "message": f"counter {counter}"})
        self.last = counter
        self.accepted.append(counter)
        return self._reply(200, {"ok": True})

    @staticmethod
    def _reply(status: int, body: dict[str, object]) -> httpx.Response:
        content = json.dumps(body).encode()
        return httpx.Response(status, content=content, headers={"x-mac": mac_x919(KEY, content).hex().upper()})


def two_channels(host: CounterCheckingHost) -> tuple[SignedChannel, SignedChannel]:
    values = iter(range(1, 100))
    counter = MessageCounter(lambda: next(values))     # one sequence, as bootstrap builds it
    transport = httpx.MockTransport(host)
    return (SignedChannel("http://host.test", "KIOSK-TEST-01", counter, timeout_s=2, transport=transport),
            SignedChannel("http://host.test", "KIOSK-TEST-01", counter, timeout_s=2, transport=transport))


async def test_messages_sent_at_once_from_two_channels_reach_the_host_in_counter_order():
    host = CounterCheckingHost(slow=1)     # the first message is slow on the wire
    bank, fleet = two_channels(host)
    replies = await asyncio.gather(bank.post("/api/v1/property/transactions", {}, KEY, financial=True),
                                   fleet.post("/api/v1/fleet/heartbeat", {}, KEY, financial=False))
    assert replies == [{"ok": True}, {"ok": True}]
    assert host.accepted == [1, 2] and host.refused == []
    await bank.aclose()
    await fleet.aclose()


async def test_a_message_without_a_reply_gives_the_turn_to_the_next():
    host = CounterCheckingHost(lost="/api/v1/cards/load/authorise")
    bank, fleet = two_channels(host)
    first = asyncio.ensure_future(bank.post("/api/v1/cards/load/authorise", {}, KEY, financial=True))
    await asyncio.sleep(0)     # the payment takes the turn (counter 1) first
    second = await fleet.post("/api/v1/fleet/heartbeat", {}, KEY, financial=False)
    with pytest.raises(OutcomeUnknown):
        await first
    assert second == {"ok": True} and host.accepted == [2]
    await bank.aclose()
    await fleet.aclose()
