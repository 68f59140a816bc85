"""Staff's commands as the kiosk offers them: the handler type, what a
handler may return (CommandOutcome), and the commands the payment service
offers (upload_journal, print_test). The fleet service runs them
(service.FleetService.run_command); bootstrap adds reload_config and
restart_app."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from kiosk.backend_client.fleet import CommandArgs
from common.money import Money
from kiosk.domain.receipt import Receipt
from kiosk.services.fleet.ports import PaymentCommands


@dataclass(frozen=True)
class CommandOutcome:
    """What a handler may return instead of a plain result text: `after_ack`
    runs once the result is written down and sent (e.g. restart the app, whose
    result must reach the host before the process goes)."""

    result: str
    after_ack: Callable[[], Awaitable[None] | None] | None = None


CommandHandler = Callable[[CommandArgs], Awaitable["str | CommandOutcome | None"]]


def printer_test_receipt(estate: str, kiosk_id: str, when: datetime) -> Receipt:
    return Receipt(estate=estate, kiosk_id=kiosk_id, when=when, house_no="", items=(), total=Money(0),
                   masked_pan="", txn_id=f"TEST-{when:%Y%m%d%H%M%S}", reference="", auth_code="",
                   title="测试凭条 / TEST RECEIPT", extra=("打印机测试，非交易凭条", "Printer test - not a payment"))


def payment_command_handlers(payments: PaymentCommands) -> dict[str, CommandHandler]:
    """upload_journal (send pending reversals and backup copies now) and
    print_test (a test receipt), over a PaymentService."""

    async def upload_journal(_: CommandArgs) -> str:
        before = len(payments.journal.in_state("reversing")) + len(payments.journal.unsent_backups())
        if not await payments.settle_once():
            left = len(payments.journal.in_state("reversing")) + len(payments.journal.unsent_backups())
            raise RuntimeError(f"the host did not take everything: {left} item(s) still waiting")
        return f"uploaded {before} item(s); nothing waiting"

    async def print_test(_: CommandArgs) -> str:
        await payments.printer.print_receipt(printer_test_receipt(payments.estate, payments.kiosk_id, payments.now()))
        return "test receipt printed"

    return {"upload_journal": upload_journal, "print_test": print_test}
