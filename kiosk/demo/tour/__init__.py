"""The screenshot tour (`kiosk demo --tour DIR`) and the UI tests' driver:
what the tour uses (cast), driving the resident's screens (screens) and the
device bench (bench) by simulated touch, the bill payment (payment) and card
services (cards) legs, and the whole tour (run)."""
