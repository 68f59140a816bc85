"""What a card screen's presentation asks of other services (the transfers'
credits owed, docs/cards.md "Faults"), in a module of its own so that the
wallet and the one-card need not import the transfers."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

# run with the card in its reader once the presenter's own card session is
# closed; the ids of the transactions it settled
Settle = Callable[[], Awaitable[tuple[str, ...]]]
# asked with (card kind, card number, reader) and touching no card: None when
# nothing is to be done, else the Settle to run
PresentationHook = Callable[[str, str, str], Awaitable[Settle | None]]
