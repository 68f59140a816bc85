"""How the composition root wires the fleet into the kiosk: the commands it
offers, reload_config applying what can change while running, restart_app
handing over to the runner, and the demo keeping its host across a restart."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kiosk.backend_client.fleet import CommandOrder
from kiosk.bootstrap import build
from kiosk.config import DEMO_KIOSK_CONFIG, load_kiosk_settings
from common.settings import ConfigError
from kiosk.services.fleet.commands import CommandOutcome


def config_file(tmp_path: Path, **replace: str) -> Path:
    """The demo kiosk config with its journal in tmp_path; `replace` edits lines."""
    text = DEMO_KIOSK_CONFIG.read_text(encoding="utf-8")
    text = text.replace('path = "var/demo/journal.sqlite3"', f'path = "{tmp_path / "journal.sqlite3"}"')
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
async def kiosk(tmp_path: Path) -> Any:
    settings = load_kiosk_settings(config_file(tmp_path))
    kiosk = build(settings, with_wallet=False)     # payments on simulated devices; nothing started
    yield kiosk
    await kiosk.aclose()


async def test_the_kiosk_offers_every_console_command(kiosk: Any) -> None:
    assert kiosk.fleet is not None
    assert set(kiosk.fleet._handlers) == {"out_of_service", "in_service", "upload_journal", "print_test",
                                          "reload_config", "restart_app", "settle_now"}
    assert kiosk.fleet.interval_s == 5                                 # the demo config's [fleet]
    assert type(kiosk.payments.printer).__name__ == "WatchedPrinter"   # device faults reach the board


async def test_reload_config_applies_what_can_change_and_names_what_needs_a_restart(
        tmp_path: Path, kiosk: Any) -> None:
    seen: list[Any] = []
    kiosk.settings_listeners.append(seen.append)
    path = Path(kiosk.settings.source)
    text = path.read_text(encoding="utf-8")
    text = text.replace("idle_timeout_s = 60", "idle_timeout_s = 90")
    text = text.replace('"物业服务中心电话 400-800-1234 / Property office: 400-800-1234",',
                        '"停水通知：12月1日 9:00-12:00 / Water off on 1 Dec, 9:00-12:00",')
    text = text.replace("heartbeat_interval_s = 5", "heartbeat_interval_s = 20")
    text = text.replace('url = "http://127.0.0.1:8700"', 'url = "http://127.0.0.1:8799"')
    path.write_text(text, encoding="utf-8")

    result = await kiosk.fleet._handlers["reload_config"]({})

    assert result == "applied: idle_timeout_s, notices, fleet; needs a restart: host"
    assert kiosk.settings.idle_timeout_s == 90 and "停水通知" in kiosk.settings.notices[1]
    assert kiosk.fleet.interval_s == 20
    assert kiosk.settings.host.url == "http://127.0.0.1:8700"          # not while running
    assert seen == [kiosk.settings]
    assert await kiosk.fleet._handlers["reload_config"]({}) == "nothing new to apply; needs a restart: host"


async def test_a_bad_configuration_file_changes_nothing_and_says_why(kiosk: Any) -> None:
    before = kiosk.settings
    path = Path(kiosk.settings.source)
    path.write_text(path.read_text(encoding="utf-8").replace("idle_timeout_s = 60", "idle_timeout_s = -1"),
                    encoding="utf-8")
    ack = await kiosk.fleet.run_command(CommandOrder(7, "t7", "reload_config", {}))
    assert ack["status"] == "failed" and "idle_timeout_s" in ack["result"]
    assert kiosk.settings is before
    with pytest.raises(ConfigError):
        kiosk.reload_settings()


async def test_restart_app_is_handed_to_the_ui_after_the_result_is_kept(kiosk: Any) -> None:
    ack = await kiosk.fleet.run_command(CommandOrder(8, "t8", "restart_app", {}))
    assert ack["status"] == "failed" and "without a UI" in ack["result"]   # no app to restart

    order: list[str] = []
    kiosk.on_restart = lambda: order.append("restart")
    handler_result = await kiosk.fleet._handlers["restart_app"]({})
    assert isinstance(handler_result, CommandOutcome) and handler_result.result == "restarting"

    state = Path(kiosk.settings.journal_path).parent / "fleet-state.json"
    kiosk.on_restart = lambda: order.append("restart" if '"restarting"' in state.read_text() else "too early")
    ack = await kiosk.fleet.run_command(CommandOrder(9, "t9", "restart_app", {}))
    assert ack == {"id": 9, "status": "done", "result": "restarting"} and order == ["restart"]
    assert kiosk.fleet.pending_results[-1] == ack                        # reported by the restarted app


def test_the_demo_keeps_its_host_across_a_restart(tmp_path: Path) -> None:
    from kiosk.demo.host import HANDOVER_ENV, DemoHost

    child = subprocess.Popen(["sleep", "60"])          # stands in for the host process
    host = DemoHost("sqlite:///x.db", 8123, tmp_path / "host.log")
    host._proc = child
    try:
        host.hand_over()
        assert os.environ[HANDOVER_ENV] == f"{child.pid}:8123"
        assert not host.host_running                    # this object no longer owns it

        adopted = DemoHost.adopt("sqlite:///x.db", tmp_path / "host.log")
        assert adopted is not None and adopted.port == 8123 and adopted.host_running
        assert HANDOVER_ENV not in os.environ           # taken once
        adopted.stop()
        assert not adopted.host_running and child.poll() is not None
        os.environ[HANDOVER_ENV] = f"{child.pid}:8123"  # a host that has gone meanwhile is not adopted
        assert DemoHost.adopt("sqlite:///x.db", tmp_path / "host.log") is None
    finally:
        os.environ.pop(HANDOVER_ENV, None)
        if child.poll() is None:
            child.kill()
            child.wait()
