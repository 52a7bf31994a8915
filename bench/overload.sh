#!/usr/bin/env bash
# Overload test: `mlship serve` in its own process, measured unloaded
# (concurrency 1), at capacity (closed loop at CAPACITY_CLIENTS, default 64,
# whose successful throughput is taken as the capacity; keep it at or below
# --max-queue or the phase itself sees 503s), then offered OVERLOAD times that
# capacity open-loop for OVERLOAD_DURATION by up to CLIENTS connections. The
# server's RSS is sampled from /proc/PID/status every 0.5 s throughout.
# Prints the three reports and a summary: 503 rate, accepted p99 against the
# unloaded p99, CPU, RSS per phase. The server is stopped by PID.
#
#   bench/overload.sh                                  # MLP example, serve defaults
#   bench/overload.sh examples/iris-onnx/model
#   SERVE_FLAGS='--max-queue 64' bench/overload.sh     # any mlship serve flag
#   BENCH_FLAGS='--client lean' bench/overload.sh      # any mlship bench flag, every phase
#   SERVE_ENV='GOMAXPROCS=1' bench/overload.sh         # environment of the server only
#   OVERLOAD=4 OVERLOAD_DURATION=30s CLIENTS=1024 CAPACITY_CLIENTS=64 bench/overload.sh
#   RATE=7000 bench/overload.sh   # offer this many req/s instead of OVERLOAD x the
#                                 # capacity measured (to compare servers whose
#                                 # capacity phase differs, e.g. one refusing at it)
#
# Outputs go to bench/results/overload-<model dir name>[-TAG].* (TAG from
# $TAG): the three JSON reports, the RSS samples and summary.md. The
# server's log goes to a temporary file, deleted at the end (under overload
# it grows by tens of MB); the summary counts its lines. SUMMARY_ONLY=1
# rewrites the summary from existing outputs without running anything.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
MODEL="${1:-examples/mlp-onnx/model}"
OVERLOAD="${OVERLOAD:-4}"
DURATION="${DURATION:-10s}"
OVERLOAD_DURATION="${OVERLOAD_DURATION:-30s}"
CLIENTS="${CLIENTS:-1024}"
CAPACITY_CLIENTS="${CAPACITY_CLIENTS:-64}"
name="overload-$(basename "$(dirname "$MODEL")")${TAG:+-$TAG}"
out="bench/results/$name"

summary() { # [server log]
  /usr/bin/python3 - "$out" "$OVERLOAD" "${1:-}" <<'PY'
import json, sys
out, factor, log = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rep = {p: json.load(open(f"{out}.{p}.json")) for p in ("unloaded", "capacity", "overload")}
lv = {p: r["levels"][0] for p, r in rep.items()}
s = {p: l["server"] for p, l in lv.items()}
o = s["overload"]
sent = o["requests"]
rejected = sum(o["errors"].values())
offered = sent + o.get("skipped", 0)
print(f"## Overload summary: {out}\n")
for p, r in rep.items():
    print(f"- {p}: `{r['command']}`")
print(f"- capacity (closed loop, {lv['capacity']['concurrency']} clients): {s['capacity']['throughput_rps']:.0f} req/s, "
      f"p99 {s['capacity']['latency_us']['p99']:.0f} µs, errors {s['capacity']['errors'] or 'none'}")
print(f"- unloaded (1 client): p50 {s['unloaded']['latency_us']['p50']:.0f} µs, p99 {s['unloaded']['latency_us']['p99']:.0f} µs")
print(f"- offered {offered / o['duration_s'] / s['capacity']['throughput_rps']:.2g}x the capacity measured for {o['duration_s']:.1f} s: {offered} arrivals ({offered / o['duration_s']:.0f}/s), "
      f"{sent} sent, {o.get('skipped', 0)} not sent (no free client of {lv['overload']['concurrency']})")
print(f"- answered: {o['ok']} ok ({o['throughput_rps']:.0f}/s), errors {o['errors'] or 'none'} ({100 * rejected / max(sent, 1):.1f}% of sent)")
if "failed_latency_us" in o:
    print(f"- rejected requests' latency: p50 {o['failed_latency_us']['p50']:.0f} µs, p99 {o['failed_latency_us']['p99']:.0f} µs")
ratio = o["latency_us"]["p99"] / s["unloaded"]["latency_us"]["p99"]
print(f"- accepted p99 {o['latency_us']['p99']:.0f} µs = {ratio:.1f}x the unloaded p99 (target <= 5x: {'met' if ratio <= 5 else 'NOT met'}); "
      f"accepted p50 {o['latency_us']['p50']:.0f} µs")
print("- CPU (machine busy / load generator, % of all CPUs): " + "; ".join(
    f"{p} {l['cpu']['machine_busy_pct']:.0f} / {l['cpu']['process_pct']:.0f}" for p, l in lv.items()))
rss = {}
for line in open(f"{out}.rss.tsv"):
    if len(line.split()) != 3:
        continue  # the phase label was read while being rewritten
    _, phase, kib = line.split()
    rss.setdefault(phase, []).append(int(kib) / 1024)
print("- server RSS (MiB) per phase, min / max / last: " + "; ".join(
    f"{p} {min(v):.1f} / {max(v):.1f} / {v[-1]:.1f}" for p, v in rss.items()))
try:
    peak = {}
    for line in open(f"{out}.gomem.txt"):
        f = line.split()
        kv = dict(x.split("=") for x in f[2:])
        if f[1] not in peak or int(kv["rss_kib"]) > int(peak[f[1]]["rss_kib"]):
            peak[f[1]] = kv
    print("- Go memory at each phase's highest RSS sample (/metrics every 2 s): " + "; ".join(
        f"{p} RSS {int(kv['rss_kib']) / 1024:.1f} MiB, {kv['goroutines']} goroutines, stacks {kv['stack_mib']}, heap in use "
        f"{kv['heap_inuse_mib']}, heap freed not returned {kv['heap_idle_unreleased_mib']}, Go total {kv['go_sys_mib']} MiB"
        for p, kv in peak.items()))
except FileNotFoundError:
    pass
try:
    print("- server's refusals by reason and queue-delay target at the end: " +
          "; ".join(l.strip() for l in open(f"{out}.rejected.txt")))
except FileNotFoundError:
    pass
if log:
    lines = open(log, errors="replace").read().splitlines()
    warn = sum(1 for l in lines if "level=WARN" in l)
    print(f"- server log: {len(lines)} lines, {warn} of them at WARN")
PY
}

