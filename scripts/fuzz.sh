#!/usr/bin/env bash
# Runs every native Go fuzz target in the module for a short time
# (default 5s each) beyond its seed corpus. `go test -fuzz` takes one target
# per run, so targets are listed and run one by one.
set -euo pipefail
fuzztime="${1:-5s}"
cd "$(dirname "$0")/.."
status=0
while read -r pkg; do
  dir="$(go list -f '{{.Dir}}' "$pkg")"
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz: $pkg $target ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$pkg" >/tmp/fuzz.$$.log 2>&1; then
      cat /tmp/fuzz.$$.log
      status=1
    fi
  done
done < <(go list ./...)
rm -f /tmp/fuzz.$$.log
exit $status
