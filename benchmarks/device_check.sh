#!/usr/bin/env bash
# One call on a single-GPU machine (an H200, no network) in under 8 minutes: the train-step
# benchmark at bf16 for every registered model (batch 1,024; 200 bp and 1 kb; seq/s and MFU
# from XLA's FLOP count), teacher-inference throughput, and the wall time of the main job
# (configs/noisy_student.py, full defaults), then ONE table (what, setting, figure).
#
#   bash benchmarks/device_check.sh          # on the GPU machine (wheels/ carried along)
#   bash benchmarks/device_check.sh --cpu    # JAX_PLATFORMS=cpu, short settings: a few minutes
#
# Packages the machine lacks travel as wheels built beforehand by benchmarks/device_wheels.sh
# into wheels/ (git-ignored: name it in the device call's `carry`); each wheel whose module
# does not import yet is installed with `pip install --no-index --no-deps --target` into a
# scratch folder put on PYTHONPATH (the machine's own environment is left alone). The checkout
# comes first on PYTHONPATH, so its code is what runs even when the jaxssl wheel is older.
#
# Every part runs under its own timeout, within an overall budget, and a part that fails or
# times out shows FAILED / TIMEOUT in its row while the others go on. Logs: $LOG_DIR (default
# a temporary folder); where $OUT is set (the device tool), the table, the logs and the main
# job's report.json are copied there. Environment:
#   BUDGET_S      overall seconds (default 465 on GPU, 330 with --cpu)
#   PARTS         subset and order of: toy train_step teacher main (default: all four)
#   PYTHON        interpreter (default .venv/bin/python if present, else python3)
#   WHEELS_DIR    default wheels
#   TRAIN_CAP, TEACHER_CAP   seconds per train-step model (60 GPU, 45 CPU) and for the teacher
#                 part (75, 60); the main job gets what is left of BUDGET_S
# The main job runs with --config.train.progress_bar=False (display only) and otherwise the
# config's defaults on GPU; on CPU 1 seed and 50 steps per stage. Rerun one part alone with
# e.g. PARTS=main BUDGET_S=300.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
T0=$SECONDS

MODE=gpu
for arg in "$@"; do
  case $arg in
    --cpu) MODE=cpu ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "device_check.sh: unknown argument $arg (only --cpu)" >&2; exit 2 ;;
  esac
done
if [[ -z ${PYTHON:-} ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=$REPO/.venv/bin/python; else PYTHON=python3; fi
fi
WHEELS_DIR=${WHEELS_DIR:-wheels}
PARTS=${PARTS:-"toy train_step teacher main"}
WORK=$(mktemp -d /tmp/device_check.XXXXXX)
LOG_DIR=${LOG_DIR:-$WORK/logs}
mkdir -p "$LOG_DIR"
ROWS=$WORK/rows.tsv
: >"$ROWS"
export PYTHONUNBUFFERED=1

if [[ $MODE == cpu ]]; then
  export JAX_PLATFORMS=cpu
  BUDGET_S=${BUDGET_S:-330}
  # Short settings: every model once, at a small batch and one length; the main job with one
  # seed and 50 steps per stage (both generations still run).
  TRAIN_LENGTHS="200"; TRAIN_BATCH=32; TRAIN_ARGS="--seconds 1 --windows 2"; TRAIN_CAP=${TRAIN_CAP:-45}
  TEACHER_MODELS="deepbind"; TEACHER_LEN=200; TEACHER_TRAIN_BATCH=128; TEACHER_BATCH=256
  TEACHER_ARGS="--seconds 2 --windows 2"
  TEACHER_CAP=${TEACHER_CAP:-60}
  # (Each student and its no_pseudo control set their own steps: both need the override.)
  MAIN_ARGS="--config.seeds=0 --config.train.steps=50 --config.train.eval_every=25
    --config.train.checkpoint_every=25"
  for g in 1 2; do
    MAIN_ARGS+=" --config.student_$g.train.steps=50 --config.student_${g}_no_pseudo.train.steps=50"
  done
  MAIN_SETTING="noisy_student, 1 seed, 50 steps/stage"
else
  BUDGET_S=${BUDGET_S:-465}
  TRAIN_LENGTHS="200 1000"; TRAIN_BATCH=1024; TRAIN_ARGS="--seconds 2 --windows 4"; TRAIN_CAP=${TRAIN_CAP:-60}
  TEACHER_MODELS="deepbind dilated_resnet"; TEACHER_LEN=200; TEACHER_TRAIN_BATCH=1024
  TEACHER_BATCH=4096; TEACHER_ARGS="--seconds 3 --windows 3"
  TEACHER_CAP=${TEACHER_CAP:-75}
  MAIN_ARGS=""
  MAIN_SETTING="noisy_student defaults (3 seeds, <=2 generations, deepbind, 200 bp)"
fi

log() { printf '[%4d s] %s\n' $((SECONDS - T0)) "$*"; }
row() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$ROWS"; }
left() { echo $((BUDGET_S - (SECONDS - T0))); }
min() { if (($1 < $2)); then echo "$1"; else echo "$2"; fi; }

# run_part NAME CAP CMD...: runs CMD with timeout min(CAP, budget left), output to
# $LOG_DIR/NAME.log; sets PART_RC (0 ok, 124 timeout, else failure) and PART_S.
run_part() {
  local name=$1 cap=$2 t start
  shift 2
  : >"$LOG_DIR/$name.log"
  t=$(min "$cap" "$(left)")
  if ((t < 5)); then
    log "$name: skipped (budget spent)"; PART_RC=125; PART_S=0
    echo "skipped: budget spent" >"$LOG_DIR/$name.log"; return
  fi
  log "$name (timeout ${t} s)"
  start=$EPOCHREALTIME
  timeout -k 10 "$t" "$@" >"$LOG_DIR/$name.log" 2>&1
  PART_RC=$?
  PART_S=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  case $PART_RC in
    0) ;;
    124 | 137) PART_RC=124; log "$name: TIMEOUT after ${PART_S} s" ;;
    *) log "$name: FAILED (exit $PART_RC), last lines of $LOG_DIR/$name.log:"
       tail -n 5 "$LOG_DIR/$name.log" | sed 's/^/         /' ;;
  esac
}
status_word() { case $PART_RC in 124) echo "TIMEOUT after ${PART_S} s" ;; 125) echo "SKIPPED (budget)" ;; *) echo "FAILED (exit $PART_RC)" ;; esac; }

