"""Who and what the tour (and the UI tests) use: houses of the seeded demo
estate and cards of config/test-cards.toml."""
from __future__ import annotations

BILL_HOUSE = "3-2-1202"      # arrears, late fee and the latest month (host.seed.DEMO_HOUSES)
PAID_HOUSE = "1-1-101"       # nothing due
UNKNOWN_HOUSE = "88-8-8888"  # well-formed, not on the estate
WALLET_HOUSE = "2-1-601"     # the latest month only: more than the purse holds, less than the passbook

PAY_CARD = "0017"            # ICBC debit, PIN 123456 (config/test-cards.toml)
PAY_PIN = "123456"
DECLINE_CARD = "0001"        # ABC debit, expired, PIN 222222
DECLINE_PIN = "222222"

CARD_HOLDER = "00002601000000000001"    # 张伟, contact, PIN 123456 (config/test-cards.toml [[ic_card]])
CARD_HOLDER_PIN = "123456"
OTHER_CARD = "00002601000000000002"     # 李娜, contactless, PIN 654321
LOST_CARD = "00002601000000000004"      # 刘洋, reported lost (blacklisted)
