"""Prepaid meter vending (issue 15; docs/meters.md "The host"): the estate's
prepaid meters and their user cards (store.py), the prepaid tariffs
(tariff.py), the card checks and the signed kiosk messages (api.py, sales.py)."""
