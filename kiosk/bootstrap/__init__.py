"""Composition root: config -> adapters (real | sim) -> services. The only
module that knows concrete classes; `kiosk run`, `kiosk demo`, the tests and
the benchmarks all build the same graph (DESIGN §2 rule 6)."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from kiosk.backend_client.client import HostClient
from kiosk.config import KioskSettings
from common.clock import Clock, SystemClock
from common.settings import ConfigError
from kiosk.services.bills import BillService
from kiosk.bootstrap.devices import (PaymentDevices, SimDevices, device_board, payment_devices,
                                     start_virtual_cards)

if TYPE_CHECKING:
    import httpx

    from kiosk.devices.sim.pcscd import PrivatePcscd
    from kiosk.devices.ports import PinPad
    from kiosk.backend_client.bank8583.client import BankLink
    from kiosk.backend_client.bank import BankClient
    from kiosk.backend_client.signed import MessageCounter
    from kiosk.services.bank_card_services import BankCardServices
    from kiosk.services.bank_settlement import BankSettlementService
    from kiosk.services.fleet.devices import DeviceBoard
    from kiosk.services.fleet.service import FleetService
    from kiosk.services.journal import Journal
    from kiosk.services.payment import PaymentService
    from kiosk.services.session import HostSession
    from kiosk.services.settling import SettlingService
    from kiosk.services.wallet import WalletService
    from kiosk.services.onecard import OneCardService
    from kiosk.services.meter import MeterService
    from kiosk.services.onecard_blacklist import OneCardBlacklistService
    from kiosk.services.transfer import TransferService

log = logging.getLogger(__name__)

# what reload_config applies while running; the rest (devices, host, keys, journal) at the next start
LIVE_SETTINGS = ("estate_name", "language", "idle_timeout_s", "notices", "fleet")


@dataclass
class Kiosk:
    """The kiosk's service graph, with no UI: what screens call."""

    settings: KioskSettings
    host: HostClient
    bills: BillService
    clock: Clock = field(default_factory=SystemClock)   # every "now" of the kiosk (docs/architecture.md)
    bank: BankClient | None = None          # the host's sign-on and the signed messages under its keys
    link: BankLink | None = None          # the ISO 8583 bank link: bill payments (docs/bank-link.md)
    session: HostSession | None = None      # signed on with the host and the bank front-end (working keys)
    settler: SettlingService | None = None  # reversals, cancels, confirmations, backup copies
    devices: PaymentDevices | None = None
    payments: PaymentService | None = None
    wallet: WalletService | None = None
    bank_cards: BankCardServices | None = None   # 银行卡服务 over the bank link (balance, PIN change)
    onecard: OneCardService | None = None   # the estate one-card, on the contactless reader (docs/onecard.md)
    meters: MeterService | None = None      # prepaid meters, on the wallet's IC readers (docs/meters.md)
    onecard_blacklist: OneCardBlacklistService | None = None   # its unpaid-fee blacklist (docs/onecard.md)
    transfers: TransferService | None = None   # money between two IC cards (docs/cards.md "Transfers")
    fleet: FleetService | None = None      # heartbeats and staff commands (docs/console.md)
    bank_settlement: BankSettlementService | None = None   # daily and on staff's command (docs/bank-link.md)
    journal: Journal | None = None
    counter: MessageCounter | None = None   # the one order of all signed messages (bank, cards, fleet)
    sims: SimDevices | None = None
    file_settings: KioskSettings | None = None    # as the file said at start (reload_settings compares)
    closers: list[Callable[[], None]] = field(default_factory=list)   # e.g. card watchers
    # what the UI does when staff restart the app or reload its configuration
    on_restart: Callable[[], None] | None = None
    settings_listeners: list[Callable[[KioskSettings], None]] = field(default_factory=list)

    def warm_up(self) -> None:
        """Load what start-up deferred; called once the idle screen is drawn."""
        self.host.warm_up()

    async def start(self) -> None:
        """Sign on and settle anything a crash left in flight (reversals, backup
        copies) before payments are offered."""
        if self.wallet is not None:
            self.wallet.recover_at_start()   # before the settling task starts
        if self.onecard is not None:
            self.onecard.recover_at_start()
        if self.transfers is not None:
            self.transfers.recover_at_start()
        if self.meters is not None:
            self.meters.recover_at_start()   # before payments turn their own intents into reversals
        if self.payments is not None:
            await self.payments.start()
        if self.session is not None:
            await self.session.start()
        if self.settler is not None:
            await self.settler.start()
        if self.fleet is not None:
            await self.fleet.start()
        if self.bank_settlement is not None:      # after the sign-on and the reversals' task
            await self.bank_settlement.start()

    def reload_settings(self) -> str:
        """Staff's reload_config: read the configuration file again and apply what
        can change while running; say what needs a restart. A bad file changes
        nothing (ConfigError, reported as the command's failure)."""
        from kiosk.config import load_kiosk_settings

        if not self.settings.source:
            raise RuntimeError("these settings did not come from a file")
        before, after = self.file_settings or self.settings, load_kiosk_settings(self.settings.source)
        changed = [f.name for f in dataclasses.fields(after)
                   if f.name != "source" and getattr(after, f.name) != getattr(before, f.name)]
        live = [name for name in changed if name in LIVE_SETTINGS]
        if live:
            self.file_settings = dataclasses.replace(before, **{name: getattr(after, name) for name in live})
            self.settings = dataclasses.replace(self.settings, **{name: getattr(after, name) for name in live})
            if self.fleet is not None:
                self.fleet.interval_s = self.settings.fleet.heartbeat_interval_s
            for listener in list(self.settings_listeners):
                listener(self.settings)
        later = [name for name in changed if name not in LIVE_SETTINGS]
        text = f"applied: {', '.join(live)}" if live else "nothing new to apply"
        return text + (f"; needs a restart: {', '.join(later)}" if later else "")

    async def aclose(self) -> None:
        if self.bank_settlement is not None:
            await self.bank_settlement.stop()
        if self.fleet is not None:
            await self.fleet.stop()
            await self.fleet.client.aclose()
        for close in self.closers:
            close()
        if self.bank_cards is not None:
            await self.bank_cards.aclose()
        if self.settler is not None:
            await self.settler.stop()
        if self.bank is not None:
            await self.bank.aclose()
        if self.link is not None:
            await self.link.aclose()
        if self.devices is not None:
            await self.devices.close()
        await self.host.aclose()
        if self.journal is not None:
            self.journal.close()
        if self.sims is not None:
            self.sims.close()


