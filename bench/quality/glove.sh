#!/usr/bin/env bash
# bench/quality/glove.sh — seqgrad's GloVe on the word-vector corpus: analogy accuracy on
# questions-words (3CosAdd over the 30000 most frequent words), seconds per epoch on 1 and 2
# threads, and the number of co-occurrences (nonzero X_ij, both orders: the records Stanford's
# cooccur writes). Side by side with Stanford's GloVe when you point it at its binaries.
#
#   bench/quality/glove.sh QUESTIONS [CORPUS]
#
# QUESTIONS is a questions-words.txt (the project ships none). CORPUS defaults to words.txt of the
# data cache. Environment: ITER (epochs of the accuracy run, default 25), TIMING_ITER (epochs of
# each timing run, default 3), THREADS (of the timing runs, default "1 2"), SEQGRAD_BUILD_DIR
# (default build; built if needed), EXTRA (more options for our runs), STANFORD_GLOVE (a directory
# holding Stanford's vocab_count, cooccur, shuffle and glove, built from its sources: Debian does
# not package them, so without it their side is skipped). Not a test: it takes tens of minutes.
#
# Settings, both sides (issue 5's configuration): dim 100, window 10 on each side weighted by
# 1/distance and stopping at line ends, min-count 5, x_max 100, alpha 0.75, AdaGrad with rate
# 0.05 and accumulators starting at 1, vectors w + w~. Stanford's glove reads one shuffled file
# every iteration; ours reshuffles the pairs in memory each epoch (the shuffle is in our time).
# Stanford's current release steps its biases without the rate (our --bias-lr 1); its older
# releases with it (our default).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR/../../scripts
source "$here/../../scripts/setup"
cd "$SEQGRAD_ROOT"

questions="${1:?usage: bench/quality/glove.sh QUESTIONS [CORPUS]}"
corpus="${2:-${SEQGRAD_DATA:-data/cache}/words.txt}"
[ -s "$questions" ] || { echo "error: $questions: no such file" >&2; exit 1; }
[ -s "$corpus" ] || { echo "error: $corpus: no such file (run scripts/fetch-data)" >&2; exit 1; }
iter="${ITER:-25}"
timing_iter="${TIMING_ITER:-3}"
dir="${SEQGRAD_BUILD_DIR:-build}"

seqgrad_install
seqgrad_configure "$dir"
seqgrad_build "$dir"
glove="$dir/examples/glove"
settings=(--dim 100 --window 10 --min-count 5 --x-max 100 --alpha 0.75 --lr 0.05)

work="$(mktemp -d "${TMPDIR:-/tmp}/glove-quality.XXXXXX")"
trap 'rm -rf "$work"' EXIT
seqgrad_say "corpus $corpus: $(wc -l <"$corpus") lines, $(wc -w <"$corpus") words"

# field LOG SED-EXPRESSION: the first match of a `sed -n 's/.../p'` in a log
field() { sed -n "$2" "$1" | head -n 1; }

rows=()
for t in ${THREADS:-1 2}; do
    seqgrad_say "seqgrad, $t thread(s), $timing_iter epochs"
    # shellcheck disable=SC2086
    "$glove" train --data "$corpus" "${settings[@]}" --epochs "$timing_iter" --threads "$t" \
        --out "$work/t$t" $EXTRA >"$work/t$t.log" 2>"$work/t$t.err" ||
        { cat "$work/t$t.err" >&2; exit 1; }
    pairs=$(field "$work/t$t.log" 's/^glove: \([0-9]*\) co-occurrences.* in \([0-9.]*\) s$/\1/p')
    count_s=$(field "$work/t$t.log" 's/^glove: [0-9]* co-occurrences.* in \([0-9.]*\) s$/\1/p')
    epoch_s=$(field "$work/t$t.log" 's/.*epochs in [0-9.]* s (\([0-9.]*\) s per epoch.*/\1/p')
    rows+=("$(printf '%-22s %3s %12s %9s %11s' seqgrad "$t" "$pairs" "$count_s" "$epoch_s")")
done

