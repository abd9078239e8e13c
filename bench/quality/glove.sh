#!/usr/bin/env bash
# bench/quality/glove.sh — seqgrad's GloVe on the word-vector corpus: analogy accuracy on
# questions-words (3CosAdd over the 30000 most frequent words), seconds per epoch on 1 and 2
# threads, and the number of co-occurrences (nonzero X_ij, both orders: the records Stanford's
# cooccur writes). Side by side with Stanford's GloVe when you point it at its binaries.
#
#   bench/quality/glove.sh QUESTIONS [CORPUS]
#
# QUESTIONS is a questions-words.txt (the project ships none); "-" trains and times without it
# (accuracy "-"). CORPUS defaults to words.txt of the data cache. Environment:
#   ITER               epochs of the accuracy run on 2 threads (default 25; 0: no such run)
#   TIMING_ITER        epochs of each timing run (default 3); with QUESTIONS, each timing run's
#                      vectors are scored too
#   THREADS            thread counts of the timing runs (default "1 2")
#   SEQGRAD_BUILD_DIR  default build (configured and examples/glove built if needed)
#   EXTRA              more options for our runs
#   BIAS_LR            our --bias-lr (default 1: Stanford's current release steps its biases
#                      without the rate; set 0.05 to compare with its releases before that)
#   GLOVE_BIN          a directory holding Stanford's vocab_count, cooccur, shuffle and glove, built
#                      from its sources (STANFORD_GLOVE is read too); Debian does not package them,
#                      so without it their side is skipped
#   CSV                append one line per side and timing run to this file (bench/run's
#                      configuration e): config,threads,side,words_per_s,words_per_cpu_s,accuracy,
#                      answered,seconds_per_epoch
# Not a test: with the defaults it takes tens of minutes; bench/run --config e is the short form.
#
# Settings, both sides (issue 5's configuration): dim 100, window 10 on each side weighted by
# 1/distance and stopping at line ends, min-count 5, x_max 100, alpha 0.75, AdaGrad with rate
# 0.05 and accumulators starting at 1, gradient components clipped at 100, vectors w + w~.
# Stanford's glove reads one shuffled file every iteration; ours reshuffles the pairs in memory
# each epoch (the shuffle is in our time). Stanford's seconds per epoch are those of its glove
# process over TIMING_ITER iterations less those of the same command with -iter 0 (reading the
# vocabulary, initialising, saving the vectors), divided by TIMING_ITER.
# shellcheck disable=SC2059 # one printf format for a table's header and its rows
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR/../../scripts
source "$here/../../scripts/setup"
cd "$SEQGRAD_ROOT"

questions="${1:?usage: bench/quality/glove.sh QUESTIONS|- [CORPUS]}"
corpus="${2:-${SEQGRAD_DATA:-data/cache}/words.txt}"
[ "$questions" = - ] || [ -s "$questions" ] ||
    { echo "error: $questions: no such file" >&2; exit 1; }
[ -s "$corpus" ] || { echo "error: $corpus: no such file (run scripts/fetch-data)" >&2; exit 1; }
iter="${ITER:-25}"
timing_iter="${TIMING_ITER:-3}"
dir="${SEQGRAD_BUILD_DIR:-build}"
csv="${CSV:-}"
stanford="${GLOVE_BIN:-${STANFORD_GLOVE:-}}"

seqgrad_install
seqgrad_configure "$dir"
seqgrad_say "ninja -C $dir examples/glove"
ninja -C "$dir" examples/glove >/dev/null
glove="$dir/examples/glove"
settings=(--dim 100 --window 10 --min-count 5 --x-max 100 --alpha 0.75 --lr 0.05
          --bias-lr "${BIAS_LR:-1}" --grad-clip 100)
st_settings=(-vector-size 100 -x-max 100 -alpha 0.75 -eta 0.05 -grad-clip 100 -binary 0 -model 2
             -verbose 0 -seed 1)

work="$(mktemp -d "${TMPDIR:-/tmp}/glove-quality.XXXXXX")"
trap 'rm -rf "$work"' EXIT
seqgrad_say "corpus $corpus: $(wc -l <"$corpus") lines, $(wc -w <"$corpus") words"

# field LOG SED-EXPRESSION: the first match of a `sed -n 's/.../p'` in a log, or "-"
field() { local v; v=$(sed -n "$2" "$1" | head -n 1); echo "${v:--}"; }
# accuracy VECTORS: "accuracy answered" by our evaluator, or "- -"
accuracy() {
    [ "$questions" = - ] && { echo "- -"; return; }
    "$glove" eval-analogies "$questions" --vectors "$1" >"$work/eval.log"
    local a
    a=$(field "$work/eval.log" 's/^glove: analogies: \([0-9.]*\)% of \([0-9]*\) answered.*/\1 \2/p')
    [ "$a" = - ] && a="- -"
    echo "$a"
}
csv_row() { [ -z "$csv" ] || echo "glove,$1,$2,-,-,$3,$4,$5" >>"$csv"; }
# secs COMMAND...: run it (output to the work directory) and print its wall seconds
secs() {
    local t0=$EPOCHREALTIME
    "$@" >"$work/cmd.log" 2>&1 || { cat "$work/cmd.log" >&2; return 1; }
    awk -v a="${t0/,/.}" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.2f", b - a }'
}