# ---------------------------------------------------------------- wheels
module_of() {  # wheel file name -> importable module
  local dist=${1%%-*}
  dist=${dist,,}
  case $dist in
    tensorboardx) echo tensorboardX ;;
    biopython) echo Bio ;;
    *) echo "${dist//-/_}" ;;
  esac
}
SITE=$WORK/site
need=()
if compgen -G "$WHEELS_DIR/*.whl" >/dev/null; then
  for whl in "$WHEELS_DIR"/*.whl; do
    mod=$(module_of "$(basename "$whl")")
    (cd / && "$PYTHON" -c "import $mod" >/dev/null 2>&1) || need+=("$whl")
  done
fi
if ((${#need[@]})); then
  log "installing ${#need[@]} wheel(s) into $SITE: $(for w in "${need[@]}"; do basename "$w" | cut -d- -f1-2; done | tr '\n' ' ')"
  if ! "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target "$SITE" "${need[@]}" >"$LOG_DIR/install.log" 2>&1; then
    log "pip install FAILED:"; tail -n 5 "$LOG_DIR/install.log"
    row "install wheels" "${#need[@]} from $WHEELS_DIR" "FAILED"
  fi
fi
((${#need[@]})) && REPO_PATH=$REPO:$SITE || REPO_PATH=$REPO
export PYTHONPATH=$REPO_PATH${PYTHONPATH:+:$PYTHONPATH}

# ---------------------------------------------------------------- environment
ENV_LINE=$(timeout 120 "$PYTHON" - <<'EOF' 2>"$LOG_DIR/env.log"
import platform, jax
d = jax.devices()
print(f"{d[0].device_kind} x{len(d)} ({d[0].platform}), jax {jax.__version__}, "
      f"python {platform.python_version()}")
EOF
) || ENV_LINE="jax did not start: $(tail -n 1 "$LOG_DIR/env.log")"
log "device: $ENV_LINE"
if [[ $MODE == gpu && $ENV_LINE != *gpu* && $ENV_LINE != *cuda* ]]; then
  log "WARNING: no GPU visible to JAX; the figures below are not GPU figures"
fi
MODELS=$(timeout 120 "$PYTHON" -c "from jaxssl.models import model_names; print(*model_names())" 2>>"$LOG_DIR/env.log")
[[ -z $MODELS ]] && MODELS="deepbind basset dilated_resnet mixer circular_dilated"

# ---------------------------------------------------------------- parts
part_toy() {
  local cached=built
  "$PYTHON" -c "from jaxssl.toyworld import ToyWorldParams, cache_root; import sys; \
sys.exit(0 if (cache_root() / 'toy_world' / ToyWorldParams().key() / 'world.json').is_file() else 1)" \
    2>/dev/null && cached="cached"
  run_part toy 120 "$PYTHON" -c "from jaxssl.toyworld import ensure_toy_world; print(ensure_toy_world())"
  if ((PART_RC == 0)); then
    row "toy world (the main job's data)" "default params, $cached" "${PART_S} s"
  else
    row "toy world (the main job's data)" "default params" "$(status_word)"
  fi
}

part_train_step() {
  local model line
  # The parent process of train_step.py also initialises the GPU; without this its 75 %
  # preallocation would leave too little for the worker process that does the timing.
  for model in $MODELS; do
    XLA_PYTHON_CLIENT_PREALLOCATE=false run_part "train_step_$model" "$TRAIN_CAP" \
      "$PYTHON" benchmarks/train_step.py --models "$model" --lengths $TRAIN_LENGTHS \
      --batch "$TRAIN_BATCH" --dtype bfloat16 --no-torch $TRAIN_ARGS
    for length in $TRAIN_LENGTHS; do
      # model L params jax_seq/s torch_seq/s ratio GFLOP/step TFLOP/s MFU
      line=$(awk -v m="$model" -v l="$length" '$1 == m && $2 == l' "$LOG_DIR/train_step_$model.log")
      if [[ -n $line ]]; then
        row "train step (bf16)" "$model, ${length} bp, batch $TRAIN_BATCH" \
          "$(awk '{printf "%s seq/s, MFU %s (%s TFLOP/s, %s GFLOP/step)", $4, $9, $8, $7}' <<<"$line")"
      else
        row "train step (bf16)" "$model, ${length} bp, batch $TRAIN_BATCH" "$(status_word)"
      fi
    done
  done
}

part_teacher() {
  local model line setting
  # shellcheck disable=SC2086
  run_part teacher "$TEACHER_CAP" "$PYTHON" benchmarks/teacher_inference.py \
    --models $TEACHER_MODELS --seq-len "$TEACHER_LEN" --train-batch "$TEACHER_TRAIN_BATCH" \
    --infer-batch "$TEACHER_BATCH" $TEACHER_ARGS
  for model in $TEACHER_MODELS; do
    setting="$model, $TEACHER_LEN bp, batch $TEACHER_BATCH"
    # model train_seq/s teacher_rc_avg ratio teacher_one_strand ratio
    line=$(awk -v m="$model" '$1 == m && NF == 6' "$LOG_DIR/teacher.log")
    if [[ -n $line ]]; then
      row "teacher inference (f32)" "$setting, both strands" \
        "$(awk -v b="$TEACHER_TRAIN_BATCH" '{printf "%s seq/s (%sx a training step at batch %s: %s seq/s)", $3, $4, b, $2}' <<<"$line")"
      row "teacher inference (f32)" "$setting, one strand" \
        "$(awk '{printf "%s seq/s (%sx)", $5, $6}' <<<"$line")"
    else
      row "teacher inference (f32)" "$setting" "$(status_word)"
    fi
  done
}

part_main() {
  local workdir=$WORK/ns summary
  # shellcheck disable=SC2086
  run_part main $(($(left) - 10)) "$PYTHON" -m jaxssl.main --config=configs/noisy_student.py \
    --workdir="$workdir" --config.train.progress_bar=False $MAIN_ARGS
  summary=$("$PYTHON" - "$workdir" <<'EOF' 2>/dev/null
import json, sys
from pathlib import Path
done = [json.loads(p.read_text()) for p in sorted(Path(sys.argv[1]).glob("seed_*/*/done.json"))]
train = [d for d in done if d.get("steps_run")]
steps = sum(d["steps_run"] for d in train)
secs = sum(d.get("train_seconds") or 0 for d in train)
teach = [d["teacher_seq_per_s"] for d in done if d.get("teacher_seq_per_s")]
out = f"{len(done)} stages done, {steps:,} steps"
if secs:
    out += f", training loops {steps / secs:,.0f} steps/s"
