# bash completion for offcopy(1).  Installed as "offcopy" in bash-completion's
# completions directory, which loads it the first time offcopy is completed;
# it uses bash-completion's helpers (_init_completion, _filedir).
#
# The options are listed here rather than read from `offcopy --help` at each
# TAB, which would run the program every time.  tests/install/completion_test.sh
# fails when --help has an option that this list lacks.
#
# shellcheck disable=SC2034,SC2207  # _init_completion's locals; compgen's words have no blanks

_offcopy() {
  local cur prev words cword split
  _init_completion -s || return

  # An option's value, as --option=VALUE (which _init_completion -s splits
  # into prev and cur) or, for a required one, as the next word.
  case $prev in
    --sparse | --snapshot) COMPREPLY=($(compgen -W 'auto always never' -- "$cur")); return ;;
    --offload) COMPREPLY=($(compgen -W 'auto require' -- "$cur")); return ;;
    --no-preserve) _offcopy_attributes; return ;;
    -t | --target-directory) _filedir -d; return ;;
    -j | --jobs | -S | --suffix) return ;;  # a number, a suffix: nothing to offer
  esac
  if [[ $split == true ]]; then  # optional values: only as --option=VALUE
    case $prev in
      --reflink) COMPREPLY=($(compgen -W 'auto always never' -- "$cur")) ;;
      --preserve) _offcopy_attributes ;;
      --backup) COMPREPLY=($(compgen -W 'none off numbered t existing nil simple never' -- "$cur")) ;;
    esac
    return
  fi

  if [[ $cur == -* ]]; then
    # "--option=" offers the option with its value: no space after the "=".
    COMPREPLY=($(compgen -W '
      --reflink --reflink= --sparse= --offload= --recursive --archive
      --preserve --preserve= --no-preserve= --no-dereference --dereference
      --one-file-system --update --copy-contents --atomic --fsync --verify
      --jobs= --snapshot= --progress --no-progress --force --interactive
      --no-clobber --target-directory= --no-target-directory --verbose
      --debug --stats --json --help --version
      --link --symbolic-link --backup --backup= --suffix= --parents
      --remove-destination --attributes-only --strip-trailing-slashes
      --context --context=
      -r -R -a -p -d -P -L -H -x -u -j -f -i -n -t -T -v
      -l -s -b -S -Z' -- "$cur"))
    [[ ${COMPREPLY-} == *= ]] && compopt -o nospace
    return
  fi
  _filedir
}

# cp's attribute list: complete the word after the last comma.
_offcopy_attributes() {
  local done=${cur%"${cur##*,}"}
  COMPREPLY=($(compgen -P "$done" -W 'mode ownership timestamps links xattr context all' \
    -- "${cur##*,}"))
  compopt -o nospace
}

complete -F _offcopy offcopy
