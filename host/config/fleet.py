"""[fleet] in the host config: how heartbeats are judged and how often the
in-memory fleet state is written down."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from common.settings import Section


@dataclass(frozen=True, slots=True)
class FleetSettings:
    default_interval_s: float = 15.0      # assumed until a kiosk announces its own interval
    missed_heartbeats: int = 3            # offline after this many intervals without a heartbeat
    flush_interval_s: float = 2.0         # fleet state and history written to the database this often
    persist_seen_s: float = 60.0          # a kiosk that only reported again (nothing changed): written this often
    sweep_interval_s: float = 0.5         # offline detection and the console's live tick
    command_expiry_s: float = 3600.0      # a command no kiosk picked up in this long expires
    reversal_alert_after_s: float = 300.0  # a reversal pending longer than this raises an alert


def _positive(limit: float) -> Callable[[float], str | None]:
    def check(value: float) -> str | None:
        return None if 0 < value <= limit else f"must be greater than 0 and at most {limit:g}"
    return check


def load_fleet_settings(section: Section) -> FleetSettings:
    settings = FleetSettings(
        default_interval_s=section.get("default_interval_s", float, 15.0, check=_positive(3600)),
        missed_heartbeats=section.get("missed_heartbeats", int, 3,
                                      check=lambda v: None if 1 <= v <= 100 else "must be 1..100"),
        flush_interval_s=section.get("flush_interval_s", float, 2.0, check=_positive(300)),
        persist_seen_s=section.get("persist_seen_s", float, 60.0, check=_positive(3600)),
        sweep_interval_s=section.get("sweep_interval_s", float, 0.5, check=_positive(60)),
        command_expiry_s=section.get("command_expiry_s", float, 3600.0, check=_positive(30 * 86400)),
        reversal_alert_after_s=section.get("reversal_alert_after_s", float, 300.0, check=_positive(86400)),
    )
    section.reject_unknown()
    return settings
