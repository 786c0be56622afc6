#!/usr/bin/env bash
# regen.sh: rewrite the expected files of the golden tests (all, or the
# names given) from the current kafkatap. Review the diff — and check new
# outputs against tshark — before committing:
#     KAFKATAP=build/kafkatap tests/golden/regen.sh [NAME...]
exec env GOLDEN_REGEN=1 "$(dirname "$0")/run.sh" "$@"
