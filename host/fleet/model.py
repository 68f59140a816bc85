"""What a heartbeat says, validated into typed values. A kiosk is trusted to be
itself (its MAC verified), not to send well-formed data: every field is checked
and bounded before it reaches the console."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from host.api_spec import JSON, Operation, array, enum, integer, nullable, obj, text
from host.bank.card_guard import pan_in_text, withheld

DEVICE_STATES = ("ok", "fault", "paper_near_end", "paper_out", "unknown")
COMMANDS = ("out_of_service", "in_service", "reload_config", "upload_journal", "print_test", "restart_app",
            "settle_now")
ACK_STATUSES = ("done", "failed", "unsupported")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
_SCREEN = re.compile(r"^[A-Za-z0-9_.-]{0,40}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_BATCH = re.compile(r"^\d{6}$", re.ASCII)
_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$", re.ASCII)
SETTLE_TRIGGERS = ("schedule", "console")
MAX_DEVICES = 12
# what no database here stores as text: NUL (PostgreSQL refuses it; SQLite would keep
# it) and a lone UTF-16 surrogate (JSON's "\ud800" decodes to one -- a kiosk's OSError
# about an undecodable file name carries them -- and neither driver can encode it).
# A free text is kept, so they become U+FFFD: the same stored text on both backends,
# never a 500 on an acknowledgement nor a flush that fails on every pass.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
MAX_ACKS = 50


_COUNT = integer(0, 2 ** 53 - 1)


def _opt_text(max_len: int) -> JSON:
    return nullable(text(max_len, min_len=0))


# What parse_status, parse_interval and parse_acks below take, as the API's schema (host.api_spec).
STATUS_SCHEMA = obj({}, {
    "app_version": _opt_text(32), "uptime_s": _COUNT, "screen": nullable(text(40, pattern=_SCREEN.pattern, min_len=0)),
    "out_of_service": {"type": "boolean"}, "in_transaction": {"type": "boolean"},
    "devices": nullable({"type": "object", "maxProperties": MAX_DEVICES,
                         "propertyNames": {"pattern": _NAME.pattern},
                         "additionalProperties": obj({"state": enum(*DEVICE_STATES)}, {"reason": _opt_text(200)})}),
    "today": nullable(obj({}, {"day": _opt_text(10), **{k: _COUNT for k in (
        "count", "approved_count", "approved_fen", "declined_count", "reversed_count", "reversed_fen")}})),
    "backlog": nullable(obj({}, {"reversals": _COUNT, "backups": _COUNT, "oldest_reversal_age_s": nullable(_COUNT)})),
    "last_error": nullable(obj({}, {"message": _opt_text(300), "at": _opt_text(32)})),
    # the kiosk's last bank settlement (docs/bank-link.md "Settlement")
    "settlement": nullable(obj({"batch": text(6, pattern=_BATCH.pattern), "balanced": {"type": "boolean"},
                                "at": text(19, pattern=_AT.pattern)},
                               {"trigger": enum(*SETTLE_TRIGGERS), **{k: _COUNT for k in (
                                   "debit_fen", "debit_count", "credit_fen", "credit_count", "uploaded")}}))})
HEARTBEAT = Operation(
    "A kiosk's heartbeat: its status in, the commands staff queued for it out",
    request=obj({"type": enum("heartbeat")}, {"status": nullable(STATUS_SCHEMA),
        "key_version": integer(), "interval_s": {"type": "number", "minimum": 0.1, "maximum": 3600},
        "acks": nullable(array(obj({"id": _COUNT, "status": enum(*ACK_STATUSES)}, {"result": _opt_text(300)}),
                               MAX_ACKS))}),
    reply=obj({"acked": array(_COUNT, MAX_ACKS),
               "commands": array(obj({"id": integer(), "token": {"type": "string"}, "name": enum(*COMMANDS),
                                      "args": {"type": "object"}}), 2 ** 31)}),
    description="Checked as a bank message (envelope, MAC, counter: see info) against the fleet's own "
                "counter floor; then the status (docs/console.md, \"The heartbeat\").")


class BadHeartbeat(ValueError):
    """400 bad_request: the MAC verified but the report is malformed."""


@dataclass(frozen=True, slots=True)
class DeviceState:
    state: str
    reason: str = ""

    @property
    def faulty(self) -> bool:
        return self.state == "fault"


@dataclass(frozen=True, slots=True)
class DayFigures:
    day: str = ""
    count: int = 0               # payments attempted (approved + declined + reversed)
    approved_count: int = 0
    approved_fen: int = 0        # takings
    declined_count: int = 0
    reversed_count: int = 0
    reversed_fen: int = 0


@dataclass(frozen=True, slots=True)
class Backlog:
    reversals: int = 0
    backups: int = 0
    oldest_reversal_age_s: int | None = None


@dataclass(frozen=True, slots=True)
class Settlement:
    """The kiosk's last bank settlement as it reported it (the 0510's verdict)."""
    batch: str
    balanced: bool
    at: str                      # the kiosk's clock, ISO
    debit_fen: int = 0
    debit_count: int = 0
    credit_fen: int = 0
    credit_count: int = 0
    uploaded: int = 0
    trigger: str = "schedule"

    def to_json(self) -> dict[str, Any]:
        return {"batch": self.batch, "balanced": self.balanced, "at": self.at, "debit_fen": self.debit_fen,
                "debit_count": self.debit_count, "credit_fen": self.credit_fen,
                "credit_count": self.credit_count, "uploaded": self.uploaded, "trigger": self.trigger}


@dataclass(frozen=True, slots=True)
class KioskStatus:
    app_version: str = ""
    uptime_s: int = 0
    screen: str = ""
    out_of_service: bool = False
    in_transaction: bool = False
    devices: dict[str, DeviceState] = field(default_factory=dict)
    today: DayFigures = field(default_factory=DayFigures)
    backlog: Backlog = field(default_factory=Backlog)
    last_error: str = ""
    last_error_at: str = ""
    settlement: Settlement | None = None

    def to_json(self) -> dict[str, Any]:
        """The stored form. Written out by hand: dataclasses.asdict is ~10x slower,
        and the periodic flush serialises every kiosk that reported."""
        t, b = self.today, self.backlog
        return {"app_version": self.app_version, "uptime_s": self.uptime_s, "screen": self.screen,
                "out_of_service": self.out_of_service, "in_transaction": self.in_transaction,
                "devices": {name: {"state": d.state, "reason": d.reason} for name, d in self.devices.items()},
                "today": {"day": t.day, "count": t.count, "approved_count": t.approved_count,
                          "approved_fen": t.approved_fen, "declined_count": t.declined_count,
                          "reversed_count": t.reversed_count, "reversed_fen": t.reversed_fen},
                "backlog": {"reversals": b.reversals, "backups": b.backups,
                            "oldest_reversal_age_s": b.oldest_reversal_age_s},
                "last_error": self.last_error, "last_error_at": self.last_error_at,
                "settlement": None if self.settlement is None else self.settlement.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KioskStatus:
        """The stored form (to_json) back; trusted, it was validated when received."""
        return cls(**{**data, "devices": {k: DeviceState(**v) for k, v in data.get("devices", {}).items()},
                      "today": DayFigures(**data.get("today", {})), "backlog": Backlog(**data.get("backlog", {})),
                      "settlement": Settlement(**data["settlement"]) if data.get("settlement") else None})


@dataclass(frozen=True, slots=True)
class Ack:
    command_id: int
    status: str
    result: str


def _text(value: Any, name: str, max_len: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_len:
        raise BadHeartbeat(f"{name} must be a string of at most {max_len} characters")
    return _UNSTORABLE.sub("\ufffd", value)


@overload
def _int(value: Any, name: str, *, optional: Literal[False] = False) -> int: ...
@overload
def _int(value: Any, name: str, *, optional: bool) -> int | None: ...


def _int(value: Any, name: str, *, optional: bool = False) -> int | None:
    """A non-negative integer; None too if `optional`."""
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2 ** 53:
        raise BadHeartbeat(f"{name} must be a non-negative integer")
    return value


def _object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadHeartbeat(f"{name} must be an object")
    return value


def _no_card_number(texts: list[str], what: str) -> None:
    """Free text is kept (history, the console): none may hold a full card number
    (host.bank.card_guard, each field alone: a report's texts are full of unrelated
    numbers, addresses and ports, so they are not joined across fields)."""
    if any(pan_in_text(text) for text in texts):
        raise BadHeartbeat(f"{what} holds what looks like a full card number; send no card number")


def parse_status(raw: Any) -> KioskStatus:
    data = _object(raw, "status")
    devices: dict[str, DeviceState] = {}
    raw_devices = _object(data.get("devices"), "status.devices")
    if len(raw_devices) > MAX_DEVICES:
        raise BadHeartbeat(f"at most {MAX_DEVICES} devices")
    for name, value in raw_devices.items():
        if not _NAME.match(name):
            raise BadHeartbeat(f"device name {name!r} must be lower-case letters, digits and _")
        entry = _object(value, f"status.devices.{name}")
        state = entry.get("state")
        if state not in DEVICE_STATES:
            raise BadHeartbeat(f"status.devices.{name}.state must be one of {', '.join(DEVICE_STATES)}")
        devices[name] = DeviceState(state, withheld(_text(entry.get("reason"), f"status.devices.{name}.reason", 200),
                                                   split_too=False))
    today = _object(data.get("today"), "status.today")
    day = _text(today.get("day"), "status.today.day", 10)
    if day and not _DAY.match(day):
        raise BadHeartbeat("status.today.day must be YYYY-MM-DD")
    figures = DayFigures(day, *(_int(today.get(k, 0), f"status.today.{k}") for k in
                                ("count", "approved_count", "approved_fen", "declined_count",
                                 "reversed_count", "reversed_fen")))
    backlog_raw = _object(data.get("backlog"), "status.backlog")
    backlog = Backlog(_int(backlog_raw.get("reversals", 0), "status.backlog.reversals"),
                      _int(backlog_raw.get("backups", 0), "status.backlog.backups"),
                      _int(backlog_raw.get("oldest_reversal_age_s"), "status.backlog.oldest_reversal_age_s",
                           optional=True))
    error = _object(data.get("last_error"), "status.last_error")
    screen = _text(data.get("screen"), "status.screen", 40)
    if not _SCREEN.match(screen):
        raise BadHeartbeat("status.screen must be a screen name")
    for flag in ("out_of_service", "in_transaction"):
        if not isinstance(data.get(flag, False), bool):
            raise BadHeartbeat(f"status.{flag} must be true or false")
    status = KioskStatus(
        app_version=_text(data.get("app_version"), "status.app_version", 32),
        uptime_s=_int(data.get("uptime_s", 0), "status.uptime_s"),
        screen=screen, out_of_service=bool(data.get("out_of_service", False)),
        in_transaction=bool(data.get("in_transaction", False)), devices=devices, today=figures, backlog=backlog,
        last_error=withheld(_text(error.get("message"), "status.last_error.message", 300), split_too=False),
        last_error_at=_text(error.get("at"), "status.last_error.at", 32),
        settlement=parse_settlement(data.get("settlement")))
    # free texts (errors, device reasons, results) are withheld rather than refused: a
    # refused heartbeat would show the kiosk offline; the rest is never free text
    _no_card_number([status.app_version, status.screen, status.last_error_at, *devices], "status")
    return status


def parse_settlement(raw: Any) -> Settlement | None:
    if raw is None:
        return None
    data = _object(raw, "status.settlement")
    batch, at = data.get("batch"), data.get("at")
    if not isinstance(batch, str) or not _BATCH.match(batch):
        raise BadHeartbeat("status.settlement.batch must be 6 digits")
    if not isinstance(at, str) or not _AT.match(at):
        raise BadHeartbeat("status.settlement.at must be an ISO time (YYYY-MM-DDTHH:MM[:SS])")
    if not isinstance(data.get("balanced"), bool):
        raise BadHeartbeat("status.settlement.balanced must be true or false")
    trigger = data.get("trigger", "schedule")
    if trigger not in SETTLE_TRIGGERS:
        raise BadHeartbeat(f"status.settlement.trigger must be one of {', '.join(SETTLE_TRIGGERS)}")
    counts = {k: _int(data.get(k, 0), f"status.settlement.{k}")
              for k in ("debit_fen", "debit_count", "credit_fen", "credit_count", "uploaded")}
    return Settlement(batch, data["balanced"], at, trigger=trigger, **counts)


def parse_acks(raw: Any) -> list[Ack]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_ACKS:
        raise BadHeartbeat(f"acks must be a list of at most {MAX_ACKS}")
    acks = []
    for i, item in enumerate(raw):
        entry = _object(item, f"acks[{i}]")
        status = entry.get("status")
        if status not in ACK_STATUSES:
            raise BadHeartbeat(f"acks[{i}].status must be one of {', '.join(ACK_STATUSES)}")
        acks.append(Ack(_int(entry.get("id"), f"acks[{i}].id"), status,
                        withheld(_text(entry.get("result"), f"acks[{i}].result", 300), split_too=False)))
    return acks


def parse_interval(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0.1 <= raw <= 3600:
        raise BadHeartbeat("interval_s must be a number of seconds, 0.1..3600")
    return float(raw)
