#!/usr/bin/env bash
# bench/quality/tagger.sh [BUILD_DIR] [tagger train options...] — the BiLSTM tagger (FORMULAS §8)
# on the Brown corpus at full size: token accuracy on the held-out test documents, overall and on
# unknown words, against the most-frequent-tag baseline (unknown words: the tag of training hapaxes
# with the same suffix, and the plain "most frequent tag overall"); then the same tagger without
# its character features (suffix and shape embeddings), which measures what they do for unknown
# words. Prints the settings, the figures and the times. Not a test: ~10-30 minutes on 2 cores.
#
# Data: the cache's Brown split (scripts/fetch-data; data/README.md): the 500 documents in file
# order, the 9th of every 10 to dev and the 10th to test. Base tags (Brown's -hl -tl -nc, fw- and
# the negation * stripped; compounds such as ppss+md kept). "Unknown": a test word whose exact
# form never occurs in the training file.
#
# Environment: EPOCHS [3], THREADS [1: a 32-sentence batch makes small products, and on 2 shared
# cores a second thread mostly spins], ABLATION [1: also train without character features],
# VECTORS [a word2vec or GloVe file of lowercased words, e.g. examples/word2vec's vectors.bin
# trained on words.txt: also a run with the word embeddings started from them], WORK [a temporary
# directory, removed at the end; set it to keep checkpoints, logs and curves].
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-${SEQGRAD_BUILD_DIR:-build}}"
[ $# -gt 0 ] && shift
case "$build" in /*) ;; *) build="$root/$build" ;; esac
EPOCHS="${EPOCHS:-3}" THREADS="${THREADS:-1}" ABLATION="${ABLATION:-1}"

[ -d "$build" ] || meson setup "$build" "$root" >/dev/null
ninja -C "$build" examples/tagger >/dev/null
exe="$build/examples/tagger"
if [ -n "${WORK:-}" ]; then
    work="$WORK"
    mkdir -p "$work"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi

run() { # NAME OPTIONS...: train on the full split; print the settings, the epochs, the test figures
    local name=$1
    shift
    local t0=$SECONDS
    printf '==> %s: tagger train --epochs %s --threads %s %s\n' "$name" "$EPOCHS" "$THREADS" "$*"
    if ! "$exe" train --model "$work/$name.ckpt" --epochs "$EPOCHS" --threads "$THREADS" "$@" \
        >"$work/$name.log" 2>"$work/$name.err"; then
        cat "$work/$name.err" >&2
        exit 1
    fi
    grep -E '^(tagger|model|vectors):' "$work/$name.log"
    grep -E 'epoch [0-9]+:' "$work/$name.err"
    sed -n '/^test accuracy/,/unknown -> top/p' "$work/$name.log"
    printf '    (%d s in all)\n' $((SECONDS - t0))
}

echo "tagger quality: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%RZ)"
run default "$@"
[ "$ABLATION" = 1 ] && run words-only --no-char-features "$@"
[ -n "${VECTORS:-}" ] && run vectors --vectors "$VECTORS" "$@"
exit 0
