#!/usr/bin/env bash
# bench/quality/word2vec.sh — seqgrad's word2vec against gensim (Debian's python3-gensim, a
# reimplementation of word2vec.c) and, when you point it at a build of it, the original word2vec.c,
# on the same corpus with the same settings: analogy accuracy on questions-words (3CosAdd over the
# 30000 most frequent words) and training speed in words/s (corpus words in the vocabulary, before
# subsampling, per second of training).
#
#   bench/quality/word2vec.sh QUESTIONS [CORPUS]
#
# QUESTIONS is a questions-words.txt (the project ships none); "-" trains and times without it
# (accuracy "-"). CORPUS defaults to words.txt of the data cache. Environment:
#   ITER               epochs (default 5)
#   THREADS, ARCHS     default "1 2" and "sg cbow"
#   SEQGRAD_BUILD_DIR  default build (configured and examples/word2vec built if needed)
#   EXTRA              more options for our side only
#   GENSIM             install (default: apt-get install python3-gensim when missing), use (run it
#                      when /usr/bin/python3 imports it, else skip it with a message), skip
#   WORD2VEC_BIN       word2vec.c's binary, or a directory holding one named word2vec (Debian does
#                      not package it: build it from its sources); without it that side is skipped
#   CSV                append one line per side and run to this file (bench/run's configuration e):
#                      config,threads,side,words_per_s,words_per_cpu_s,accuracy,answered,seconds
# Not a test: with the defaults it takes tens of minutes; bench/run --config e is the short form.
#
# All sides: dim 100, window 5, 5 negatives, sample 1e-3, min-count 5, alpha 0.025 (skip-gram) or
# 0.05 (CBOW) falling linearly over all epochs to alpha·1e-4, the floor at which word2vec.c stops
# its own linear fall to 0 (ours --min-alpha and gensim's min_alpha are set to that). gensim reads
# the corpus as an iterable of lines, the mode in which its rate falls over the whole run whatever
# the number of workers (its corpus_file mode with 2 workers only gets halfway down). The corpus
# is first passed through iconv -c: gensim refuses bytes that are not UTF-8, and every side must
# read the same text. Every side's vectors are scored by our evaluator; gensim's also by its own.
#
# Timing: ours and gensim time their training loop. word2vec.c prints no time, so its process is
# timed with its vocabulary read from a file (-read-vocab, written once beforehand), and the time
# of the same command on an empty corpus (reading the vocabulary, building the network and the
# 1e8-entry negative table, saving) is subtracted. Its word count is the same: the in-vocabulary
# corpus words (its </s> line ends left out) times the epochs. Its epochs are one pass over that
# many copies of the corpus (see below: its -iter only works for a thread that stops before the
# end of the file).
# shellcheck disable=SC2059 # one printf format for a table's header and its rows
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR/../../scripts
source "$here/../../scripts/setup"
cd "$SEQGRAD_ROOT"

questions="${1:?usage: bench/quality/word2vec.sh QUESTIONS|- [CORPUS]}"
corpus="${2:-${SEQGRAD_DATA:-data/cache}/words.txt}"
[ "$questions" = - ] || [ -s "$questions" ] ||
    { echo "error: $questions: no such file" >&2; exit 1; }
[ -s "$corpus" ] || { echo "error: $corpus: no such file (run scripts/fetch-data)" >&2; exit 1; }
iter="${ITER:-5}"
dir="${SEQGRAD_BUILD_DIR:-build}"
gensim_mode="${GENSIM:-install}"
csv="${CSV:-}"

seqgrad_install
seqgrad_configure "$dir"
seqgrad_say "ninja -C $dir examples/word2vec"
ninja -C "$dir" examples/word2vec >/dev/null
w2v="$dir/examples/word2vec"

python=/usr/bin/python3
case "$gensim_mode" in
    install) seqgrad_install python3-gensim:- ;;
    use | skip) ;;
    *) echo "error: GENSIM=$gensim_mode: install, use or skip" >&2; exit 1 ;;
esac
gensim=1
if [ "$gensim_mode" = skip ]; then
    gensim=0
elif ! "$python" -c 'import gensim' 2>/dev/null; then
    gensim=0
    seqgrad_say "gensim skipped: $python cannot import it (Debian: apt-get install python3-gensim)"
fi

