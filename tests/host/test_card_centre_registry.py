"""The card registry: seeded from config/test-cards.toml, [card_centre] keys in
the host config, staff actions (`kiosk host card ...`), blacklist versions,
cards/seen with its sightings and pending list (any kiosk can resolve), and a
day of mixed wallet traffic whose money adds up."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tests.support.card_centre import (CardEnv, CardKiosk, check_money, CHEN, hex_, host_toml_with_cards, LI,
                                       LIU, SimCard, WHEN, ZHANG)
from tests.support.card_centre import cards_fixture, cards_link_fixture  # noqa: F401  (fixtures)
from tests.support.bank8583 import Terminal, copy_of, pay_bill
from host import cli
from host.config import DEMO_HOST_CONFIG, ConfigError, HostSettings, load_host_settings
from host.schema.cards import card_blacklist, card_sightings, ic_cards
from tests.support.host_env import GOOD, OTHER_KIOSK, OTHER_TMK
from common.epurse_issuer import DEMO_ISSUER_KEYS
from common.epurse import Wallet
from common.settings import CONFIG_DIR
from common.demo_cards import load_test_cards

from tests.support.databases import BACKENDS

pytestmark = pytest.mark.backends(*BACKENDS)   # the host on SQLite and on PostgreSQL


def test_seed_registers_the_ic_test_cards(seeded: tuple[HostSettings, Engine]) -> None:
    _, engine = seeded
    with engine.connect() as conn:
        rows = {r.serial: r for r in conn.execute(select(ic_cards))}
        versions = conn.execute(select(card_blacklist.c.version, card_blacklist.c.serial,
                                       card_blacklist.c.listed)).all()
    ic = load_test_cards().ic_cards
    assert set(rows) == {c.serial for c in ic}
    for card in ic:
        row = rows[card.serial]
        assert (row.holder, row.status, row.ed_fen, row.ep_fen) == \
            (card.holder, card.status, card.ed_balance.fen, card.ep_balance.fen)
    assert versions == [(1, LIU.serial, True)] and rows[LIU.serial].list_version == 1


def test_issuer_keys_in_the_configs(tmp_path: Path) -> None:
    assert load_host_settings(DEMO_HOST_CONFIG).issuer_keys == DEMO_ISSUER_KEYS
    with pytest.raises(ConfigError, match="placeholder"):     # the example cannot start until replaced
        load_host_settings(CONFIG_DIR / "host.site-example.toml")
    assert "DEMO" in DEMO_HOST_CONFIG.read_text(encoding="utf-8").split("[card_centre]")[0].split("\n\n")[-1]
    assert "REPLACE" in (CONFIG_DIR / "host.site-example.toml").read_text(encoding="utf-8").split("[card_centre]")[1]


@pytest.mark.parametrize("old,new,key,reason", [
    ('dlk = "BC3A473337F4B9D1E93142F91E67B89A"', 'dlk = "BC3A4733"', "card_centre.dlk", "32 hex"),
    ('dtk = "23463C0DE21FDBFF9B35B2EB1914E2E0"', 'dtk = "23463C0DE21FDBFF23463C0DE21FDBFF"', "card_centre.dtk",
     "degenerate"),
    ('duk = "6A6D2E99587A129E9D7B3B740A46A540"', 'duk = "BC3A473337F4B9D1E93142F91E67B89A"', "card_centre.duk",
     "differ"),
    ('dpk = "87E1ED740393D34205A3B567CDB718ED"\n', "", "card_centre.dpk", "is required"),
    ('dlk = "BC3A', 'colour = 1\ndlk = "BC3A', "card_centre.colour", "unknown key"),
    ('dlk = "BC3A473337F4B9D1E93142F91E67B89A"', "dlk = 12", "card_centre.dlk", "must be str"),
])
def test_bad_card_centre_keys(tmp_path: Path, old: str, new: str, key: str, reason: str) -> None:
    path = host_toml_with_cards(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_host_settings(path)
    assert info.value.key == key and reason in info.value.reason


def test_staff_report_a_card_lost_and_unblock_it(cards: CardEnv, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config, db = host_toml_with_cards(tmp_path), cards.engine.url.render_as_string(hide_password=False)
    kiosk = cards.cards
    assert kiosk.blacklist(0).json == {"version": 1, "changes": [{"serial": LIU.serial, "listed": True}]}
    assert kiosk.blacklist(1).json == {"version": 1, "changes": []}

    assert cli.card(config, "report-lost", ZHANG.serial.lower(), db) == 0
    assert f"{ZHANG.serial} is now lost (blacklist version 2)" in capsys.readouterr().out
    assert cli.card(config, "report-lost", ZHANG.serial, db) == 0
    assert "already lost; nothing changed" in capsys.readouterr().out
    reply = kiosk.blacklist(1)
    assert reply.status == 200 and reply.mac_ok
    assert reply.json == {"version": 2, "changes": [{"serial": ZHANG.serial, "listed": True}]}
    seen = kiosk.seen(ZHANG.serial).json
    assert (seen["status"], seen["holder"]) == ("lost", ZHANG.holder)
    load, _ = kiosk.load_authorise("R-1", SimCard.of(ZHANG), Wallet.EP, 100)
    assert load.json["code"] == "card_lost"

    assert cli.card(config, "unblock", ZHANG.serial, db) == 0
    assert "now active (blacklist version 3)" in capsys.readouterr().out
    # each card once, with its latest state, in the order of those changes
    assert kiosk.blacklist(1).json == {"version": 3, "changes": [{"serial": ZHANG.serial, "listed": False}]}
    assert kiosk.blacklist(0).json == {"version": 3, "changes": [{"serial": LIU.serial, "listed": True},
                                                                 {"serial": ZHANG.serial, "listed": False}]}
    assert kiosk.blacklist(3).json == {"version": 3, "changes": []}
    assert kiosk.post("blacklist", {"since": -1}).status == 400
    assert cli.card(config, "unblock", LIU.serial, db) == 0
    assert kiosk.blacklist(3).json["changes"] == [{"serial": LIU.serial, "listed": False}]
    capsys.readouterr()

    assert cli.card(config, "list", None, db) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["serial", "status"] and out[-1] == "5 cards"
    zhang = next(line for line in out if line.startswith(ZHANG.serial))
    assert zhang.split()[1:5] == ["active", f"{ZHANG.ed_balance.fen / 100:,.2f}", f"{ZHANG.ep_balance.fen / 100:,.2f}",
                                  "3"] and zhang.endswith(ZHANG.holder)
    assert cli.card(config, "report-lost", "00002601000000009999", db) == 1
    assert "no card 00002601000000009999" in capsys.readouterr().err
    assert cli.card(config, "report-lost", None, db) == 1
    assert cli.card(tmp_path / "missing.toml", "list", None, db) == 2


def test_seen_records_a_sighting_and_any_kiosk_resolves_pending(cards: CardEnv) -> None:
    card = SimCard.of(ZHANG)
    before = cards.totals()
    unknown = cards.cards.seen("0000260100000000ffff")
    assert unknown.status == 200 and unknown.mac_ok
    assert unknown.json == {"serial": "0000260100000000FFFF", "status": "unknown", "holder": None, "pending": []}
    assert cards.cards.seen(ZHANG.serial).json == \
        {"serial": ZHANG.serial, "status": "active", "holder": ZHANG.holder, "pending": []}

    # kiosk 1 authorises a load and the card is credited, then kiosk 1 goes dark
    reply, init = cards.cards.load_authorise("S-1", card, Wallet.EP, 20_00)
    tac = card.credit_load(WHEN, bytes.fromhex(reply.json["mac2"]))
    other = cards.signer(OTHER_KIOSK, OTHER_TMK)
    try:
        other.sign_on()
        kiosk2 = CardKiosk(other)
        seen = kiosk2.seen(ZHANG.serial)
        assert seen.status == 200 and seen.mac_ok
        assert seen.json["pending"] == [{"txn_id": "S-1", "kind": "load", "txn_type": 2, "wallet": "EP",
                                         "amount_fen": 20_00, "counter": init.counter, "kiosk_id": "KIOSK-TEST-01"}]
        # kiosk 2 reads the card's proof for that counter and confirms with it
        done = kiosk2.post("load/confirm", {"txn_id": "S-1", "tac": hex_(tac)})
        assert done.json == {"txn_id": "S-1", "status": "completed"}
        assert kiosk2.seen(ZHANG.serial).json["pending"] == []
        # and a pending load that the card never applied is cancelled by kiosk 2
        cards.cards.load_authorise("S-3", card, Wallet.EP, 30_00)
        assert kiosk2.cancel("load", "S-3", "proof: not applied").json["status"] == "cancelled"
    finally:
        other.close()
    assert cards.txn("S-1").resolved_by == cards.txn("S-3").resolved_by == OTHER_KIOSK
    assert cards.mirror(ZHANG.serial)[1] == card.ep
    check_money(before, cards.totals())
    with cards.engine.connect() as conn:
        sightings = conn.execute(select(card_sightings.c.serial, card_sightings.c.kiosk_id, card_sightings.c.status)
                                 .order_by(card_sightings.c.id)).all()
    assert sightings == [("0000260100000000FFFF", "KIOSK-TEST-01", "unknown"),
                         (ZHANG.serial, "KIOSK-TEST-01", "active"),
                         (ZHANG.serial, OTHER_KIOSK, "active"), (ZHANG.serial, OTHER_KIOSK, "active")]


def test_a_day_of_wallet_traffic_adds_up(cards: CardEnv, cards_link: Terminal) -> None:
    """Loads, an unload, purchases, cancels and bank-card payments interleaved:
    after each step no money is made or lost and the books agree."""
    zhang, li, chen = SimCard.of(ZHANG), SimCard.of(LI), SimCard.of(CHEN)
    kiosk = cards.cards
    bill = cards.bill("3-2-1202")
    state: dict[str, object] = {}

    def unload_authorise() -> None:
        state["unload"] = kiosk.unload_authorise("M-3", li, 300_00)[0].json

    def unload_confirm() -> None:
        mac3 = li.unload(WHEN, bytes.fromhex(state["unload"]["mac2"]))   # type: ignore[index]
        assert kiosk.post("unload/confirm", {"txn_id": "M-3", "mac3": hex_(mac3)}).json["status"] == "completed"

    def purchase(txn_id: str, card: SimCard, wallet: Wallet, house: str, periods: list[str], amount: int) \
            -> Callable[[], None]:
        def run() -> None:
            reply, txn_no = kiosk.purchase_authorise(txn_id, card, wallet, house, periods, amount)
            state[txn_id] = (reply.json, txn_no)
        return run

    def purchase_confirm() -> None:
        answer, txn_no = state["M-4"]   # type: ignore[misc]
        tac, mac2 = zhang.debit_purchase(txn_no, WHEN, bytes.fromhex(answer["mac1"]))
        assert kiosk.post("purchase/confirm", {"txn_id": "M-4", "tac": hex_(tac), "mac2": hex_(mac2)}) \
            .json["status"] == "completed"

    def bank_payment() -> None:     # over the bank link, then the kiosk's copy books the property side
        paid = pay_bill(cards_link, "3-2-1202", bill, GOOD)
        assert paid[39] == "00"
        assert cards.kiosk.backup(copy_of(paid, "M-5", "3-2-1202", bill["total_due_fen"])).status == 200

    def bank_payment_reversed() -> None:    # its outcome unknown to the kiosk: reversed, no copy
        paid = pay_bill(cards_link, "3-2-1202", bill, GOOD)
        assert paid[39] == "00"
        assert cards_link.reversal(str(paid[11]), bill["total_due_fen"]).message.fields[39] == "00"

    steps: list[Callable[[], object]] = [
        lambda: kiosk.load("M-1", zhang, Wallet.ED, 500_00),
        lambda: kiosk.load_authorise("M-2", zhang, Wallet.EP, 100_00),        # left in flight a while
        lambda: kiosk.cancel("load", "M-2"),
        unload_authorise, unload_confirm,
        purchase("M-4", zhang, Wallet.ED, "2-1-601", ["2026-10"], 478_53), purchase_confirm,
        bank_payment_reversed, bank_payment,
        purchase("M-6", chen, Wallet.EP, "2-2-902", ["2026-09", "2026-10"], 683_51),
        lambda: kiosk.cancel("purchase", "M-6"),
    ]
    start = previous = cards.totals()
    for run in steps:
        run()
        now = cards.totals()
        check_money(previous, now)
        previous = now

    end = cards.totals()
    assert end["total_fen"] == start["total_fen"]
    assert cards.mirror(ZHANG.serial) == (zhang.ed, zhang.ep)
    assert cards.mirror(LI.serial) == (li.ed, li.ep)
    assert end["cards_fen"] - start["cards_fen"] == 500_00 - 300_00 - 478_53
    assert end["bank_balances_fen"] - start["bank_balances_fen"] == -500_00 + 300_00 - bill["total_due_fen"]
    assert end["wallet_ledger_fen"] - start["wallet_ledger_fen"] == 478_53
    assert end["loads_in_flight_fen"] == 0 and end["ledger_fen"] - start["ledger_fen"] == bill["total_due_fen"]
