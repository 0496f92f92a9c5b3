#!/usr/bin/env bash
# Fails when C sources call functions the project bans: unbounded string
# writes and unchecked conversions (style.md). Use snprintf, strtol/strtoull
# with end-pointer checks, and lf_buf instead.
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$root"
pattern='\b(sprintf|vsprintf|strcpy|stpcpy|strcat|gets|atoi|atol|atoll|atof|strtok)[[:space:]]*\('
hits="$(git ls-files '*.c' '*.h' 2>/dev/null | xargs -r grep -nE "$pattern" | grep -vE '(snprintf|vsnprintf)' || true)"
if [ -n "$hits" ]; then
  echo "banned functions used:"
  echo "$hits"
  exit 1
fi
echo "no banned functions in $(git ls-files '*.c' '*.h' | wc -l) C files"