ref=""
if [ -n "${WORD2VEC_BIN:-}" ]; then
    ref="$WORD2VEC_BIN"
    [ -d "$ref" ] && ref="$ref/word2vec"
    [ -x "$ref" ] || { echo "error: WORD2VEC_BIN: $ref is not an executable" >&2; exit 1; }
else
    seqgrad_say "word2vec.c skipped: set WORD2VEC_BIN to its binary (Debian does not package it)"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/w2v-quality.XXXXXX")"
trap 'rm -rf "$work"' EXIT
iconv -f utf-8 -t utf-8 -c "$corpus" >"$work/corpus.txt" || true
seqgrad_say "corpus $corpus: $(wc -l <"$work/corpus.txt") lines, $(wc -w <"$work/corpus.txt") words"

# field LOG SED-EXPRESSION: the first match of a `sed -n 's/.../p'` in a log, or "-"
field() { local v; v=$(sed -n "$2" "$1" | head -n 1); echo "${v:--}"; }
# ours_acc VECTORS: "accuracy answered" by our evaluator, or "- -"
ours_acc() {
    [ "$questions" = - ] && { echo "- -"; return; }
    "$w2v" eval-analogies "$questions" --vectors "$1" >"$work/eval.log"
    local a
    a=$(field "$work/eval.log" \
        's/^analogies: \([0-9.]*\)% right (\([0-9]*\) of \([0-9]*\) answered.*/\1 \3/p')
    [ "$a" = - ] && a="- -"
    echo "$a"
}
per_s() { awk -v w="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", w / s; else print "-" }'; }
csv_row() { [ -z "$csv" ] || echo "$1,$2,$3,$4,$5,$6,$7,$8" >>"$csv"; }

if [ -n "$ref" ]; then
    # word2vec.c's vocabulary (min-count 5), written once; its in-vocabulary word count.
    "$ref" -train "$work/corpus.txt" -save-vocab "$work/ref.vocab" -min-count 5 -debug 0 >/dev/null
    ref_words=$(awk '$1 != "</s>" { s += $2 } END { print s }' "$work/ref.vocab")
    : >"$work/empty.txt"
    # word2vec.c (its last release) never clears its end-of-file flag between passes: a thread
    # that reaches the end of the file trains one epoch whatever -iter says (on 1 thread, always).
    # So ITER epochs are one pass over ITER copies of the corpus, with every count of the
    # vocabulary file times ITER: the same vocabulary, subsampling and negative table, and the
    # rate falls linearly over the whole run as with -iter ITER.
    if [ "$iter" -gt 1 ]; then
        for _ in $(seq "$iter"); do cat "$work/corpus.txt"; done >"$work/ref-corpus.txt"
        awk -v n="$iter" '{ print $1, $2 * n }' "$work/ref.vocab" >"$work/ref-x.vocab"
        mv "$work/ref-x.vocab" "$work/ref.vocab"
    else
        ln -s corpus.txt "$work/ref-corpus.txt"
    fi
fi

