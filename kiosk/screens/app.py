"""KioskApp: the touch UI. Runs Kivy under asyncio so httpx shares the loop:

    kiosk = build(settings)            # kiosk.bootstrap, called by the runner
    app = KioskApp(kiosk, side_panel=None_or_a_widget_factory)
    await app.async_run(async_lib="asyncio")
    await kiosk.aclose()

The app never imports the composition root nor the demo: the runner hands it
the kiosk's services, and the demo a side panel (its device bench).
"""
from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from kiosk import ui_env  # noqa: F401  (sets Kivy's environment before Kivy loads)

import ctypes.util

from kivy.app import App
from kivy.clock import Clock
from kivy.config import Config
from kivy.core.window import Window
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager
from kivy.uix.widget import Widget

from kiosk.i18n import LANGUAGES, other_language, tr
from kiosk.screens.bankcard import BankcardChooseScreen, BankcardProcessingScreen, BankcardResultScreen
from kiosk.screens.bill import BillScreen
from kiosk.screens.entry import EntryScreen
from kiosk.screens.flows import Flows
from kiosk.screens.idle import IdleScreen
from kiosk.screens.message import MessageScreen
from kiosk.screens.meter import (MeterAmountScreen, MeterInsertScreen, MeterPayScreen, MeterProcessingScreen,
                                 MeterResultScreen, MeterScreen)
from kiosk.screens.navigation import NO_COUNTDOWN
from kiosk.screens.out_of_service import OutOfServiceScreen
from kiosk.screens.pin import PinScreen
from kiosk.screens.processing import ProcessingScreen
from kiosk.screens.result import ResultScreen
from kiosk.screens.swipe import SwipeScreen
from kiosk.screens.theme import P, kv_files, load_kv, register_font
from kiosk.screens.timer import IdleTimer

if TYPE_CHECKING:
    from kiosk.config import KioskSettings
    from kiosk.services.bank_card_services import BankCardServices
    from kiosk.services.bills import BillService
    from kiosk.services.fleet.service import FleetService
    from kiosk.services.onecard import OneCardService
    from kiosk.services.meter import MeterService
    from kiosk.services.transfer import TransferService
    from kiosk.services.payment import PaymentService
    from kiosk.services.wallet import WalletService

log = logging.getLogger(__name__)

if ctypes.util.find_library("mtdev") is None and Config.has_option("input", "%(name)s"):
    # Kivy's Linux default probes /dev/input for multitouch devices through
    # libmtdev; without the library that only logs an error (touchscreens
    # still arrive through SDL as the mouse).
    Config.remove_option("input", "%(name)s")

ESCAPE = 27
BACKSPACE = 8
ENTER_KEYS = (13, 271)


class KioskCore(Protocol):
    """What the app needs of the kiosk that kiosk.bootstrap.build assembles."""

    settings: KioskSettings
    on_restart: Callable[[], None] | None          # staff's restart_app, at a safe point
    settings_listeners: list[Callable[[KioskSettings], None]]   # staff's reload_config

    @property
    def bills(self) -> BillService: ...
    @property
    def payments(self) -> PaymentService | None: ...
    @property
    def wallet(self) -> WalletService | None: ...
    @property
    def fleet(self) -> FleetService | None: ...
    @property
    def bank_cards(self) -> BankCardServices | None: ...
    @property
    def onecard(self) -> OneCardService | None: ...
    @property
    def meters(self) -> MeterService | None: ...
    @property
    def transfers(self) -> TransferService | None: ...

    async def start(self) -> None: ...
    def warm_up(self) -> None: ...


class KioskArea(FloatLayout):
    """The resident's screen; the side panel (if any) sits to its right."""

    def on_touch_down(self, touch: Any) -> bool:
        if self.collide_point(*touch.pos):
            App.get_running_app().timer.poke()
        return super().on_touch_down(touch)


SCREENS = {"idle": IdleScreen, "entry": EntryScreen, "bill": BillScreen, "message": MessageScreen,
           "swipe": SwipeScreen, "pin": PinScreen, "processing": ProcessingScreen, "result": ResultScreen,
           "out_of_service": OutOfServiceScreen,
           # 银行卡服务 bank card services (offered with the bank link; built always: light)
           "bankcard_choose": BankcardChooseScreen, "bankcard_processing": BankcardProcessingScreen,
           "bankcard_result": BankcardResultScreen,
           # 购电 / 购水 / 购气 prepaid meters (offered with the meter service; built always: light)
           "meter_insert": MeterInsertScreen, "meter": MeterScreen, "meter_amount": MeterAmountScreen,
           "meter_pay": MeterPayScreen, "meter_processing": MeterProcessingScreen, "meter_result": MeterResultScreen}
