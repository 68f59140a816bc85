"""Fixtures of the end-to-end payment tests; their helpers live in paylib.py
(imported by module name, which a conftest cannot safely be: every test folder
has one)."""
from tests.support.payments import host, kiosk, link, wk  # noqa: F401  (fixtures)
