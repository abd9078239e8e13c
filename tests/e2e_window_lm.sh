#!/usr/bin/env bash
# tests/e2e_window_lm.sh BUILD_DIR SOURCE_DIR — examples/window_lm end to end on a tiny corpus it
# writes itself, in a few seconds: train, eval, generate, an exact resume, and every kind of bad
# input (each a clear message and exit status 1, never a crash). Closes with
# "e2e_window_lm: N passed, N failed" and exits 1 on any failure.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh" window_lm "$@"
exe="$prog"
# fails NAME NEEDLE ARGS...: window_lm ARGS exits 1 (not a crash) and says NEEDLE on stderr
fails() {
    local name="$1" needle="$2" status
    shift 2
    "$exe" "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
    if [ "$status" -eq 1 ] && grep -qF -- "$needle" "$tmp/err"; then
        ok "$name"
    else
        bad "$name (status $status, stderr: $(head -c 300 "$tmp/err"))"
    fi
}
# A number of the row of split NAME ("valid", "test") in a perplexity table: column COL.
ppl() { awk -v s="$2" -v c="$3" '$1 == s { print $c }' "$1"; }
# finite_below X LIMIT: X is a number in (1, LIMIT)
finite_below() { awk -v x="$1" -v l="$2" 'BEGIN { exit !(x + 0 > 1 && x + 0 < l) }'; }

# A corpus of 400 sentences from a small grammar (determiner noun verb determiner noun .), with
# a handful of rare words that the vocabulary of 20 leaves to <unk>.
awk 'BEGIN {
    srand(7)
    nd = split("the a every one", det); nn = split("man woman king child servant", noun)
    nv = split("saw heard loved blessed", verb); nr = split("shepherd prophet camel", rare)
    for (i = 0; i < 400; i++) {
        n1 = noun[int(rand() * nn) + 1]; n2 = noun[int(rand() * nn) + 1]
        if (rand() < 0.05) n2 = rare[int(rand() * nr) + 1]
        printf "%s %s %s %s %s .\n", det[int(rand() * nd) + 1], n1, verb[int(rand() * nv) + 1],
               det[int(rand() * nd) + 1], n2
    }
}' >"$tmp/tiny.txt"
small=(--data "$tmp/tiny.txt" --vocab 20 --window 2 --embed 8 --hidden 16 --batch 32 --threads 1
       --lr 0.02 --eval-every 50 --sentences 2 --seed 3)

# --help and bad options
holds "--help lists the commands and --resume" \
    bash -c '"$1" --help | grep -q -- "--resume" && "$1" --help | grep -q "generate"' _ "$exe"
fails "an unknown option" "unknown option" --no-such-option
fails "an unknown command" "not a command" fit
fails "a bad number" "--steps" --steps zero

# train
"$exe" train "${small[@]}" --steps 150 --out "$tmp/run" >"$tmp/train.out" 2>"$tmp/train.err"
holds "train exits 0" test $? -eq 0
holds "train writes the checkpoint and its vocabulary" \
    test -s "$tmp/run/model.safetensors" -a -s "$tmp/run/model.safetensors.vocab"
holds "the vocabulary holds <unk> and </s>" \
    bash -c 'grep -q "^<unk> " "$1" && grep -q "^</s> " "$1"' _ "$tmp/run/model.safetensors.vocab"
holds "the curve has a header and a row per evaluation" \
    bash -c 'head -1 "$1" | grep -q "^step,train_loss,valid_loss" && [ "$(wc -l <"$1")" -eq 4 ]' \
    _ "$tmp/run/curve.csv"
wv="$(ppl "$tmp/train.out" valid 4)"
kv="$(ppl "$tmp/train.out" valid 5)"
# The grammar's perplexity is below 5 per word; a model that learned nothing is at 20.
holds "train reports the window LM's validation perplexity ($wv)" finite_below "$wv" 8
holds "and Kneser-Ney's on the same split ($kv)" finite_below "$kv" 8
holds "train samples sentences" \
    bash -c '[ "$(sed -n "/^--- 2 sentences/,/^---$/p" "$1" | wc -l)" -eq 4 ]' _ "$tmp/train.out"

# eval: both splits, the same validation figure as train's, a mixture no worse than its parts
"$exe" eval --model "$tmp/run/model.safetensors" --data "$tmp/tiny.txt" --threads 1 \
    >"$tmp/eval.out" 2>"$tmp/eval.err"
holds "eval exits 0" test $? -eq 0
holds "eval scores valid and test" \
    bash -c 'grep -q "^  valid " "$1" && grep -q "^  test " "$1"' _ "$tmp/eval.out"
holds "eval's validation perplexity is train's" test "$(ppl "$tmp/eval.out" valid 4)" = "$wv"
holds "eval's Kneser-Ney figure is train's" test "$(ppl "$tmp/eval.out" valid 5)" = "$kv"
mix="$(ppl "$tmp/eval.out" valid 6)"
holds "the mixture tuned on valid is no worse there than either model ($mix)" \
    awk -v m="$mix" -v a="$wv" -v b="$kv" 'BEGIN { exit !(m <= a + 0.005 && m <= b + 0.005) }'

