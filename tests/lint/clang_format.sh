#!/usr/bin/env bash
# Fails when a tracked C file differs from what clang-format (.clang-format)
# makes of it. Fix with: git ls-files '*.c' '*.h' | xargs clang-format -i
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$root"
if ! command -v clang-format >/dev/null; then
  echo "clang-format not installed"
  exit 1
fi
bad=()
while IFS= read -r f; do
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done < <(git ls-files '*.c' '*.h')
if [ "${#bad[@]}" -gt 0 ]; then
  printf 'not clang-formatted: %s\n' "${bad[@]}"
  echo "fix with: git ls-files '*.c' '*.h' | xargs clang-format -i"
  exit 1
fi
echo "all C files clang-formatted"
