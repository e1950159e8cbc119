#!/usr/bin/env bash
# Idempotent install of the headless browser that the HTML report's browser tests drive
# (tests/browser, tox env `browser`): Chromium from Debian's packages. Playwright for Python
# (pinned in requirements/constraints.txt) drives it through `executable_path`; Playwright's
# own browser downloads (`playwright install`) are never used.
#
# Installs only when no Chromium is found, so re-running costs nothing. Needs root (or sudo)
# for apt. Environment: MWAA_DRILL_CHROMIUM, a Chromium to use instead (nothing is installed).
set -euo pipefail

if [ -n "${MWAA_DRILL_CHROMIUM:-}" ]; then
    if [ -x "$MWAA_DRILL_CHROMIUM" ]; then
        exit 0
    fi
    echo "install-browser: MWAA_DRILL_CHROMIUM=$MWAA_DRILL_CHROMIUM is not an executable" >&2
    exit 2
fi
if [ -x /usr/lib/chromium/chromium ] || command -v chromium >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-browser: need root or sudo to apt-get install chromium" >&2
        exit 2
    fi
    SUDO=sudo
fi
echo "install-browser: installing chromium from apt"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
if ! { [ -x /usr/lib/chromium/chromium ] || command -v chromium >/dev/null 2>&1; }; then
    echo "install-browser: chromium is still missing after apt-get install" >&2
    exit 1
fi
echo "install-browser: $(chromium --version 2>/dev/null || echo chromium installed)"
