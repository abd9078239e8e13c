#!/usr/bin/env bash
# bench/quality/window_lm.sh [BUILD_DIR] — the fixed-window neural LM (FORMULAS §5) against the
# interpolated modified Kneser-Ney n-gram model on the same split of a real corpus: the comparison
# of Bengio et al. 2003 (their window model against smoothed n-grams), at full size.
#
# Trains examples/window_lm for STEPS updates on the corpus's training lines, then scores the
# validation and test lines with both models (every token counts, <unk> and </s> included; the
# same vocabulary and the same sentence-bounded contexts for both), the two mixed with a weight
# tuned on validation, and Kneser-Ney at orders 2..5. Prints the settings, the table and the
# times. No reference tool is needed: both models are seqgrad's, side by side.
#
# Environment (defaults in brackets): DATA [the cache's sotu.words; kjv.words works too],
# SPLIT [0.9,0.05: contiguous lines, train / valid / rest for test], VOCAB [10000], WINDOW [4],
# EMBED [64], HIDDEN [128], BATCH [256], LR [0.006], LR_FINAL [LR/10], STEPS [5000],
# EVAL_EVERY [1000], THREADS [2], SEED [1], WORK [a temporary directory, removed at the end;
# set it to keep the checkpoint (saved every EVAL_EVERY steps: an interrupted run can be scored
# with `window_lm eval --model $WORK/run/model.safetensors`) and the learning curve].
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-${SEQGRAD_BUILD_DIR:-build}}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
DATA="${DATA:-${SEQGRAD_DATA:-$root/data/cache}/sotu.words}"
SPLIT="${SPLIT:-0.9,0.05}" VOCAB="${VOCAB:-10000}" WINDOW="${WINDOW:-4}" EMBED="${EMBED:-64}"
HIDDEN="${HIDDEN:-128}" BATCH="${BATCH:-256}" LR="${LR:-0.006}"
LR_FINAL="${LR_FINAL:-$(awk -v l="$LR" 'BEGIN { print l / 10 }')}"
STEPS="${STEPS:-5000}" EVAL_EVERY="${EVAL_EVERY:-1000}" THREADS="${THREADS:-2}" SEED="${SEED:-1}"

say() { printf '==> %s\n' "$*"; }
elapsed() { awk -v a="${1/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.0f", b - a }'; }

[ -f "$DATA" ] || { echo "error: $DATA is missing: run scripts/fetch-data" >&2; exit 1; }
[ -d "$build" ] || meson setup "$build" "$root" >/dev/null
ninja -C "$build" examples/window_lm >/dev/null
exe="$build/examples/window_lm"

if [ -n "${WORK:-}" ]; then
    work="$WORK"
    mkdir -p "$work"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi

settings=(--data "$DATA" --split "$SPLIT" --vocab "$VOCAB" --window "$WINDOW" --embed "$EMBED"
          --hidden "$HIDDEN")
say "window_lm on $(basename "$DATA"): split $SPLIT, vocabulary $VOCAB, window $WINDOW, embed" \
    "$EMBED, hidden $HIDDEN; batch $BATCH, Adam lr $LR -> $LR_FINAL, $STEPS steps," \
    "$THREADS threads"
start=$EPOCHREALTIME
"$exe" train "${settings[@]}" --batch "$BATCH" --lr "$LR" --lr-final "$LR_FINAL" \
    --steps "$STEPS" --eval-every "$EVAL_EVERY" --checkpoint-every "$EVAL_EVERY" \
    --valid-tokens 0 --threads "$THREADS" \
    --seed "$SEED" --sentences 3 --out "$work/run" >"$work/train.log" 2>"$work/train.err" || {
    cat "$work/train.log" "$work/train.err" >&2
    exit 1
}
train_secs=$(elapsed "$start")
grep -v '^window_lm: perplexity\|^  ' "$work/train.log"
say "training took $train_secs s; the learning curve (nats/token, validation on all its tokens):"
column -t -s, "$work/run/curve.csv" | sed 's/^/    /'

say "perplexities (window LM, Kneser-Ney $((WINDOW + 1))-gram, and the two mixed)"
start=$EPOCHREALTIME
"$exe" eval --model "$work/run/model.safetensors" --data "$DATA" --threads "$THREADS" \
    >"$work/eval.log"
cat "$work/eval.log"
say "eval took $(elapsed "$start") s"

say "Kneser-Ney by order on the same split (modified KN, 3 discounts per order)"
for order in 2 3 4 5; do
    "$exe" eval --model "$work/run/model.safetensors" --data "$DATA" --threads "$THREADS" \
        --order "$order" | awk -v k="$order" '$1 == "valid" || $1 == "test" {
            printf "    %d-gram  %-5s %s\n", k, $1, $5 }'
done
