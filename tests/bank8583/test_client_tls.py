"""The ISO 8583 link inside TLS (issue 16, deliverable 6; docs/bank-link.md
"TLS on the link"): the kiosk's real client against the scripted peer served
over TLS with the throw-away PKI of tests/support/tls.py. Inside TLS the 8583
bytes are the plain link's, byte for byte; a front-end the kiosk cannot verify
gets nothing, and a reversal owed stays owed."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.bank8583.wire import parse
from common.clock import ManualClock
from common.settings import CONFIG_DIR, ConfigError, Section
from host.config.bank import load_bank_link, server_context
from kiosk.backend_client.bank8583.client import BankLink
from kiosk.backend_client.bank8583.tls import LinkTls
from kiosk.config import load_kiosk_settings
from kiosk.domain.errors import BankNoReply, BankReversalPending, BankTlsFailed, BankUnavailable
from kiosk.services.journal import Journal
from tests.support import bank_peer as peer
from tests.support.bank_peer import BankPeer, cut, link_settings, payment, serving, set_stan, silent
from tests.support.tls import Pki, make_pki

bank_peer, clock = peer.bank_peer, peer.clock   # the plain peer of tests/bank8583/test_client_*.py


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_peer(pki: Pki) -> Iterator[BankPeer]:
    """The scripted front-end, TLS only, with the estate CA's host certificate."""
    with serving(server_context(str(pki.host_cert), str(pki.host_key))) as served:
        yield served


@pytest.fixture(scope="module")
def mutual_peer(pki: Pki) -> Iterator[BankPeer]:
    """The same, requiring a client certificate the estate CA signed."""
    with serving(server_context(str(pki.host_cert), str(pki.host_key), str(pki.ca))) as served:
        yield served


def client(served: BankPeer, journal: Journal, clock: ManualClock, tls: LinkTls | None) -> BankLink:
    served.reset()
    return BankLink(link_settings(served, tls=tls), journal, clock)


async def _purchase_and_reversal(link: BankLink, served: BankPeer, journal: Journal) -> list[bytes]:
    """Sign-on, an approved purchase (the examples' STAN 42), then one without
    reply and its reversal: the frames the peer received."""
    await link.sign_on()
    set_stan(journal, 41)
    assert (await link.pay(payment("T1")))["result"] == "approved"
    served.script(silent)
    with pytest.raises(BankNoReply):
        await link.pay(payment("T2"))
    assert await link.reverse("T2", 120174, "timeout") == "reversed"
    return list(served.received)


async def test_a_purchase_and_a_reversal_inside_tls_are_the_plain_links_bytes(
        tmp_path: Path, clock: ManualClock, bank_peer: BankPeer, tls_peer: BankPeer, pki: Pki) -> None:
    received: dict[str, list[bytes]] = {}
    for name, served, tls in (("plain", bank_peer, None), ("tls", tls_peer, LinkTls(str(pki.ca)))):
        journal = Journal(tmp_path / f"{name}.sqlite3", clock)
        link = client(served, journal, clock, tls)
        try:
            received[name] = await _purchase_and_reversal(link, served, journal)
        finally:
            await link.aclose()
            journal.close()
    assert [parse(frame).message.mti for frame in received["tls"]] == ["0800", "0200", "0200", "0400"]
    assert received["tls"] == received["plain"]


async def test_a_plain_kiosk_gets_nothing_from_a_tls_front_end(tmp_path: Path, clock: ManualClock,
                                                               tls_peer: BankPeer) -> None:
    """Its 0800 is read as a TLS record, which it is not: no reply, nothing answered."""
    journal = Journal(tmp_path / "journal.sqlite3", clock)
    link = client(tls_peer, journal, clock, None)
    try:
        with pytest.raises(BankNoReply):
            await link.sign_on()
    finally:
        await link.aclose()
        journal.close()
    assert tls_peer.received == []


