"""What the fleet pages show, computed from the in-memory registry: one row
per kiosk (with the words already chosen for the page's language), the
summary tiles, filters, sorting and paging. Templates only lay these out."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from host.console.i18n import CATALOGUE, duration, money, when
from host.fleet.model import Settlement
from host.fleet.registry import Alert, FleetRegistry, KioskRecord

DEVICE_COLUMNS = ("card_reader", "pin_pad", "printer")
FILTERS = ("all", "attention", "offline", "fault", "paper", "backlog", "oos", "never")
PAGE_SIZE = 100
BACK_NOTE_FOR_S = 3600        # "back after 3 min away" stays on the row this long

# sort order: what needs someone first
OFFLINE, FAULT, OUT_OF_SERVICE, WARNING, NEVER, FINE = range(6)


@dataclass(frozen=True, slots=True)
class Badge:
    text: str
    level: str            # ok | warn | bad | off | muted
    title: str = ""


@dataclass(frozen=True, slots=True)
class KioskRow:
    kiosk_id: str
    state: Badge
    since: float | None           # data-since for the live relative time
    since_text: str
    note: str                     # back after ... away
    screen: str
    devices: tuple[Badge, ...]    # DEVICE_COLUMNS, in order
    other_devices: tuple[Badge, ...]
    backlog: Badge
    today_count: str
    takings: str
    version: str
    rank: int
    flags: frozenset[str] = field(default_factory=frozenset)   # which filters it falls under
    service: Badge | None = None  # out of service (it may be online or not)
    settlement: Badge = Badge("—", "muted")   # the last bank settlement, as the kiosk reported it


@dataclass(frozen=True, slots=True)
class FleetSummary:
    total: int
    online: int
    offline: int
    never: int
    faults: int
    paper_out: int
    paper_low: int
    out_of_service: int
    backlog: int
    txn_count: int
    takings_fen: int
    alerts: int


def _device_badge(t: Callable[..., str], name: str, state: str, reason: str) -> Badge:
    level = {"ok": "ok", "paper_near_end": "warn", "paper_out": "bad", "fault": "bad"}.get(state, "muted")
    return Badge(t(f"device.{state}"), level, reason)


def classify(record: KioskRecord) -> tuple[int, frozenset[str]]:
    """(rank, filters it falls under): cheap, so 5,000 kiosks sort in a few ms."""
    status = record.status
    flags: set[str] = {"all"}
    rank = FINE
    if status is not None:
        states = {d.state for d in status.devices.values()}
        if "fault" in states:
            flags.add("fault")
            rank = FAULT
        if "paper_out" in states:
            flags.add("paper")
            rank = FAULT
        elif "paper_near_end" in states:
            flags.add("paper")
            rank = min(rank, WARNING)
        if status.backlog.reversals:
            flags.add("backlog")
            rank = min(rank, FAULT if ("reversal_stuck", "") in record.alerts else WARNING)
        if status.settlement is not None and not status.settlement.balanced:
            rank = min(rank, WARNING)       # the settlement_unbalanced alert
        if status.out_of_service:
            flags.add("oos")
            rank = min(rank, OUT_OF_SERVICE)
    if record.never_seen:
        flags.add("never")
        rank = NEVER
    elif not record.online:
        flags.add("offline")
        rank = OFFLINE
    if rank < NEVER:
        flags.add("attention")
    return rank, frozenset(flags)


def kiosk_row(record: KioskRecord, t: Callable[..., str], lang: str, now: float, today: date) -> KioskRow:
    status = record.status
    rank, flags = classify(record)
    devices: list[Badge] = []
    others: list[Badge] = []
    if status is not None:
        for name in DEVICE_COLUMNS:
            device = status.devices.get(name)
            devices.append(_device_badge(t, name, device.state, device.reason) if device else Badge("—", "muted"))
        for name, device in status.devices.items():
            if name not in DEVICE_COLUMNS and device.state != "ok":
                badge = _device_badge(t, name, device.state, device.reason)
                others.append(Badge(f"{device_name(name, t)}: {badge.text}", badge.level, device.reason))
    else:
        devices = [Badge("—", "muted")] * len(DEVICE_COLUMNS)

    note = ""
    if record.never_seen:
        state, since, since_text = Badge(t("state.never"), "muted"), None, ""
    elif not record.online:
        state, since = Badge(t("state.offline"), "bad"), record.offline_since
        since_text = t("state.since", when=when(since, now))
    else:
        state, since = Badge(t("state.online"), "ok"), record.online_since
        since_text = t("state.since", when=when(since, now))
        if record.away_s is not None and since is not None and now - since < BACK_NOTE_FOR_S:
            note = t("state.back", away=duration(record.away_s, lang))

    backlog = Badge(t("backlog.none"), "muted")
    today_count, takings = "—", "—"
    if status is not None:
        parts = []
        if status.backlog.reversals:
            parts.append(t("backlog.reversals", n=status.backlog.reversals))
        if status.backlog.backups:
            parts.append(t("backlog.backups", n=status.backlog.backups))
        if parts:
            backlog = Badge(" · ".join(parts), "bad" if ("reversal_stuck", "") in record.alerts else "warn")
        if status.today.day == today.isoformat():
            today_count, takings = str(status.today.count), money(status.today.approved_fen)
        else:
            today_count, takings = "0", money(0)
    return KioskRow(
        kiosk_id=record.kiosk_id, state=state, since=since, since_text=since_text, note=note,
        screen=screen_text(status.screen if status is not None else "", t),
        devices=tuple(devices), other_devices=tuple(others), backlog=backlog, today_count=today_count,
        takings=takings, version=status.app_version if status is not None and status.app_version else "—",
        rank=rank, flags=flags, settlement=reported_settlement(status.settlement if status else None, t),
        service=Badge(t("state.oos"), "warn") if status is not None and status.out_of_service else None)


def reported_settlement(settlement: Settlement | None, t: Callable[..., str]) -> Badge:
    """The fleet page's column: the kiosk's last settlement as its heartbeat said."""
    if settlement is None:
        return Badge("—", "muted")
    title = t("settle.debits", n=settlement.debit_count, amount=money(settlement.debit_fen))
    if settlement.credit_count:
        title += " · " + t("settle.credits", n=settlement.credit_count, amount=money(settlement.credit_fen))
    title += f" · {settlement.at.replace('T', ' ')}"
    if settlement.balanced:
        return Badge(t("settle.balanced"), "ok", f"{settlement.batch} · {title}")
    return Badge(t("settle.unbalanced"), "bad", f"{settlement.batch} · {title}")


def screen_text(screen: str, t: Callable[..., str]) -> str:
    """The kiosk's current screen for staff: its name in words and the code name
    (the code name alone for a screen the catalogue does not know, e.g. a newer kiosk's)."""
    if not screen:
        return "—"
    if f"screen.{screen}" not in CATALOGUE:
        return screen
    return f"{t(f'screen.{screen}')} ({screen})"


def summary(registry: FleetRegistry, today: date) -> FleetSummary:
    day = today.isoformat()
    online = offline = never = faults = paper_out = paper_low = oos = backlog = count = takings = 0
    for record in registry.records.values():
        status = record.status
        if record.never_seen:
            never += 1
        elif record.online:
            online += 1
        else:
            offline += 1
        if status is None:
            continue
        states = {d.state for d in status.devices.values()}
        faults += "fault" in states
        paper_out += "paper_out" in states
        paper_low += "paper_near_end" in states
        oos += status.out_of_service
        backlog += status.backlog.reversals > 0
        if status.today.day == day:
            count += status.today.count
            takings += status.today.approved_fen
    alerts = sum(len(r.alerts) for r in registry.records.values())
    return FleetSummary(len(registry.records), online, offline, never, faults, paper_out, paper_low, oos, backlog,
                        count, takings, alerts)


@dataclass(frozen=True, slots=True)
class FleetPage:
    rows: list[str]     # each kiosk's <tr>, rendered (and cached) by FleetIndex
    kiosk_ids: list[str]
    total: int          # matching the filter
    page: int
    pages: int
    first: int
    last: int


RowRenderer = Callable[[KioskRow], str]


class FleetIndex:
    """Sorting and counting 5,000 kiosks, and rendering their rows, takes tens of
    ms of the event loop that also answers the heartbeats, and every open page
    wants it at every live tick. So each kiosk's classification and rendered row
    are kept until it changes (record.version; rows also per language, day and
    10 minutes, for the words that depend on the time), the sorted order and the
    summary until anything changes (registry.version): the pages of one tick
    share one computation, and a page is mostly joining cached rows."""

    ROW_TIME_BUCKET_S = 600

    def __init__(self, registry: FleetRegistry) -> None:
        self.registry = registry
        self._classes: dict[str, tuple[int, int, frozenset[str]]] = {}     # id -> (version, rank, flags)
        self._orders: dict[tuple[str, str], tuple[int, list[KioskRecord]]] = {}
        self._summary: tuple[int, date, FleetSummary] | None = None
        self._rows: dict[tuple[str, str], tuple[tuple[int, date, int], str]] = {}

    def classify(self, record: KioskRecord) -> tuple[int, frozenset[str]]:
        cached = self._classes.get(record.kiosk_id)
        if cached is not None and cached[0] == record.version:
            return cached[1], cached[2]
        version = record.version
        rank, flags = classify(record)
        self._classes[record.kiosk_id] = (version, rank, flags)
        return rank, flags

    def ordered(self, filter_: str, search: str) -> list[KioskRecord]:
        needle = search.strip().upper()
        key = (filter_, needle)
        version = self.registry.version              # read first: a change meanwhile makes it stale, not wrong
        cached = self._orders.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        ranked = []
        for record in self.registry.records.values():
            if needle and needle not in record.kiosk_id.upper():
                continue
            rank, flags = self.classify(record)
            if filter_ in flags:
                ranked.append((rank, record.kiosk_id, record))
        ranked.sort(key=lambda item: (item[0], item[1]))
        order = [record for _, _, record in ranked]
        if len(self._orders) > 64:          # searches typed by staff: keep it bounded
            self._orders.clear()
        self._orders[key] = (version, order)
        return order

    def row_html(self, record: KioskRecord, render: RowRenderer, t: Callable[..., str], lang: str, now: float,
                 today: date) -> str:
        stamp = (record.version, today, int(now // self.ROW_TIME_BUCKET_S))
        cached = self._rows.get((record.kiosk_id, lang))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        html = render(kiosk_row(record, t, lang, now, today))
        self._rows[(record.kiosk_id, lang)] = (stamp, html)
        return html

    def page(self, render: RowRenderer, t: Callable[..., str], lang: str, now: float, today: date, *,
             filter_: str = "all", search: str = "", page: int = 1) -> FleetPage:
        order = self.ordered(filter_, search)
        pages = max(1, -(-len(order) // PAGE_SIZE))
        page = min(max(1, page), pages)
        start = (page - 1) * PAGE_SIZE
        shown = order[start:start + PAGE_SIZE]
        return FleetPage([self.row_html(r, render, t, lang, now, today) for r in shown],
                         [r.kiosk_id for r in shown], len(order), page, pages,
                         start + 1 if shown else 0, start + len(shown))

    def summary(self, today: date) -> FleetSummary:
        version = self.registry.version
        if self._summary is not None and self._summary[:2] == (version, today):
            return self._summary[2]
        result = summary(self.registry, today)
        self._summary = (version, today, result)
        return result


@dataclass(frozen=True, slots=True)
class AlertView:
    key: str              # DOM id
    kiosk_id: str
    text: str
    since: float
    since_text: str
    level: str


def alert_key(alert: Alert) -> str:
    return f"alert-{alert.kiosk_id}-{alert.kind}-{alert.subject}"


def device_name(name: str, t: Callable[..., str]) -> str:
    """A device in words; a device this console has no words for, by its own name."""
    return t(f"device.{name}") if f"device.{name}" in CATALOGUE else name


def alert_text(alert: Alert, t: Callable[..., str]) -> str:
    device = device_name(alert.subject, t) if alert.subject else ""
    return t(f"alert.{alert.kind}", kiosk=alert.kiosk_id, device=device)


def alert_view(alert: Alert, t: Callable[..., str], now: float) -> AlertView:
    level = "warn" if alert.kind == "reversal_stuck" else "bad"
    return AlertView(alert_key(alert), alert.kiosk_id, alert_text(alert, t), alert.since, when(alert.since, now), level)


def cleared_text(alert: Alert, record: KioskRecord | None, t: Callable[..., str], lang: str) -> str:
    if alert.kind == "offline":
        away = record.away_s if record is not None and record.away_s is not None else None
        return t("alert.cleared.offline", kiosk=alert.kiosk_id, away=duration(away, lang))
    return t("alert.cleared", kiosk=alert.kiosk_id, what=alert_text(alert, t))