def build(settings: KioskSettings, *, host_transport: "httpx.AsyncBaseTransport | None" = None,
          with_payments: bool = True, with_wallet: bool = True,
          pcscd: "PrivatePcscd | None" = None, with_fleet: bool = True, clock: Clock | None = None) -> Kiosk:
    """Every kiosk signs its messages, the bill look-up too (docs/host-api.md):
    settings without a terminal master key are refused here (ConfigError).
    `with_payments=False` builds the look-up alone (its journal keeps the message
    counter; no devices: `kiosk bill`, the UI tests of the bill screens); the IC
    wallet comes with payments when the settings have a [wallet] section.
    `pcscd`: an already running private pcscd for simulated IC readers (tests
    share one per session); otherwise one is started when a reader is "sim"."""
    from kiosk.backend_client.bank import BankClient
    from kiosk.backend_client.signed import MessageCounter, SignedChannel
    from kiosk.backend_client.tls import host_verification
    from kiosk.services.journal import Journal
    from kiosk.services.session import HostSession

    if not settings.tmk:
        raise ConfigError(settings.source or "kiosk settings", "security.tmk",
                          "is required: every message to the host, the bill look-up too, is signed "
                          "with the keys of a sign-on under it")
    clock = clock or SystemClock()
    journal = Journal(settings.journal_path, clock)       # the message counter, across restarts
    counter = MessageCounter(journal.next_counter)  # one sequence for all the kiosk's signed channels
    verify = host_verification(settings.host.url, settings.host.ca_file)
    channel = SignedChannel(settings.host.url, settings.kiosk_id, counter,
                            timeout_s=settings.host.timeout_s, transport=host_transport, verify=verify)
    bank = BankClient(channel, settings.tmk)
    board = device_board() if with_payments and with_fleet else None
    sims = devices = link = None
    if with_payments:
        sims = SimDevices()
        devices = payment_devices(settings, sims, board)
        link = _bank_link(settings, journal, devices.pinpad, clock)
    session = HostSession(bank, devices.pinpad if devices is not None else None, link)
    host = HostClient(settings.host.url, bank, timeout_s=settings.host.timeout_s, transport=host_transport,
                      verify=verify)
    bills = BillService(host, session, journal.paid_awaiting_copy)
    kiosk = Kiosk(settings=settings, host=host, bills=bills, clock=clock, bank=bank,
                  link=link, session=session, journal=journal, counter=counter, sims=sims, devices=devices)
    if with_payments:
        _add_payments(kiosk)
        if with_wallet and settings.wallet is not None:
            _add_wallet(kiosk, pcscd)
            _add_meters(kiosk)
        if link is not None:
            _add_bank_card_services(kiosk, link)
        if board is not None:
            _add_fleet(kiosk, host_transport, board)
        _add_bank_settlement(kiosk)
    return kiosk