# 卡务 card services: only with the IC wallet (their modules load the card code)
CARD_SCREENS = {
    "card_insert": "kiosk.screens.card_insert:CardInsertScreen",
    "card": "kiosk.screens.card:CardScreen",
    "card_amount": "kiosk.screens.card_amount:CardAmountScreen",
    "card_pin": "kiosk.screens.card_pin:CardPinScreen",
    "card_wallet": "kiosk.screens.card_wallet:CardWalletScreen",
    "card_processing": "kiosk.screens.card_processing:CardProcessingScreen",
    "card_result": "kiosk.screens.card_result:CardResultScreen",
    "card_tear": "kiosk.screens.card_tear:CardTearScreen",
    # the estate one-card (docs/onecard.md "The screens")
    "onecard": "kiosk.screens.card_services.onecard_screens:OneCardScreen",
    "onecard_amount": "kiosk.screens.card_services.onecard_screens:OneCardAmountScreen",
    "onecard_bill": "kiosk.screens.card_services.onecard_screens:OneCardBillScreen",
    "onecard_result": "kiosk.screens.card_services.onecard_screens:OneCardResultScreen",
    "onecard_refused": "kiosk.screens.card_services.onecard_screens:OneCardRefusedScreen",
    # 转账 transfers between two IC cards (docs/cards.md §7)
    **{name: f"kiosk.screens.card_services.transfer_screens:{cls}" for name, cls in (
        ("transfer", "TransferScreen"), ("transfer_amount", "TransferAmountScreen"),
        ("transfer_confirm", "TransferConfirmScreen"), ("transfer_processing", "TransferProcessingScreen"),
        ("transfer_result", "TransferResultScreen"), ("transfer_tear", "TransferTearScreen"))},
}


def screen_class(name: str) -> type[Screen]:
    if name in SCREENS:
        return SCREENS[name]
    module, _, cls = CARD_SCREENS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


