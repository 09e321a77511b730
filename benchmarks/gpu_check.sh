#!/usr/bin/env bash
# tinynet's GPU check, for the lent device machine: GPU tests, GPU benchmarks, a real training run.
#
# BUDGET: the stages' time limits add up to 9.3 min (setup 20 s, tests 150, step 90, train 150,
#   kernels 75, pool 35, tf32 40), so call it with timeout_s=590.  A session has 15 device minutes in
#   all, machine start (1-2 min) included: one full run leaves ~4 min, enough to rerun at once (while
#   the machine is still warm, 30 s) the stages that failed, by name.  Change a limit with T_<STAGE>
#   (T_TRAIN=200 ...) and the training length with EPOCHS (default 10).
#
# How to call it, from a session with the device tool:
#   1. here, on the CPU side, once: pack the data into the ignored data/ folder (about 46 MB; the
#      machine has no ../shared):
#        python -m tinynet pack ../shared/data/lgg/kaggle_3m data/lgg128.npz --size 128
#   2. run   command   "bash benchmarks/gpu_check.sh"
#            carry     ["data/lgg128.npz"]
#            timeout_s 590
#      rerun some stages only:   "bash benchmarks/gpu_check.sh tests step"   (timeout_s to match)
#      the pytest run stops after 25 failures; PYTEST_STOP=-x makes it stop at the first.
#   3. the summary is printed last (so it is in the reply's output_tail) and is $OUT/summary.txt.
#
# Stages, in this order: setup tests step train kernels pool tf32.  Each runs under `timeout`, and a
# failed or timed-out stage does not stop the next.  The machine (Python 3.12, numpy, scipy, pillow,
# tqdm, pytest, cupy-cuda13x 14, PyTorch CUDA; no network) runs the working tree in place through
# PYTHONPATH, nothing is installed (`pip install --no-deps --no-build-isolation -e .` would do too).
#
# Files back under $OUT (the tool returns at most 8): summary.txt, gpu_tests.log, logs.txt (every
# other stage's output), bench_kernels.json, bench_pool.json, bench_train_step.json,
# bench_train_step_tf32.json, train.tar.gz (the run's log.jsonl, split.json, figures, best.npz and
# console output).
set -u

export OUT=${OUT:-/tmp/gpu_check_out}
export PYTHON=${PYTHON:-python3}
export EPOCHS=${EPOCHS:-10}
export DATA=${DATA:-data/lgg128.npz}
export PYTEST_STOP=${PYTEST_STOP:---maxfail=25}
export WORK=/tmp/gpu_check          # stage logs and the training run; only summaries go to $OUT
export RUN=$WORK/run
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export CUPY_TF32=0                  # full float32 unless a stage asks for TF32 (the tests need it)
SKIP=99                             # a stage's exit status for "skipped"

STAGES=(setup tests step train kernels pool tf32)
[ $# -gt 0 ] && STAGES=("$@")
declare -A LIMIT=([setup]=${T_SETUP:-20} [tests]=${T_TESTS:-150} [step]=${T_STEP:-90}
                  [train]=${T_TRAIN:-150} [kernels]=${T_KERNELS:-75} [pool]=${T_POOL:-35}
                  [tf32]=${T_TF32:-40})
export TRAIN_SECONDS=$((LIMIT[train] - 20))  # the run itself; the rest to save and pack it
STATUS=()

stage_setup() {
    nvidia-smi
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,temperature.gpu \
        --format=csv
    git log -1 --oneline 2>/dev/null || echo "(no git metadata in this copy of the tree)"
    "$PYTHON" - <<'EOF'
import sys, numpy, cupy, torch, tinynet
print("python", sys.version.split()[0], "| numpy", numpy.__version__, "| cupy", cupy.__version__,
      "| torch", torch.__version__, "cuda", torch.version.cuda, "cudnn",
      torch.backends.cudnn.version())
print("tinynet.gpu_available():", tinynet.gpu_available())
sys.exit(0 if tinynet.gpu_available() else "tinynet cannot use the GPU: the other stages will fail")
EOF
}

stage_tests() {
    local per_test=()
    "$PYTHON" -c "import pytest_timeout" 2>/dev/null && per_test=(--timeout=60)
    "$PYTHON" -m pytest -m gpu -o addopts= -q -rfE "$PYTEST_STOP" "${per_test[@]}" \
        -p no:cacheprovider tests
}

stage_step() {
    "$PYTHON" benchmarks/bench_train_step.py --device gpu --network resunet --batch 16 --size 256 \
        --rounds 1 --steps 10 --json "$OUT/bench_train_step.json"
}

stage_tf32() {
    "$PYTHON" benchmarks/bench_train_step.py --device gpu --tf32 --network resunet --batch 16 \
        --size 256 --rounds 1 --steps 10 --json "$OUT/bench_train_step_tf32.json"
}

stage_kernels() {
    "$PYTHON" benchmarks/bench_kernels.py --device gpu --batch 16 --rounds 1 \
        --json "$OUT/bench_kernels.json"
}

stage_pool() {
    "$PYTHON" benchmarks/bench_pool.py --device gpu --batch 16 --rounds 1 --json "$OUT/bench_pool.json"
}

stage_train() {
    if [ ! -f "$DATA" ]; then
        echo "no $DATA: pack it on the CPU side first (see the top of this script) and carry it"
        return 99
    fi
    rm -rf "$RUN"
    # SIGINT at the limit: the run saves last.npz and logs "interrupted", as after Ctrl-C.
    timeout -s INT -k 15 "$TRAIN_SECONDS" "$PYTHON" examples/train_resunet.py \
        --device gpu --data "$DATA" --size 128 --epochs "$EPOCHS" --out "$RUN"
}
export -f stage_setup stage_tests stage_step stage_tf32 stage_kernels stage_pool stage_train

run_stage() {  # run_stage NAME: its output to the console and to its log
    local name=$1 limit=${LIMIT[$1]} log="$WORK/stage_$1.log" start=$SECONDS rc verdict=ok
    [ "$name" = tests ] && log="$OUT/gpu_tests.log"
    echo "=== $name (limit $limit s) ===" | tee "$log"
    timeout -k 10 "$limit" bash -c "stage_$name" 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
    case $rc in
        0) ;;
        124|137) verdict="TIMEOUT" ;;
        "$SKIP") verdict="SKIPPED" ;;
        *) verdict="FAILED (exit $rc)" ;;
    esac
    STATUS+=("$(printf '%-8s %-18s %4d s of %4d' "$name" "$verdict" $((SECONDS - start)) "$limit")")
    [ "$name" != tests ] && cat "$log" >> "$OUT/logs.txt"
}

