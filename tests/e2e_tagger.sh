#!/bin/bash
# End to end: examples/tagger on tiny tagged data (tests/data/tagger-*.tagged), in seconds.
# Trains, evaluates, tags a sentence, resumes from a checkpoint, and meets bad input with a
# clear message and exit status 1.
#   tests/e2e_tagger.sh BUILD_DIR SOURCE_DIR
# Prints "e2e_tagger: N passed, N failed" and exits 1 when a check failed.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh" tagger "$@"
data=$src/tests/data
train=$data/tagger-train.tagged
test=$data/tagger-test.tagged

# Small and quick: the tiny set is 60 sentences.
small=(--train "$train" --dev "$test" --test "$test" --hidden 16 --word-dim 16 --suffix-dim 8
       --shape-dim 4 --batch 8 --lr 0.01 --lr-decay 1 --dropout 0.1)

expect help 0 'usage: tagger train\|eval\|tag' "$prog" --help

expect train 0 'BiLSTM tagger +[0-9.]+%' "$prog" train "${small[@]}" --epochs 30 --model "$tmp/m"
cp "$tmp/out" "$tmp/train.log"
# It learns: the tiny grammar's tags are nearly all predictable, so >= 90% on held-out sentences.
acc=$(sed -n 's/^  BiLSTM tagger *\([0-9.]*\)%.*/\1/p' "$tmp/train.log")
if awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 90) }'; then ok "train reaches 90% (got $acc%)"
else cp "$tmp/train.log" "$tmp/out"; bad "train reaches 90% (got ${acc:-nothing}%)"; fi
for f in m m.lex m.curve.csv; do
    if [ -s "$tmp/$f" ]; then ok "train wrote $f"; else echo "missing" >"$tmp/out"; bad "train wrote $f"; fi
done
rows=$(($(wc -l <"$tmp/m.curve.csv") - 1))
if [ "$(head -1 "$tmp/m.curve.csv")" = "step,epoch,train_loss,dev_accuracy" ] && [ "$rows" -eq 30 ]
then ok "curve has a header and 30 rows"
else cp "$tmp/m.curve.csv" "$tmp/out"; bad "curve has a header and 30 rows"; fi

expect eval 0 'baseline: most frequent tag, suffix rule +[0-9.]+%' \
    "$prog" eval --model "$tmp/m" --train "$train" --test "$test"
# the same model on the same data: the same accuracy as train's final report
acc2=$(sed -n 's/^  BiLSTM tagger *\([0-9.]*\)%.*/\1/p' "$tmp/out")
if [ -n "$acc" ] && [ "$acc" = "$acc2" ]; then ok "eval agrees with train ($acc2%)"
else bad "eval agrees with train ($acc vs $acc2)"; fi

expect tag 0 '^Mary/np sees\*?/vbz a/at (zorble\*|letter)/nn in/in Texas/np \./\.$' \
    "$prog" tag --model "$tmp/m" "Mary sees a letter in Texas."
expect "tag an unknown word" 0 'zorble\*/' "$prog" tag --model "$tmp/m" "Mary sees a zorble ."
expect "tag non-ASCII words" 0 'Zoë\*/' "$prog" tag --model "$tmp/m" "Zoë sees the café ."

# Resume: 2 epochs with checkpoints, then on to 4; the resumed run starts where it left off.
expect "train with checkpoints" 0 'model saved' "$prog" train "${small[@]}" --epochs 2 \
    --checkpoint-every 3 --model "$tmp/r"
expect resume 0 'resumed .* at step 16 \(epoch 3' "$prog" train "${small[@]}" --epochs 4 \
    --resume "$tmp/r" --model "$tmp/r"
