"""The live state of every kiosk, in memory: what its last heartbeat said, when
it was last heard from, whether it is online, and its active alerts.

Offline detection: a kiosk that announced an interval I is offline once
`missed_heartbeats` x I seconds (+ a little tolerance for network jitter) pass
without a heartbeat; it is back online with its next heartbeat, and the
history records how long it was away. Changes that staff should see go to the
history (written down by the store, and published at once for live pages) and
to the event bus (live pages)."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from common.clock import Clock
from host.fleet.events import EventBus
from host.fleet.model import KioskStatus
from host.config.fleet import FleetSettings

ALERT_KINDS = ("offline", "paper_out", "device_fault", "reversal_stuck", "settlement_unbalanced")
# alerts whose cause has no history line of its own (offline and device changes have theirs)
_ALERTS_IN_HISTORY = ("reversal_stuck", "settlement_unbalanced")


@dataclass(frozen=True, slots=True)
class Alert:
    kiosk_id: str
    kind: str            # one of ALERT_KINDS
    subject: str         # the device, for device alerts
    since: float         # epoch seconds
    detail: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.subject


@dataclass(frozen=True, slots=True)
class FleetEvent:
    """One line of a kiosk's history (fleet_events)."""
    kiosk_id: str
    at: float
    kind: str            # online | offline | device | error | service | alert | cleared | version
    subject: str = ""
    state: str = ""
    detail: str = ""


@dataclass
class KioskRecord:
    kiosk_id: str
    interval_s: float
    hb_counter: int = 0
    status: KioskStatus | None = None
    first_seen: float | None = None
    last_seen: float | None = None
    last_seen_mono: float | None = None
    online: bool = False
    online_since: float | None = None
    offline_since: float | None = None
    away_s: float | None = None          # how long it was away before its latest return
    alerts: dict[tuple[str, str], Alert] = field(default_factory=dict)
    dirty: bool = False           # something to write down
    changed: bool = False         # ... and it is more than another heartbeat (written at the next flush)
    written_mono: float = 0.0     # when its row was last written
    version: int = 0              # +1 at every change staff would see (views cache on it)

    @property
    def never_seen(self) -> bool:
        return self.last_seen is None


def tolerance_s(interval_s: float) -> float:
    """Jitter allowance on top of the missed intervals: half an interval, at most 2 s."""
    return min(interval_s / 2, 2.0)


def _alerts_of(kiosk_id: str, status: KioskStatus, now: float, settings: FleetSettings) -> dict[tuple[str, str], Alert]:
    found: dict[tuple[str, str], Alert] = {}
    for name, device in status.devices.items():
        if device.state == "paper_out":
            found[("paper_out", name)] = Alert(kiosk_id, "paper_out", name, now, device.reason)
        elif device.state == "fault":
            found[("device_fault", name)] = Alert(kiosk_id, "device_fault", name, now, device.reason)
    age = status.backlog.oldest_reversal_age_s
    if status.backlog.reversals and age is not None and age >= settings.reversal_alert_after_s:
        found[("reversal_stuck", "")] = Alert(kiosk_id, "reversal_stuck", "", now,
                                              f"{status.backlog.reversals}:{age}")
    # the kiosk's last settlement disagreed with the bank's journal: staff compare the
    # uploaded debits (bank_link_uploads); it stays until a later settlement balances
    if status.settlement is not None and not status.settlement.balanced:
        found[("settlement_unbalanced", "")] = Alert(kiosk_id, "settlement_unbalanced", "", now,
                                                     status.settlement.batch)
    return found


