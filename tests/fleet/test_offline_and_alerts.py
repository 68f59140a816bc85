"""Offline detection and alerts on the registry, with a clock that moves only
when told to: offline after 3 missed heartbeats, back by itself with how long
it was away, alerts raised and cleared live and written to the history."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from tests.support.fleet import status
from common.clock import ManualClock
from host.fleet.events import EventBus
from host.fleet.model import Backlog, DeviceState, KioskStatus, parse_status
from host.fleet.registry import FleetRegistry, tolerance_s
from host.config.fleet import FleetSettings

INTERVAL = 15.0


class Recorder(EventBus):
    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[str, object]] = []

    def publish(self, kind: str, data: object = None) -> None:
        self.published.append((kind, data))

    def kinds(self) -> list[tuple[str, str]]:
        return [(k, getattr(d, "kind", "")) for k, d in self.published if k in ("alert", "cleared")]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def bus() -> Recorder:
    return Recorder()


@pytest.fixture
def registry(clock: ManualClock, bus: Recorder) -> FleetRegistry:
    return FleetRegistry(FleetSettings(reversal_alert_after_s=300), ["KIOSK-A", "KIOSK-B"], clock, bus)


def healthy(**overrides: object) -> KioskStatus:
    return parse_status(status(**overrides))


def beat(registry: FleetRegistry, kiosk: str = "KIOSK-A", counter: int = 1, **overrides: object) -> None:
    registry.accept(kiosk, counter, healthy(**overrides), INTERVAL)


def test_offline_after_three_missed_heartbeats_not_before(registry: FleetRegistry, clock: ManualClock) -> None:
    beat(registry)
    record = registry.records["KIOSK-A"]
    seen_at = record.last_seen
    clock.advance(3 * INTERVAL)                     # the third heartbeat is due now: jitter allowed
    assert registry.sweep() == [] and record.online
    clock.advance(tolerance_s(INTERVAL) + 0.01)
    assert registry.sweep() == ["KIOSK-A"]
    assert not record.online
    assert record.offline_since == pytest.approx(seen_at + 3 * INTERVAL + tolerance_s(INTERVAL))
    assert registry.sweep() == []                   # declared once


def test_each_kiosk_is_judged_by_its_own_interval(registry: FleetRegistry, clock: ManualClock) -> None:
    registry.accept("KIOSK-A", 1, healthy(), 1.0)
    registry.accept("KIOSK-B", 1, healthy(), 60.0)
    clock.advance(3.6)
    assert registry.sweep() == ["KIOSK-A"]
    clock.advance(170)                              # 173.6 s: B (3 x 60 s + 2 s) is not late yet
    assert registry.sweep() == []
    clock.advance(10)
    assert registry.sweep() == ["KIOSK-B"]


def test_noticed_late_still_dated_right(registry: FleetRegistry, clock: ManualClock) -> None:
    beat(registry)
    seen_at = registry.records["KIOSK-A"].last_seen
    clock.advance(600)                              # nobody swept for ten minutes
    registry.sweep()
    assert registry.records["KIOSK-A"].offline_since == pytest.approx(seen_at + 3 * INTERVAL + 2.0)


def test_back_online_by_itself_with_the_time_away(registry: FleetRegistry, clock: ManualClock, bus: Recorder) -> None:
    beat(registry, counter=1)
    first_seen = registry.records["KIOSK-A"].last_seen
    clock.advance(300)
    registry.sweep()
    assert ("alert", "offline") in bus.kinds()
    beat(registry, counter=2)
    record = registry.records["KIOSK-A"]
    assert record.online and record.offline_since is None
    assert record.away_s == pytest.approx(300) and record.last_seen - first_seen == pytest.approx(300)
    assert ("cleared", "offline") in bus.kinds()
    assert ("offline", "") not in record.alerts
    history = registry.take_history()
    kinds = [(e.kind, e.detail) for e in history if e.kind in ("online", "offline")]
    assert kinds == [("online", ""), ("offline", str(round(3 * INTERVAL + 2.0))), ("online", "300")]


def test_away_while_the_host_was_down_too(registry: FleetRegistry, clock: ManualClock) -> None:
    """The host restarts with a kiosk online in its stored state and hears from it
    again: soon after (its row may be a minute old), it was never away; hours
    later (the estate's power was cut), it is back after that long, not "online
    for hours"."""
    start = clock.wall()
    for kiosk, silent_s in (("KIOSK-A", 100.0), ("KIOSK-B", 9000.0)):
        registry.restore(SimpleNamespace(kiosk_id=kiosk, hb_counter=7, interval_s=INTERVAL, first_seen=start - 99999,
                                         last_seen=start - silent_s, online_since=start - 99999, offline_since=None,
                                         status_json=None))
    registry.accept("KIOSK-A", 8, healthy(), INTERVAL)
    registry.accept("KIOSK-B", 8, healthy(), INTERVAL)
    a, b = registry.records["KIOSK-A"], registry.records["KIOSK-B"]
    assert a.online_since == start - 99999 and a.away_s is None
    assert b.online and b.online_since == start and b.away_s == pytest.approx(9000)
    back = [(e.kiosk_id, e.detail) for e in registry.take_history() if e.kind == "online"]
    assert back == [("KIOSK-B", "9000")]


def test_device_alerts_raise_once_and_clear(registry: FleetRegistry, bus: Recorder) -> None:
    devices = {"card_reader": {"state": "fault", "reason": "no answer on /dev/ttyS1"},
               "pin_pad": {"state": "ok"}, "printer": {"state": "paper_out"}}
    beat(registry, counter=1, devices=devices)
    beat(registry, counter=2, devices=devices)                 # still so: no second alert
    assert bus.kinds() == [("alert", "device_fault"), ("alert", "paper_out")]
    alerts = registry.records["KIOSK-A"].alerts
    assert alerts[("device_fault", "card_reader")].detail == "no answer on /dev/ttyS1"
    beat(registry, counter=3, devices={**devices, "printer": {"state": "paper_near_end"}})
    assert bus.kinds()[-1] == ("cleared", "paper_out")          # near end is a warning, not an alert
    beat(registry, counter=4)
    assert bus.kinds()[-1] == ("cleared", "device_fault")
    assert registry.records["KIOSK-A"].alerts == {}
    history = [(e.kind, e.subject, e.state) for e in registry.take_history() if e.kind == "device"]
    assert ("device", "card_reader", "fault") in history and ("device", "card_reader", "ok") in history
    assert ("device", "printer", "paper_near_end") in history


def test_a_device_first_reported_ok_or_unknown_is_not_news(registry: FleetRegistry, bus: Recorder) -> None:
    beat(registry, counter=1, devices={"card_reader": {"state": "unknown"}, "pin_pad": {"state": "ok"}})
    assert [e for e in registry.take_history() if e.kind == "device"] == []
    beat(registry, counter=2, devices={"card_reader": {"state": "ok"}, "pin_pad": {"state": "ok"}})
    history = [(e.subject, e.state) for e in registry.take_history() if e.kind == "device"]
    assert history == [("card_reader", "ok")] and bus.kinds() == []   # a change after that is recorded


def test_a_reversal_that_does_not_drain_raises_an_alert(registry: FleetRegistry, bus: Recorder) -> None:
    young = {"reversals": 1, "backups": 2, "oldest_reversal_age_s": 40}
    beat(registry, counter=1, backlog=young)
    assert bus.kinds() == []                                    # pending for 40 s: settling is working on it
    beat(registry, counter=2, backlog={**young, "oldest_reversal_age_s": 301})
    assert bus.kinds() == [("alert", "reversal_stuck")]
    beat(registry, counter=3, backlog={"reversals": 0, "backups": 0, "oldest_reversal_age_s": None})
    assert bus.kinds()[-1] == ("cleared", "reversal_stuck")
    history = [(e.kind, e.state) for e in registry.take_history() if e.kind in ("alert", "cleared")]
    assert history == [("alert", "reversal_stuck"), ("cleared", "reversal_stuck")]


def test_only_visible_changes_count_as_changes(registry: FleetRegistry) -> None:
    beat(registry, counter=1, uptime_s=10)
    assert registry.take_changes() == ({"KIOSK-A"}, {"KIOSK-A"})
    beat(registry, counter=2, uptime_s=25)                      # only the uptime moved
    assert registry.take_changes() == (set(), {"KIOSK-A"})
    beat(registry, counter=3, uptime_s=40, screen="bill")
    assert registry.take_changes() == ({"KIOSK-A"}, {"KIOSK-A"})


def test_history_records_errors_service_and_versions(registry: FleetRegistry) -> None:
    beat(registry, counter=1, app_version="0.1.0")
    beat(registry, counter=2, app_version="0.2.0", out_of_service=True,
         last_error={"at": "2026-11-21T10:00:00", "message": "printer: paper out"})
    events = [(e.kind, e.state, e.detail) for e in registry.take_history()]
    assert ("version", "0.2.0", "") in events and ("service", "out_of_service", "") in events
    assert ("error", "2026-11-21T10:00:00", "printer: paper out") in events


def test_a_restart_is_in_the_history(registry: FleetRegistry) -> None:
    beat(registry, counter=1, uptime_s=3600)
    beat(registry, counter=2, uptime_s=3615)
    beat(registry, counter=3, uptime_s=4)                       # nothing else changed
    assert [(e.kind, e.detail) for e in registry.take_history() if e.kind == "restart"] == [("restart", "3615")]


def test_status_round_trips_through_its_stored_form() -> None:
    original = dataclasses.replace(healthy(), devices={"printer": DeviceState("fault", "no answer")},
                                   backlog=Backlog(1, 2, 33))
    assert KioskStatus.from_json(original.to_json()) == original
