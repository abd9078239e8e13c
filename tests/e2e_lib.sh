# tests/e2e_lib.sh — the frame every tests/e2e_<program>.sh shares. A script starts with
#
#   set -u
#   . "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh" <program> "$@"
#
# which takes the script's arguments BUILD_DIR SOURCE_DIR and sets
#   build, src   the two roots
#   prog         $build/examples/<program> (the script stops at once when it is not built)
#   tmp          a fresh directory, removed when the script exits; $tmp/out holds the output of
#                the last command run by expect
#   passed, failed
# and defines
#   ok NAME                       a case passed
#   bad NAME [WHY]                a case failed: WHY and the last lines of $tmp/out (when there
#                                 is one) are printed under it
#   expect NAME STATUS PATTERN CMD...
#                                 CMD exits with STATUS — a crash (a signal, status > 128) fails
#                                 whatever STATUS says — and its output (stdout and stderr)
#                                 matches the extended regular expression PATTERN
#   holds NAME CMD...             CMD succeeds (a test(1), a shell function)
#   foreign_checkpoint FILE       a valid seqgrad checkpoint of no example's model: no tensors and
#                                 one counter, "step"
#   e2e_finish                    the closing line "e2e_<program>: N passed, N failed", and the
#                                 script's exit status (1 when a case failed)

e2e_name="e2e_${1:?usage: . e2e_lib.sh PROGRAM BUILD_DIR SOURCE_DIR}"
build="${2:?usage: $e2e_name.sh BUILD_DIR SOURCE_DIR}"
src="${3:?usage: $e2e_name.sh BUILD_DIR SOURCE_DIR}"
prog="$build/examples/$1"
[ -x "$prog" ] || { echo "$e2e_name: $prog is not built" >&2; exit 1; }
tmp="$(mktemp -d "${TMPDIR:-/tmp}/$e2e_name.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

ok() { passed=$((passed + 1)); echo "ok   $1"; }

bad() {
    failed=$((failed + 1))
    echo "FAIL $1${2:+: $2}"
    [ -f "$tmp/out" ] && sed 's/^/     | /' "$tmp/out" | tail -n 15
    return 0
}

expect() {
    local name="$1" want="$2" pattern="$3" got=0
    shift 3
    "$@" >"$tmp/out" 2>&1 || got=$?
    if [ "$got" -gt 128 ]; then
        bad "$name" "crashed (status $got)"
    elif [ "$got" -ne "$want" ]; then
        bad "$name" "exit status $got, expected $want"
    elif ! grep -Eq -- "$pattern" "$tmp/out"; then
        bad "$name" "no line matches /$pattern/"
    else
        ok "$name"
        return 0
    fi
    return 1
}

holds() {
    local name="$1"
    shift
    if "$@"; then ok "$name"; else : >"$tmp/out"; bad "$name" "this does not hold: $*"; fi
}

foreign_checkpoint() {
    local json='{"__metadata__":{"format":"seqgrad","version":"1","crc32":"00000000",'
    json+='"counter.step":"3"}}'
    local n=${#json}
    printf "$(printf '\\%03o' $((n & 255)) $(((n >> 8) & 255)) 0 0 0 0 0 0)" >"$1"
    printf '%s' "$json" >>"$1"
}

e2e_finish() {
    echo "$e2e_name: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
