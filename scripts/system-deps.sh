#!/usr/bin/env bash
# Installs the system libraries Qt 6 needs, and the PostgreSQL server the team-mode tests run, on
# Debian/Ubuntu, only those missing, so an already set-up machine is never asked for a password.
# Elsewhere it does nothing.
set -euo pipefail
command -v dpkg-query >/dev/null 2>&1 || exit 0
pkgs=(
  libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3
  libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libwayland-cursor0
  fonts-dejavu-core
  # Team mode: the tests start a throw-away cluster of Debian's real PostgreSQL server
  # (tests/helpers/pg.py), as the unprivileged account this package creates.
  postgresql
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing system libraries for Qt: ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
