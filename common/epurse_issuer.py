"""The issuer's side of the PBOC e-purse (DESIGN §5): the card keys and the
MACs computed with them, as pure functions shared by the two parties that hold
card keys — the card (our virtual card, kiosk/devices/sim/cpu_card.py) and the
card centre (host/cards/) — and by the tests. The terminal never holds a card
key, so nothing in `kiosk` outside the simulator imports this module."""
from __future__ import annotations

from dataclasses import dataclass

from common.crypto import diversify, load_session_key, mac_pboc, purchase_session_key
from common.epurse import TxnType, u16, u32


@dataclass(frozen=True)
class PurseKeys:
    """Four 16-byte keys: an issuer's master keys, or one card's diversified keys."""
    dlk: bytes   # load
    dpk: bytes   # purchase
    duk: bytes   # unload
    dtk: bytes   # TAC

    @classmethod
    def from_hex(cls, dlk: str, dpk: str, duk: str, dtk: str) -> "PurseKeys":
        return cls(*(bytes.fromhex(k) for k in (dlk, dpk, duk, dtk)))

    def for_card(self, app_serial: bytes) -> "PurseKeys":
        """The card's own keys, diversified by its application serial number."""
        return PurseKeys(*(diversify(k, app_serial) for k in (self.dlk, self.dpk, self.duk, self.dtk)))

    def __repr__(self) -> str:   # keys never reach a log
        return "PurseKeys(…)"


# DEMO issuer master keys from DESIGN §5: published on purpose so that independent
# terminals and cards interoperate with the demo. Never for production.
DEMO_ISSUER_KEYS = PurseKeys.from_hex(
    dlk="52CA0DE0E5BD568172E8F3580DE35BEA", dpk="1D36BF1CDFC3B17CBA524C9D8C7C1DB9",
    duk="EBEDB73BC785FD9920B790F5C6062F1A", dtk="EDC4AB99FF27EFACEDCC0743D7F89852")


# --- load (and unload: the same with DUK and type 03) ------------------------------
def online_session_key(card_key: bytes, random: bytes, online_counter: int) -> bytes:
    return load_session_key(card_key, random, u16(online_counter))


def load_mac1(sk: bytes, balance: int, amount: int, txn_type: TxnType, term_id: bytes) -> bytes:
    return mac_pboc(sk, u32(balance) + u32(amount) + bytes([txn_type]) + term_id)


def load_mac2(sk: bytes, amount: int, txn_type: TxnType, term_id: bytes, when: bytes) -> bytes:
    return mac_pboc(sk, u32(amount) + bytes([txn_type]) + term_id + when)


def load_tac(dtk: bytes, new_balance: int, online_counter: int, amount: int, txn_type: TxnType,
             term_id: bytes, when: bytes) -> bytes:
    """`online_counter` is the value before the load incremented it."""
    return mac_pboc(dtk, u32(new_balance) + u16(online_counter) + u32(amount) + bytes([txn_type]) + term_id + when)


def unload_mac3(sk: bytes, new_balance: int, online_counter: int, amount: int, term_id: bytes,
                when: bytes) -> bytes:
    """The card's answer to UNLOAD, under the unload session key."""
    return mac_pboc(sk, u32(new_balance) + u16(online_counter) + u32(amount) + bytes([TxnType.UNLOAD])
                    + term_id + when)


# --- purchase ---------------------------------------------------------------------
def purchase_sk(card_dpk: bytes, random: bytes, offline_counter: int, term_txn_no: int) -> bytes:
    return purchase_session_key(card_dpk, random, u16(offline_counter), u32(term_txn_no))


def purchase_mac1(sk: bytes, amount: int, txn_type: TxnType, term_id: bytes, when: bytes) -> bytes:
    return mac_pboc(sk, u32(amount) + bytes([txn_type]) + term_id + when)


def purchase_mac2(sk: bytes, amount: int) -> bytes:
    return mac_pboc(sk, u32(amount))


def purchase_tac(dtk: bytes, amount: int, txn_type: TxnType, term_id: bytes, term_txn_no: int,
                 when: bytes) -> bytes:
    return mac_pboc(dtk, u32(amount) + bytes([txn_type]) + term_id + u32(term_txn_no) + when)
