#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint, check formatting, and run the whole test suite.
# The browser tests of the dashboards drive Debian's Chromium (Playwright cannot download its
# own browser here): it is installed with apt-get when /usr/bin/chromium is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
    sudo=()
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    fi
    echo "Installing Chromium for the browser tests (apt-get, about a minute)..." >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
bash scripts/setup.sh dev,local,viz
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
