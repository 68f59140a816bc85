"""The bench's one-cards (config/test-cards.toml [[onecard]]): they match the
host's seeded ones, the bench personalises them as the card side reads them,
and their state survives a restart."""
from __future__ import annotations

from pathlib import Path

import pytest

from common.demo_cards import load_test_cards
from common.onecard import BLACK_LISTED, BLACK_OK, DEMO_MAP
from common.onecard_blocks import Issuance, decode_value, encode_value, read_public_info
from common.settings import ConfigError
from host.onecard.registry import DEMO_ONECARDS


def test_the_bench_one_cards_are_the_hosts_seeded_ones() -> None:
    bench = {c.uid: c for c in load_test_cards().onecards}
    assert sorted(bench) == sorted(d.uid for d in DEMO_ONECARDS)
    for demo in DEMO_ONECARDS:
        card = bench[demo.uid]
        assert (card.serial, card.house, card.holder, card.black) == (demo.serial, demo.house_no, demo.holder,
                                                                      demo.black)
        assert (card.balance.fen, card.count) == demo.on_card       # the card's own figures
        assert (card.issued, card.expiry) == (demo.issued, demo.expiry)


def test_personalised_once_then_loaded_from_its_file(tmp_path: Path) -> None:
    from kiosk.bootstrap.devices import bench_onecard

    entry = load_test_cards().onecard("B1C20003")
    card = bench_onecard(entry, tmp_path)
    assert decode_value(card.block(DEMO_MAP.purse_block))[0] == 12_000
    info, _ = read_public_info(card.block(DEMO_MAP.public_block), card.block(DEMO_MAP.public_inverse_block))
    assert (info.count, info.black) == (5, BLACK_OK)
    assert Issuance.decode(card.block(DEMO_MAP.issuance_block)).serial == 20003
    card.set_block(DEMO_MAP.purse_block, encode_value(5_000, DEMO_MAP.purse_block))   # a write the file keeps
    again = bench_onecard(entry, tmp_path)                    # a restart: not personalised afresh
    assert decode_value(again.block(DEMO_MAP.purse_block))[0] == 5_000
    black = bench_onecard(load_test_cards().onecard("B1C20002"), tmp_path)
    info, _ = read_public_info(black.block(DEMO_MAP.public_block), black.block(DEMO_MAP.public_inverse_block))
    assert info.black == BLACK_LISTED


def test_a_bad_one_card_entry_names_its_field(tmp_path: Path) -> None:
    path = tmp_path / "cards.toml"
    path.write_text('[[onecard]]\nname = "x"\nuid = "B1C2"\nserial = 1\nholder = "x"\nhouse = "1-1-101"\n'
                    'balance = "1.00"\nissued = "2026-01-10"\nexpiry = "2036-12-31"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"onecard\[0\]\.uid.*8 hex digits"):
        load_test_cards(path)
