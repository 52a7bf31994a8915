#!/usr/bin/env bash
# Puts the ONNX Runtime shared library into mlship's cache, where the onnx
# flavor finds it without any configuration:
#   ${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}/onnxruntime/1.30.0/libonnxruntime.so.1
#
# The library comes from the npm package onnxruntime-node@1.30.0, which
# ships the official Linux x64 build (its install script downloads more and
# is not needed: only the one file is extracted). The checksum is verified.
# Idempotent: does nothing when the verified library is already there.
set -euo pipefail

VERSION=1.30.0
SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
MEMBER=package/bin/napi-v6/linux/x64/libonnxruntime.so.1

cache="${MLSHIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlship}"
dest="$cache/onnxruntime/$VERSION"
lib="$dest/libonnxruntime.so.1"

verify() { echo "$SHA256  $1" | sha256sum --check --status; }

if [[ -f "$lib" ]] && verify "$lib"; then
  echo "onnxruntime $VERSION: $lib"
  exit 0
fi

if [[ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]]; then
  echo "provision-onnxruntime: only linux/x86_64 is provisioned automatically;" >&2
  echo "install ONNX Runtime $VERSION and set MLSHIP_ONNXRUNTIME_LIB" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
if command -v npm >/dev/null 2>&1; then
  npm pack --silent "onnxruntime-node@$VERSION" >/dev/null
else
  # No npm: fetch the same tarball from the registry directly.
  curl -fsSLo "onnxruntime-node-$VERSION.tgz" \
    "https://registry.npmjs.org/onnxruntime-node/-/onnxruntime-node-$VERSION.tgz"
fi
tar xzf "onnxruntime-node-$VERSION.tgz" "$MEMBER"
if ! verify "$MEMBER"; then
  echo "provision-onnxruntime: checksum mismatch for $MEMBER" >&2
  exit 1
fi
mkdir -p "$dest"
install -m 0644 "$MEMBER" "$lib.tmp.$$"
mv "$lib.tmp.$$" "$lib"
echo "onnxruntime $VERSION: $lib"
