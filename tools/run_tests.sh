#!/usr/bin/env bash
# The whole test suite (README's test command). Bootstraps the environment
# on first use. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=tools/ensure_env.sh
source "$ROOT/tools/ensure_env.sh"
cd "$ROOT"
set +e
"$PY" -m pytest -p no:cacheprovider "$@"  # testpaths = tests (setup.cfg)
rc=$?
set -e
if [ "$rc" = "5" ]; then
  echo "[mmmultimae] pytest collected no tests: failing" >&2
fi
exit "$rc"
