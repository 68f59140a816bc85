"""Host TOML: the shipped files load; a bad file names file, key and reason."""
import re
import secrets
from decimal import Decimal
from pathlib import Path

import pytest

from host.config import DEMO_HOST_CONFIG, ConfigError, load_host_settings
from tests.support.host_env import TEST_HOST_TOML
from common.settings import CONFIG_DIR


def test_demo_config_loads_with_tiered_tariffs() -> None:
    settings = load_host_settings(DEMO_HOST_CONFIG)
    assert settings.estate_name == "翠湖花园"
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 8700)
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("var/host.sqlite3")
    assert Path(settings.database_url.removeprefix("sqlite:///")).is_absolute()
    electricity = settings.tariff("electricity").tiers
    assert [t.up_to for t in electricity] == [Decimal(180), Decimal(350), None]
    assert settings.tariff("gas").tiers[0].up_to is None
    assert settings.tariff("property").tiers[0].price_text == "2.50"
    assert settings.late_fee_daily_rate == Decimal("0.0005")
    assert [t.utility for t in settings.tariffs] == ["water", "electricity", "gas", "property"]


def test_site_example_loads_with_a_postgresql_url(tmp_path: Path) -> None:
    example = CONFIG_DIR / "host.site-example.toml"
    with pytest.raises(ConfigError, match="placeholder"):     # it cannot start as shipped
        load_host_settings(example)
    own_keys = tmp_path / "host.toml"
    own_keys.write_text(re.sub(r'"REPLACE[^"]*"', lambda _: f'"{secrets.token_hex(16)}"',
                               example.read_text(encoding="utf-8")), encoding="utf-8")
    settings = load_host_settings(own_keys)
    assert settings.database_url.startswith("postgresql")
    assert len(settings.tariff("gas").tiers) == 2


def bad(tmp_path: Path, old: str, new: str) -> ConfigError:
    text = TEST_HOST_TOML.replace(old, new)
    assert text != TEST_HOST_TOML, "the replacement must change the file"
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_host_settings(path)
    assert info.value.file == str(path)
    return info.value


@pytest.mark.parametrize("old,new,key,reason", [
    ("due_days = 30", "due_day = 30", "billing.due_day", "unknown key"),
    ('price_per_m2 = "2.50"', 'price_per_m2 = "2.50"\ncolour = "red"', "tariffs.property.colour", "unknown key"),
    ('{up_to = 180, price = "0.4883"}', "{up_to = 180, price = 0.4883}",
     "tariffs.electricity.tiers[0].price", "in quotes"),
    ('{up_to = 180, price = "0.4883"}', '{up_to = 180, price = "0.48831"}',
     "tariffs.electricity.tiers[0].price", "at most 4 places"),
    ('{up_to = 180, price = "0.4883"}', '{up_to = 180, price = "0"}',
     "tariffs.electricity.tiers[0].price", "positive"),
    ("{up_to = 350,", "{up_to = 170,", "tariffs.electricity.tiers[1].up_to", "greater than the previous"),
    ('{price = "0.7883"}', '{up_to = 500, price = "0.7883"}', "tariffs.electricity.tiers[2].up_to", "open-ended"),
    ("{up_to = 22, price", "{price", "tariffs.water.tiers[1].up_to", "every tier but the last"),
    ('{up_to = 15, price = "5.00"}', '{up_to = 15, price = "5.00", colour = 1}', "tariffs.water.tiers[0].colour",
     "unknown key"),
    ('tiers = [{price = "2.63"}]', "tiers = []", "tariffs.gas.tiers", "at least one tier"),
    ('daily_rate = "0.0005"', "daily_rate = 0.0005", "late_fee.daily_rate", "must be str"),
    ('daily_rate = "0.0005"', 'daily_rate = "5%"', "late_fee.daily_rate", "decimal below 1"),
    ("listen_port = 0", "listen_port = 70000", "host.listen_port", "0..65535"),
    ('[tariffs.gas]\ntiers = [{price = "2.63"}]', "", "tariffs.gas", "section is required"),
])
def test_bad_values_name_the_key_and_reason(tmp_path: Path, old: str, new: str, key: str, reason: str) -> None:
    error = bad(tmp_path, old, new)
    assert error.key == key
    assert reason in error.reason


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_host_settings(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[host\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_host_settings(broken)
