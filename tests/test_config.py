import re
import secrets
from pathlib import Path

import pytest

from common.settings import CONFIG_DIR, ConfigError
from kiosk.config import load_kiosk_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_configs_load(tmp_path):
    demo = load_kiosk_settings(CONFIG_DIR / "kiosk.demo.toml")
    assert demo.kiosk_id == "KIOSK-DEMO-01" and demo.language == "zh"
    assert len(demo.tmk) == 16 and demo.device("printer").kind == "sim"
    example = CONFIG_DIR / "kiosk.site-example.toml"
    with pytest.raises(ConfigError, match="placeholder"):      # it cannot start as shipped
        load_kiosk_settings(example)
    own_key = re.sub(r'"REPLACE[^"]*"', lambda _: f'"{secrets.token_hex(16)}"', example.read_text(encoding="utf-8"))
    site = load_kiosk_settings(write(tmp_path, own_key))
    assert site.display.fullscreen and not site.display.show_cursor
    assert site.device("printer").params == {"host": "192.168.10.20", "tcp_port": 9100, "columns": 32}
    # the bank link off loopback without TLS is allowed: a private line, the track encrypted
    assert site.bank is not None and (site.bank.host, site.bank.port, site.bank.mac) == ("10.8.0.2", 5000, "ecb")
    assert demo.bank is not None and (demo.bank.host, demo.bank.port, demo.bank.terminal_id) == \
        ("127.0.0.1", 8583, "KIOSK001")
    assert (demo.bank.tpdu_destination, demo.bank.tpdu_source, demo.bank.settle_at) == ("0003", "0000", "23:30")
    # the transfer limits shown: the host's defaults, in both shipped configs
    assert (demo.transfer.per_transfer_fen, demo.transfer.per_card_day_fen) == (200_000, 500_000) == (
        site.transfer.per_transfer_fen, site.transfer.per_card_day_fen)


SECURITY = "[security]\ntmk = '" + "1032547698BADCFE0123456789ABCDEF" + "'\n"


@pytest.mark.parametrize("body, key, reason", [
    ("[kiosk]\nid='K'\nestate_name='x'\n[bank]\nhost='h'\nport=1\nterminal_id='123456789'\nmerchant_id='m'\n",
     "bank.terminal_id", "1..8 printable"),
    ("[kiosk]\nid='K'\nestate_name='x'\n[bank]\nhost='h'\nport=1\nterminal_id='T'\nmerchant_id='m'\nmac='md5'\n",
     "bank.mac", "must be one of ecb, x919"),
    ("[kiosk]\nid='K'\nestate_name='x'\n[bank]\nhost='h'\nport=1\nterminal_id='T'\nmerchant_id='m'\n"
     "tpdu_source='12'\n", "bank.tpdu_source", "4 hex digits"),
    ("[kiosk]\nid='K'\nestate_name='x'\n[bank]\nhost='h'\nport=1\nterminal_id='T'\nmerchant_id='m'\n"
     "settle_at='25:00'\n", "bank.settle_at", "HH:MM"),
    ("[kiosk]\nid='K'\nestate_name='x'\n[security]\ntmk='1234'\n", "security.tmk", "32 hex digits"),
    ("[kiosk]\nid='K'\nestate_name='x'\n[devices.printer]\nkind='laser'\n", "devices.printer.kind",
     "must be one of sim, network, serial, usb"),
    ("[kiosk]\nid='K'\nestate_name='x'\n[devices.pin_pad]\nkind='serial'\nport=3\n", "devices.pin_pad.port",
     "must be str"),
    ("[kiosk]\nid='K'\nestate_name='x'\n[devices.card_reader]\nspeed=9600\n", "devices.card_reader.speed",
     "unknown key"),
    ("[kiosk]\nid='K'\nestate_name='x'\n[transfer]\nper_transfer_fen=0\n", "transfer.per_transfer_fen",
     "1..16777215 fen"),
    ("[kiosk]\nestate_name='x'\n", "kiosk.id", "is required"),
    ("[kiosk]\nid='K'\nestate_name='x'\nlanguage='fr'\n", "kiosk.language", "must be one of zh, en"),
    ("[kiosk]\nid='K'\nestate_name='x'\nidle_timeout_s='60'\n", "kiosk.idle_timeout_s", "must be int"),
    ("[kiosk]\nid='K'\nestate_name='x'\nidle_timeout_s=3\n", "kiosk.idle_timeout_s", "10..600"),
    ("[kiosk]\nid='K'\nestate_name='x'\n[host]\nurl='ftp://h'\n", "host.url", "http://"),
    ("[kiosk]\nid='K'\nestate_name='x'\n[host]\ntimeout_s=0\n", "host.timeout_s", "greater than 0"),
    ("[kiosk]\nid='K'\nestate_name='x'\nnotices=[1]\n", "kiosk.notices", "list of strings"),
    ("[kiosk]\nid='K'\nestate_name='x'\nidel_timeout_s=60\n", "kiosk.idel_timeout_s", "unknown key"),
    ("[kiosk]\nid='K'\nestate_name='x'\n[dispaly]\n", "dispaly", "unknown key"),
    ("[display]\nwidth=1280\n", "kiosk", "section is required"),
])
def test_bad_config_names_file_key_and_reason(tmp_path, body, key, reason):
    path = write(tmp_path, body if "[security]" in body else body + SECURITY)
    with pytest.raises(ConfigError) as err:
        load_kiosk_settings(path)
    assert err.value.key == key
    assert reason in err.value.reason
    assert str(path) in str(err.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_kiosk_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_kiosk_settings(write(tmp_path, "[kiosk\n"))
