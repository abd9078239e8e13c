#!/usr/bin/env bash
# bench/quality/classify.sh [BUILD_DIR] [classify train options...] — the bidirectional GRU genre
# classifier on the Brown corpus at full size, against multinomial naive Bayes on the same chunks'
# word counts (its smoothing chosen on dev): accuracy on the held-out test documents, per chunk of
# 100 words and per document (all its chunks' log-probabilities summed). Then the same with an
# LSTM and mean + final-state pooling. Prints the settings, the figures and the times. Not a
# test: ~15-30 minutes on 2 cores.
#
# Data: the cache's Brown split (scripts/fetch-data; data/README.md): 500 documents of 15 genres
# in file order, the 9th of every 10 to dev and the 10th to test (400 / 50 / 50 documents).
#
# Environment: EPOCHS [3], THREADS [1], VARIANT [1: also the LSTM / both-pooling run], VECTORS [a
# word2vec or GloVe file, e.g. examples/word2vec's vectors.bin trained on words.txt: also a run
# with the embeddings started from them], WORK [a temporary directory, removed at the end; set it
# to keep checkpoints, logs and curves].
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-${SEQGRAD_BUILD_DIR:-build}}"
[ $# -gt 0 ] && shift
case "$build" in /*) ;; *) build="$root/$build" ;; esac
EPOCHS="${EPOCHS:-3}" THREADS="${THREADS:-1}" VARIANT="${VARIANT:-1}"

[ -d "$build" ] || meson setup "$build" "$root" >/dev/null
ninja -C "$build" examples/classify >/dev/null
exe="$build/examples/classify"
if [ -n "${WORK:-}" ]; then
    work="$WORK"
    mkdir -p "$work"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi

run() {
    local name=$1
    shift
    local t0=$SECONDS
    printf '==> %s: classify train --epochs %s --threads %s %s\n' "$name" "$EPOCHS" "$THREADS" "$*"
    if ! "$exe" train --model "$work/$name.ckpt" --epochs "$EPOCHS" --threads "$THREADS" "$@" \
        >"$work/$name.log" 2>"$work/$name.err"; then
        cat "$work/$name.err" >&2
        exit 1
    fi
    grep -E '^(classify:|model:|vectors:|naive Bayes)' "$work/$name.log"
    grep -E 'epoch [0-9]+:' "$work/$name.err"
    sed -n '/^test accuracy/,/naive Bayes (alpha/p' "$work/$name.log"
    printf '    (%d s in all)\n' $((SECONDS - t0))
}

echo "classify quality: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%RZ)"
run gru-mean "$@"
[ "$VARIANT" = 1 ] && run lstm-both --cell lstm --pool both "$@"
[ -n "${VECTORS:-}" ] && run gru-mean-vectors --vectors "$VECTORS" "$@"
exit 0