pack_training_run() {  # what the training run left, in one file (the tool returns 8 at most)
    [ -d "$RUN" ] || return
    tar -czf "$OUT/train.tar.gz" -C "$WORK" --exclude=run/last.npz run stage_train.log
}

train_summary() {  # the epochs of the training run, from its log.jsonl
    "$PYTHON" - "$RUN/log.jsonl" <<'EOF'
import json, sys
try:
    records = [json.loads(line) for line in open(sys.argv[1])]
except OSError:
    sys.exit("  no training log")
epochs = [r for r in records if r.get("event") == "epoch"]
for r in epochs:
    print(f"  epoch {r['epoch']:3d}  train_loss {r.get('train_loss', float('nan')):.4f}  "
          f"val_dice {r['val_dice']:.4f} (patient mean)  {r['seconds']:.1f} s  "
          f"data wait {100 * r.get('data_wait_share', 0):.0f}%")
if epochs:
    best = max(epochs, key=lambda r: r["val_dice"])
    print(f"  best patient-level validation Dice {best['val_dice']:.4f} at epoch {best['epoch']}")
print("  ended:", records[-1].get("event") if records else "-")
EOF
}

stage_tail() {  # stage_tail NAME TITLE LINES: the end of a stage's output, without progress lines
    [ -f "$WORK/stage_$1.log" ] || return 0
    echo; echo "--- $2"
    grep -vE "^  round|^  \{|^wrote|^===" "$WORK/stage_$1.log" | tail -n "$3"
}

summary() {  # the most important last: the reply's output_tail keeps the end
    echo "tinynet GPU check, $(date -u +%Y-%m-%dT%H:%MZ)"
    stage_tail kernels "kernels (bench_kernels.py, batch 16)" 45
    stage_tail pool "pool (bench_pool.py, batch 16)" 20
    if [ -f "$OUT/gpu_tests.log" ]; then
        echo; echo "--- GPU tests"
        grep -E "^(FAILED|ERROR) " "$OUT/gpu_tests.log" | head -40
        grep -E "[0-9]+ (passed|failed|skipped|error)" "$OUT/gpu_tests.log" | tail -1
    fi
    stage_tail step "step (bench_train_step.py: ResUNet, batch 16, 256x256, Adam, float32)" 12
    stage_tail tf32 "tf32 (the same step, TF32 allowed in both frameworks)" 12
    if [ -f "$WORK/stage_train.log" ]; then
        echo; echo "--- train (examples/train_resunet.py --device gpu, $DATA, 128x128, $EPOCHS epochs)"
        train_summary
    fi
    echo; echo "--- stages ($SECONDS s in all)"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
    printf '%s\n' "${STATUS[@]}"
}

for name in "${STAGES[@]}"; do
    if [ -z "${LIMIT[$name]:-}" ]; then
        echo "unknown stage '$name'; stages: setup tests step train kernels pool tf32" >&2
        exit 2
    fi
done
mkdir -p "$OUT" "$WORK"
rm -f "$OUT/logs.txt" "$WORK"/stage_*.log  # a warm machine keeps the last call's
for name in "${STAGES[@]}"; do
    run_stage "$name"
    [ "$name" = train ] && pack_training_run
done
summary | tee "$OUT/summary.txt"
