#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the leaderboard page test; does nothing when it is present.
# Idempotent: safe to call from `make test` on every run. Needs root (or sudo) for apt-get.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install_browser.sh: $CHROMIUM is missing and installing it needs root (apt-get install chromium)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core

if [ ! -x "$CHROMIUM" ]; then
    echo "install_browser.sh: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "install_browser.sh: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
