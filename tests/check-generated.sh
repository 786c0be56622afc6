#!/bin/sh
# check-generated.sh: the committed src/proto/generated/*.c must be exactly
# what tools/gen_schema.py writes from Kafka's message schemas (STYLE.md:
# "a check fails when it differs from what the generator produces").
# Regenerates into a temporary folder and diffs. Skips (exit 77) when the
# schema folder or Python is absent, as the schemas are not committed.
#
# Environment: SCHEMAS (default $top_srcdir/../shared/kafka-protocol/messages),
# ERRORS (default: error-codes.tsv beside SCHEMAS), PYTHON (default python3).
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
SCHEMAS=${SCHEMAS:-$top_srcdir/../shared/kafka-protocol/messages}
ERRORS=${ERRORS:-$SCHEMAS/../error-codes.tsv}
PYTHON=${PYTHON:-python3}

if [ ! -d "$SCHEMAS" ] || [ ! -f "$ERRORS" ]; then
	echo "SKIP: no Kafka schema folder at $SCHEMAS (or no $ERRORS); set SCHEMAS and ERRORS"
	exit 77
fi
if ! command -v "$PYTHON" >/dev/null 2>&1; then
	echo "SKIP: no $PYTHON to run tools/gen_schema.py"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-generated.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" "$top_srcdir/tools/gen_schema.py" --schemas "$SCHEMAS" --errors "$ERRORS" \
	--out "$tmp" >/dev/null || { echo "FAIL: tools/gen_schema.py failed"; exit 1; }
status=0
for f in messages.c errors.c; do
	if ! diff -u "$top_srcdir/src/proto/generated/$f" "$tmp/$f"; then
		echo "FAIL: src/proto/generated/$f differs from the generator's output; run 'make regen'"
		status=1
	fi
done
[ $status -eq 0 ] && echo "src/proto/generated matches tools/gen_schema.py"
exit $status
