"""Byte-exact exchanges of the magnetic-stripe reader protocol (msr_codec),
as data: bytes in -> events out, events in -> bytes out."""
import pytest

from kiosk.devices import msr_codec as codec
from kiosk.devices.msr_codec import (
    Ack,
    CardData,
    Command,
    FrameError,
    Nak,
    ReaderDecoder,
    Track,
    TrackStatus,
)

TRACK2 = ";6222021000000000017=30121010000?"                        # 33 = 0x21 bytes
TRACK1 = "%B6222021000000000017^ICBC/DEMO CARD^30121010000000000?"   # 55 = 0x37 bytes

# STX 'C' | '1' 00 (track 1 blank) | '0' 21 track 2 | '1' 00 (track 3 blank) | ETX LRC
FRAME_T2 = (bytes.fromhex("02 43 31 00 30 21") + TRACK2.encode()
            + bytes.fromhex("31 00 03 69"))
FRAME_T1_T2 = (bytes.fromhex("02 43 30 37") + TRACK1.encode() + bytes.fromhex("30 21")
               + TRACK2.encode() + bytes.fromhex("31 00 03 15"))
# track 2 read error on the stripe: '2' with no data
FRAME_T2_ERROR = bytes.fromhex("02 43 31 00 32 00 31 00 03 72")


@pytest.mark.parametrize("command, wire", [
    (Command.ARM, "02 41 03 42"),
    (Command.DISARM, "02 44 03 47"),
    (Command.STATUS, "02 53 03 50"),
])
def test_host_commands_byte_exact(command, wire):
    assert codec.encode_command(command) == bytes.fromhex(wire)
    assert codec.decode_command(bytes.fromhex(wire)) is command


def test_reader_refuses_command_with_bad_lrc_or_unknown_code():
    assert codec.decode_command(bytes.fromhex("02 41 03 43")) is None   # bad LRC
    assert codec.decode_command(bytes.fromhex("02 5A 03 59")) is None   # no such command
    assert codec.decode_command(bytes.fromhex("02 41 03")) is None      # short


def test_command_splitter_skips_noise_and_waits_for_whole_frames():
    splitter = codec.CommandSplitter()
    assert splitter.feed(bytes.fromhex("FF 00 02 41")) == []
    assert splitter.feed(bytes.fromhex("03 42 02 44 03 47")) == [bytes.fromhex("02 41 03 42"),
                                                                bytes.fromhex("02 44 03 47")]


def test_card_frame_encodes_byte_exact():
    assert codec.encode_card_data((Track.blank(), Track.ok(TRACK2), Track.blank())) == FRAME_T2
    assert codec.encode_card_data(
        (Track.ok(TRACK1), Track.ok(TRACK2), Track.blank())) == FRAME_T1_T2
    assert codec.encode_card_data(
        (Track.blank(), Track.error(), Track.blank())) == FRAME_T2_ERROR


def test_ack_then_card_frame_decode():
    events = ReaderDecoder().feed(bytes([codec.ACK]) + FRAME_T1_T2)
    assert events[0] == Ack()
    card = events[1]
    assert isinstance(card, CardData)
    assert card.tracks[0] == Track.ok(TRACK1)
    assert card.track2 == Track.ok(TRACK2)
    assert card.tracks[2].status is TrackStatus.BLANK


def test_frame_split_across_reads_byte_by_byte():
    decoder = ReaderDecoder()
    events = []
    for byte in FRAME_T2:
        events += decoder.feed(bytes([byte]))
    assert events == [CardData((Track.blank(), Track.ok(TRACK2), Track.blank()))]
    assert not decoder.in_frame


def test_noise_before_stx_is_skipped():
    events = ReaderDecoder().feed(bytes.fromhex("00 FF 7F 41 0D 0A") + FRAME_T2)
    assert events == [CardData((Track.blank(), Track.ok(TRACK2), Track.blank()))]


def test_nak_is_an_event():
    assert ReaderDecoder().feed(bytes([codec.NAK])) == [Nak()]


def test_track2_read_error_status():
    (card,) = ReaderDecoder().feed(FRAME_T2_ERROR)
    assert card.track2 == Track.error()


def test_bad_lrc_is_a_frame_error_and_the_next_frame_still_decodes():
    bad = FRAME_T2[:-1] + bytes([FRAME_T2[-1] ^ 0x01])
    events = ReaderDecoder().feed(bad + FRAME_T2)
    assert events == [FrameError("bad LRC"),
                      CardData((Track.blank(), Track.ok(TRACK2), Track.blank()))]


def test_truncated_frame_expires_into_a_frame_error():
    decoder = ReaderDecoder()
    assert decoder.feed(FRAME_T2[:20]) == []
    assert decoder.in_frame
    assert decoder.expire() == [FrameError("truncated frame")]
    assert decoder.expire() == []
    assert decoder.feed(FRAME_T2)[0].track2.data == TRACK2


@pytest.mark.parametrize("wire, reason", [
    ("02 58", "unknown message type 0x58"),                  # not 'C'
    ("02 43 39", "track 1: bad status 0x39"),
    ("02 43 31 00 32 05", "track 2: bad length 5"),         # error status carries data
    ("02 43 31 00 30 29", "track 2: bad length 41"),        # longer than track 2 can be
    ("02 43 31 00 31 00 31 00 04 00", "ETX missing"),
])
def test_malformed_frames(wire, reason):
    assert ReaderDecoder().feed(bytes.fromhex(wire)) == [FrameError(reason)]


def test_track_data_never_in_repr():
    card = ReaderDecoder().feed(FRAME_T2)[0]
    assert "6222021000000000017" not in repr(card)
