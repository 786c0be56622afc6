#!/usr/bin/env bash
# check-manpage.sh: every long option that `kafkatap COMMAND --help` prints
# must appear in the man page docs/kafkatap.1, and every command must have a
# section there. Run by `make check` (automake passes srcdir and builddir).
set -u
srcdir=${srcdir:-.}
bin=${KAFKATAP:-./kafkatap}
man="$srcdir/docs/kafkatap.1"
[[ -x $bin ]] || { echo "no binary at $bin"; exit 99; }
[[ -f $man ]] || { echo "no man page at $man"; exit 1; }
status=0
# Commands from the top-level usage (lines "  NAME  summary").
commands=$("$bin" --help | awk '/^commands:/{f=1;next} f && /^  [a-z]/{print $1}')
[[ -n $commands ]] || { echo "could not read the command list from '$bin --help'"; exit 1; }
# An option counts as documented only on a heading line of the man page
# (.B/.BI/.BR/.IP, as under .TP), not in passing in running text. The man
# page writes options with \- escapes; compare on plain text.
plain=$(grep -E '^\.(B|BI|BR|IP) ' "$man" | sed 's/\\-/-/g; s/\\f[BIRP]//g')
for cmd in $commands; do
	if ! grep -q "^\.SS.*\b$cmd\b" "$man"; then
		echo "man page: no .SS section for command '$cmd'"
		status=1
	fi
	help=$("$bin" "$cmd" --help 2>/dev/null || true)
	for opt in $(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
		if ! grep -qF -- "$opt" <<<"$plain"; then
			echo "man page: option $opt of 'kafkatap $cmd' is not documented"
			status=1
		fi
	done
done
[[ $status -eq 0 ]] && echo "man page covers every command and option"
exit $status