fmt='%-22s %3s %12s %9s %11s %9s %9s\n'
rows=()
for t in ${THREADS:-1 2}; do
    seqgrad_say "seqgrad, $t thread(s), $timing_iter epochs"
    # shellcheck disable=SC2086
    "$glove" train --data "$corpus" "${settings[@]}" --epochs "$timing_iter" --threads "$t" \
        --out "$work/t$t" ${EXTRA:-} >"$work/t$t.log" 2>"$work/t$t.err" ||
        { cat "$work/t$t.err" >&2; exit 1; }
    pairs=$(field "$work/t$t.log" 's/^glove: \([0-9]*\) co-occurrences.* in \([0-9.]*\) s$/\1/p')
    count_s=$(field "$work/t$t.log" 's/^glove: [0-9]* co-occurrences.* in \([0-9.]*\) s$/\1/p')
    epoch_s=$(field "$work/t$t.log" 's/.*epochs* in [0-9.]* s (\([0-9.]*\) s per epoch.*/\1/p')
    read -r acc answered < <(accuracy "$work/t$t/vectors.txt")
    csv_row "$t" seqgrad "$acc" "$answered" "$epoch_s"
    rows+=("$(printf "$fmt" seqgrad "$t" "$pairs" "$count_s" "$epoch_s" "$acc" "$answered")")
done

if [ -n "$stanford" ]; then
    for b in vocab_count cooccur shuffle glove; do
        [ -x "$stanford/$b" ] || { echo "error: GLOVE_BIN: no $stanford/$b" >&2; exit 1; }
    done
    s="$stanford"
    seqgrad_say "Stanford GloVe: vocab_count, cooccur, shuffle"
    "$s/vocab_count" -min-count 5 -verbose 0 <"$corpus" >"$work/vocab.txt" 2>/dev/null
    # shellcheck disable=SC2016 # the $ are the inner shell's
    st_count=$(secs sh -c '"$1/cooccur" -memory 4.0 -vocab-file "$2/vocab.txt" -verbose 0 \
        -window-size 10 -symmetric 1 -distance-weighting 1 -overflow-file "$2/overflow" \
        <"$3" >"$2/cooc.bin"' sh "$s" "$work" "$corpus")
    "$s/shuffle" -memory 4.0 -verbose 0 -seed 1 -temp-file "$work/shuffle" <"$work/cooc.bin" \
        >"$work/cooc.shuf.bin" 2>/dev/null
    rm -f "$work/cooc.bin"
    st_pairs=$(( $(stat -c %s "$work/cooc.shuf.bin") / 16 )) # int, int, double
    st=("$s/glove" -input-file "$work/cooc.shuf.bin" -vocab-file "$work/vocab.txt"
        "${st_settings[@]}")
    for t in ${THREADS:-1 2}; do
        seqgrad_say "Stanford GloVe, $t thread(s), $timing_iter iterations (and 0 for its setup)"
        setup=$(secs "${st[@]}" -threads "$t" -iter 0 -save-file "$work/st0")
        total=$(secs "${st[@]}" -threads "$t" -iter "$timing_iter" -save-file "$work/st$t")
        per=$(awk -v s="$total" -v z="$setup" -v n="$timing_iter" \
            'BEGIN { printf "%.2f", (s - z) / n }')
        read -r acc answered < <(accuracy "$work/st$t.txt")
        csv_row "$t" stanford "$acc" "$answered" "$per"
        rows+=("$(printf "$fmt" Stanford "$t" "$st_pairs" "$st_count" "$per" "$acc" "$answered")")
    done
fi

if [ "$iter" -gt 0 ]; then
    seqgrad_say "seqgrad, 2 threads, $iter epochs, then the analogies"
    # shellcheck disable=SC2086
    "$glove" train --data "$corpus" "${settings[@]}" --epochs "$iter" --threads 2 \
        --out "$work/q" ${EXTRA:-} >"$work/q.log" 2>"$work/q.err" ||
        { cat "$work/q.err" >&2; exit 1; }
    read -r ours_acc ours_answered < <(accuracy "$work/q/vectors.txt")
    [ "$questions" = - ] || cp "$work/eval.log" "$work/q.eval"
    ours_epoch=$(field "$work/q.log" 's/.*epochs in [0-9.]* s (\([0-9.]*\) s per epoch.*/\1/p')
    st_acc=- st_answered=-
    if [ -n "$stanford" ]; then
        seqgrad_say "Stanford GloVe, 2 threads, $iter iterations, then the analogies"
        secs "${st[@]}" -threads 2 -iter "$iter" -save-file "$work/stq" >/dev/null
        read -r st_acc st_answered < <(accuracy "$work/stq.txt")
    fi
fi

echo
echo "GloVe on $(basename "$corpus"): dim 100, window 10 (1/distance), min-count 5, x_max 100," \
    "ours with --bias-lr ${BIAS_LR:-1}"
printf "$fmt" "after $timing_iter epochs" thr "co-occur." "count s" "s / epoch" "accuracy" \
    "answered"
for r in "${rows[@]}"; do echo "$r"; done
if [ "$iter" -gt 0 ]; then
    echo
    printf '%-22s %9s %9s %11s\n' "after $iter epochs" "accuracy" "answered" "s / epoch"
    printf '%-22s %8s%% %9s %11s\n' "seqgrad, 2 threads" "$ours_acc" "$ours_answered" \
        "$ours_epoch"
    [ -n "$stanford" ] &&
        printf '%-22s %8s%% %9s\n' "Stanford, 2 threads" "$st_acc" "$st_answered"
    [ "$questions" = - ] || { echo "seqgrad's, by section:"; cat "$work/q.eval"; }
fi
[ -n "$stanford" ] || echo "Stanford GloVe: skipped (set GLOVE_BIN to a directory with its" \
    "binaries; Debian does not package it)"
