#!/usr/bin/env bash
# tests/e2e_rnn_lm.sh BUILD_DIR SOURCE_DIR — examples/rnn_lm end to end on tiny data, in seconds:
# train (characters and words), eval, generate, checkpoints and an exact resume, and every kind of
# bad input ending in a clear message and exit status 1, never a crash.
# Closes with "e2e_rnn_lm: N passed, N failed"; exits 1 when a case failed.
set -u

. "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh" rnn_lm "$@"
data="$src/tests/data/rnn_lm-tiny.txt"
work="$tmp"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
unset SEQGRAD_DATA

# run NAME STATUS ARGS...: run the program, output in $work/out; the exit status must be STATUS.
# A crash (a signal: status > 128) always fails.
run() {
    local name="$1" want="$2"
    shift 2
    "$prog" "$@" >"$work/out" 2>&1
    local got=$?
    if [ "$got" -gt 128 ]; then bad "$name" "crashed (status $got)"; return 1; fi
    if [ "$got" -ne "$want" ]; then bad "$name" "exit status $got, expected $want"; return 1; fi
    return 0
}
# has NAME TEXT...: $work/out contains every TEXT (fixed strings).
has() {
    local name="$1"
    shift
    for t in "$@"; do
        grep -qF -- "$t" "$work/out" || { bad "$name" "no '$t' in the output"; return 1; }
    done
    ok "$name"
}

# Small and fast: 2 lanes, windows of 8, a small LSTM.
tiny=(--data "$data" --batch 2 --bptt 8 --embed 8 --hidden 16 --layers 2 --dropout 0.1
      --eval-every 10 --valid-tokens 0 --threads 1)

# ---------------------------------------------------------------- options ----
run help 0 --help && has help "usage: rnn_lm" "--checkpoint-every" "--resume" "--temperature"
run bad_option 1 --no-such-option && has bad_option "unknown option '--no-such-option'"
run bad_number 1 train --steps abc && has bad_number "--steps"
run bad_cell 1 train --cell tree && has bad_cell "--cell: 'tree'"
run bad_command 1 fly && has bad_command "'fly' is not a command"

# ------------------------------------------------------------ train, chars ----
if run train_chars 0 train "${tiny[@]}" --steps 30 --lr 0.02 --out "$work/c" --length 40 \
        --prompt "The old" --seed 3; then
    has train_chars "char-level lstm, 2 layer(s)" "validation:" "bits/char" "--- 40 characters" \
        "The old"
fi
[ -s "$work/c/model.safetensors" ] && [ -s "$work/c/model.safetensors.vocab" ] &&
    ok checkpoint_written || bad checkpoint_written "no checkpoint or vocabulary in $work/c"
rows=$(($(wc -l <"$work/c/curve.csv" 2>/dev/null || echo 0) - 1))
header="$(head -1 "$work/c/curve.csv" 2>/dev/null)"
[ "$header" = "step,train_loss,valid_loss" ] && [ "$rows" -eq 3 ] &&
    ok curve_csv || bad curve_csv "expected a header and 3 rows in curve.csv, got $rows rows"

# The loss went down: the last curve row's training loss below the first's.
first=$(sed -n 2p "$work/c/curve.csv" | cut -d, -f2)
last=$(tail -1 "$work/c/curve.csv" | cut -d, -f2)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' && ok loss_falls ||
    bad loss_falls "training loss $first at the first row, $last at the last"

# ---------------------------------------------------------------- eval ----
val=$(grep '^validation:' "$work/out" 2>/dev/null | sed 's/.*loss \([0-9.]*\) nats.*/\1/')
if run eval 0 eval --model "$work/c/model.safetensors" --data "$data" --split valid; then
    ev=$(sed -n 's/.*loss \([0-9.]*\) nats.*/\1/p' "$work/out")
    [ -n "$ev" ] && [ "$ev" = "$val" ] && ok eval_matches_training ||
        bad eval_matches_training "eval says '$ev', the end of training said '$val'"
fi
run eval_test_split 0 eval --model "$work/c/model.safetensors" --data "$data" --split test &&
    has eval_test_split "test split of rnn_lm-tiny.txt" "perplexity" "bits/char"
run eval_out_dir 0 eval --out "$work/c" --data "$data" && has eval_out_dir "valid split"

# ------------------------------------------------------------- generate ----
run gen_a 0 generate --model "$work/c/model.safetensors" --prompt "The " --length 60 --seed 9 \
    && cp "$work/out" "$work/gen_a"
run gen_b 0 generate --model "$work/c/model.safetensors" --prompt "The " --length 60 --seed 9 \
    && cmp -s "$work/out" "$work/gen_a" && ok generate_same_seed_same_text ||
    bad generate_same_seed_same_text "two runs with --seed 9 differ"