def _bank_link(settings: KioskSettings, journal: Journal, pinpad: PinPad, clock: Clock) -> BankLink:
    """The ISO 8583 link of [bank]: its STAN, batch, reversals owed and debits
    in the kiosk journal (they survive a restart); its PIK into the pad's bank
    slot whenever it signs on (BankLink signs on by its own schedule too)."""
    from common.bank8583.framing import Header, Tpdu
    from kiosk.backend_client.bank8583.client import BankLink
    from kiosk.backend_client.bank8583.settings import LinkSettings
    from kiosk.backend_client.bank8583.tls import LinkTls
    from kiosk.devices.ports import KeySlot

    b = settings.bank
    if b is None:
        raise ConfigError(settings.source or "kiosk settings", "bank",
                          "is required for bill payments: the bank front-end's address and this "
                          "kiosk's terminal and merchant ids (docs/bank-link.md)")
    link_settings = LinkSettings(
        host=b.host, port=b.port, terminal_id=b.terminal_id, merchant_id=b.merchant_id, tmk=settings.tmk,
        tpdu=Tpdu(b.tpdu_destination, b.tpdu_source), header=Header(version=b.software_version),
        mac_algorithm="x919" if b.mac == "x919" else "ecb", persistent=b.persistent,
        connect_timeout_s=b.connect_timeout_s, reply_timeout_s=b.reply_timeout_s,
        tls=LinkTls(b.link_ca_file, b.link_client_cert, b.link_client_key) if b.link_tls else None)

    async def load_pik(wrapped: bytes, check_value: bytes) -> None:
        await pinpad.load_pin_key(KeySlot.BANK, wrapped, check_value[:3])

    return BankLink(link_settings, journal, clock, load_pin_key=load_pik)


def _add_bank_settlement(kiosk: Kiosk) -> None:
    """The daily settlement at [bank] settle_at and staff's `settle_now`
    (docs/bank-link.md "Settlement"): at the fleet's safe point, after the
    reversals owed; its last outcome in the heartbeat."""
    from kiosk.services.bank_settlement import BankSettlementService

    link, journal, settler, fleet = kiosk.link, kiosk.journal, kiosk.settler, kiosk.fleet
    assert link is not None and journal is not None and settler is not None and kiosk.settings.bank is not None
    kiosk.bank_settlement = service = BankSettlementService(
        link, journal, kiosk.clock, kiosk.settings.bank.settle_at,
        reversals_owed=lambda: bool(journal.bank_reversals("due") or journal.in_state("reversing")),
        send_reversals=settler.settle_once,
        safe_point=fleet.safe_point if fleet is not None else contextlib.nullcontext)
    if fleet is not None:
        fleet.register("settle_now", service.settle_now)


