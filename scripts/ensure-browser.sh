#!/usr/bin/env bash
# Install what the dashboard's browser tests drive: Debian's Chromium (playwright's own
# browser download does not work on these machines; the tests start /usr/bin/chromium), and
# the Noto CJK fonts so the screenshots the tests keep show Chinese, not boxes.
# Set CASECHAIN_CHROMIUM to another Chromium binary to skip the installation.
set -euo pipefail

browser="${CASECHAIN_CHROMIUM:-/usr/bin/chromium}"
packages=()
if [ ! -x "$browser" ]; then packages+=(chromium); fi
if [ -z "${CASECHAIN_CHROMIUM:-}" ] && ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
    packages+=(fonts-noto-cjk)
fi
if [ "${#packages[@]}" -eq 0 ]; then
    echo "Chromium is at $browser (CJK fonts installed)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no Chromium at $browser and no apt-get to install Debian's package;" >&2
    echo "install Chromium and set CASECHAIN_CHROMIUM to its binary." >&2
    exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo -n); fi
echo "installing Debian's ${packages[*]} (the dashboard's browser tests need them) ..."
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null; then
    "${as_root[@]}" apt-get update -q >/dev/null
    "${as_root[@]}" apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null
fi
"$browser" --version 2>/dev/null  # Debian's wrapper script prints a harmless shell warning
