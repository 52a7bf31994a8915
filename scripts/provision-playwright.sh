#!/usr/bin/env bash
# Puts the npm package playwright-core into mlship's cache, where the
# tracking UI's click tests find it (tracking/ui/playwright_test.go):
#   ${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}/playwright/1.65.1/node_modules/playwright-core
#
# playwright-core drives Debian's /usr/bin/chromium; it never downloads a
# browser of its own (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD is set regardless).
# Needs node and npm. Idempotent and offline-friendly: does nothing, and
# touches no network, when a working install is already there.
set -euo pipefail

VERSION=1.65.1

cache="${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}"
base="$cache/playwright"
dest="$base/$VERSION"

works() {
  [[ -f "$1/.complete" ]] || return 1
  (cd "$1" && node -e 'require("playwright-core").chromium.executablePath; process.exit(0)') >/dev/null 2>&1
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "provision-playwright: node and npm are needed (apt-get install nodejs npm)" >&2
  exit 1
fi

if works "$dest"; then
  echo "playwright-core $VERSION: $dest"
  exit 0
fi

mkdir -p "$base"
work="$(mktemp -d "$base/.install-XXXXXX")"
trap 'rm -rf "$work"' EXIT
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$work" --no-save --no-package-lock --no-audit --no-fund \
  --loglevel=error "playwright-core@$VERSION" >/dev/null
touch "$work/.complete"
if ! works "$work"; then
  echo "provision-playwright: playwright-core@$VERSION installed but does not load" >&2
  exit 1
fi
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "playwright-core $VERSION: $dest"