# words/s is of wall time; words/cpu-s of the CPU time of all the process's threads, which a
# machine busy with other work blurs less.
format='%-5s %3s %9s %11s %7s %10s %12s %8s %14s %10s %12s %8s %8s\n'
rows=()
for arch in ${ARCHS:-sg cbow}; do
    flag=() alpha=0.025 cbow=0
    [ "$arch" = cbow ] && flag=(--cbow) alpha=0.05 cbow=1
    min_alpha=$(awk -v a="$alpha" 'BEGIN { printf "%g", a * 1e-4 }')
    for t in ${THREADS:-1 2}; do
        seqgrad_say "$arch, $t thread(s), $iter epochs: seqgrad"
        # shellcheck disable=SC2086
        "$w2v" train --data "$work/corpus.txt" "${flag[@]}" --iter "$iter" --threads "$t" \
            --alpha "$alpha" --min-alpha "$min_alpha" --size 100 --window 5 --negative 5 \
            --sample 1e-3 --min-count 5 --out "$work/ours" ${EXTRA:-} \
            >"$work/ours.log" 2>"$work/ours.err" || { cat "$work/ours.err" >&2; exit 1; }
        ours_wps=$(field "$work/ours.log" 's/^trained at \([0-9]*\) words\/s$/\1/p')
        ours_cpu=$(field "$work/ours.log" 's/^  (\([0-9]*\) words per CPU second.*/\1/p')
        read -r ours_acc answered < <(ours_acc "$work/ours/vectors.bin")
        csv_row "w2v-$arch" "$t" seqgrad "$ours_wps" "$ours_cpu" "$ours_acc" "$answered" -
        cat "$work/ours.log" >>"$work/all.log"

        g_wps=- g_cpu=- g_acc=- g_ours=-
        if [ "$gensim" = 1 ]; then
            seqgrad_say "$arch, $t thread(s), $iter epochs: gensim"
            "$python" "$here/word2vec_gensim.py" "$work/corpus.txt" "$questions" "$work/g.bin" \
                "${flag[@]}" --iter "$iter" --threads "$t" --alpha "$alpha" \
                --min-alpha "$min_alpha" >"$work/g.log"
            g_wps=$(field "$work/g.log" 's/.* words_per_s=\([0-9]*\).*/\1/p')
            g_cpu=$(field "$work/g.log" 's/.* words_per_cpu_s=\([0-9]*\).*/\1/p')
            g_acc=$(field "$work/g.log" 's/.* accuracy=\([0-9.]*\).*/\1/p')
            read -r g_ours g_answered < <(ours_acc "$work/g.bin")
            csv_row "w2v-$arch" "$t" gensim "$g_wps" "$g_cpu" "$g_ours" "$g_answered" -
            cat "$work/g.log" >>"$work/all.log"
        fi

        c_wps=- c_cpu=- c_acc=-
        if [ -n "$ref" ]; then
            seqgrad_say "$arch, $t thread(s), $iter epochs: word2vec.c"
            cmd=("$ref" -read-vocab "$work/ref.vocab" -cbow "$cbow" -size 100 -window 5
                 -negative 5 -hs 0 -sample 1e-3 -min-count 5 -threads "$t" -iter 1
                 -alpha "$alpha" -binary 1 -debug 0)
            TIMEFORMAT='%R %U %S'
            { time "${cmd[@]}" -train "$work/empty.txt" -output "$work/c0.bin" >/dev/null \
                2>"$work/c.err"; } 2>"$work/c0.time"
            { time "${cmd[@]}" -train "$work/ref-corpus.txt" -output "$work/c.bin" >/dev/null \
                2>"$work/c.err"; } 2>"$work/c.time"
            read -r w0 u0 s0 <"$work/c0.time"
            read -r w1 u1 s1 <"$work/c.time"
            words=$((ref_words * iter))
            c_wps=$(per_s "$words" "$(awk -v a="$w1" -v b="$w0" 'BEGIN { print a - b }')")
            c_cpu=$(per_s "$words" "$(awk -v a="$u1" -v b="$s1" -v c="$u0" -v d="$s0" \
                'BEGIN { print a + b - c - d }')")
            read -r c_acc c_answered < <(ours_acc "$work/c.bin")
            csv_row "w2v-$arch" "$t" word2vec.c "$c_wps" "$c_cpu" "$c_acc" "$c_answered" -
            echo "word2vec.c $arch threads=$t iter=$iter words=$words seconds=$w1" \
                "setup_seconds=$w0" >>"$work/all.log"
        fi
        rows+=("$(printf "$format" "$arch" "$t" "$ours_wps" "$ours_cpu" "$ours_acc" "$g_wps" \
                  "$g_cpu" "$g_acc" "$g_ours" "$c_wps" "$c_cpu" "$c_acc" "$answered")")
        seqgrad_say "${rows[-1]}"  # as it comes: a long run shows its rows before the table
    done
done
echo
gv=-
[ "$gensim" = 1 ] && gv=$("$python" -c 'import gensim; print(gensim.__version__)')
echo "word2vec: seqgrad, gensim $gv, word2vec.c${ref:+ ($ref)}; $iter epochs, $(basename "$corpus")"
printf "$format" arch thr "ours w/s" "ours w/cpu-s" "ours %" "gensim w/s" "gensim w/cpu-s" \
    "gensim %" "gensim %(ours)" "w2v.c w/s" "w2v.c w/cpu-s" "w2v.c %" answered
for r in "${rows[@]}"; do printf '%s\n' "$r"; done
echo "(accuracy by our evaluator, except \"gensim %\": gensim's evaluate_word_analogies)"
