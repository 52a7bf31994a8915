#!/usr/bin/env bash
# Measures `mlship build-docker` on the ONNX example: compressed image size,
# build time without a daemon, the rebuild after a model-only change (and
# which layers it changes), pushes to a real registry (Debian's
# docker-registry on 127.0.0.1, when installed) and the time from starting
# the image's entrypoint under chroot (as root) to /ping answering 200.
# Writes bench/results/image-latest.md.
#
#   bench/image.sh              # 5 runs per step
#   bench/image.sh -runs 9      # any bench/image flag passes through
#   STRIP=1 bench/image.sh      # measure a stripped binary (-ldflags '-s -w') too
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"

scripts/provision-onnxruntime.sh >/dev/null
"$GO" build -trimpath -o bin/mlship ./cmd/mlship
"$GO" build -trimpath -o bin/imagebench ./bench/image

mkdir -p bench/results
out=bench/results/image-latest.md
tmp="$out.$$.tmp"
trap 'rm -f "$tmp"' EXIT
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain -- pack internal/cli cmd 2>/dev/null)" ]]; then commit="$commit (with uncommitted changes)"; fi
{
  echo "# mlship build-docker: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- produced by: \`bench/image.sh${*:+ $*}\` at commit $commit"
  echo "- machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
  echo
  echo "## \`go build -trimpath\` binary"
  echo
  bin/imagebench -mlship bin/mlship "$@"
  if [[ "${STRIP:-}" == 1 ]]; then
    "$GO" build -trimpath -ldflags '-s -w' -o bin/mlship-stripped ./cmd/mlship
    echo
    echo "## stripped binary (\`-ldflags '-s -w'\`)"
    echo
    bin/imagebench -mlship bin/mlship-stripped "$@"
  fi
} >"$tmp"
mv "$tmp" "$out"
cat "$out"
