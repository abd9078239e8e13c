#!/usr/bin/env bash
# tests/e2e_glove.sh BUILD_DIR SOURCE_DIR — examples/glove end to end on tiny data, in seconds:
# train, the files it writes, looking at the vectors, an exact resume, and every bad input
# answered with a message and exit status 1. Closes with "e2e_glove: N passed, N failed".
set -uo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh" glove "$@"
glove="$prog"
corpus="$src/tests/data/glove-corpus.txt"
questions="$src/tests/data/glove-questions.txt"

small=(--data "$corpus" --min-count 1 --dim 10 --window 3 --lr 0.1 --threads 1 --seed 3)

expect "help" 0 "usage: glove" "$glove" --help
expect "train on a tiny corpus" 0 "glove: vectors .*vectors.txt" \
    "$glove" train "${small[@]}" --epochs 50 --out "$tmp/run" --questions "$questions"

# The vectors: GloVe text, one line per word of the vocabulary but <unk>, 1 + 10 fields each.
vocab_lines=$(wc -l <"$tmp/run/model.safetensors.vocab" 2>/dev/null || echo 0)
vec_lines=$(wc -l <"$tmp/run/vectors.txt" 2>/dev/null || echo 0)
fields=$(awk '{ print NF }' "$tmp/run/vectors.txt" 2>/dev/null | sort -u | tr '\n' ' ')
if [ "$vec_lines" -gt 50 ] && [ "$vec_lines" -eq $((vocab_lines - 1)) ] && [ "$fields" = "11 " ] &&
    ! grep -q '^<unk> ' "$tmp/run/vectors.txt"; then
    ok "vectors.txt: $vec_lines words of 10 values, <unk> left out"
else
    : >"$tmp/out"
    bad "vectors.txt: $vec_lines lines (vocabulary $vocab_lines with <unk>), fields per line: $fields"
fi
curve_ok() {
    [ -s "$tmp/run/curve.csv" ] && [ "$(head -1 "$tmp/run/curve.csv")" = "epoch,cost,seconds" ] &&
        [ "$(wc -l <"$tmp/run/curve.csv")" -eq 51 ]
}
holds "curve.csv: 50 epochs" curve_ok
# the cost falls: the last epoch's below half the first's
# shellcheck disable=SC2016 # an awk program
holds "the cost falls over training" \
    awk -F, 'NR == 2 { first = $2 } END { exit !($2 < first / 2) }' "$tmp/run/curve.csv"

# What it learned: capitals near capitals, colours near colours.
expect "nearest: paris among capitals" 0 \
    "paris +(lisbon|rome|berlin|madrid|vienna|athens|dublin) " \
    "$glove" nearest paris --out "$tmp/run" --top 3
expect "nearest: red among colours" 0 "red +(green|blue|yellow|white|black) " \
    "$glove" nearest red --vectors "$tmp/run/vectors.txt" --top 3
expect "analogy prints answers" 0 "paris : france :: rome : \?" \
    "$glove" analogy paris france rome --out "$tmp/run"
expect "eval-analogies" 0 "analogies: [0-9.]+% of [0-9]+ answered \([0-9]+ questions; 1 with" \
    "$glove" eval-analogies "$questions" --out "$tmp/run"
expect "count shows partners" 0 "strongest co-occurrences of \"paris\"" \
    "$glove" count "${small[@]}" --word paris

# An interrupted run resumed from its checkpoint ends as the uninterrupted one (one thread).
"$glove" train "${small[@]}" --epochs 6 --out "$tmp/whole" >/dev/null 2>&1
"$glove" train "${small[@]}" --epochs 3 --out "$tmp/half" >/dev/null 2>&1
expect "resume from a checkpoint" 0 "resuming .* after epoch 3" \
    "$glove" train --data "$corpus" --epochs 6 --resume "$tmp/half/model.safetensors" \
    --out "$tmp/resumed" --lr 0.1 --threads 1
same_vectors() {
    [ -s "$tmp/whole/vectors.txt" ] && cmp -s "$tmp/whole/vectors.txt" "$tmp/resumed/vectors.txt"
}
holds "resumed vectors equal the uninterrupted run's" same_vectors
expect "checkpoint-every writes a checkpoint" 0 "glove: vectors" \
    "$glove" train "${small[@]}" --epochs 4 --checkpoint-every 2 --out "$tmp/every"

# Bad input: a message and exit status 1, never a crash.
expect "missing corpus" 1 "nonexistent.txt" "$glove" train --data "$tmp/nonexistent.txt"
: >"$tmp/empty.txt"
expect "empty corpus" 1 "empty.txt" "$glove" train --data "$tmp/empty.txt" --out "$tmp/e"
printf 'one two three\nfour five six\n' >"$tmp/rare.txt"
expect "no word reaches --min-count" 1 "min-count" "$glove" train --data "$tmp/rare.txt" \
    --out "$tmp/r"
printf 'alpha\nbeta\nalpha\nbeta\n' >"$tmp/lonely.txt"
expect "no two words in a window" 1 "no co-occurrences" "$glove" train --data "$tmp/lonely.txt" \
    --min-count 1 --out "$tmp/l"
expect "unknown word in nearest" 1 "\"zebra\" is not in" "$glove" nearest zebra --out "$tmp/run"
expect "unknown word in analogy" 1 "\"zebra\" is not in" \
    "$glove" analogy paris france zebra --out "$tmp/run"
expect "no vectors yet" 1 "train first" "$glove" nearest paris --out "$tmp/none"
expect "unknown --word in count" 1 "not in the vocabulary" \
    "$glove" count "${small[@]}" --word zebra
head -c 100 /dev/urandom >"$tmp/junk.safetensors"
expect "a file that is not a checkpoint" 1 "not a (seqgrad )?checkpoint" \
    "$glove" train --data "$corpus" --resume "$tmp/junk.safetensors" --out "$tmp/j"
# a safetensors header of some other model: no glove counters
foreign_checkpoint "$tmp/other.safetensors"
expect "a checkpoint of another model" 1 "not a checkpoint of glove" \
    "$glove" train --data "$corpus" --resume "$tmp/other.safetensors" --out "$tmp/o"
mkdir -p "$tmp/mix"
cp "$tmp/half/model.safetensors" "$tmp/mix/"
head -n 20 "$tmp/half/model.safetensors.vocab" >"$tmp/mix/model.safetensors.vocab"
expect "a checkpoint of another vocabulary" 1 "does not fit" \
    "$glove" train --data "$corpus" --resume "$tmp/mix/model.safetensors" --out "$tmp/v" \
    --epochs 6
expect "unknown option" 1 "unknown option" "$glove" train --no-such-option
expect "unknown command" 1 "not a command" "$glove" fly
expect "bad number" 1 "--dim" "$glove" train --dim zero
expect "analogy needs three words" 1 "three words" "$glove" analogy paris france

e2e_finish