if teach:
    out += f", teacher scoring {sum(teach) / len(teach):,.0f} seq/s"
print(out)
EOF
)
  if ((PART_RC == 0)); then
    row "main job, wall time" "$MAIN_SETTING" "${PART_S} s"
  else
    row "main job, wall time" "$MAIN_SETTING" "$(status_word)"
  fi
  ((PART_RC != 125)) && [[ -n $summary ]] && row "main job, inside" "summed over the stages' done.json" "$summary"
  if [[ -n ${OUT:-} && -f $workdir/report.json ]]; then cp "$workdir/report.json" "$OUT/main_job_report.json"; fi
}

for part in $PARTS; do
  case $part in
    toy | train_step | teacher | main) "part_$part" ;;
    *) log "unknown part $part (known: toy train_step teacher main)" ;;
  esac
done

# ---------------------------------------------------------------- the table
TABLE=$WORK/table.txt
{
  echo "device_check ($MODE): $ENV_LINE; total $((SECONDS - T0)) s"
  awk -F'\t' '
    { for (i = 1; i <= 3; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
    END {
      h[1] = "what"; h[2] = "setting"; h[3] = "figure"
      for (i = 1; i <= 3; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
      fmt = "| %-" w[1] "s | %-" w[2] "s | %-" w[3] "s |\n"
      printf fmt, h[1], h[2], h[3]
      printf "|%s|%s|%s|\n", dash(w[1] + 2), dash(w[2] + 2), dash(w[3] + 2)
      for (r = 1; r <= NR; r++) printf fmt, cell[r, 1], cell[r, 2], cell[r, 3]
    }
    function dash(n,   s) { s = ""; while (n-- > 0) s = s "-"; return s }
  ' "$ROWS"
} >"$TABLE"
echo
cat "$TABLE"
echo "logs: $LOG_DIR"
if [[ -n ${OUT:-} && -d ${OUT:-} ]]; then
  cp "$TABLE" "$OUT/device_check_table.txt"
  for f in "$LOG_DIR"/*.log; do printf '\n===== %s\n' "$(basename "$f")"; cat "$f"; done >"$OUT/device_check_logs.txt"
fi
grep -qE 'FAILED|TIMEOUT|SKIPPED' "$ROWS" && exit 1
exit 0