# generate: a prompt with an unknown word reads it as <unk>, with a note
"$exe" generate --model "$tmp/run/model.safetensors" --prompt "The ZEBRA saw" --sentences 3 \
    --temperature 0.5 >"$tmp/gen.out" 2>"$tmp/gen.err"
holds "generate exits 0" test $? -eq 0
holds "an unknown prompt word is named and read as <unk>" \
    bash -c 'grep -q "\"zebra\" is not in the vocabulary" "$1" && grep -q "^the <unk> saw" "$2"' \
    _ "$tmp/gen.err" "$tmp/gen.out"
holds "generate samples 3 sentences" \
    bash -c '[ "$(sed -n "/^--- 3 sentences/,/^---$/p" "$1" | wc -l)" -eq 5 ]' _ "$tmp/gen.out"
"$exe" generate --model "$tmp/run/model.safetensors" --temperature 0 --sentences 1 \
    >"$tmp/greedy.out" 2>&1
holds "greedy generation (temperature 0) ends its sentence with '.'" \
    bash -c 'sed -n 2p "$1" | grep -q " \.$"' _ "$tmp/greedy.out"

# resume: 20 steps, then 20 more from the checkpoint, is the run of 40 (at a constant rate)
const=(--lr 0.01 --lr-final 0.01 --eval-every 10 --sentences 0)
"$exe" "${small[@]}" "${const[@]}" --steps 40 --out "$tmp/straight" >/dev/null 2>&1
"$exe" "${small[@]}" "${const[@]}" --steps 20 --out "$tmp/first" >/dev/null 2>&1
"$exe" "${small[@]}" "${const[@]}" --steps 40 --out "$tmp/resumed" \
    --resume "$tmp/first/model.safetensors" >"$tmp/resumed.out" 2>&1
holds "the resumed run says where it resumes" grep -q "resuming .* at step 20" "$tmp/resumed.out"
holds "a resumed run ends with the uninterrupted run's checkpoint, byte for byte" \
    cmp -s "$tmp/straight/model.safetensors" "$tmp/resumed/model.safetensors"
"$exe" "${small[@]}" "${const[@]}" --steps 40 --checkpoint-every 15 --out "$tmp/every" \
    >/dev/null 2>&1
holds "--checkpoint-every does not change the run" \
    cmp -s "$tmp/straight/model.safetensors" "$tmp/every/model.safetensors"

# --tour: the short run, on the given data
"$exe" --tour "${small[@]}" --steps 20 --out "$tmp/tour" >"$tmp/tour.out" 2>&1
holds "--tour prints both perplexities" \
    bash -c 'grep -q "window LM" "$1" && grep -q "Kneser-Ney 3-gram" "$1"' _ "$tmp/tour.out"

# bad input: each a message and status 1
fails "a missing corpus" "$tmp/nothing.txt" train --data "$tmp/nothing.txt" --steps 1 \
    --out "$tmp/x"
: >"$tmp/empty.txt"
fails "an empty corpus" "$tmp/empty.txt" train --data "$tmp/empty.txt" --steps 1 --out "$tmp/x"
printf 'only one line here .\n' >"$tmp/one.txt"
fails "a corpus too small to split" "too little text" train --data "$tmp/one.txt" --steps 1 \
    --out "$tmp/x"
fails "a missing checkpoint" "cannot open" eval --model "$tmp/none.safetensors" \
    --data "$tmp/tiny.txt"
fails "a file that is no checkpoint" "not a checkpoint" eval \
    --model "$tmp/run/model.safetensors.vocab" --data "$tmp/tiny.txt"
# window_lm's checkpoint with the vocabulary of another run: its tensors do not fit
"$exe" "${small[@]}" --steps 5 --vocab 12 --out "$tmp/other" --sentences 0 >/dev/null 2>&1
cp "$tmp/run/model.safetensors" "$tmp/mixed.safetensors"
cp "$tmp/other/model.safetensors.vocab" "$tmp/mixed.safetensors.vocab"
fails "a checkpoint whose vocabulary does not fit" "does not fit this model" eval \
    --model "$tmp/mixed.safetensors" --data "$tmp/tiny.txt"
fails "an option that disagrees with the checkpoint" "--window disagrees" eval \
    --model "$tmp/run/model.safetensors" --data "$tmp/tiny.txt" --window 3
# A checkpoint of another program: a valid seqgrad checkpoint (8-byte header length, the JSON
# header, no tensors and so no data, whose CRC-32 is 0) without window_lm's counters.
foreign_checkpoint "$tmp/foreign.safetensors"
fails "a checkpoint of another model" "not a checkpoint of window_lm" generate \
    --model "$tmp/foreign.safetensors"
fails "a checkpoint of another model, for --resume" "not a checkpoint of window_lm" train \
    "${small[@]}" --steps 1 --out "$tmp/x" --resume "$tmp/foreign.safetensors"

e2e_finish
