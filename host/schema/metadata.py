"""The one MetaData every host table is on. Its own module, importing nothing of
the host, so that each area's table module can import it and nothing else, and
the engine helpers (host.db) need no table at all."""
from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