seqgrad_say "seqgrad, 2 threads, $iter epochs, then the analogies"
# shellcheck disable=SC2086
"$glove" train --data "$corpus" "${settings[@]}" --epochs "$iter" --threads 2 --out "$work/q" \
    --questions "$questions" $EXTRA >"$work/q.log" 2>"$work/q.err" ||
    { cat "$work/q.err" >&2; exit 1; }
ours_acc=$(field "$work/q.log" 's/^glove: analogies: \([0-9.]*\)% of \([0-9]*\) answered.*/\1 \2/p')
ours_epoch=$(field "$work/q.log" 's/.*epochs in [0-9.]* s (\([0-9.]*\) s per epoch.*/\1/p')

st_rows=()
st_acc=""
if [ -n "${STANFORD_GLOVE:-}" ]; then
    for b in vocab_count cooccur shuffle glove; do
        [ -x "$STANFORD_GLOVE/$b" ] || { echo "error: no $STANFORD_GLOVE/$b" >&2; exit 1; }
    done
    s="$STANFORD_GLOVE"
    seqgrad_say "Stanford GloVe: vocab_count, cooccur, shuffle"
    "$s/vocab_count" -min-count 5 -verbose 0 <"$corpus" >"$work/vocab.txt"
    t0=$EPOCHREALTIME
    "$s/cooccur" -memory 4.0 -vocab-file "$work/vocab.txt" -verbose 0 -window-size 10 \
        <"$corpus" >"$work/cooc.bin"
    st_count=$(seqgrad_elapsed "$t0")
    "$s/shuffle" -memory 4.0 -verbose 0 <"$work/cooc.bin" >"$work/cooc.shuf.bin"
    st_pairs=$(( $(stat -c %s "$work/cooc.shuf.bin") / 16 )) # int, int, double
    for t in ${THREADS:-1 2}; do
        seqgrad_say "Stanford GloVe, $t thread(s), $timing_iter iterations"
        t0=$EPOCHREALTIME
        "$s/glove" -input-file "$work/cooc.shuf.bin" -vocab-file "$work/vocab.txt" \
            -save-file "$work/st$t" -vector-size 100 -threads "$t" -iter "$timing_iter" \
            -x-max 100 -alpha 0.75 -eta 0.05 -binary 0 -model 2 -verbose 0 2>/dev/null
        secs=$(seqgrad_elapsed "$t0")
        per=$(awk -v s="$secs" -v n="$timing_iter" 'BEGIN { printf "%.2f", s / n }')
        st_rows+=("$(printf '%-22s %3s %12s %9s %11s' "Stanford (incl. save)" "$t" "$st_pairs" \
                     "$st_count" "$per")")
    done
    seqgrad_say "Stanford GloVe, 2 threads, $iter iterations, then the analogies (our evaluator)"
    "$s/glove" -input-file "$work/cooc.shuf.bin" -vocab-file "$work/vocab.txt" \
        -save-file "$work/stq" -vector-size 100 -threads 2 -iter "$iter" -x-max 100 \
        -alpha 0.75 -eta 0.05 -binary 0 -model 2 -verbose 0 2>/dev/null
    "$glove" eval-analogies "$questions" --vectors "$work/stq.txt" >"$work/stq.log"
    st_acc=$(field "$work/stq.log" 's/^glove: analogies: \([0-9.]*\)% of \([0-9]*\) answered.*/\1 \2/p')
fi

echo
echo "GloVe on $(basename "$corpus"): dim 100, window 10 (1/distance), min-count 5, x_max 100"
printf '%-22s %3s %12s %9s %11s\n' "" thr "co-occur." "count s" "s / epoch"
for r in "${rows[@]}" "${st_rows[@]}"; do echo "$r"; done
echo
printf '%-22s %9s %9s %11s\n' "after $iter epochs" "accuracy" "answered" "s / epoch"
printf '%-22s %8s%% %9s %11s\n' "seqgrad, 2 threads" "${ours_acc% *}" "${ours_acc#* }" \
    "$ours_epoch"
if [ -n "$st_acc" ]; then
    printf '%-22s %8s%% %9s\n' "Stanford, 2 threads" "${st_acc% *}" "${st_acc#* }"
else
    echo "Stanford GloVe: skipped (set STANFORD_GLOVE to a directory with its binaries; Debian"
    echo "does not package it)"
fi
sed -n '/^glove: analogies: /,$p' "$work/q.log"
