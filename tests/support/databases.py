"""The host's database backend as a test parameter (issue 12): SQLite (a file
per host, copied from a seeded template file, as always) or PostgreSQL (a
database per host, created from a seeded template database on the session's
throw-away server, tests/support/postgres.py).

A test module opts in with

    pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

and its host fixtures ask `databases.fresh(backend, key, build, folder)` for a
URL: the template `key` is built once per backend and session by `build(url)`
(which must dispose its engine: PostgreSQL copies a template only while nobody
is connected to it), then copied for each host."""
from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from host.db import make_engine
from host.schema import create_tables
from tests.support.postgres import PgServer, missing_reason

SQLITE, POSTGRESQL = "sqlite", "postgresql"
BACKENDS = [SQLITE, POSTGRESQL]
# a template another is built on: its key and its build
Base = tuple[str, Callable[[str], None]]


class Databases:
    """The session's templates per backend, and the PostgreSQL server, started on first use."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._pg: PgServer | None = None
        self._templates: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()

    @property
    def pg(self) -> PgServer:
        with self._lock:
            if self._pg is None:
                reason = missing_reason()
                if reason:
                    pytest.skip(reason)
                self._pg = PgServer().start()
            return self._pg

    def template(self, backend: str, key: str, build: Callable[[str], None], base: Base | None = None) -> Any:
        """The template `key` of `backend` (a file path or a database name), built on first use;
        with `base` (another template's key and build), `build` starts from a copy of that one."""
        with self._lock:
            if (backend, key) not in self._templates:
                below = self.template(backend, *base) if base is not None else None
                if backend == SQLITE:
                    path = self._tmp.mktemp(f"{key}-template") / "host.sqlite3"
                    if below is not None:
                        shutil.copyfile(below, path)
                    build(f"sqlite:///{path}")
                    self._templates[backend, key] = path
                else:
                    name = self.pg.create_database(f"{key}_template", template=below or "template0")
                    build(self.pg.url(name))
                    self._templates[backend, key] = name
            return self._templates[backend, key]

    def fresh(self, backend: str, key: str, build: Callable[[str], None], folder: Path,
              filename: str = "host.sqlite3", base: Base | None = None) -> str:
        """The URL of a new database holding a copy of template `key` (built on `base`, if given)."""
        template = self.template(backend, key, build, base)
        if backend == SQLITE:
            db = folder / filename
            shutil.copyfile(template, db)
            return f"sqlite:///{db}"
        return self.pg.url(self.pg.create_database(key, template=template))

    @contextmanager
    def empty(self, backend: str, folder: Path) -> Iterator[Engine]:
        """An engine on a new database holding the host's tables at head and no
        row (one template per backend for every module that wants one)."""
        url = self.fresh(backend, "empty", _create_empty, folder)
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()
            self.release(url)

    def release(self, url: str) -> None:
        """Drop a PostgreSQL database `fresh` made, once its host has stopped (a
        session makes a hundred; the disk need not hold them all). SQLite files go
        with their test's tmp_path."""
        if not url.startswith("sqlite") and self._pg is not None:
            self._pg.drop_database(url.rsplit("/", 1)[1])

    def stop(self) -> None:
        if self._pg is not None:
            self._pg.stop()
            self._pg = None


def _create_empty(url: str) -> None:
    engine = make_engine(url)
    create_tables(engine)
    engine.dispose()
