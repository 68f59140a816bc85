"""How the kiosk checks the host it talks to (docs/security.md "Links off the
machine"). Over https the host's certificate must chain to the configured CA
file (the estate's own CA), or to the system's store when none is configured;
there is no way to turn the check off. Plain http is allowed by the settings
only to this machine (kiosk.config), where there is no network to trust."""
from __future__ import annotations

import ssl


def host_verification(url: str, ca_file: str = "") -> ssl.SSLContext | bool:
    """httpx's `verify` for the host at `url`: an SSL context trusting only
    `ca_file` when it is set, else True (the system's CA store)."""
    if url.startswith("https://") and ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return True