class FleetRegistry:
    def __init__(self, settings: FleetSettings, kiosk_ids: Iterable[str], clock: Clock, bus: EventBus) -> None:
        self.settings, self.clock, self.bus = settings, clock, bus
        self.records: dict[str, KioskRecord] = {
            k: KioskRecord(k, settings.default_interval_s) for k in kiosk_ids}
        self._history: list[FleetEvent] = []     # not yet written down
        self._writing: list[FleetEvent] = []     # taken by the flush under way, not yet committed
        self._changed: set[str] = set()          # shown differently since the last tick
        self._seen: set[str] = set()             # heartbeats since the last tick
        self.version = 0                         # +1 at every change staff would see

    # --- restore -------------------------------------------------------------------
    def restore(self, row: Any) -> None:
        """A fleet_kiosks row from before a restart. A kiosk online then gets a full
        deadline from now to report (its row may be up to persist_seen_s old, and
        the host was not listening meanwhile): no false offline alarms at start."""
        record = self.records.get(row.kiosk_id)
        if record is None:
            return
        record.hb_counter = int(row.hb_counter or 0)
        record.interval_s = row.interval_s or record.interval_s
        record.first_seen, record.last_seen = row.first_seen, row.last_seen
        record.online_since, record.offline_since = row.online_since, row.offline_since
        if row.status_json:
            record.status = KioskStatus.from_json(json.loads(row.status_json))
            record.alerts = _alerts_of(record.kiosk_id, record.status, record.last_seen or 0, self.settings)
        if record.last_seen is not None:
            record.last_seen_mono = self.clock.mono()
            record.online = row.offline_since is None
            if not record.online:
                alert = Alert(record.kiosk_id, "offline", "", row.offline_since)
                record.alerts[alert.key] = alert

    # --- shared mode (host.fleet.shared): the database's state, taken in ----------------
    def replace(self, record: KioskRecord) -> None:
        """A heartbeat judged and written by this worker (SharedFleet.heartbeat)."""
        old = self.records.get(record.kiosk_id)
        if old is None or record.hb_counter < old.hb_counter:     # a later one was taken in first
            return
        record.version, record.last_seen_mono = old.version, self.clock.mono()
        self.records[record.kiosk_id] = record
        self._touch(record)
        self._seen.add(record.kiosk_id)

    def reload(self, row: Any) -> bool:
        """A fleet_kiosks row another worker (or the sweep) wrote; False if this
        registry holds the same or a later state already."""
        old = self.records.get(row.kiosk_id)
        counter = int(row.hb_counter or 0)
        if old is None or counter < old.hb_counter or \
                (counter == old.hb_counter and row.offline_since == old.offline_since):
            return False
        self.records[row.kiosk_id] = KioskRecord(row.kiosk_id, self.settings.default_interval_s, version=old.version)
        self.restore(row)
        self._touch(self.records[row.kiosk_id])
        self._seen.add(row.kiosk_id)
        return True

    # --- heartbeats ----------------------------------------------------------------
    def counter_floor(self, kiosk_id: str) -> int:
        return self.records[kiosk_id].hb_counter

    def accept(self, kiosk_id: str, counter: int, status: KioskStatus, interval_s: float) -> None:
        """A verified heartbeat (MAC checked, counter above the floor)."""
        record = self.records[kiosk_id]
        now, mono = self.clock.wall(), self.clock.mono()
        away = None if record.last_seen is None else now - record.last_seen
        # silent past its deadline with nobody watching (the host was down too): it was
        # away all the same. The stored last_seen may be persist_seen_s old, hence the margin.
        unnoticed = record.online and away is not None and \
            away > self.deadline_s(record) + self.settings.persist_seen_s
        record.hb_counter = counter
        record.interval_s = interval_s
        if record.first_seen is None:
            record.first_seen = now
        if not record.online or unnoticed:
            record.online, record.online_since, record.offline_since = True, now, None
            record.changed = True
            record.away_s = away
            self._log(FleetEvent(kiosk_id, now, "online", detail="" if away is None else str(round(away))))
            self._clear(record, ("offline", ""), now)
            self._touch(record)
        previous = record.status
        if previous is not None and status.uptime_s < previous.uptime_s:   # staff's restart_app, a crash, a power cut
            self._log(FleetEvent(kiosk_id, now, "restart", detail=str(previous.uptime_s)))
        if previous is None or dataclasses.replace(previous, uptime_s=0) != dataclasses.replace(status, uptime_s=0):
            self._touch(record)
            self._history_of_change(kiosk_id, previous, status, now)
            record.changed = True
        record.status = status
        record.last_seen, record.last_seen_mono = now, mono
        record.dirty = True
        self._seen.add(kiosk_id)
        self._update_status_alerts(record, now)

    def _history_of_change(self, kiosk_id: str, old: KioskStatus | None, new: KioskStatus, now: float) -> None:
        old_devices = old.devices if old is not None else {}
        for name, device in new.devices.items():
            before = old_devices.get(name)
            # a device first heard of as ok or unknown is not news
            if before != device and not (before is None and device.state in ("ok", "unknown")):
                self._log(FleetEvent(kiosk_id, now, "device", name, device.state, device.reason))
        if new.last_error and (old is None or (old.last_error, old.last_error_at) != (new.last_error, new.last_error_at)):
            self._log(FleetEvent(kiosk_id, now, "error", state=new.last_error_at, detail=new.last_error))
        if old is not None and old.out_of_service != new.out_of_service:
            self._log(FleetEvent(kiosk_id, now, "service",
                                 state="out_of_service" if new.out_of_service else "in_service"))
        if new.app_version and (old is None or old.app_version != new.app_version):
            self._log(FleetEvent(kiosk_id, now, "version", state=new.app_version))

    def _update_status_alerts(self, record: KioskRecord, now: float) -> None:
        assert record.status is not None
        wanted = _alerts_of(record.kiosk_id, record.status, now, self.settings)
        for key in [k for k in record.alerts if k[0] != "offline" and k not in wanted]:
            self._clear(record, key, now)
        for key, alert in wanted.items():
            if key not in record.alerts:
                self._raise(record, alert)

    def _raise(self, record: KioskRecord, alert: Alert) -> None:
        record.alerts[alert.key] = alert
        self._touch(record)
        if alert.kind in _ALERTS_IN_HISTORY:
            self._log(FleetEvent(record.kiosk_id, alert.since, "alert", alert.subject, alert.kind, alert.detail))
        self.bus.publish("alert", alert)

    def _clear(self, record: KioskRecord, key: tuple[str, str], now: float) -> None:
        alert = record.alerts.pop(key, None)
        if alert is not None:
            self._touch(record)
            if alert.kind in _ALERTS_IN_HISTORY:
                self._log(FleetEvent(record.kiosk_id, now, "cleared", alert.subject, alert.kind))
            self.bus.publish("cleared", alert)

    def _touch(self, record: KioskRecord) -> None:
        record.version += 1
        self.version += 1
        self._changed.add(record.kiosk_id)

    def _log(self, event: FleetEvent) -> None:
        self._history.append(event)
        self.bus.publish("history", event)   # a kiosk's open page shows it now, not after the flush

    # --- offline detection ---------------------------------------------------------
    def deadline_s(self, record: KioskRecord) -> float:
        return self.settings.missed_heartbeats * record.interval_s + tolerance_s(record.interval_s)

    def sweep(self) -> list[str]:
        """Declare offline every kiosk whose heartbeats stopped; returns their ids."""
        mono, wall = self.clock.mono(), self.clock.wall()
        gone = []
        for record in self.records.values():
            if not record.online or record.last_seen_mono is None:
                continue
            overdue = mono - record.last_seen_mono - self.deadline_s(record)
            if overdue < 0:
                continue
            since = wall - overdue      # the moment it became overdue, even if noticed late
            record.online, record.offline_since, record.dirty, record.changed = False, since, True, True
            self._touch(record)
            self._log(FleetEvent(record.kiosk_id, since, "offline",
                                 detail=str(round(since - (record.last_seen or since)))))
            self._raise(record, Alert(record.kiosk_id, "offline", "", since))
            gone.append(record.kiosk_id)
        return gone

    # --- what the store and the live pages take ---------------------------------------
    def take_history(self) -> list[FleetEvent]:
        """The events to write down; they stay in pending_history until `written()`
        (else a page read during the flush would miss them: in neither place)."""
        history, self._history = self._history, []
        self._writing = history
        return history

    def written(self) -> None:
        self._writing = []

    def pending_history(self, kiosk_id: str) -> list[FleetEvent]:
        return [e for e in self._writing + self._history if e.kiosk_id == kiosk_id]

    def take_dirty(self, *, seen_every_s: float = 0.0) -> list[KioskRecord]:
        """Records to write down: every change, and a kiosk that merely reported
        again (new counter, last seen, uptime) once per `seen_every_s`."""
        mono = self.clock.mono()
        dirty = [r for r in self.records.values()
                 if r.dirty and (r.changed or mono - r.written_mono >= seen_every_s)]
        for record in dirty:
            record.dirty = record.changed = False
            record.written_mono = mono
        return dirty

    def take_changes(self) -> tuple[set[str], set[str]]:
        """(kiosks shown differently, kiosks heard from) since the last call."""
        changed, seen = self._changed, self._seen
        self._changed, self._seen = set(), set()
        return changed, seen

    def active_alerts(self) -> list[Alert]:
        alerts = [a for r in self.records.values() for a in r.alerts.values()]
        return sorted(alerts, key=lambda a: a.since, reverse=True)
