"""UI test fixtures: a private Xvfb display, the real reference host on
loopback, and the real KioskApp built by kiosk.bootstrap, run under asyncio
and driven by simulated touch.

Modelled on kivy.tests.fixtures.kivy_app: each test gets a fresh Clock,
Factory and Builder context, so apps do not leak state into each other.
Nothing opens Kivy's window at import (the display must exist first): the
tour's helpers that test modules import load Kivy's modules, but the window
and the app are made here, in the fixture.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk import ui_env  # noqa: F401  (Kivy environment, before any kivy import)
from kiosk.config import HostSettings as KioskHostSettings
from kiosk.config import KioskSettings
from kiosk.xvfb import Xvfb

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "ui"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kiosk_settings(**fields): KioskSettings overrides for the kiosk_app fixture "
                            "(host_timeout_s= for the host client's timeout)")
    config.addinivalue_line("markers", "kiosk_payments: card payment on (demo TMK, KIOSK-DEMO-01, a tmp journal, "
                            "sim devices) against a freshly seeded host of its own, behind a FaultyLink")
    config.addinivalue_line("markers", "kiosk_wallet: kiosk_payments plus the IC wallet (卡务): the demo [wallet] "
                            "settings, virtual CPU cards in vpcd slots of the session's private pcscd")


def _fresh_host(request: pytest.FixtureRequest) -> bool:
    return any(request.node.get_closest_marker(m) is not None for m in ("kiosk_payments", "kiosk_wallet"))


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    server = None
    if not os.environ.get("DISPLAY"):
        server = Xvfb(2400, 2000)   # room for 1920x1080 plus the bench, and portrait 1080x1920
        os.environ["DISPLAY"] = server.start()
    yield os.environ["DISPLAY"]
    if server is not None:
        server.stop()


class ServerControls:
    """BenchControls over the in-process reference host (what `kiosk demo` wires);
    with a FaultyLink in front of the host, the network switch too."""

    def __init__(self, server: Any, link: Any = None) -> None:
        self.server = server
        self.link = link
        self.console_url = f"{server.url}/console/"   # the bench's staff console button
        if link is not None:   # only then does the runner offer the network switch
            self.set_network_mode = self._set_network_mode

    @property
    def host_running(self) -> bool:
        return bool(self.server.running)

    async def set_host_running(self, running: bool) -> None:
        await asyncio.to_thread(self.server.start if running else self.server.stop)

    @property
    def network_mode(self) -> Any:
        from kiosk.devices.sim.network import LinkMode

        return self.link.mode if self.link is not None else LinkMode.UP

    async def _set_network_mode(self, mode: Any) -> None:
        await asyncio.to_thread(self.link.set_mode, mode)


@pytest.fixture
def ui_host(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The session's reference host, or (kiosk_payments) a fresh one: a payment
    changes the estate, and a fresh journal restarts the kiosk's message counter."""
    if not _fresh_host(request):
        yield request.getfixturevalue("reference_host")
        return
    server = request.getfixturevalue("start_host")(tmp_path)
    try:
        yield server
    finally:
        server.bank.stop()
        if server.running:
            server.stop()
        server.engine.dispose()


def host_timeout(overrides: dict[str, Any]) -> float:
    return float(overrides.get("host_timeout_s", 3.0))