@pytest.mark.parametrize("trust", ["other CA", "system store"])
async def test_a_front_end_the_kiosk_cannot_verify_gets_nothing_and_the_reversal_stays_owed(
        tmp_path: Path, clock: ManualClock, tls_peer: BankPeer, pki: Pki, trust: str) -> None:
    journal = Journal(tmp_path / "journal.sqlite3", clock)
    good = client(tls_peer, journal, clock, LinkTls(str(pki.ca)))
    await good.sign_on()
    tls_peer.script(cut)                        # the purchase left, its reply never came
    with pytest.raises(BankNoReply):
        await good.pay(payment("T1"))
    await good.aclose()
    sent = list(tls_peer.received)
    assert [r.stan for r in journal.bank_reversals("due")] == [str(parse(sent[1]).message.fields[11])]

    # the same kiosk restarted, trusting a CA that did not sign the front-end's certificate
    ca = str(pki.other_ca) if trust == "other CA" else ""
    link = BankLink(link_settings(tls_peer, tls=LinkTls(ca)), journal, clock)
    try:
        with pytest.raises(BankTlsFailed, match="CERTIFICATE_VERIFY_FAILED") as raised:
            await link.sign_on()
        assert isinstance(raised.value, BankUnavailable)          # a link failure: nothing was sent
        with pytest.raises(BankReversalPending) as pending:
            await link.pay(payment("T2"))
        assert isinstance(pending.value.__cause__, BankTlsFailed)
        with pytest.raises(BankReversalPending):
            await link.reverse("T1", 120174, "timeout")
    finally:
        await link.aclose()
    assert tls_peer.received == sent                              # nothing new reached the front-end
    assert len(journal.bank_reversals("due")) == 1                # still owed
    journal.close()


async def test_mutual_tls_takes_the_kiosks_certificate_and_refuses_a_kiosk_without_one(
        tmp_path: Path, clock: ManualClock, mutual_peer: BankPeer, pki: Pki) -> None:
    journal = Journal(tmp_path / "journal.sqlite3", clock)
    anonymous = client(mutual_peer, journal, clock, LinkTls(str(pki.ca)))
    try:
        # TLS 1.3: the peer refuses it after the kiosk's side of the handshake is
        # done and its 0800 written into the session; no 0800 is read, no reply comes
        with pytest.raises(BankNoReply):
            await anonymous.sign_on()
    finally:
        await anonymous.aclose()
    assert mutual_peer.received == []
    link = client(mutual_peer, journal, clock, LinkTls(str(pki.ca), str(pki.client_cert), str(pki.client_key)))
    try:
        await link.sign_on()
    finally:
        await link.aclose()
        journal.close()
    assert [parse(frame).message.mti for frame in mutual_peer.received] == ["0800"]


# --- configuration ----------------------------------------------------------------------------


def _front_end(**bank: object) -> object:
    return load_bank_link(Section("host.toml", {"link_port": 0, **bank}, "bank."), lambda kiosk: True)


def test_the_front_end_takes_its_certificate_and_key_together(pki: Pki) -> None:
    link = _front_end(link_tls_cert=str(pki.host_cert), link_tls_key=str(pki.host_key), link_client_ca=str(pki.ca))
    assert dataclasses.asdict(link)["tls"] == (str(pki.host_cert), str(pki.host_key))  # type: ignore[call-overload]
    with pytest.raises(ConfigError, match="bank.link_tls_key.*go together"):
        _front_end(link_tls_cert=str(pki.host_cert))
    with pytest.raises(ConfigError, match="bank.link_tls_cert.*go together"):
        _front_end(link_tls_key=str(pki.host_key))
    with pytest.raises(ConfigError, match="bank.link_client_ca.*needs link_tls_cert"):
        _front_end(link_client_ca=str(pki.ca))
    with pytest.raises(ConfigError, match="bank.link_tls_cert.*cannot load"):   # a key that is not the cert's
        _front_end(link_tls_cert=str(pki.host_cert), link_tls_key=str(pki.client_key))


def _kiosk_file(tmp_path: Path, bank_lines: str) -> Path:
    text = (CONFIG_DIR / "kiosk.demo.toml").read_text(encoding="utf-8")
    head, _, rest = text.partition("[bank]\n")
    (tmp_path / "kiosk.toml").write_text(f"{head}[bank]\n{bank_lines}\n{rest}", encoding="utf-8")
    return tmp_path / "kiosk.toml"


def test_the_kiosk_takes_link_tls_with_its_ca_and_client_certificate(tmp_path: Path, pki: Pki) -> None:
    bank = load_kiosk_settings(_kiosk_file(tmp_path, f'link_tls = true\nlink_ca_file = "{pki.ca}"\n'
                                                     f'link_client_cert = "{pki.client_cert}"\n'
                                                     f'link_client_key = "{pki.client_key}"')).bank
    assert bank is not None and bank.link_tls and bank.link_ca_file == str(pki.ca)
    assert load_kiosk_settings(CONFIG_DIR / "kiosk.demo.toml").bank.link_tls is False   # type: ignore[union-attr]
    for lines, match in ((f'link_ca_file = "{pki.ca}"', "bank.link_ca_file.*only with link_tls"),
                         (f'link_tls = true\nlink_client_cert = "{pki.client_cert}"',
                          "bank.link_client_key.*go together"),
                         ('link_tls = true\nlink_ca_file = "/nowhere/ca.pem"', "bank.link_ca_file.*cannot be read")):
        with pytest.raises(ConfigError, match=match):
            load_kiosk_settings(_kiosk_file(tmp_path, lines))
