# Sourced, not run: the one way the provision-*.sh scripts put an npm
# package into mlship's cache, where the tests find it (internal/testenv):
#   ${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}/DIR/VERSION/node_modules/PACKAGE
#
# npm_cache_install NAME DIR PACKAGE VERSION LABEL CHECK_JS [HINT]
#   NAME      the calling script, for messages (provision-duckdb)
#   LABEL     what is printed with the path on success ("duckdb node-api")
#   CHECK_JS  node code run in the install directory that exits 0 when the
#             package works; a new install must pass it before it replaces
#             the old one
#   HINT      appended to the message when a new install does not load
#
# Needs node and npm. Idempotent and offline-friendly: does nothing, and
# touches no network, when a working install is already there. npm never
# writes a package.json or lock file (--no-save, --no-package-lock) nor
# touches the caller's project (--prefix); the install is built in a
# temporary directory beside the destination and moved into place whole,
# so an interrupted run leaves the old install (or none), never half a one.

# npm_cache_works DIR CHECK_JS: the package loads from DIR and passes CHECK_JS.
npm_cache_works() {
  [[ -f "$1/.complete" ]] || return 1
  (cd "$1" && node -e "$2") >/dev/null 2>&1
}

npm_cache_install() {
  local name=$1 dir=$2 pkg=$3 version=$4 label=$5 check=$6 hint=${7:-}
  local cache="${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}"
  local base="$cache/$dir"
  local dest="$base/$version"

  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "$name: node and npm are needed (apt-get install nodejs npm)" >&2
    return 1
  fi
  if npm_cache_works "$dest" "$check"; then
    echo "$label $version: $dest"
    return 0
  fi

  mkdir -p "$base"
  # Global, so the EXIT trap still sees it if this shell exits early.
  npm_cache_work="$(mktemp -d "$base/.install-XXXXXX")"
  trap 'rm -rf "$npm_cache_work"' EXIT
  npm install --prefix "$npm_cache_work" --no-save --no-package-lock --no-audit --no-fund \
    --loglevel=error "$pkg@$version" >/dev/null
  touch "$npm_cache_work/.complete"
  if ! npm_cache_works "$npm_cache_work" "$check"; then
    echo "$name: $pkg@$version installed but does not load${hint:+ ($hint)}" >&2
    return 1
  fi
  rm -rf "$dest"
  mv "$npm_cache_work" "$dest"
  trap - EXIT
  echo "$label $version: $dest"
}
