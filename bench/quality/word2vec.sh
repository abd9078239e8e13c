#!/usr/bin/env bash
# bench/quality/word2vec.sh — seqgrad's word2vec against gensim (the reference: word2vec.c is not
# packaged by Debian; gensim 4 reimplements it) on the same corpus with the same settings:
# analogy accuracy on questions-words (3CosAdd over the 30000 most frequent words) and training
# speed in words/s (corpus words in the vocabulary, before subsampling, per second of training).
#
#   bench/quality/word2vec.sh QUESTIONS [CORPUS]
#
# QUESTIONS is a questions-words.txt (the project ships none). CORPUS defaults to words.txt of the
# data cache. Environment: ITER (epochs, default 5), THREADS (default "1 2"), ARCHS (default
# "sg cbow"), SEQGRAD_BUILD_DIR (default build; built if needed), EXTRA (more options for both,
# e.g. "--window 5"). Installs Debian's python3-gensim when it is missing (the project itself
# never needs it). Not a test: it takes tens of minutes.
#
# Both sides: dim 100, window 5, 5 negatives, sample 1e-3, min-count 5, alpha 0.025 (skip-gram) or
# 0.05 (CBOW) falling linearly to 1e-4 over all epochs. gensim reads the corpus as an iterable of
# lines, the mode in which its rate falls over the whole run whatever the number of workers (its
# corpus_file mode with 2 workers only gets halfway down). The corpus is first passed through
# iconv -c: gensim refuses bytes that are not UTF-8, and both sides must read the same text.
# gensim's vectors are scored by both evaluators (gensim's evaluate_word_analogies and ours).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR/../../scripts
source "$here/../../scripts/setup"
cd "$SEQGRAD_ROOT"

questions="${1:?usage: bench/quality/word2vec.sh QUESTIONS [CORPUS]}"
corpus="${2:-${SEQGRAD_DATA:-data/cache}/words.txt}"
[ -s "$questions" ] || { echo "error: $questions: no such file" >&2; exit 1; }
[ -s "$corpus" ] || { echo "error: $corpus: no such file (run scripts/fetch-data)" >&2; exit 1; }
iter="${ITER:-5}"
dir="${SEQGRAD_BUILD_DIR:-build}"

seqgrad_install
seqgrad_install python3-gensim:-
seqgrad_configure "$dir"
seqgrad_build "$dir"
w2v="$dir/examples/word2vec"

work="$(mktemp -d "${TMPDIR:-/tmp}/w2v-quality.XXXXXX")"
trap 'rm -rf "$work"' EXIT
iconv -f utf-8 -t utf-8 -c "$corpus" >"$work/corpus.txt" || true
seqgrad_say "corpus $corpus: $(wc -l <"$work/corpus.txt") lines, $(wc -w <"$work/corpus.txt") words"

# words/s is of wall time; words/cpu-s of the CPU time of all the process's threads, which a
# machine busy with other work blurs less.
format='%-5s %3s %9s %11s %7s %10s %12s %8s %14s %8s\n'
rows=()
for arch in ${ARCHS:-sg cbow}; do
    flag=() alpha=0.025
    [ "$arch" = cbow ] && flag=(--cbow) alpha=0.05
    for t in ${THREADS:-1 2}; do
        seqgrad_say "$arch, $t thread(s), $iter epochs: seqgrad"
        # shellcheck disable=SC2086
        "$w2v" train --data "$work/corpus.txt" "${flag[@]}" --iter "$iter" --threads "$t" \
            --alpha "$alpha" --out "$work/ours" --questions "$questions" ${EXTRA:-} \
            >"$work/ours.log" 2>"$work/ours.err" || { cat "$work/ours.err" >&2; exit 1; }
        ours_wps=$(sed -n 's/^trained at \([0-9]*\) words\/s$/\1/p' "$work/ours.log")
        ours_cpu=$(sed -n 's/^  (\([0-9]*\) words per CPU second.*/\1/p' "$work/ours.log")
        ours_acc=$(sed -n \
            's/^analogies: \([0-9.]*\)% right (\([0-9]*\) of \([0-9]*\) answered.*/\1 \3/p' \
            "$work/ours.log")
        seqgrad_say "$arch, $t thread(s), $iter epochs: gensim"
        # shellcheck disable=SC2086
        /usr/bin/python3 "$here/word2vec_gensim.py" "$work/corpus.txt" "$questions" "$work/g.bin" \
            "${flag[@]}" --iter "$iter" --threads "$t" --alpha "$alpha" ${EXTRA:-} >"$work/g.log"
        g_wps=$(sed -n 's/.* words_per_s=\([0-9]*\).*/\1/p' "$work/g.log")
        g_cpu=$(sed -n 's/.* words_per_cpu_s=\([0-9]*\).*/\1/p' "$work/g.log")
        g_acc=$(sed -n 's/.* accuracy=\([0-9.]*\).*/\1/p' "$work/g.log")
        g_ours=$("$w2v" eval-analogies "$questions" --vectors "$work/g.bin" |
                 sed -n 's/^analogies: \([0-9.]*\)% right.*/\1/p')
        rows+=("$(printf "$format" "$arch" "$t" "$ours_wps" "$ours_cpu" "${ours_acc% *}" \
                  "$g_wps" "$g_cpu" "$g_acc" "$g_ours" "${ours_acc#* }")")
        seqgrad_say "${rows[-1]}"  # as it comes: a long run shows its rows before the table
        cat "$work/ours.log" "$work/g.log" >>"$work/all.log"
    done
done
echo
gv=$(/usr/bin/python3 -c 'import gensim; print(gensim.__version__)')
echo "word2vec vs gensim $gv, $iter epochs, $(basename "$corpus")"
printf "$format" arch thr "ours w/s" "ours w/cpu-s" "ours %" "gensim w/s" "gensim w/cpu-s" \
    "gensim %" "gensim %(ours)" answered
for r in "${rows[@]}"; do printf '%s\n' "$r"; done
