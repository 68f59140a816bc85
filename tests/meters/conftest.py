"""Fixtures of the prepaid meter tests: the vending host (tests/support/meter_host.py)
and the end-to-end kiosk with its IC readers (tests/support/payments.py)."""
from tests.support.meter_host import vending_fixture  # noqa: F401  (the `vending` fixture)
from tests.support.payments import host, link, wk  # noqa: F401  (fixtures)