rows=$(($(wc -l <"$tmp/r.curve.csv") - 1))
if [ "$rows" -eq 2 ] && tail -1 "$tmp/r.curve.csv" | grep -q '^32,4,'; then ok "resumed run's curve"
else cp "$tmp/r.curve.csv" "$tmp/out"; bad "resumed run's curve"; fi
# Exactly where it left off: 2 epochs + 2 resumed = 4 uninterrupted, to the last digit.
expect "uninterrupted run" 0 'model saved' "$prog" train "${small[@]}" --epochs 4 --model "$tmp/u"
if [ "$(sed -n 4,5p "$tmp/u.curve.csv")" = "$(cat "$tmp/r.curve.csv" | sed -n 2,3p)" ] &&
   cmp -s "$tmp/u" "$tmp/r"; then ok "resumed run = uninterrupted run (curve and checkpoint)"
else diff "$tmp/u.curve.csv" "$tmp/r.curve.csv" >"$tmp/out"; bad "resumed run = uninterrupted run"; fi
expect "full tag set" 0 'tags \(full\)' "$prog" train "${small[@]}" --epochs 1 --full-tags \
    --model "$tmp/f"
expect "eval of a full-tag model" 0 '\(15 sentences, [0-9]+ tokens, full tags\)' "$prog" eval \
    --model "$tmp/f" --train "$train" --test "$test"
expect "words only" 0 'no character features' "$prog" train "${small[@]}" --epochs 1 \
    --no-char-features --model "$tmp/w"

# Pretrained vectors (word2vec's text format) start the embeddings; their width wins.
printf '3 5\nthe 0.1 0.2 0.3 0.4 0.5\ndog 0.5 0.4 0.3 0.2 0.1\nzzzqqq 1 1 1 1 1\n' >"$tmp/vec.txt"
expect "pretrained vectors" 0 'vectors: 2 of the [0-9]+ words have one' \
    "$prog" train "${small[@]}" --epochs 1 \
    --vectors "$tmp/vec.txt" --model "$tmp/v"
printf '2 5\nthe 0.1 0.2\n' >"$tmp/badvec.txt"
expect "malformed vectors" 1 'badvec\.txt' "$prog" train "${small[@]}" --epochs 1 \
    --vectors "$tmp/badvec.txt" --model "$tmp/v"

# Bad input: a clear message naming the problem, status 1, never a crash.
: >"$tmp/empty.tagged"
printf 'The/at dog\n' >"$tmp/notags.tagged"
printf 'not a checkpoint\n' >"$tmp/junk"
printf 'seqgrad-classifier-lexicon 1\n' >"$tmp/junk.lex"
expect "no data cache" 1 'fetch-data' env SEQGRAD_DATA="$tmp/nocache" "$prog" train
expect "missing corpus" 1 'nothing\.tagged' \
    "$prog" train --train "$tmp/nothing.tagged" --dev "$test" \
    --test "$test"
expect "empty corpus" 1 'empty' \
    "$prog" train --train "$tmp/empty.tagged" --dev "$test" --test "$test"
expect "untagged token" 1 "'dog' is not word/TAG" "$prog" train --train "$tmp/notags.tagged" \
    --dev "$test" --test "$test"
expect "missing model" 1 'nomodel\.lex' "$prog" tag --model "$tmp/nomodel" "a dog"
expect "wrong model" 1 'not a tagger lexicon' "$prog" tag --model "$tmp/junk" "a dog"
cp "$tmp/m.lex" "$tmp/other.lex"
cp "$tmp/w" "$tmp/other" # a words-only checkpoint under a lexicon with character features
expect "checkpoint of another model" 1 'other' "$prog" tag --model "$tmp/other" "a dog"
expect "nothing to tag" 1 'nothing to tag' "$prog" tag --model "$tmp/m" "   "
expect "no sentence" 1 'give the sentence' "$prog" tag --model "$tmp/m"
expect "unknown command" 1 "unknown command 'frobnicate'" "$prog" frobnicate
expect "bad number" 1 '\-\-epochs' "$prog" train "${small[@]}" --epochs zero
expect "resume of a missing file" 1 'gone' "$prog" train "${small[@]}" --resume "$tmp/gone"

e2e_finish
