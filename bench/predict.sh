#!/usr/bin/env bash
# Batch scoring with `mlship predict`: the "Batch scoring" figures of
# docs/performance.md. Builds mlship, bench/predictgen and bench/ortraw,
# generates seeded random inputs into a scratch directory (deleted at the
# end: the memory inputs are 1, 2.3 and 4.5 GB), runs every mlship command under
# /usr/bin/time -v and prints markdown tables; also writes them to
# bench/results/predict-<part>.md.
#
#   bench/predict.sh                  # memory, speed and sklearn (~15 min on a quiet 2-vCPU VM)
#   bench/predict.sh memory           # peak RSS scoring the MLP over 1, 2.3 and 4.5 GB of Parquet
#   bench/predict.sh speed            # rows/s of the iris and MLP ONNX examples against raw ORT Run
#   bench/predict.sh sklearn          # python_function sklearn against its own predict in Python
#
#   WORK=/big/dir KEEP=1 bench/predict.sh speed    # keep the generated inputs (and reuse them)
#   MEM_ROWS='1000000 2200000 4400000'   # rows of the memory inputs (1 KiB per row)
#   MEM_FLAGS='--batch-rows 10000'    # extra mlship flags for the memory runs
#   MEM_ENV='GOGC=50'                 # environment for the memory runs
#   TAG=gogc50                        # results go to bench/results/predict-<part>-<tag>.md
#   MEM_REPEAT=2                      # runs per memory input
#   SPEED_SETTINGS='10000,2,1 50000,2,1'   # --batch-rows,--parallelism,--threads triples
#   ARROW_SETTINGS='10000,2,1'        # the same for the MLP read from Arrow IPC instead of Parquet
#   SPEED_MODELS='mlp mlp-arrow'      # which of iris, mlp, mlp-arrow the speed part runs
#   IRIS_ROWS=10000000 MLP_ROWS=1000000 SK_ROWS=1000000
#   DURATION=10s                      # measured time of each raw ORT mode
#   PYTHON=/usr/bin/python3           # the interpreter with scikit-learn and pandas
#   BENCH_COMMIT=abc1234              # label results when not run in a git checkout
#
# Each mlship row reports the process's CPU time and how busy the whole
# machine was meanwhile (/proc/stat): when the machine is busier than the
# process, other work shared the CPUs and the rows/s are low.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
PYTHON="${PYTHON:-/usr/bin/python3}"
DURATION="${DURATION:-10s}"
MEM_ROWS="${MEM_ROWS:-1000000 2200000 4400000}"
MEM_FLAGS="${MEM_FLAGS:-}"
MEM_ENV="${MEM_ENV:-}"
SPEED_SETTINGS="${SPEED_SETTINGS:-10000,1,1 10000,1,2 10000,2,1 50000,1,2 50000,2,1}"
ARROW_SETTINGS="${ARROW_SETTINGS:-10000,2,1 50000,2,1}"
SPEED_MODELS="${SPEED_MODELS:-iris mlp mlp-arrow}"
MEM_REPEAT="${MEM_REPEAT:-2}"
IRIS_ROWS="${IRIS_ROWS:-10000000}"
MLP_ROWS="${MLP_ROWS:-1000000}"
SK_ROWS="${SK_ROWS:-1000000}"
parts=("${@:-memory speed sklearn}")

if [[ ! -x /usr/bin/time ]]; then
  echo "predict.sh: /usr/bin/time is missing (apt-get install time)" >&2
  exit 1
fi
scripts/provision-onnxruntime.sh >/dev/null
"$GO" build -trimpath -o bin/mlship ./cmd/mlship
"$GO" build -trimpath -o bin/predictgen ./bench/predictgen
"$GO" build -trimpath -o bin/ortraw ./bench/ortraw
mkdir -p bench/results

# WORK holds the generated inputs and each run's output, logs and RSS
# samples. A directory made here is removed at the end; in a given WORK
# only the files made here are, and the inputs stay with KEEP=1.
made_work=""
if [[ -z "${WORK:-}" ]]; then
  WORK="$(mktemp -d /tmp/mlship-predict-bench.XXXXXX)"
  made_work=1
