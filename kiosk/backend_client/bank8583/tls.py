"""TLS around the ISO 8583 link (docs/bank-link.md "TLS on the link"): the
kiosk verifies the front-end's certificate and host name against the
configured CA file, or the system's store without one; there is no way to
turn the check off. A client certificate is sent when configured (a bank
asking for mutual TLS)."""
from __future__ import annotations

import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class LinkTls:
    ca_file: str = ""        # the CA (PEM) the front-end's certificate must chain to; "": the system's store
    client_cert: str = ""    # with client_key: this kiosk's certificate chain (PEM), for mutual TLS
    client_key: str = ""

    def context(self) -> ssl.SSLContext:
        """TLS 1.2 or later, the peer's certificate and host name checked."""
        context = ssl.create_default_context(cafile=self.ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.client_cert:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context

