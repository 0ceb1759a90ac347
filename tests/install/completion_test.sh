#!/usr/bin/env bash
# completion_test.sh SOURCE_DIR OFFCOPY
#
# Loads completion/offcopy.bash on top of bash-completion, as bash does,
# then completes a few command lines by calling _offcopy with COMP_WORDS
# and COMP_CWORD set as readline sets them (which makes "=" a word of its
# own).  Also checks that every option `OFFCOPY --help` lists is offered
# after "-", so an option added without its completion fails here.
# Skips (77) without bash-completion.
set -uo pipefail
src=${1:?usage: completion_test.sh SOURCE_DIR OFFCOPY}
offcopy=${2:?usage: completion_test.sh SOURCE_DIR OFFCOPY}
bash_completion=/usr/share/bash-completion/bash_completion
if [ ! -r "$bash_completion" ]; then
  echo "SKIP: bash-completion is not installed ($bash_completion)"
  exit 77
fi
# shellcheck disable=SC1090
. "$bash_completion"
. "$src/completion/offcopy.bash"
# Outside readline compopt only complains: what it would set is not tested.
compopt() { :; }
tmp=$(mktemp -d /tmp/offcopy-completion.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/dir" && touch "$tmp/file"
passed=0 failed=0

# completions WORD...: what TAB offers for the last WORD, sorted, one a line.
completions() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE=""  # the words as typed: no blanks around "="
  local w last=""
  for w in "$@"; do
    if [ "$w" = "=" ] || [ "$last" = "=" ]; then COMP_LINE+=$w; else COMP_LINE+="${COMP_LINE:+ }$w"; fi
    last=$w
  done
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _offcopy offcopy "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  printf '%s\n' "${COMPREPLY[@]}" | sort
}
# expect "WANT" WORD...: the completions, space-separated, are WANT.
expect() {
  local want=$1; shift
  local got
  got=$(completions "$@" | paste -sd' ')
  if [ "$got" = "$want" ]; then
    passed=$((passed + 1)); echo "ok   $*"
  else
    failed=$((failed + 1)); echo "FAIL $*: got '$got', want '$want'"
  fi
}

if [ "$(complete -p offcopy)" = "complete -F _offcopy offcopy" ]; then
  passed=$((passed + 1)); echo "ok   complete -p offcopy"
else
  failed=$((failed + 1)); echo "FAIL complete -p offcopy: $(complete -p offcopy 2>&1)"
fi
expect "--reflink --reflink=" offcopy --refl
expect "--no-clobber --no-dereference --no-preserve= --no-progress --no-target-directory" offcopy --no-
expect "always auto" offcopy --reflink = a
expect "never" offcopy --sparse n
expect "never" offcopy --sparse = n
expect "require" offcopy -v --offload = r
expect "always auto never" offcopy --snapshot ""
expect "mode,timestamps" offcopy --preserve = mode,ti
expect "context" offcopy --no-preserve con
expect "numbered" offcopy --backup = nu
expect "$tmp/dir" offcopy -t "$tmp/"
expect "$tmp/dir" offcopy --target-directory = "$tmp/"
expect "$tmp/dir $tmp/file" offcopy -a "$tmp/"
expect "" offcopy -j ""

# Every option of --help: the long ones it mentions anywhere, the short
# ones that start its lines ("  -r, -R, --recursive").
offered=$( (completions offcopy --; completions offcopy -) | sed 's/=$//' | sort -u)
help=$("$offcopy" --help)
missing=$( (grep -o -- '--[a-z][a-z-]*' <<<"$help"
            grep -oE -- '^ +-[A-Za-z](, -[A-Za-z])*' <<<"$help" | grep -oE -- '-[A-Za-z]') |
          sort -u | comm -23 - <(echo "$offered"))
if [ -z "$missing" ]; then
  passed=$((passed + 1)); echo "ok   every option of --help completes"
else
  failed=$((failed + 1)); echo "FAIL not in completion/offcopy.bash: ${missing//$'\n'/ }"
fi

echo "completion_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
