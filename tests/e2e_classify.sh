#!/bin/bash
# End to end: examples/classify on tiny labelled texts (tests/data/classifier-*.genres), in
# seconds. Trains, evaluates, predicts, resumes from a checkpoint, and meets bad input with a
# clear message and exit status 1.
#   tests/e2e_classify.sh BUILD_DIR SOURCE_DIR
# Prints "e2e_classify: N passed, N failed" and exits 1 when a check failed.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh" classify "$@"
data=$src/tests/data
train=$data/classifier-train.genres
test=$data/classifier-test.genres

# Three genres of 4 training documents each, cut into chunks of 20 words.
small=(--train "$train" --dev "$test" --test "$test" --chunk 20 --dim 16 --hidden 16 --lr 0.01
       --lr-decay 1 --batch 8 --eval-every 1000)

expect help 0 'usage: classify train\|eval\|predict' "$prog" --help

expect train 0 'BiGRU classifier +[0-9.]+% of chunks' "$prog" train "${small[@]}" --epochs 15 \
    --model "$tmp/m"
cp "$tmp/out" "$tmp/train.log"
acc=$(sed -n 's/^  BiGRU classifier *\([0-9.]*\)% of chunks.*/\1/p' "$tmp/train.log")
if awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 90) }'; then ok "train reaches 90% (got $acc%)"
else cp "$tmp/train.log" "$tmp/out"; bad "train reaches 90% (got ${acc:-nothing}%)"; fi
if grep -Eq 'naive Bayes \(alpha [0-9.]+\) +[0-9.]+% of chunks' "$tmp/train.log"; then ok "baseline reported"
else cp "$tmp/train.log" "$tmp/out"; bad "baseline reported"; fi
for f in m m.lex m.curve.csv; do
    if [ -s "$tmp/$f" ]; then ok "train wrote $f"; else echo "missing" >"$tmp/out"; bad "train wrote $f"; fi
done
if [ "$(head -1 "$tmp/m.curve.csv")" = "step,epoch,train_loss,dev_accuracy,nb_dev_accuracy" ] &&
   [ "$(($(wc -l <"$tmp/m.curve.csv") - 1))" -eq 15 ]; then ok "curve has a header and 15 rows"
else cp "$tmp/m.curve.csv" "$tmp/out"; bad "curve has a header and 15 rows"; fi

expect eval 0 'BiGRU classifier +[0-9.]+% of chunks' \
    "$prog" eval --model "$tmp/m" --train "$train" --test "$test" --chunk 20
acc2=$(sed -n 's/^  BiGRU classifier *\([0-9.]*\)% of chunks.*/\1/p' "$tmp/out")
if [ -n "$acc" ] && [ "$acc" = "$acc2" ]; then ok "eval agrees with train ($acc2%)"
else bad "eval agrees with train ($acc vs $acc2)"; fi

expect "predict news" 0 '^news [0-9.]+%' "$prog" predict --model "$tmp/m" \
    "the senate voted on the bill and the mayor said the council would meet"
expect "predict romance" 0 '^romance [0-9.]+%' "$prog" predict --model "$tmp/m" \
    "she smiled at him and her heart was full of love under the moon"
expect "predict unknown words" 0 '\(4 words, 4 unknown\)' "$prog" predict --model "$tmp/m" \
    "zorble flimber quux Ünïcödé"

expect "train with checkpoints" 0 'model saved' "$prog" train "${small[@]}" --epochs 2 \
    --checkpoint-every 2 --model "$tmp/r"
expect resume 0 'resumed .* at step [0-9]+ \(epoch 3\)' "$prog" train "${small[@]}" --epochs 3 \
    --resume "$tmp/r" --model "$tmp/r"
expect "uninterrupted run" 0 'model saved' "$prog" train "${small[@]}" --epochs 3 --model "$tmp/u"
if [ "$(tail -1 "$tmp/u.curve.csv")" = "$(tail -1 "$tmp/r.curve.csv")" ] && cmp -s "$tmp/u" "$tmp/r"
then ok "resumed run = uninterrupted run (curve and checkpoint)"
else diff "$tmp/u.curve.csv" "$tmp/r.curve.csv" >"$tmp/out"; bad "resumed run = uninterrupted run"; fi
expect "lstm, both poolings" 0 'bidirectional lstm 16, both pooling' "$prog" train "${small[@]}" \
    --epochs 1 --cell lstm --pool both --model "$tmp/l"
expect "final-state pooling" 0 'final pooling' "$prog" train "${small[@]}" --epochs 1 --pool final \
    --model "$tmp/f"

# Pretrained vectors (word2vec's text format) start the embeddings; their width wins.
printf '3 5\nthe 0.1 0.2 0.3 0.4 0.5\nsenate 0.5 0.4 0.3 0.2 0.1\nzzzqqq 1 1 1 1 1\n' >"$tmp/vec.txt"
expect "pretrained vectors" 0 'vectors: 2 of the [0-9]+ words have one' \
    "$prog" train "${small[@]}" --epochs 1 \
    --vectors "$tmp/vec.txt" --model "$tmp/v"
expect "frozen pretrained embeddings" 0 'vectors: 2 of the [0-9]+ words have one' \
    "$prog" train "${small[@]}" --epochs 1 --vectors "$tmp/vec.txt" --freeze-embeddings \
    --model "$tmp/v"
printf '2 5\nthe 0.1 0.2\n' >"$tmp/badvec.txt"
expect "malformed vectors" 1 'badvec\.txt' "$prog" train "${small[@]}" --epochs 1 \
    --vectors "$tmp/badvec.txt" --model "$tmp/v"

: >"$tmp/empty.genres"
printf 'news the jury said\n' >"$tmp/notab.genres"
printf 'humor\tthe end of it\n' >"$tmp/newgenre.genres"
printf 'junk\n' >"$tmp/junk"
expect "no data cache" 1 'fetch-data' env SEQGRAD_DATA="$tmp/nocache" "$prog" train
expect "missing corpus" 1 'nothing\.genres' \
    "$prog" train --train "$tmp/nothing.genres" --dev "$test" \
    --test "$test"
expect "empty corpus" 1 'no labelled text' "$prog" train --train "$tmp/empty.genres" --dev "$test" \
    --test "$test"
expect "line without a tab" 1 'line 1: expected' "$prog" train --train "$tmp/notab.genres" \
    --dev "$test" --test "$test"
expect "genre unseen in training" 1 "unknown label 'humor'" "$prog" train "${small[@]}" \
    --dev "$tmp/newgenre.genres" --epochs 1 --model "$tmp/x"
expect "missing model" 1 'nomodel\.lex' "$prog" predict --model "$tmp/nomodel" "the jury"
cp "$tmp/m.lex" "$tmp/junk.lex"
expect "checkpoint of another model" 1 'junk' "$prog" predict --model "$tmp/junk" "the jury"
printf 'seqgrad-tagger-lexicon 1\n' >"$tmp/tag.lex"
: >"$tmp/tag"
expect "a tagger's lexicon" 1 'not a classifier lexicon' \
    "$prog" predict --model "$tmp/tag" "the jury"
expect "nothing to classify" 1 'nothing to classify' "$prog" predict --model "$tmp/m" "  "
expect "bad pooling" 1 "'max' is not mean, final or both" "$prog" train "${small[@]}" --pool max
expect "unknown command" 1 "unknown command 'frobnicate'" "$prog" frobnicate

e2e_finish
