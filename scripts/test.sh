#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint, check formatting, check the layering (import-linter's contracts
# in pyproject.toml), and run the whole test suite.
# The browser tests of the dashboards drive Debian's Chromium (Playwright cannot download its
# own browser here): it is installed with apt-get when /usr/bin/chromium is missing, and npm
# (which fetches the pages' front-end assets) likewise.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium chromium-driver)
command -v npm >/dev/null 2>&1 || packages+=(npm)  # fetches the dashboards' front-end assets
if [ "${#packages[@]}" -gt 0 ]; then
    sudo=()
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    fi
    echo "Installing ${packages[*]} for the browser tests (apt-get, about a minute)..." >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi
bash scripts/setup.sh dev,local,local-more,viz
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
.venv/bin/python -m pytest "$@"
