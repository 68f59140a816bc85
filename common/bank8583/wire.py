"""A whole frame: `build` a message into LEN ‖ TPDU ‖ HEADER ‖ body with its
MAC, `parse` one back and check its MAC against the bytes as received."""
from __future__ import annotations

from dataclasses import dataclass

from common.bank8583 import mac
from common.bank8583.codec import Message, pack, unpack
from common.bank8583.errors import BadMac
from common.bank8583.framing import Frame, Header, Tpdu, decode_frame, encode_frame
from common.bank8583.spec import MAC_FIELD


def mac_body(message: Message, mak: bytes, algorithm: mac.MacAlgorithm = "ecb") -> bytes:
    """The message packed with field 64 computed: bit 64 is set before the MAB
    is taken, and 64 is the last field, so the MAB is the body less 8 bytes."""
    body = pack(Message(message.mti, {**message.fields, MAC_FIELD: bytes(mac.MAC_SIZE)}))
    mab = body[:-mac.MAC_SIZE]
    return mab + mac.compute(mak, mab, algorithm)


def build(tpdu: Tpdu, header: Header, message: Message,
          mak: bytes | None = None, algorithm: mac.MacAlgorithm = "ecb") -> bytes:
    """The framed message; with a MAK, field 64 is (re)computed, without one the
    message goes as given (sign-on carries no MAC)."""
    body = pack(message) if mak is None else mac_body(message, mak, algorithm)
    return encode_frame(Frame(tpdu, header, body))


@dataclass(frozen=True)
class Parsed:
    tpdu: Tpdu
    header: Header
    message: Message
    body: bytes  # MTI onwards, as received: the MAC is over these bytes

    @property
    def has_mac(self) -> bool:
        return MAC_FIELD in self.message.fields

    def verify_mac(self, mak: bytes, algorithm: mac.MacAlgorithm = "ecb") -> None:
        """BadMac when 64 is absent or wrong. (A declined reply may omit 64:
        the caller decides, by `has_mac`, whether to ask.)"""
        if not self.has_mac:
            raise BadMac("field 64 is missing", str(MAC_FIELD))
        mac.verify(mak, self.body[:-mac.MAC_SIZE], self.message.data(MAC_FIELD), algorithm)


def parse(data: bytes) -> Parsed:
    """One whole frame (LEN included); WireError for anything malformed."""
    frame = decode_frame(data)
    return Parsed(frame.tpdu, frame.header, unpack(frame.body), frame.body)
