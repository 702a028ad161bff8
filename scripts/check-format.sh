#!/bin/sh
# Checks (default) or applies (--fix) the tree's C formatting: clang-format with the
# repository's .clang-format over every tracked .c and .h file. Exit status 1 and the
# names of the files that differ when the check fails. Used by `make format-check`,
# `make format` and .ci/run.
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null 2>&1 || { echo "check-format: clang-format not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
files=$(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--fix" ]; then
  echo "$files" | xargs clang-format -i
  exit 0
fi
bad=""
for f in $files; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
  echo "check-format: these files differ from .clang-format (run 'make format'):" >&2
  for f in $bad; do echo "  $f" >&2; done
  exit 1
fi
echo "check-format: $(echo "$files" | wc -l) files clean"