def _add_payments(kiosk: Kiosk) -> None:
    """The settling task and the bill payment service, on the journal, the
    devices and the host session build() made."""
    from kiosk.services.payment import PaymentService
    from kiosk.services.settling import SettlingService

    settings, journal, bank, session, devices = kiosk.settings, kiosk.journal, kiosk.bank, kiosk.session, kiosk.devices
    link = kiosk.link
    assert journal is not None and bank is not None and session is not None and devices is not None
    assert link is not None
    # one reversal mechanism: the link's journaled 0400s; the settling task asks
    # the link for a `reversing` payment, and a 0400 the link still owes holds
    # new payments back like a `reversing` entry does
    kiosk.settler = settler = SettlingService(journal=journal, bank=bank, reverser=link, session=session,
                                              reversals_owed=lambda: bool(journal.bank_reversals("due")))
    kiosk.payments = PaymentService(
        kiosk_id=settings.kiosk_id, estate=settings.estate_name, journal=journal, bank=link,
        session=session, settling=settler,
        reader=devices.reader, pinpad=devices.pinpad, printer=devices.printer, now=kiosk.clock.now)


def _add_bank_card_services(kiosk: Kiosk, link: BankLink) -> None:
    """银行卡服务: balance inquiry and PIN change over `link`, on the payment devices."""
    from kiosk.services.bank_card_services import BankCardServices

    settings, devices = kiosk.settings, kiosk.devices
    assert devices is not None
    kiosk.bank_cards = BankCardServices(link=link, reader=devices.reader, pinpad=devices.pinpad,
                                        printer=devices.printer, estate=settings.estate_name,
                                        kiosk_id=settings.kiosk_id, now=kiosk.clock.now)


IC_READERS = (("contact", "ic_contact"), ("contactless", "ic_contactless"))


def _add_wallet(kiosk: Kiosk, pcscd: Any) -> None:
    from kiosk.backend_client.cards import CardCentreClient
    from kiosk.devices.pcsc import CardWatcher, PcscReader
    from kiosk.backend_client.onecard import OneCardClient
    from kiosk.services.onecard import OneCardService
    from kiosk.services.wallet import WalletService
    from kiosk.services.wallet_view import WalletLimits

    settings, sims, pads = kiosk.settings, kiosk.sims, kiosk.devices
    assert settings.wallet is not None and kiosk.payments is not None and kiosk.journal is not None
    assert sims is not None and pads is not None
    assert kiosk.session is not None and kiosk.settler is not None and kiosk.bank is not None
    devices = {name: settings.device(key) for name, key in IC_READERS}
    if any(d.kind == "sim" for d in devices.values()):
        start_virtual_cards(sims, Path(settings.journal_path).parent, pcscd,
                             devices["contact"].params.get("vpcd_port", 35990), kiosk.clock)
    readers = {}
    for i, (name, device) in enumerate(devices.items()):
        if device.kind == "pcsc":
            pcsc_name = device.params["reader"]
        else:
            assert sims.pcscd is not None     # a "sim" reader: start_virtual_cards started it above
            pcsc_name = sims.pcscd.reader_names[i]
        readers[name] = PcscReader(pcsc_name)
    # each reader holds a PC/SC context (a pcscd thread) until closed; pcscd
    # refuses every client once it holds 200 (seen in CI: "Access denied")
    kiosk.closers.extend(reader.close for reader in readers.values())
    by_pcsc_name = {reader.name: name for name, reader in readers.items()}

    def watch(on_event: Callable[[str, bool], None]) -> None:
        watcher = CardWatcher(list(by_pcsc_name), lambda ev: on_event(by_pcsc_name[ev.reader], ev.present))
        kiosk.closers.append(watcher.stop)

    w = settings.wallet
    kiosk.wallet = WalletService(
        kiosk_id=settings.kiosk_id, estate=settings.estate_name, term_id=w.terminal_id, journal=kiosk.journal,
        centre=CardCentreClient(kiosk.bank), session=kiosk.session, settling=kiosk.settler,
        readers=readers, pinpad=pads.pinpad, printer=pads.printer,
        limits=WalletLimits(w.min_load, w.max_load, w.presets), watch=watch, now=kiosk.clock.now)
    # the one-card is tapped on the contactless reader the CPU cards use; the
    # service tells one from the other by the card's answer (OneCardService.is_onecard)
    kiosk.onecard = OneCardService(
        kiosk_id=settings.kiosk_id, term_id=w.terminal_id, journal=kiosk.journal,
        client=OneCardClient(kiosk.bank, settings.tmk), session=kiosk.session, settling=kiosk.settler,
        reader=readers["contactless"], now=kiosk.clock.now, printer=pads.printer, estate=settings.estate_name)
    # the unpaid-fee blacklist: downloaded on every pass of the settling task (the
    # first pass, at start, included), which already holds the host session
    from kiosk.services.onecard_blacklist import OneCardBlacklistService
    kiosk.onecard_blacklist = OneCardBlacklistService(
        journal=kiosk.journal, client=OneCardClient(kiosk.bank, settings.tmk), session=kiosk.session,
        onecard=kiosk.onecard, payments=kiosk.payments, bills=kiosk.bills, now=kiosk.clock.now)
    kiosk.settler.add_periodic(kiosk.onecard_blacklist.refresh_quietly)
    _add_transfers(kiosk, readers)


