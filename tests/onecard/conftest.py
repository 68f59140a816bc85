"""Fixtures of the one-card tests (tests/support/onecard_host.py)."""
from tests.support.onecard_host import onecard_env_fixture  # noqa: F401  (fixture)
