"""A small publish/subscribe bus: the fleet publishes changes (rows changed,
alerts, command acknowledgements), each open console page's event stream
subscribes. A subscriber that falls behind is dropped (its page reconnects
and starts from a fresh render) rather than letting its queue grow."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    kind: str          # rows | alert | cleared | command | seen
    data: Any


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.dropped = False

    async def get(self, timeout: float) -> Event | None:
        """The next event, or None on timeout or when dropped."""
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that arrives as the queue yields, and a closed page's stream would live on
            async with asyncio.timeout(timeout):
                return await self.queue.get()
        except TimeoutError:
            return None

    def _offer(self, event: Event | None) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True
            self._bus.unsubscribe(self)

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []

    def subscribe(self, maxsize: int = 512) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, kind: str, data: Any = None) -> None:
        event = Event(kind, data)
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for sub in list(self._subs):
            if sub.loop is current:
                sub._offer(event)
            elif not sub.loop.is_closed():
                sub.loop.call_soon_threadsafe(sub._offer, event)
