"""Settlement (BANK-8583.md §4): the 0500 with the batch's totals in 48; when
the 0510 says the totals disagree (48 digit 31 `2`), every debit of the batch
as an 0320 (its own new STAN; 4 and 37 of the original; 61 = the original's
batch ‖ STAN ‖ date), then the end of upload (48 = their count). The batch
closes (60.2 + 1) on a balanced 0510 or an end of upload answered 00."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from common.bank8583 import fields as f
from common.bank8583.codec import Message
from common.bank8583.errors import WireError
from common.money import Money
from kiosk.backend_client.bank8583 import messages as m
from kiosk.backend_client.bank8583.settings import LinkSettings
from kiosk.backend_client.bank8583.store import LinkStore
from kiosk.domain.errors import BadHostReply, BankUnavailable

log = logging.getLogger(__name__)

MAX_BATCH: Final = 999   # a batch holds at most 999 transactions; the kiosk settles before

ExchangeFn = Callable[[Message], Awaitable[m.Exchange]]


@dataclass(frozen=True)
class Settlement:
    batch: str          # the batch settled (closed)
    totals: f.Totals    # what the kiosk sent
    balanced: bool      # the 0510 agreed; False: the batch was uploaded
    uploaded: int       # 0320s sent


def next_batch(batch: str) -> str:
    """60.2 + 1; 999999 wraps to 000001 (ours: the page is silent)."""
    return f"{int(batch) % 999999 + 1:06d}"


def _answered(done: m.Exchange, what: str) -> None:
    if done.code != m.APPROVED:
        raise BankUnavailable(f"{what} answered {done.code}", done.code)


async def settle_batch(exchange: ExchangeFn, store: LinkStore, s: LinkSettings) -> Settlement:
    batch = store.bank_batch()
    debits = store.bank_debits(batch)
    totals = f.Totals(Money(sum(d.amount_fen for d in debits)), len(debits))
    done = await exchange(m.settlement(store.bank_next_stan(), s.terminal_id, s.merchant_id, batch, totals,
                                       s.operator))
    _answered(done, "settlement")
    try:
        echoed = f.Totals.parse(done.reply.message.text(48))
    except WireError as exc:
        raise BadHostReply(f"0510 without totals: {exc}") from exc
    uploaded = 0
    if not echoed.balanced:
        log.warning("batch %s unbalanced: uploading %d debit(s)", batch, len(debits))
        for debit in debits:
            original = f.Field61(debit.batch, debit.stan, debit.date)
            done = await exchange(m.upload(store.bank_next_stan(), s.terminal_id, s.merchant_id, batch,
                                           debit.amount_fen, debit.rrn, original))
            _answered(done, f"batch upload of STAN {debit.stan}")
            uploaded += 1
        done = await exchange(m.end_of_upload(store.bank_next_stan(), s.terminal_id, s.merchant_id, batch,
                                              uploaded))
        _answered(done, "end of batch upload")
    store.bank_set_batch(next_batch(batch))
    return Settlement(batch, totals, echoed.balanced, uploaded)
