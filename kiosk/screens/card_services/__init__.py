"""卡务 card services: the IC card's balance and history, load, unload, paying
the bill from the wallet, changing the card PIN, and a card torn during a
write. The flow (flow.py) only routes: every rule about cards and money lives
in WalletService (kiosk/services/wallet.py); the amount checks (amount.py)
only refuse, before anything happens, what the service would refuse anyway;
tear.py waits for a card pulled during a write.

    idle ─卡务─▶ card_insert ─card─▶ card ─圈存─▶ card_amount ─(ED: card_pin)─▶ swipe ─▶ pin ─┐
                                        ├─圈提─▶ card_amount ─▶ card_pin ─▶ swipe ───────────┤
                                        └─修改密码─▶ card_pin (old, new, again) ──────────────┤
    bill ─IC卡钱包─▶ card_insert ─▶ card_wallet ─(ED: card_pin)─────────────────────────────┤
                                                                                         ▼
                           card_tear ◀─card pulled during the write── card_processing ─▶ card_result
                              ├─ the same card back ─▶ card_result (as the card proves it)
                              └─ 60 s / "I don't have it" ─▶ message "settled next time, nothing lost"

The bank card (swipe, pin) is the shared bank card step (kiosk/screens/bank_card.py),
which hands the card and its PIN block back. Card events come from the wallet
service's watcher on a device thread and hop to Kivy's clock.
"""