def _add_transfers(kiosk: Kiosk, readers: dict[str, Any]) -> None:
    """Transfers between two IC cards, on the wallet's readers (docs/cards.md "Transfers")."""
    from common.money import Money
    from kiosk.backend_client.onecard import OneCardClient
    from kiosk.backend_client.transfers import TransferClient
    from kiosk.services.transfer import TransferService
    from kiosk.services.transfer_view import TransferLimits

    settings = kiosk.settings
    assert settings.wallet is not None and kiosk.journal is not None and kiosk.bank is not None
    assert kiosk.session is not None and kiosk.settler is not None
    kiosk.transfers = TransferService(
        kiosk_id=settings.kiosk_id, term_id=settings.wallet.terminal_id, journal=kiosk.journal,
        client=TransferClient(kiosk.bank, settings.tmk), onecard=OneCardClient(kiosk.bank, settings.tmk),
        session=kiosk.session, settling=kiosk.settler, readers=readers, now=kiosk.clock.now,
        printer=kiosk.devices.printer if kiosk.devices is not None else None, estate=settings.estate_name,
        # the kiosk's [transfer]: shown to the resident, checked before a card is touched; the host rules
        limits=TransferLimits(per_transfer=Money(settings.transfer.per_transfer_fen),
                              per_card_day=Money(settings.transfer.per_card_day_fen)))
    # the card screens' presentations settle what transfers left owed to the card (one `owed`
    # message; the card touched only when something is owed; docs/cards.md "Faults"); the
    # one-card's reader is the one the transfers call "contactless" (_add_wallet)
    if kiosk.onecard is not None:
        kiosk.onecard.at_presentation(kiosk.transfers.owed_at_presentation, "contactless")
    if kiosk.wallet is not None:
        kiosk.wallet.at_presentation(kiosk.transfers.owed_at_presentation)
        # the bank card as a side: the wallet's load / unload and the one-card's load, reused
        from kiosk.services.transfer_bank import BankPairs
        kiosk.transfers.bank_pairs = BankPairs(kiosk.wallet, kiosk.onecard)


