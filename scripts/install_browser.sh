#!/usr/bin/env bash
# A Chromium for the leaderboard page test (tests/realnet_plugin/leaderboard/test_page.py, driven by Playwright).
# Does nothing when /usr/bin/chromium or Playwright's own Chromium is present; as root (or with password-less sudo)
# installs Debian's chromium with apt-get; otherwise prints ONE line saying how to install it and exits 0, so that
# `make test` goes on and the page test fails with that same line.
# Usage: bash scripts/install_browser.sh [PYTHON]   (PYTHON: the interpreter that has playwright, e.g. .venv/bin/python)
set -uo pipefail

CHROMIUM=/usr/bin/chromium
PYTHON=${1:-python3}
HINT="install_browser.sh: no Chromium for the page test; install one with \`sudo apt-get install chromium\` (Debian/Ubuntu) or \`$PYTHON -m playwright install chromium\` (no root needed)"

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
# Playwright's downloaded Chromium (`python -m playwright install chromium`) serves as well.
if "$PYTHON" - 2>/dev/null <<'PY'
import sys
from pathlib import Path
from playwright.sync_api import sync_playwright
with sync_playwright() as playwright:
    sys.exit(0 if Path(playwright.chromium.executable_path).exists() else 1)
PY
then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "$HINT"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core; } \
        || [ ! -x "$CHROMIUM" ]; then
    echo "$HINT (apt-get did not install $CHROMIUM, see above)"
    exit 0
fi
echo "install_browser.sh: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