class KioskApp(App):
    lang = StringProperty("zh")
    u = NumericProperty(8.0)               # layout unit: 1/100 of the kiosk area's short side
    portrait = BooleanProperty(False)
    idle_remaining = NumericProperty(0)
    screens = ObjectProperty(None, allownone=True)   # the ScreenManager
    kiosk_area = ObjectProperty(None, allownone=True)
    side_panel = ObjectProperty(None, allownone=True)   # e.g. the demo's device bench
    settings = ObjectProperty(None)        # KioskSettings; staff's reload_config may replace it

    def __init__(self, kiosk: KioskCore, *, side_panel: Callable[[], Widget] | None = None,
                 **kwargs: Any) -> None:
        """`side_panel` builds what sits beside the resident's screen (the demo's
        device bench); it is called in build(), once the app runs."""
        super().__init__(**kwargs)
        self.kiosk = kiosk
        self.settings = kiosk.settings
        self._side_panel_factory = side_panel
        self.title = tr("app.title", self.settings.language)
        self.lang = self.settings.language if self.settings.language in LANGUAGES else "zh"
        self._tasks: set[asyncio.Task[Any]] = set()
        self.flow = Flows(kiosk.bills, self.spawn, kiosk.payments, kiosk.wallet, kiosk.fleet, kiosk.bank_cards,
                          onecard=kiosk.onecard, meters=kiosk.meters, transfers=getattr(kiosk, "transfers", None),
                          # (getattr: a kiosk built without the one-card has no such attribute in older fakes)
                          onecard_blacklist=getattr(kiosk, "onecard_blacklist", None))
        self.timer: IdleTimer | None = None
        self.restart_requested = False     # the runner starts the app again once it stopped
        kiosk.on_restart = self.request_restart
        kiosk.settings_listeners.append(self._settings_changed)

    # --- for kv --------------------------------------------------------------------
    def t(self, key: str, lang: str | None = None, /, **fields: Any) -> str:
        return tr(key, lang or self.lang, **fields)

    def toggle_language(self) -> None:
        self.lang = other_language(self.lang)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a coroutine on the app's loop, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("UI task failed", exc_info=task.exception())

    # --- building ------------------------------------------------------------------
    def get_application_config(self, defaultpath: str = "") -> None:
        return None  # settings come from kiosk.config; Kivy must not write an .ini beside the code

    def build(self) -> BoxLayout:
        register_font()
        load_kv(*kv_files())
        self.timer = IdleTimer(self.settings.idle_timeout_s)
        self.timer.bind(remaining=self.setter("idle_remaining"), on_expire=self._idle_expired)
        self.idle_remaining = self.timer.remaining

        root = BoxLayout(orientation="horizontal")
        self.kiosk_area = KioskArea()
        self.kiosk_area.bind(size=self._rescale)
        self.screens = ScreenManager(transition=NoTransition())
        self.screens.add_widget(IdleScreen())   # the others are built after it is drawn (_warm_up)
        self.kiosk_area.add_widget(self.screens)
        root.add_widget(self.kiosk_area)
        if self._side_panel_factory is not None:
            self.side_panel = self._side_panel_factory()
            root.add_widget(self.side_panel)
        self.flow.bind(screen=self._show_screen, on_activity=lambda *_: self._poke_timer())
        if self.flow.screen != "idle":     # out of service since before a restart
            self._show_screen(self.flow, self.flow.screen)
        self._configure_window()
        return root

    def on_start(self) -> None:
        # sign-on and recovery run beside the idle screen, never before it
        self.spawn(self._start_kiosk())
        # after the first frames are drawn: load what start-up deferred (httpx)
        Clock.schedule_once(self._warm_up, 0.5)

    async def _start_kiosk(self) -> None:
        await asyncio.sleep(0)   # let the first frame be drawn
        try:
            await self.kiosk.start()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - payments recover on their own; the kiosk stays up
            log.exception("kiosk start-up (sign-on, recovery) failed")

    def _warm_up(self, _dt: float) -> None:
        self.kiosk.warm_up()
        for name in self.screen_names():
            self._ensure_screen(name)

    def screen_names(self) -> list[str]:
        return [*SCREENS, *(CARD_SCREENS if self.flow.wallet_enabled else ())]

    def _ensure_screen(self, name: str) -> None:
        if not self.screens.has_screen(name):
            self.screens.add_widget(screen_class(name)())

    def _idle_expired(self, *_: Any) -> None:
        """Nobody touched the kiosk: the next resident starts afresh, in the default language."""
        self.flow.go_idle()
        self.lang = self.settings.language if self.settings.language in LANGUAGES else "zh"

    def request_restart(self) -> None:
        """Staff's restart_app (at a safe point): stop; the runner starts afresh."""
        self.restart_requested = True
        self.stop()

    def _settings_changed(self, settings: Any) -> None:
        """Staff's reload_config: notices, estate name, language, countdown."""
        self.settings = settings
        self.title = tr("app.title", settings.language)
        if self.timer is not None:
            self.timer.timeout_s = settings.idle_timeout_s

    def _rescale(self, area: KioskArea, size: tuple[float, float]) -> None:
        width, height = size
        self.u = max(1.0, min(width, height) / 100.0)
        self.portrait = height > width * 1.1

    def _poke_timer(self) -> None:
        if self.timer is not None:
            self.timer.poke()

    def _show_screen(self, _flow: Flows, name: str) -> None:
        self._ensure_screen(name)
        self.screens.current = name
        assert self.timer is not None
        if name in NO_COUNTDOWN:
            self.timer.stop()
        else:
            self.timer.restart()

    def _configure_window(self) -> None:
        display = self.settings.display
        Window.clearcolor = P.bg
        if display.fullscreen:
            Window.borderless = True
            Window.fullscreen = "auto"
        else:
            Window.fullscreen = False
            Window.borderless = False
            side = self.side_panel.width if self.side_panel is not None else 0
            Window.size = (display.width + side, display.height)
        Window.show_cursor = display.show_cursor
        Window.bind(on_request_close=self._on_request_close, on_keyboard=self._on_keyboard)

    def _on_request_close(self, *_: Any, **__: Any) -> bool:
        return self.settings.display.fullscreen  # True = refuse: a kiosk is not closed by a resident

    def _on_keyboard(self, _window: Any, key: int, _scancode: int, codepoint: str | None,
                     _modifiers: list[str]) -> bool:
        if key == ESCAPE:
            return True  # never quits the kiosk
        if self.flow.screen != "entry":
            return False
        if codepoint and codepoint in "0123456789-":
            self.flow.payment.press(codepoint)
        elif key == BACKSPACE:
            self.flow.payment.press("back")
        elif key in ENTER_KEYS:
            self.flow.payment.confirm()
        else:
            return False
        return True

    def on_stop(self) -> None:
        Window.unbind(on_request_close=self._on_request_close, on_keyboard=self._on_keyboard)
        if self.timer is not None:
            self.timer.close()
        for task in list(self._tasks):
            task.cancel()

    # --- for tests and the tour ------------------------------------------------------
    def screen(self, name: str) -> Any:
        self._ensure_screen(name)
        return self.screens.get_screen(name)