fi
mkdir -p "$WORK"
generated=()
cleanup() {
  rm -f "$WORK"/out-* "$WORK"/time-* "$WORK"/log-* "$WORK"/rss-*
  if [[ "${KEEP:-}" == 1 ]]; then return; fi
  if [[ -n "$made_work" ]]; then
    rm -rf "$WORK"
  elif ((${#generated[@]})); then
    rm -f "${generated[@]}"
  fi
}
trap cleanup EXIT

# gen MODEL ROWS FORMAT [ID]: the path of a generated input, made once.
# Call it outside $(...) so that the file is recorded for cleanup; the
# path is left in $genpath.
gen() {
  local model=$1 rows=$2 format=$3 id=${4:-}
  genpath="$WORK/$(basename "$(dirname "$model")")-$rows${id:+-$id}.$format"
  if [[ ! -s "$genpath" ]]; then
    generated+=("$genpath")
    bin/predictgen -model "$model" -rows "$rows" -format "$format" ${id:+-id "$id"} -o "$genpath" >&2
  fi
}

# cpustat: busy and total jiffies of the whole machine.
cpustat() { awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6; exit}' /proc/stat; }

# run NAME ARGS...: runs `bin/mlship predict ARGS` under /usr/bin/time -v and
# sets: wall (s), rss (MiB), cpu (s), rate (mlship's rows/s, after the model
# is loaded), scored (rows), busy (machine, % of all CPUs).
run() {
  local name=$1
  shift
  local t0 t1
  t0=$(cpustat)
  # shellcheck disable=SC2086
  env ${RUN_ENV:-} /usr/bin/time -v -o "$WORK/time-$name" bin/mlship predict "$@" >"$WORK/log-$name" 2>&1 &
  local tpid=$! child=""
  # Sample mlship's RSS (the child of time) every 0.2 s.
  : >"$WORK/rss-$name"
  while kill -0 "$tpid" 2>/dev/null; do
    [[ -n "$child" ]] || child=$(pgrep -P "$tpid" | head -1 || true)
    if [[ -n "$child" ]]; then
      awk -v t="$(date +%s.%N)" '/^VmRSS/{print t, $2}' "/proc/$child/status" 2>/dev/null >>"$WORK/rss-$name" || true
    fi
    sleep 0.2
  done
  if ! wait "$tpid"; then
    cat "$WORK/log-$name" >&2
    exit 1
  fi
  # The highest RSS sampled in the first and in the second half of the run.
  halves=$(awk 'NR==1{t0=$1} {t[NR]=$1; r[NR]=$2} END{mid=(t0+t[NR])/2; for(i=1;i<=NR;i++){if(t[i]<mid){if(r[i]>a)a=r[i]}else if(r[i]>b)b=r[i]}; printf "%.0f / %.0f MiB", a/1024, b/1024}' "$WORK/rss-$name")
  t1=$(cpustat)
  busy=$(echo "$t0 $t1" | awk '{printf "%.0f", 100*($3-$1)/($4-$2)}')
  wall=$(awk -F': ' '/Elapsed/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/time-$name")
  rss=$(awk -F': ' '/Maximum resident/{printf "%.0f", $2/1024}' "$WORK/time-$name")
  cpu=$(awk -F': ' '/User time|System time/{s+=$2} END{printf "%.2f", s}' "$WORK/time-$name")
  local summary
  summary=$(grep '^scored ' "$WORK/log-$name" | tail -1)
  scored=$(echo "$summary" | sed -E 's/^scored ([0-9,]+) rows.*/\1/')
  rate=$(echo "$summary" | sed -E 's/.*\(([0-9,]+) rows\/s\).*/\1/')
  echo "  $name: $summary; wall ${wall}s, CPU ${cpu}s, peak RSS ${rss} MiB, machine ${busy}% busy" >&2
}

if [[ -n "${BENCH_COMMIT:-}" ]]; then
  commit="$BENCH_COMMIT"
else
  commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then commit="$commit (with uncommitted changes)"; fi
fi

header() {
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); code: commit $commit"
  echo "- machine: $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
}

memory() {
  local model=examples/mlp-onnx/model
  echo "## Peak memory: MLP over Parquet inputs of several sizes"
  echo
  header
  echo "\`${MEM_ENV:+$MEM_ENV }bin/mlship predict -m $model -i INPUT -o OUT.parquet --keep-columns id${MEM_FLAGS:+ $MEM_FLAGS}\` (defaults otherwise)"
  echo
  echo "| rows | input | wall | rows/s | CPU time | machine busy | highest RSS sampled, first / second half of the run | **peak RSS** |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for rows in $MEM_ROWS; do
    local in
    gen "$model" "$rows" parquet id
    in=$genpath
    for _ in $(seq "$MEM_REPEAT"); do
      # shellcheck disable=SC2086
      RUN_ENV="$MEM_ENV" run "mem-$rows" -m "$model" -i "$in" -o "$WORK/out-mem-$rows.parquet" --keep-columns id $MEM_FLAGS
      rm -f "$WORK/out-mem-$rows.parquet"
      echo "| $(grp "$rows") | $(du -m "$in" | cut -f1) MiB | ${wall} s | $rate | ${cpu} s | ${busy} % | $halves | **${rss} MiB** |"
    done
  done
  echo
}

# speed_model MODEL ROWS: mlship predict Parquet → Parquet for each setting,
# then bin/ortraw with the same batch size, parallelism and threads.
speed_model() {
  local model=$1 rows=$2 format=${3:-parquet} settings=${4:-$SPEED_SETTINGS} in
  gen "$model" "$rows" "$format" id
  in=$genpath
  echo "### $model, $rows rows ($(du -m "$in" | cut -f1) MiB of $format input, Parquet output)"
  echo
  echo "| --batch-rows | --parallelism | --threads | mlship rows/s | wall | CPU time | machine busy | peak RSS | raw Run rows/s | raw Run, ORT-allocated outputs | flavor Predict rows/s | **mlship / raw Run** | mlship rows per CPU-second / raw Run's |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for s in $settings; do
    IFS=, read -r b p t <<<"$s"
    run "speed-$b-$p-$t" -m "$model" -i "$in" -o "$WORK/out-speed.parquet" --batch-rows "$b" --parallelism "$p" --threads "$t"
    rm -f "$WORK/out-speed.parquet"
    local raw
    raw=$(bin/ortraw -model "$model" -batch-rows "$b" -parallelism "$p" -threads "$t" -duration "$DURATION" 2>/dev/null)
    echo "$raw" | sed 's/^/    /' >&2
    # field MODE COLUMN: a cell of ortraw's table, without separators.
    field() { echo "$raw" | awk -F'|' -v m=" $1 " -v c="$2" '$2 == m {gsub(/[ ,]/, "", $c); print $c}'; }
    local ort alloc pred ortcpu r
    ort=$(field ort 3)
    alloc=$(field ort-alloc 3)
    pred=$(field predict 3)
    ortcpu=$(field ort 7)
    r=${rate//,/}
    echo "| $b | $p | $t | $rate | ${wall} s | ${cpu} s | ${busy} % | ${rss} MiB | $(grp "$ort") | $(grp "$alloc") | $(grp "$pred") | **$(pct "$r" "$ort")** | $(pct "$(awk -v n="${scored//,/}" -v c="$cpu" 'BEGIN{print n/c}')" "$ortcpu") |"
  done
  echo
}

grp() { echo "$1" | sed -E ':a; s/^([0-9]+)([0-9]{3})/\1,\2/; ta'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN{if (b > 0) printf "%.0f %%", 100*a/b; else print "?"}'; }

speed() {
  echo "## Throughput against raw ONNX Runtime"
  echo
  header
  echo "mlship: \`bin/mlship predict -m MODEL -i IN.parquet -o OUT.parquet --batch-rows B --parallelism P --threads T\`; rows/s from its summary line (timed from after the model is loaded: reading, scoring and writing the file). Raw: \`bin/ortraw -model MODEL -batch-rows B -parallelism P -threads T -duration $DURATION\` right after it; \"raw Run\" has pre-built input and output tensors (the limit). The last column divides mlship's rows per second of CPU time (the whole process, start-up included) by raw Run's: on a machine shared with other work it is the steadier comparison."
  echo
  local m
  for m in $SPEED_MODELS; do
    case "$m" in
      iris) speed_model examples/iris-onnx/model "$IRIS_ROWS" ;;
      mlp) speed_model examples/mlp-onnx/model "$MLP_ROWS" ;;
      # The same MLP rows from an Arrow IPC file: no Parquet decoding.
      mlp-arrow) speed_model examples/mlp-onnx/model "$MLP_ROWS" arrow "$ARROW_SETTINGS" ;;
      *) echo "predict.sh: unknown SPEED_MODELS entry $m (iris, mlp, mlp-arrow)" >&2; exit 2 ;;
    esac
  done
}

sklearn() {
  local model=${SK_MODEL:-examples/sklearn-iris/model} csv pq
  gen "$model" "$SK_ROWS" csv
  csv=$genpath
  gen "$model" "$SK_ROWS" parquet
  pq=$genpath
  echo "## python_function (scikit-learn) against predict in Python"
  echo
  header
  echo "\`bin/mlship predict -m $model -i IN -o OUT --python $PYTHON [flags]\`; reference: \`$PYTHON bench/sklearn_predict.py $model IN.csv\`"
  echo
  echo "| input → output | flags | mlship rows/s | wall (with worker start-up) | CPU time (all processes) | machine busy | peak RSS (largest process) |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
  local flags
  for io in csv parquet; do
    for flags in "" "--batch-rows 100000"; do
      local in=$csv
      [[ $io == parquet ]] && in=$pq
      # shellcheck disable=SC2086
      run "sk-$io" -m "$model" -i "$in" -o "$WORK/out-sk.$io" --python "$PYTHON" $flags
      rm -f "$WORK/out-sk.$io"
      echo "| $io → $io | ${flags:-defaults} | $rate | ${wall} s | ${cpu} s | ${busy} % | ${rss} MiB |"
    done
  done
  echo
  echo "Reference, the same CSV in Python:"
  echo
  "$PYTHON" bench/sklearn_predict.py "$model" "$csv"
  echo
}

for part in ${parts[@]}; do
  case "$part" in
    memory | speed | sklearn) ;;
    *) echo "predict.sh: unknown part $part (memory, speed or sklearn)" >&2; exit 2 ;;
  esac
  out="bench/results/predict-$part${TAG:+-$TAG}.md"
  echo "== $part" >&2
  # Not in a pipeline: the part runs in this shell, so cleanup sees the
  # inputs it generated. Progress goes to stderr meanwhile.
  "$part" >"$out.tmp"
  mv "$out.tmp" "$out"
  cat "$out"
done
