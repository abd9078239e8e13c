#!/usr/bin/env bash
# tests/e2e_word2vec.sh BUILD_DIR SOURCE_DIR — examples/word2vec end to end on tiny data, in
# seconds: training in every variant, the saved files, nearest neighbours, an analogy, the
# questions evaluation, an exact resume, and every kind of bad input (a clear message, status 1).
#
# The corpus is made here: each "person" word is a rank (king, man, boy, ...) and a gender, and
# its sentences carry context words of both, so that vectors learn rank + gender and 3CosAdd can
# answer man : woman :: king : ?. The questions are tests/data/word2vec-questions.txt.
# Closes with "e2e_word2vec: N passed, N failed"; exits 1 when any check failed.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh" word2vec "$@"
w2v="$prog"
questions="$src/tests/data/word2vec-questions.txt"

awk 'BEGIN {
    srand(7)
    n = split("king prince man boy father son brother uncle husband lord", male)
    split("queen princess woman girl mother daughter sister aunt wife lady", female)
    split("throne castle street school house cradle game farm wedding manor", place)
    split("crown heir work play child infant sport field ring estate", thing)
    split("he his him himself", hm)
    split("she her hers herself", hf)
    nfill = split("the a of and in on with to at by from", fill)
    for (i = 0; i < 3000; i++) {
        r = int(rand() * n) + 1; g = rand() < 0.5
        k = 0
        tok[k++] = g ? female[r] : male[r]; tok[k++] = place[r]; tok[k++] = thing[r]
        tok[k++] = g ? hf[int(rand() * 4) + 1] : hm[int(rand() * 4) + 1]
        tok[k++] = fill[int(rand() * nfill) + 1]; tok[k++] = fill[int(rand() * nfill) + 1]
        for (a = k - 1; a > 0; a--) {
            b = int(rand() * (a + 1)); t = tok[a]; tok[a] = tok[b]; tok[b] = t
        }
        line = tok[0]; for (a = 1; a < k; a++) line = line " " tok[a]
        print line
    }
}' >"$tmp/corpus.txt"
small=(--data "$tmp/corpus.txt" --min-count 1 --size 20 --iter 10)

# ------------------------------------------------------------------- training ----
expect "help" 0 "usage: word2vec" "$w2v" --help
expect "train skip-gram" 0 "analogies: ([6-9][0-9]|100)\.[0-9]+% right \(12 of 12 answered" \
    "$w2v" "${small[@]}" --threads 2 --out "$tmp/sg" --questions "$questions"
for f in vectors.txt vectors.bin model.safetensors model.safetensors.vocab \
         model.safetensors.options curve.csv; do
    holds "train wrote $f" test -s "$tmp/sg/$f"
done
holds "vectors.txt header: 59 words of 20" test "$(head -1 "$tmp/sg/vectors.txt")" = "59 20"
holds "vectors.bin header: 59 words of 20" test "$(head -c 6 "$tmp/sg/vectors.bin")" = "59 20"
holds "vectors.bin size: header + 59 x (word, space, 80 bytes, newline)" test \
    "$(stat -c %s "$tmp/sg/vectors.bin")" -eq \
    "$((6 + $(tail -n +2 "$tmp/sg/vectors.txt" | awk '{ s += length($1) + 82 } END { print s }')))"
expect "train CBOW" 0 "analogies: ([6-9][0-9]|100)\.[0-9]+% right" \
    "$w2v" "${small[@]}" --cbow --threads 2 --out "$tmp/cbow" --questions "$questions"
expect "train skip-gram, full softmax" 0 "analogies: ([6-9][0-9]|100)\.[0-9]+% right" \
    "$w2v" "${small[@]}" --softmax --threads 1 --out "$tmp/sgs" --questions "$questions"
expect "train CBOW, full softmax" 0 "analogies: ([6-9][0-9]|100)\.[0-9]+% right" \
    "$w2v" "${small[@]}" --cbow --softmax --out "$tmp/cbs" --questions "$questions"
expect "tour on small data" 0 "man is to king as woman is to: queen" \
    "$w2v" --tour --data "$tmp/corpus.txt" --min-count 1 --size 20 --iter 10 --out "$tmp/tour"

