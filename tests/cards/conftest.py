"""The card tests use the session's one private pcscd (tests/conftest.py, vpcd
on 40200/40201): pcsc-lite reads its socket's path once per process, so a
second pcscd in the same run would never be reached. Without root there is
no private pcscd, and the system's (ports 35963/35964) is not for tests."""
from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def pcscd(pcscd: Any) -> Any:
    if not pcscd.private:
        pytest.skip("a private pcscd needs root (unshare -m); the system pcscd is not for tests")
    return pcscd
