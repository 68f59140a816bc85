"""Fixtures of the transfer tests (tests/support/transfers.py)."""
from tests.support.onecard_host import onecard_env_fixture  # noqa: F401  (fixture)