def _add_meters(kiosk: Kiosk) -> None:
    """Prepaid meters: the meter user card goes into the wallet's contact reader;
    paid by bank card (the payment devices), signed messages on the bank's channel."""
    from kiosk.backend_client.meters import MeterClient
    from kiosk.services.meter import MeterService

    assert kiosk.wallet is not None and kiosk.payments is not None and kiosk.journal is not None
    assert kiosk.session is not None and kiosk.settler is not None and kiosk.bank is not None
    kiosk.meters = MeterService(
        kiosk_id=kiosk.settings.kiosk_id, estate=kiosk.settings.estate_name, journal=kiosk.journal,
        client=MeterClient(kiosk.bank), session=kiosk.session, settling=kiosk.settler,
        reader=kiosk.wallet.cards.reader, printer=kiosk.payments.printer, now=kiosk.clock.now)


def _add_fleet(kiosk: Kiosk, transport: Any, board: DeviceBoard) -> None:
    """Heartbeats to the host and staff commands at safe points (docs/console.md).
    It needs the MAK of the host session's sign-on; its own signed channel."""
    from kiosk.backend_client.fleet import FleetClient
    from kiosk.backend_client.signed import SignedChannel
    from kiosk.backend_client.tls import host_verification
    from kiosk.domain.errors import KioskError, ReaderFault
    from kiosk.services.fleet.commands import CommandOutcome, payment_command_handlers
    from kiosk.services.fleet.service import FleetService
    from kiosk.services.fleet.status import JournalStatus

    settings, payments, journal, wallet = kiosk.settings, kiosk.payments, kiosk.journal, kiosk.wallet
    session, settler, counter, bank = kiosk.session, kiosk.settler, kiosk.counter, kiosk.bank
    assert payments is not None and bank is not None and journal is not None and session is not None and settler is not None
    assert counter is not None
    if settings.source and Path(settings.source).is_file():   # reload_config compares with the file as it was
        from kiosk.config import load_kiosk_settings           # (the caller may have overridden some of it)
        kiosk.file_settings = load_kiosk_settings(settings.source)
    journal_status = JournalStatus(journal, payments.printer, now=kiosk.clock.now)

    async def status(*, busy: bool) -> dict[str, Any]:
        report = await _status(busy=busy)
        if kiosk.bank_settlement is not None:
            report["settlement"] = kiosk.bank_settlement.status()
        return report

    async def _status(*, busy: bool) -> dict[str, Any]:
        if wallet is not None and not busy:    # a card may be mid-write: asked between transactions only
            for name in wallet.readers:
                try:
                    await asyncio.to_thread(wallet.card_present, name)
                except ReaderFault as exc:
                    board.fault(f"ic_{name}", exc.detail)
                    continue
                except KioskError:
                    pass                       # a card's own trouble: the reader answered
                board.ok(f"ic_{name}")
        return await journal_status(busy=busy)

    async def reload_config(_: dict[str, Any]) -> str:
        return kiosk.reload_settings()

    async def restart_app(_: dict[str, Any]) -> CommandOutcome:
        if kiosk.on_restart is None:
            raise RuntimeError("this kiosk runs without a UI to restart")
        return CommandOutcome("restarting", after_ack=kiosk.on_restart)

    # what payment_command_handlers reads (by name): the journal and a settling pass
    # (upload_journal), the printer and a test receipt's header (print_test)
    commands = SimpleNamespace(journal=journal, settle_once=settler.settle_once, printer=payments.printer,
                               estate=payments.estate, kiosk_id=payments.kiosk_id, now=payments.now)
    channel = SignedChannel(settings.host.url, settings.kiosk_id, counter, timeout_s=settings.host.timeout_s,
                            transport=transport, verify=host_verification(settings.host.url, settings.host.ca_file))
    kiosk.fleet = FleetService(
        FleetClient(channel, lambda: bank.keys), status,
        interval_s=settings.fleet.heartbeat_interval_s,
        handlers={**payment_command_handlers(commands), "reload_config": reload_config, "restart_app": restart_app},
        state_path=Path(settings.journal_path).parent / "fleet-state.json",
        sign_on=session.sign_on, devices=board, clock=kiosk.clock)


