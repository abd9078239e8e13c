#!/usr/bin/env bash
# bench/quality/rnn_lm_vs_torch.sh [BUILD_DIR] — the issue's quality bar for the RNN language
# model: on the same data, split, architecture and number of updates, seqgrad's validation loss
# is within 2% of the same model written in PyTorch (bench/quality/rnn_lm_torch.py).
#
# Both sides start from the same weights (seqgrad draws them and saves them with --save-init; the
# PyTorch script loads them), read the same ids (--dump-ids) in the same lanes and windows, carry
# the state across windows the same way, and take the same Adam steps with the same clipping, in
# float32. Dropout is off by default, so nothing random is left but rounding.
#
# First a parity check of the setup (20 updates, where the two should agree to ~1e-5), then the
# measured run. Prints both validation losses, their ratio and the times; exits 1 when the ratio is
# off by more than 2%.
#
# Needs Debian's python3-torch, run with /usr/bin/python3 (installed with apt-get when missing;
# the project itself never needs it), and the data cache (scripts/fetch-data).
#
# Environment (defaults in brackets): CELL [lstm], LAYERS [1], EMBED [64], HIDDEN [256],
# BPTT [64], BATCH [32], LR [0.002], CLIP [5], DROPOUT [0], STEPS [3000], THREADS [2] for each
# side, DATA [the cache's kjv.txt], LEVEL [char], WORK [a temporary directory, removed at the end].
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-${SEQGRAD_BUILD_DIR:-build}}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
CELL="${CELL:-lstm}" LAYERS="${LAYERS:-1}" EMBED="${EMBED:-64}" HIDDEN="${HIDDEN:-256}"
BPTT="${BPTT:-64}" BATCH="${BATCH:-32}" LR="${LR:-0.002}" CLIP="${CLIP:-5}"
DROPOUT="${DROPOUT:-0}" STEPS="${STEPS:-3000}" THREADS="${THREADS:-2}" LEVEL="${LEVEL:-char}"
DATA="${DATA:-${SEQGRAD_DATA:-$root/data/cache}/kjv.txt}"

say() { printf '==> %s\n' "$*"; }

[ -f "$DATA" ] || { echo "error: $DATA is missing: run scripts/fetch-data" >&2; exit 1; }
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
    say "installing python3-torch (for this measurement only)"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y --no-install-recommends python3-torch python3-numpy >/dev/null
fi
[ -d "$build" ] || meson setup "$build" "$root" >/dev/null
ninja -C "$build" examples/rnn_lm >/dev/null
rnn_lm="$build/examples/rnn_lm"

if [ -n "${WORK:-}" ]; then
    work="$WORK"; mkdir -p "$work"
else
    work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fi

# run STEPS TAG: both sides; sets c_loss, t_loss, c_secs, t_secs.
run() {
    local steps="$1" tag="$2" start
    local model=(--level "$LEVEL" --cell "$CELL" --layers "$LAYERS" --embed "$EMBED"
                 --hidden "$HIDDEN" --dropout "$DROPOUT" --bptt "$BPTT" --batch "$BATCH")
    start=$EPOCHREALTIME
    "$rnn_lm" train --data "$DATA" "${model[@]}" --lr "$LR" --clip "$CLIP" --steps "$steps" \
        --eval-every "$steps" --valid-tokens 0 --length 0 --threads "$THREADS" \
        --save-init "$work/init.safetensors" --dump-ids "$work/ids" --out "$work/seqgrad-$tag" \
        >"$work/seqgrad-$tag.log" 2>&1 || { cat "$work/seqgrad-$tag.log" >&2; exit 1; }
    c_secs=$(awk -v a="${start/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.0f", b - a }')
    c_loss=$(sed -n 's/^validation: .* loss \([0-9.]*\) nats.*/\1/p' "$work/seqgrad-$tag.log")
    start=$EPOCHREALTIME
    /usr/bin/python3 "$root/bench/quality/rnn_lm_torch.py" --ids "$work/ids" \
        --init "$work/init.safetensors" --cell "$CELL" --layers "$LAYERS" --embed "$EMBED" \
        --hidden "$HIDDEN" --dropout "$DROPOUT" --bptt "$BPTT" --batch "$BATCH" --lr "$LR" \
        --clip "$CLIP" --steps "$steps" --threads "$THREADS" \
        >"$work/torch-$tag.log" 2>&1 || { cat "$work/torch-$tag.log" >&2; exit 1; }
    t_secs=$(awk -v a="${start/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.0f", b - a }')
    t_loss=$(sed -n 's/^torch: valid_loss \([0-9.]*\) .*/\1/p' "$work/torch-$tag.log")
    [ -n "$c_loss" ] && [ -n "$t_loss" ] || { echo "error: no validation loss in the logs" \
        "($work)" >&2; exit 1; }
}

say "$LEVEL-level $CELL, $LAYERS layer(s), embed $EMBED, hidden $HIDDEN, BPTT $BPTT," \
    "batch $BATCH, Adam lr $LR, clip $CLIP, dropout $DROPOUT; $THREADS thread(s) each;" \
    "$(basename "$DATA")"
run 20 check
say "parity check, 20 updates: seqgrad $c_loss, PyTorch $t_loss (should agree to ~1e-5)"
run "$STEPS" full
ratio=$(awk -v c="$c_loss" -v t="$t_loss" 'BEGIN { printf "%.4f", c / t }')
say "$STEPS updates: validation loss (nats/token) seqgrad $c_loss, PyTorch $t_loss," \
    "ratio $ratio"
say "time (whole run: load, train, validate): seqgrad ${c_secs} s, PyTorch ${t_secs} s"
if awk -v r="$ratio" 'BEGIN { exit !(r >= 0.98 && r <= 1.02) }'; then
    say "PASS: within 2%"
else
    say "FAIL: more than 2% apart"
    exit 1
fi
