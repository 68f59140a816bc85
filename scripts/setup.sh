#!/usr/bin/env bash
# Installs everything `make demo` and `make test` need on a fresh Debian 12
# machine: system packages (as root, or through sudo), then a virtualenv.
# Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  xvfb xauth                      # virtual display for the demo tour and UI tests
  faketime                        # libfaketime: `make test` runs the date-sensitive tests at set instants
  libgl1-mesa-dri libegl1 libgl1  # Mesa OpenGL for Kivy under Xvfb
  libmtdev1                       # Kivy's multitouch input (loaded even when unused)
  fonts-wqy-microhei              # Simplified Chinese font: no glyph renders as a box
  chromium                        # headless browser for the console's browser tests (Playwright drives it)
  pcscd vsmartcard-vpcd           # PC/SC daemon + virtual readers for simulated cards
  libpcsclite-dev swig            # to build pyscard
  openssl                         # the TLS tests make a throw-away CA and host certificate (tests/support/tls.py)
  postgresql                      # the host tests' second backend: each test session starts a private server (tests/support/postgres.py)
  python3-venv python3-dev gcc
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's package starts a system cluster on 5432; the tests never use it (they
# run their own, as the unprivileged `postgres` user when run as root). Make sure
# that user exists even where the package's scripts did not create it.
if ! getent passwd postgres >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
STAMP=.venv/.installed
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "setup: creating virtualenv in .venv"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
  touch "$STAMP"
fi

# The message catalogues (docs/i18n.md): every .po compiled to the .mo that the
# kiosk and the console read. Build outputs, not in git; common/catalogue.py
# refuses a missing one or one older than its .po. Cheap, so done every time.
.venv/bin/pybabel -q compile -d kiosk/locale -D kiosk
.venv/bin/pybabel -q compile -d host/console/locale -D console