run gen_greedy 0 generate --model "$work/c/model.safetensors" --prompt "The " --length 60 \
    --temperature 0 --seed 1 && cp "$work/out" "$work/greedy"
run gen_greedy2 0 generate --model "$work/c/model.safetensors" --prompt "The " --length 60 \
    --temperature 0 --seed 2 && cmp -s "$work/out" "$work/greedy" && ok greedy_ignores_seed ||
    bad greedy_ignores_seed "temperature 0 gave other text with another seed"
run gen_unknown_char 1 generate --model "$work/c/model.safetensors" --prompt "The Zebra" &&
    has gen_unknown_char "--prompt: character 5, 'Z' (U+005A), is not in the model's vocabulary"
run gen_empty_prompt 1 generate --model "$work/c/model.safetensors" --prompt "" &&
    has gen_empty_prompt "--prompt: empty"
run gen_conflict 1 generate --model "$work/c/model.safetensors" --cell gru &&
    has gen_conflict "--cell gru, but" "a model with cell lstm"

# ------------------------------------------------------------ word level ----
if run train_words 0 train "${tiny[@]}" --level word --min-count 1 --steps 20 --out "$work/w" \
        --length 12 --prompt "the old dragon"; then
    has train_words "word-level lstm" "--- 12 words" "1 of its 3 words are not in the vocabulary" \
        "the old <unk>"
fi
run gen_words 0 generate --model "$work/w/model.safetensors" --prompt "The OLD man" --length 5 &&
    has gen_words "--- 5 words" "The old man"

# ------------------------------------------------- checkpoints and resume ----
# 20 steps straight, against 12 then a resume to 20: the same checkpoint, byte for byte
# (weights, optimizer state, the carried state, the dropout stream, the step).
common=("${tiny[@]}" --cell gru --layers 2 --dropout 0.2 --length 0 --seed 5)
run straight 0 train "${common[@]}" --steps 20 --out "$work/s"
run first_part 0 train "${common[@]}" --steps 12 --checkpoint-every 5 --out "$work/p"
if run resumed 0 train "${common[@]}" --steps 20 --resume "$work/p/model.safetensors" \
        --out "$work/r"; then
    has resumed "resuming $work/p/model.safetensors at step 12"
    cmp -s "$work/s/model.safetensors" "$work/r/model.safetensors" && ok resume_is_exact ||
        bad resume_is_exact "the resumed run's checkpoint differs from the straight run's"
fi
run resume_reads_config 0 train --data "$data" --steps 14 --length 0 --valid-tokens 0 \
    --resume "$work/p/model.safetensors" --out "$work/r2" &&
    has resume_reads_config "char-level gru, 2 layer(s), embed 8, hidden 16"
run resume_other_config 1 train "${common[@]}" --hidden 32 --steps 20 \
    --resume "$work/p/model.safetensors" --out "$work/r3" &&
    has resume_other_config "--hidden 32, but" "a model with hidden 16"
run resume_past_end 1 train "${common[@]}" --steps 10 --resume "$work/p/model.safetensors" \
    --out "$work/r4" && has resume_past_end "at step 12, past the 10 steps"
run resume_missing 1 train "${common[@]}" --resume "$work/nothing.safetensors" &&
    has resume_missing "$work/nothing.safetensors: cannot open"
printf 'not a checkpoint at all\n' >"$work/junk.safetensors"
run resume_junk 1 train "${common[@]}" --resume "$work/junk.safetensors" &&
    has resume_junk "not a checkpoint"
# Another model's checkpoint: a seqgrad checkpoint without rnn_lm's counters.
foreign_checkpoint "$work/other.safetensors"
run other_model 1 eval --model "$work/other.safetensors" --data "$data" &&
    has other_model "not a checkpoint of rnn_lm" "rnnlm.model"
# The vocabulary beside the checkpoint replaced by another's: the weights no longer fit.
cp "$work/c/model.safetensors" "$work/mixed.safetensors"
printf '<unk> 0\n\\n 3\nt 2\nh 1\n' >"$work/mixed.safetensors.vocab"
run mixed_vocab 1 generate --model "$work/mixed.safetensors" --prompt "the" &&
    has mixed_vocab "does not fit this model"

# ------------------------------------------------------------ bad corpora ----
run missing_corpus 1 train --data "$work/none.txt" --out "$work/x" &&
    has missing_corpus "$work/none.txt"
: >"$work/empty.txt"
run empty_corpus 1 train --data "$work/empty.txt" --out "$work/x" && has empty_corpus "empty.txt"
printf 'ab\nba\nab\n' >"$work/small.txt"
run small_corpus 1 train --data "$work/small.txt" --batch 8 --out "$work/x" &&
    has small_corpus "too few for 8 lanes"
SEQGRAD_DATA="$work/no-cache" run no_cache 1 train --out "$work/x" &&
    has no_cache "scripts/fetch-data"

e2e_finish
