#!/usr/bin/env bash
# System programs the tests drive for real: tmux (the terminal chat) and Chromium (the HTML
# report's screenshot test). Installed from Debian's packages when missing (about 20 s).
set -euo pipefail
missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "error: the tests need ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
  exit 2
fi
SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
echo "installing ${missing[*]} for the tests"
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