if [[ -n "${SUMMARY_ONLY:-}" ]]; then
  summary | tee "$out.summary.md"
  exit 0
fi

scripts/provision-onnxruntime.sh >/dev/null
"$GO" build -trimpath -o bin/mlship ./cmd/mlship
mkdir -p bench/results
log="$(mktemp "${TMPDIR:-/tmp}/mlship-overload-log.XXXXXX")"
phase_file="$(mktemp "${TMPDIR:-/tmp}/mlship-overload-phase.XXXXXX")"

port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
# shellcheck disable=SC2086
env ${SERVE_ENV:-} bin/mlship serve "$MODEL" --host 127.0.0.1 --port "$port" --drain-grace 0s ${SERVE_FLAGS:-} 2>"$log" &
server=$!
sampler=""
cleanup() {
  [[ -n "$sampler" ]] && kill "$sampler" 2>/dev/null || true
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -f "$log" "$phase_file"
}
trap cleanup EXIT

for _ in $(seq 200); do
  curl -sf "$url/ping" >/dev/null && break
  kill -0 "$server" || { echo "overload.sh: mlship exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
curl -sf "$url/ping" >/dev/null

# RSS (KiB) with a phase label, every 0.5 s, until the server exits; and
# every 2 s where the Go part of it is (goroutines, stacks, heap in use,
# heap freed but not yet returned, memory obtained from the OS), from
# /metrics, to tell it from ONNX Runtime's native memory.
echo start >"$phase_file"
rm -f "$out.gomem.txt"
(
  i=0
  while [[ -r "/proc/$server/status" ]]; do
    rss="$(awk '/^VmRSS/ {print $2}' "/proc/$server/status" 2>/dev/null || true)"
    [[ -n "$rss" ]] && echo "$(date +%s.%N) $(cat "$phase_file") $rss"
    if (( i++ % 4 == 0 )); then
      curl -s --max-time 2 "$url/metrics" 2>/dev/null | awk -v t="$(date +%s.%N)" -v p="$(cat "$phase_file")" -v rss="${rss:-0}" '
        /^go_goroutines / {g=$2} /^go_memstats_stack_inuse_bytes / {st=$2} /^go_memstats_heap_inuse_bytes / {hi=$2}
        /^go_memstats_heap_idle_bytes / {hd=$2} /^go_memstats_heap_released_bytes / {hr=$2} /^go_memstats_sys_bytes / {sy=$2}
        END {if (g) printf "%s %s rss_kib=%d goroutines=%d stack_mib=%.1f heap_inuse_mib=%.1f heap_idle_unreleased_mib=%.1f go_sys_mib=%.1f\n", t, p, rss, g, st/1048576, hi/1048576, (hd-hr)/1048576, sy/1048576}' \
        >>"$out.gomem.txt" || true
    fi
    sleep 0.5
  done
) >"$out.rss.tsv" &
sampler=$!

run() { # phase, then mlship bench flags
  local phase="$1"; shift
  echo "$phase" >"$phase_file"
  echo "== $phase" >&2
  # shellcheck disable=SC2086
  bin/mlship bench "$url" --model "$MODEL" --json-file "$out.$phase.json" ${BENCH_FLAGS:-} "$@"
}
run unloaded --concurrency 1 --duration "$DURATION"
run capacity --concurrency "$CAPACITY_CLIENTS" --duration "$DURATION"
capacity="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["levels"][0]["server"]["throughput_rps"])' "$out.capacity.json")"
rate="${RATE:-$(/usr/bin/python3 -c "print(round($capacity * $OVERLOAD))")}"
run overload --concurrency "$CLIENTS" --rate "$rate" --duration "$OVERLOAD_DURATION" --warmup 0s
echo after >"$phase_file"
sleep 3
curl -s --max-time 5 "$url/metrics" | grep -E '^mlship_(requests_rejected_total|queue_delay_target_seconds)' >"$out.rejected.txt" || true
kill "$sampler" 2>/dev/null || true
sampler=""

echo
summary "$log" | tee "$out.summary.md"