# -------------------------------------------------------------- saved vectors ----
expect "nearest: same rank first" 0 "^king: (queen|throne|crown) \(0\.[0-9]+\)" \
    "$w2v" nearest king --vectors "$tmp/sg/vectors.bin" --top 3
expect "nearest from text vectors" 0 "^queen: (king|throne|crown) " \
    "$w2v" nearest queen --vectors "$tmp/sg/vectors.txt" --top 3
expect "analogy man : king :: woman : queen" 0 "man is to king as woman is to: queen " \
    "$w2v" analogy man king woman --vectors "$tmp/sg/vectors.bin"
expect "eval-analogies: text and binary agree" 0 \
    "$("$w2v" eval-analogies "$questions" --vectors "$tmp/sg/vectors.bin" | head -1 |
       sed 's/[.()%]/\\&/g')" \
    "$w2v" eval-analogies "$questions" --vectors "$tmp/sg/vectors.txt"

# -------------------------------------------------------------- exact resume ----
# One thread is reproducible: stopping after 2 of 4 epochs and resuming gives the very vectors
# of the run that never stopped.
"$w2v" "${small[@]}" --iter 4 --threads 1 --out "$tmp/whole" >/dev/null 2>&1
expect "stop after 2 of 4 epochs" 0 "epoch 2/4" \
    "$w2v" "${small[@]}" --iter 4 --threads 1 --stop-after 2 --out "$tmp/half"
expect "resume from the checkpoint" 0 "resuming .* after epoch 2 of 4" \
    "$w2v" --resume "$tmp/half/model.safetensors" --threads 1 --out "$tmp/half"
holds "resumed vectors are bit-identical" cmp -s "$tmp/whole/vectors.bin" "$tmp/half/vectors.bin"

# ----------------------------------------------------------------- bad input ----
: >"$tmp/empty.txt"
echo "every word here once" >"$tmp/rare.txt"
expect "missing corpus" 1 "$tmp/nothere.txt: cannot open" "$w2v" --data "$tmp/nothere.txt"
expect "empty corpus" 1 "empty.txt: .*empty" "$w2v" --data "$tmp/empty.txt" --out "$tmp/x"
expect "no word reaches min-count" 1 "rare.txt: no word occurs at least 5 times" \
    "$w2v" --data "$tmp/rare.txt" --out "$tmp/x"
expect "nearest: unknown word" 1 "'unicorn' is not in the vectors" \
    "$w2v" nearest king unicorn --vectors "$tmp/sg/vectors.bin"
expect "analogy: unknown word" 1 "'unicorn' is not in the vectors" \
    "$w2v" analogy man unicorn woman --vectors "$tmp/sg/vectors.bin"
expect "analogy: two words" 1 "analogy takes three words" "$w2v" analogy man king
printf '2 3\nfoo 1 2 3\nbar 1 2\n' >"$tmp/short.txt"
expect "malformed vectors: a short line" 1 "short.txt: line 3: word 'bar' has 2 values" \
    "$w2v" nearest foo --vectors "$tmp/short.txt"
expect "missing vectors" 1 "nothere.bin: cannot open" \
    "$w2v" nearest foo --vectors "$tmp/nothere.bin"
expect "questions file missing" 1 "noq.txt: cannot open" \
    "$w2v" eval-analogies "$tmp/noq.txt" --vectors "$tmp/sg/vectors.bin"
expect "resume: not a checkpoint" 1 "is .*corpus.txt a checkpoint of word2vec" \
    "$w2v" --resume "$tmp/corpus.txt"
# a checkpoint of another shape under this run's settings: the checkpoint of the wrong model
"$w2v" "${small[@]}" --size 8 --iter 1 --out "$tmp/other" >/dev/null 2>&1
cp "$tmp/sg/model.safetensors.vocab" "$tmp/sg/model.safetensors.options" "$tmp/other/"
expect "resume: a checkpoint of another model" 1 "model.safetensors.*(shape|mismatch|8)" \
    "$w2v" --resume "$tmp/other/model.safetensors" --out "$tmp/other"
expect "unknown option" 1 "unknown option '--frobnicate'" "$w2v" --frobnicate
expect "unknown command" 1 "'fly' is not a command" "$w2v" fly
expect "bad number" 1 "--size" "$w2v" --size x

e2e_finish
