#!/usr/bin/env bash
# Sourced by the README commands: bootstraps the environment when it is
# missing or outdated, then exports PY (the environment's python).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${MMMULTIMAE_USE_ACTIVE_ENV:-0}" = "1" ]; then
  PY="$(command -v python || command -v python3)"
else
  PY="${MMMULTIMAE_VENV:-$ROOT/.venv}/bin/python"
fi
if [ ! -x "$PY" ] || ! "$PY" "$ROOT/tools/env_stamp.py" check; then
  echo "[mmmultimae] environment missing or outdated: running tools/setup_env.sh"
  bash "$ROOT/tools/setup_env.sh" || exit 1
fi
export PY
