#!/usr/bin/env bash
# Installs the headless Chromium the playground's browser tests drive (Debian's
# chromium-headless-shell) and a font for its screenshots, when missing.
set -euo pipefail
bin=/usr/bin/chromium-headless-shell
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
[ -x "$bin" ] && [ -f "$font" ] && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -q >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium-headless-shell fonts-dejavu-core >&2
"$bin" --version >&2