def kiosk_settings(host_url: str, *, host_timeout_s: float = 3.0, **overrides: Any) -> KioskSettings:
    base = KioskSettings(
        kiosk_id="KIOSK-DEMO-01",     # the host's fleet knows it (config/host.demo.toml)
        estate_name="翠湖花园",
        language="zh",
        idle_timeout_s=60,
        notices=("本机支持水费、电费、燃气费、物业费缴纳 / Water, electricity, gas and property fees",
                 "物业服务中心电话 400-800-1234 / Property office: 400-800-1234"),
        host=KioskHostSettings(url=host_url, timeout_s=host_timeout_s),
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
async def kiosk_app(display: str, ui_host: Any, request: pytest.FixtureRequest,
                    tmp_path: Path) -> AsyncIterator[Any]:
    reference_host = ui_host
    marker = request.node.get_closest_marker("kiosk_settings")
    overrides = dict(marker.kwargs if marker else {})
    link = None
    pcscd = None
    host_url = reference_host.url
    from kiosk.config import load_kiosk_settings

    demo = load_kiosk_settings()
    # every kiosk signs its bill look-ups: the demo kiosk's id and keys; on the
    # session's shared host, the session's one journal (its counter only rises)
    # the bank link to this host's front-end (the demo's [bank], on the test's port)
    assert demo.bank is not None
    bank = dataclasses.replace(demo.bank, port=reference_host.bank_port, reply_timeout_s=host_timeout(overrides))
    overrides = {"kiosk_id": demo.kiosk_id, "tmk": demo.tmk, "bank": bank,
                 "journal_path": str(request.getfixturevalue("demo_kiosk_journal")), **overrides}
    if _fresh_host(request):

        from tests.support.payments import Links

        link = Links(reference_host.port, reference_host.bank_port)   # the network switch breaks both
        host_url = link.url
        overrides["bank"] = dataclasses.replace(overrides["bank"], port=link.bank_port)
        wallet = {}
        if request.node.get_closest_marker("kiosk_wallet") is not None:
            pcscd = request.getfixturevalue("pcscd")      # one per session: pcsc-lite binds its socket once
            wallet = {"wallet": demo.wallet}
        overrides = {**overrides, "journal_path": str(tmp_path / "kiosk" / "journal.sqlite3"), **wallet}
    settings = kiosk_settings(host_url, **overrides)
    if not reference_host.running:
        reference_host.start()

    os.environ["KIVY_USE_DEFAULTCONFIG"] = "1"
    from kivy.config import Config

    for name, _value in Config.items("input"):
        Config.remove_option("input", name)   # no real mouse under Xvfb: touches are posted

    from kivy.base import stopTouchApp
    from kivy.clock import ClockBase
    from kivy.context import Context
    from kivy.core.window import Window
    from kivy.factory import Factory, FactoryBase
    from kivy.lang.builder import Builder, BuilderBase

    from kiosk.bootstrap import build
    from kiosk.screens.app import CARD_SCREENS, KioskApp, screen_class
    from kiosk.demo.bench.panel import bench_panel
    from kiosk.demo.tour.screens import wait_started

    for name in CARD_SCREENS:   # the app imports them lazily: register their widgets in Kivy's base Factory
        screen_class(name)

    context = Context(init=False)
    context["Clock"] = ClockBase(async_lib="asyncio")
    context["Factory"] = FactoryBase.create_from(Factory)
    context["Builder"] = BuilderBase.create_from(Builder)
    context.push()
    Window.create_window()
    Window.register()
    Window.initialized = True
    Window.canvas.clear()

    kiosk = build(settings, pcscd=pcscd, with_payments=_fresh_host(request))   # else the bill look-up alone
    if kiosk.settler is not None:
        kiosk.settler._first_backoff_s = 0.05   # tests wait on settling, not on back-off
    app = KioskApp(kiosk, side_panel=bench_panel(ServerControls(reference_host, link), kiosk))
    run = asyncio.get_running_loop().create_task(app.async_run(async_lib="asyncio"))
    from kivy.clock import Clock

    Clock._max_fps = 0   # draw as fast as possible: tests wait on frames
    try:
        await wait_started(app)
        yield app
    finally:
        stopTouchApp()
        end = time.monotonic() + 10
        while not run.done() and time.monotonic() < end:
            await asyncio.sleep(0.05)
        for child in Window.children[:]:
            Window.remove_widget(child)
        context.pop()
        await kiosk.aclose()
        if link is not None:
            link.close()
        if not reference_host.running:
            reference_host.start()
        if run.done() and run.exception() is not None:
            raise run.exception()  # type: ignore[misc]


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
