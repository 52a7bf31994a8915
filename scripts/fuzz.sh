#!/usr/bin/env bash
# Runs every native Go fuzz target in the module for a short time
# (default 5s each) beyond its seed corpus. `go test -fuzz` takes one target
# per run, so targets are listed and run one by one.
#
# Go 1.26's fuzz coordinator can fail a run with a bare "context deadline
# exceeded" at the -fuzztime boundary although no input failed
# (golang/go#75804, fixed in Go 1.27). A run that fails that way without
# writing a reproducer to testdata/fuzz/<target>/ is retried, up to twice;
# any failure that wrote a reproducer, or any other failure, fails the script.
set -euo pipefail
fuzztime="${1:-5s}"
cd "$(dirname "$0")/.."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
count() { if [[ -d "$1" ]]; then find "$1" -type f | wc -l; else echo 0; fi; }
while read -r pkg; do
  dir="$(go list -f '{{.Dir}}' "$pkg")"
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    corpus="$dir/testdata/fuzz/$target"
    for attempt in 1 2 3; do
      echo "fuzz: $pkg $target ($fuzztime)$([[ $attempt -gt 1 ]] && echo ", attempt $attempt")"
      before="$(count "$corpus")"
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 5s "$pkg" >"$log" 2>&1; then
        break
      fi
      after="$(count "$corpus")"
      if [[ "$after" == "$before" && $attempt -lt 3 ]] && grep -q '^    context deadline exceeded$' "$log" \
        && ! grep -q 'Failing input written' "$log"; then
        echo "fuzz: $target stopped with Go's fuzztime race (golang/go#75804), no failing input; retrying"
        continue
      fi
      cat "$log"
      status=1
      break
    done
  done
done < <(go list ./...)
exit $status
