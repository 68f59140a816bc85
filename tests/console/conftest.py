"""The console tests' own guard; their hosts, staff and payments come from
tests/support/console_env.py (a plugin for the whole suite)."""
from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_unknown_catalogue_key(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every page a console test renders is held to the catalogue: a key missing
    from host/console/locale/*/console.po shows on the page as itself and is
    logged by common/catalogue.py, and that log line fails the test."""
    with caplog.at_level(logging.ERROR, logger="common.catalogue"):
        yield
    unknown = [r.getMessage() for when in ("setup", "call") for r in caplog.get_records(when)
               if r.name == "common.catalogue"]
    assert not unknown
