"""The card services' view model: plain values, no Kivy, no card."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from common.epurse import TxnType, Wallet
from common.money import Money
from kiosk.i18n import CATALOGUE, tr
from kiosk.screens import card_view
from kiosk.services.wallet_view import CardView, HistoryLine, WalletLimits

LIMITS = WalletLimits(min_load=Money(1_00), max_load=Money(1000_00), presets=(Money(50_00), Money(100_00)))


def card(ep: str = "85.50", ed: str = "800.00", history: tuple[HistoryLine, ...] = ()) -> CardView:
    return CardView("contact", "00002601000000000001", "张伟", Money.parse(ed), Money.parse(ep),
                    Money(50_000_00), Money(1000_00), date(2036, 12, 31), history)


def test_serial_is_grouped_in_fours_and_tail_is_the_last_four() -> None:
    assert card_view.group_serial("00002601000000000001") == "0000 2601 0000 0000 0001"
    assert card_view.serial_tail("00002601000000000001") == "0001"


def test_history_in_words_with_a_sign() -> None:
    when = datetime(2026, 11, 21, 9, 5)
    lines = (HistoryLine(when, TxnType.EP_LOAD, Money(100_00), "000000000001"),
             HistoryLine(when, TxnType.UNLOAD, Money(20_50), "000000000001"),
             HistoryLine(when, TxnType.ED_PURCHASE, Money(478_53), "000000000001"))
    rows = card_view.history_rows(lines, "zh")
    assert [(r.when, r.what, r.amount, r.credit) for r in rows] == [
        ("2026-11-21 09:05", "钱包圈存", "+¥100.00", True),
        ("2026-11-21 09:05", "圈提到银行卡", "-¥20.50", False),
        ("2026-11-21 09:05", "存折缴费", "-¥478.53", False)]
    assert card_view.history_rows(lines, "en")[0].what == "Purse load"
    for txn_type in TxnType:                     # every type has words in both languages
        assert f"card.txn.{txn_type.name}" in CATALOGUE
    assert card_view.txn_words(0x7F, "en") == tr("card.txn.other", "en")


@pytest.mark.parametrize("typed,key,after", [
    ("", "5", "5"), ("5", "0", "50"), ("0", "7", "7"), ("", ".", "0."), ("12.", "5", "12.5"),
    ("12.5", "0", "12.50"), ("12.50", "1", None), ("1.5", ".", None), ("999999", "9", None),
    ("12", "back", "1"), ("12.5", "clear", ""),
])
def test_amount_keypad(typed: str, key: str, after: str | None) -> None:
    assert card_view.type_amount(typed, key) == after


def test_amounts_parse_to_fen_and_presets_show_plainly() -> None:
    assert card_view.parse_amount("12.5") == Money(12_50)
    assert card_view.parse_amount("") is None and card_view.parse_amount(".") is None
    assert card_view.parse_amount("0.") == Money(0)
    assert [card_view.amount_text(Money(f)) for f in (100_00, 50_50, 50_05, 1000_00)] == ["100", "50.5", "50.05",
                                                                                          "1000"]


def test_load_is_refused_below_the_minimum_above_the_maximum_and_over_the_wallets_room() -> None:
    purse = card_view.load_bounds(card(ep="990.00"), Wallet.EP, LIMITS)     # room ¥10.00
    assert card_view.amount_problem(Money(5_00), purse) is None
    assert card_view.amount_problem(Money(50), purse) == card_view.Problem("card.amount.too_small", Money(1_00))
    assert card_view.amount_problem(Money(20_00), purse) == card_view.Problem("card.amount.over_room", Money(10_00))
    passbook = card_view.load_bounds(card(), Wallet.ED, LIMITS)
    assert card_view.amount_problem(Money(2000_00), passbook) == card_view.Problem("card.amount.too_large",
                                                                                    Money(1000_00))
    assert card_view.amount_problem(None, passbook) == card_view.Problem("card.amount.missing")
    full = card_view.load_bounds(card(ep="999.50"), Wallet.EP, LIMITS)        # less room than the minimum
    assert card_view.amount_problem(Money(1_00), full) == card_view.Problem("card.amount.full")


def test_unload_is_at_most_the_passbook_balance() -> None:
    bounds = card_view.unload_bounds(card(ed="300.00"))
    assert card_view.amount_problem(Money(300_00), bounds) is None
    assert card_view.amount_problem(Money(300_01), bounds) == card_view.Problem("card.amount.over_balance",
                                                                                 Money(300_00))
    assert card_view.amount_problem(Money(1), card_view.unload_bounds(card(ed="0.00"))) == \
        card_view.Problem("card.amount.empty")


def test_a_wallet_too_low_for_the_bill_says_how_much_is_missing() -> None:
    ep, ed = card_view.wallet_choices(card(ep="85.50", ed="800.00"), Money(478_53))
    assert (ep.wallet, ep.usable, ep.short_by, ep.needs_pin) == (Wallet.EP, False, Money(393_03), False)
    assert (ed.wallet, ed.usable, ed.short_by, ed.needs_pin) == (Wallet.ED, True, Money(0), True)


def test_every_key_the_card_flow_builds_exists() -> None:
    from kiosk.screens.card_services.outcomes import APPROVED_TITLE
    from kiosk.screens.messages import CARD_CENTRE, DECLINES, codes_sent_by

    for code in codes_sent_by(CARD_CENTRE):
        assert DECLINES[code].body in CATALOGUE, code
    for op, title in APPROVED_TITLE.items():
        assert title in CATALOGUE
        assert f"card.result.{'pin' if op == 'change_pin' else op}" in CATALOGUE
        assert f"card.processing.{op}" in CATALOGUE and f"card.pin.op.{op}" in CATALOGUE
    for op in ("load", "unload"):
        assert f"card.amount.title.{op}" in CATALOGUE
    for stage in ("card", "old", "new", "again"):
        assert f"card.pin.{stage}" in CATALOGUE
    for name in ("EP", "ED"):
        assert f"card.wallet.{name}" in CATALOGUE and f"card.wallet.{name}.hint" in CATALOGUE
    for purpose in ("load", "unload"):
        assert f"card.pay.{purpose}" in CATALOGUE and f"card.pay.{purpose}_target" in CATALOGUE
    for reader in ("contact", "contactless"):
        assert f"bench.ic.in_{reader}" in CATALOGUE
    for status in ("lost", "blacklisted"):
        assert f"bench.ic.status.{status}" in CATALOGUE
    for problem in ("missing", "bad", "too_small", "too_large", "over_room", "over_balance", "full", "empty"):
        assert f"card.amount.{problem}" in CATALOGUE
