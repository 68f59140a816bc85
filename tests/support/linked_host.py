"""A test host (the `bank` fixture's: TEST_HOST_TOML on the test's backend)
with its ISO 8583 front-end, and the two test kiosks each on its terminal:
for the tests that paid bills over the removed JSON bank routes."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from host.app import create_app
from host.config import load_host_settings
from host.db import make_engine
from host.server import HostServer
from tests.support.bank8583 import Terminal, start_front_end, with_terminals
from tests.support.clocks import running_from
from tests.support.host_env import BankEnv, OTHER_KIOSK, OTHER_TMK, SEED_TODAY, TEST_HOST_TOML, TEST_KIOSK, TEST_TMK
from tests.support.signing import KioskSigner

# (the host with TEST_KIOSK's signer, OTHER_KIOSK's signer, [KIOSK001 of TEST_KIOSK, KIOSK002 of OTHER_KIOSK])
Linked = tuple[BankEnv, KioskSigner, list[Terminal]]


@pytest.fixture(name="linked")
def linked_fixture(bank_url: str, tmp_path: Path) -> Iterator[Linked]:
    """A host like `bank`'s with its ISO 8583 front-end: the two test kiosks,
    each with its terminal (signed on) and its signed JSON channel (signed on)."""
    host_toml = tmp_path / "host.toml"
    host_toml.write_text(TEST_HOST_TOML, encoding="utf-8")
    settings = with_terminals(load_host_settings(host_toml), TEST_KIOSK, OTHER_KIOSK)
    engine = make_engine(bank_url)
    clock = running_from(SEED_TODAY)
    server = HostServer(create_app(settings, engine, clock=clock))
    server.start()
    start_front_end(server, settings, engine, clock)
    env = BankEnv(server.url, settings, engine, KioskSigner(server.url, TEST_KIOSK, TEST_TMK))
    second = env.signer(OTHER_KIOSK, OTHER_TMK)
    terminals = [Terminal(server.bank_port, tmk=tmk, terminal_id=t)
                 for tmk, t in ((TEST_TMK, "KIOSK001"), (OTHER_TMK, "KIOSK002"))]
    try:
        for signer in (env.kiosk, second):
            assert signer.sign_on().status == 200
        for terminal in terminals:
            assert terminal.sign_on().message.fields[39] == "00"
        yield env, second, terminals
    finally:
        env.kiosk.close()
        second.close()
        server.bank.stop()
        server.stop()
        engine.dispose()
