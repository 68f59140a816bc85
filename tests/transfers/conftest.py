"""Fixtures of the transfer tests (tests/support/transfers.py, tests/support/onecard_kiosks.py)."""
from tests.support.onecard_host import onecard_env_fixture  # noqa: F401  (fixture)
from tests.support.onecard_kiosks import onecard_host, onecard_world  # noqa: F401  (fixtures)
