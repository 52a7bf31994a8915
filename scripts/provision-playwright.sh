#!/usr/bin/env bash
# Puts the npm package playwright-core into mlship's cache, where the
# tracking UI's click tests find it (tracking/ui/playwright_test.go,
# internal/testenv.Playwright):
#   ${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}/playwright/1.65.1/node_modules/playwright-core
#
# playwright-core drives Debian's /usr/bin/chromium; it never downloads a
# browser of its own (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD is set regardless).
# Needs node and npm. Idempotent and offline-friendly (scripts/npm-cache.sh).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/npm-cache.sh"

VERSION=1.65.1 # internal/testenv.PlaywrightVersion

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm_cache_install provision-playwright playwright playwright-core "$VERSION" "playwright-core" \
  'require("playwright-core").chromium.executablePath; process.exit(0)'
