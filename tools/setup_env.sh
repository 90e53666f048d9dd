#!/usr/bin/env bash
# Bootstrap the mmmultimae Python environment (idempotent).
#
# Creates ``.venv`` at the repository root (or installs into the active
# environment with ``MMMULTIMAE_USE_ACTIVE_ENV=1``) and installs, in order:
#   1. torch + torchvision            (TORCH_SPEC, TORCH_INDEX_URL)
#   2. mmcv 2.1.0 with compiled ops   (built from the PyPI sdist, cached wheel)
#   3. mmengine, mmsegmentation, timm, einops, pytest and the rest
#   4. the project itself, editable
#
# Environment variables:
#   MMMULTIMAE_VENV           venv path (default: <repo>/.venv)
#   MMMULTIMAE_USE_ACTIVE_ENV 1 = install into the python on PATH instead
#   TORCH_SPEC                default "torch==2.14.1 torchvision==0.29.1"
#   TORCH_INDEX_URL           e.g. https://download.pytorch.org/whl/cu124
#   MMCV_WHEEL_CACHE          default ${XDG_CACHE_HOME:-~/.cache}/mmmultimae/wheels
#   MMCV_CUDA                 auto (default) | 1 | 0 : build CUDA ops of mmcv
#   MAX_JOBS                  parallel compile jobs for mmcv (default: nproc)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TORCH_SPEC="${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}"
MMCV_VERSION=2.1.0
CACHE_DIR="${MMCV_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmmultimae/wheels}"
# Everything except torch and mmcv (pinned where the stack is fragile).
DEPS=(
  "mmengine==0.10.7"
  "mmsegmentation==1.2.2"
  "ftfy" "regex"                      # used by mmseg, not declared by it
  "timm>=1.0,<2" "einops>=0.8"
  "opencv-python-headless>=4.10,<5"
  "simplejpeg>=1.9,<2"                # JPEG decoding of the ImageNet pre-training pipeline
  "setuptools>=77,<81"                # torch needs >=77; mmengine imports pkg_resources (<81)
  "scipy" "h5py" "matplotlib" "prettytable" "tensorboard"
  "mmpretrain==1.2.0"                 # classification transfer (pure Python)
  "importlib-metadata>=8"             # mmpretrain imports it; old releases fail beside current setuptools
  "numba" "scikit-image"              # imagecorruptions-imaug's dependencies (it is installed --no-deps below)
  "pytest>=8" "pytest-timeout"
)

STEP="start"
T0=$(date +%s)
fail() {
  echo "[setup_env] FAILED during step: ${STEP}" >&2
  echo "[setup_env] $1" >&2
  exit 1
}
trap 'fail "see the output above; re-run tools/setup_env.sh after fixing it (it resumes where it stopped)."' ERR
phase_start() { STEP="$1"; PHASE_T0=$(date +%s); echo "[setup_env] ==> ${STEP}"; }
phase_end() { echo "[setup_env] <== ${STEP} done in $(( $(date +%s) - PHASE_T0 )) s"; }

# ---------------------------------------------------------------- 1. python
phase_start "python environment"
if [ "${MMMULTIMAE_USE_ACTIVE_ENV:-0}" = "1" ]; then
  PY="$(command -v python || command -v python3)" || fail "no python on PATH"
  echo "[setup_env] using the active environment: ${PY}"
else
  VENV="${MMMULTIMAE_VENV:-$REPO/.venv}"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || fail "python3 -m venv failed: install python3-venv (Python >= 3.9)"
  fi
  PY="$VENV/bin/python"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
"$PY" - <<'PYEOF' || fail "Python >= 3.9 is required"
import sys
assert sys.version_info >= (3, 9), sys.version
PYEOF
"${PIP[@]}" install -q --upgrade pip wheel
phase_end

# ---------------------------------------------------------------- 2. torch
phase_start "torch (${TORCH_SPEC})"
# pip is idempotent: an already satisfied spec costs a few seconds.
TORCH_ARGS=()
[ -n "${TORCH_INDEX_URL:-}" ] && TORCH_ARGS=(--index-url "$TORCH_INDEX_URL")
# shellcheck disable=SC2086
"${PIP[@]}" install --progress-bar on "${TORCH_ARGS[@]}" ${TORCH_SPEC} \
  || fail "torch install failed; set TORCH_SPEC (and TORCH_INDEX_URL for CUDA builds)"
"$PY" -c "import torch" || fail "torch does not import"
phase_end

# ---------------------------------------------------------------- 3. mmcv
phase_start "mmcv ${MMCV_VERSION} with compiled ops"
if "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '${MMCV_VERSION}')" 2>/dev/null; then
  echo "[setup_env] already installed"
else
  CUDA_OPS=0
  case "${MMCV_CUDA:-auto}" in
    1) CUDA_OPS=1 ;;
    auto) if command -v nvcc >/dev/null 2>&1 && \
             "$PY" -c "import torch,sys; sys.exit(not (torch.cuda.is_available() and torch.version.cuda))" 2>/dev/null; then
            CUDA_OPS=1; fi ;;
  esac
  KEY=$("$PY" - "$CUDA_OPS" <<'PYEOF'
import sys, torch
cuda = f"cu{torch.version.cuda.replace('.', '')}" if sys.argv[1] == '1' else 'cpu'
print(f"torch{torch.__version__.split('+')[0]}-py{sys.version_info[0]}{sys.version_info[1]}-{cuda}")
PYEOF
)
  WHEEL_DIR="$CACHE_DIR/mmcv-${MMCV_VERSION}-${KEY}"
  WHEEL=$(ls "$WHEEL_DIR"/mmcv-${MMCV_VERSION}-*.whl 2>/dev/null | head -n 1 || true)
  if [ -n "$WHEEL" ]; then
    echo "[setup_env] using cached wheel ${WHEEL}"
  else
    echo "[setup_env] no cached wheel in ${WHEEL_DIR}: building mmcv from source"
    echo "[setup_env] (CPU build ~25-30 min on 2 cores; CUDA ops: ${CUDA_OPS})"
    # mmcv's setup.py imports pkg_resources (removed from newer setuptools).
    "${PIP[@]}" install -q "setuptools<70" ninja
    BUILD=$(mktemp -d)
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation \
      "mmcv==${MMCV_VERSION}" -d "$BUILD" || fail "could not download the mmcv sdist from PyPI"
    tar -xzf "$BUILD/mmcv-${MMCV_VERSION}.tar.gz" -C "$BUILD"
    SRC="$BUILD/mmcv-${MMCV_VERSION}"
    # mmcv hard-codes -std=c++14/17; torch >= 2.10 headers need C++20.
    STD=$("$PY" -c "import torch; v=tuple(int(x) for x in torch.__version__.split('+')[0].split('.')[:2]); print('c++20' if v >= (2, 10) else 'c++17')")
    sed -i -E "s/-std=c\+\+1[47]/-std=${STD}/g; s#/std:c\+\+1[47]#/std:${STD}#g" "$SRC/setup.py"
    echo "[setup_env] patched mmcv setup.py to -std=${STD}"
    export MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
    if [ "$CUDA_OPS" = "1" ]; then export FORCE_CUDA=1; else export FORCE_CUDA=0; fi
    mkdir -p "$WHEEL_DIR"
    "${PIP[@]}" wheel -v --no-build-isolation --no-deps "$SRC" -w "$BUILD/wheel" 2>&1 \
      | awk '/^ *\[[0-9]+\/[0-9]+\]/ { n++; if (n % 10 == 0) { printf "[setup_env] mmcv build: compiled %s\n", $1; fflush() } } / error|Error:/ { print; fflush() }'
    [ "${PIPESTATUS[0]}" = "0" ] || fail "mmcv build failed (compiler errors above); needs gcc >= 10 for C++20"
    cp "$BUILD"/wheel/mmcv-*.whl "$WHEEL_DIR/"
    WHEEL=$(ls "$WHEEL_DIR"/mmcv-${MMCV_VERSION}-*.whl | head -n 1)
    rm -rf "$BUILD"
    echo "[setup_env] cached ${WHEEL}"
  fi
  "${PIP[@]}" install -q "opencv-python-headless>=4.10,<5"
  "${PIP[@]}" install -q "$WHEEL" || fail "installing ${WHEEL} failed; delete it to force a rebuild"
  "$PY" -c "import mmcv.ops" || fail "mmcv.ops does not import; delete ${WHEEL_DIR} to rebuild"
fi
phase_end

# ---------------------------------------------------------------- 4. the rest
phase_start "mmengine, mmsegmentation, timm, einops, pytest, ..."
"${PIP[@]}" install -q "${DEPS[@]}" || fail "dependency install failed"
# ImageNet-C corruptions: imagecorruptions 1.1.2 breaks on numpy 2 /
# scikit-image 0.26 (glass_blur, gaussian_blur, fog); this fork fixes them.
# --no-deps: it requires opencv-python, whose cv2 5.x would replace the
# headless cv2 4.x that mmcv 2.1 is used with.
"${PIP[@]}" install -q --no-deps "imagecorruptions-imaug==1.1.5" || fail "imagecorruptions-imaug install failed"
phase_end

phase_start "mmmultimae (editable)"
"${PIP[@]}" install -q --no-build-isolation --no-deps -e "$REPO" || fail "editable install of ${REPO} failed"
"$PY" -c "import mmmultimae, mmseg.models" || fail "import check failed"
phase_end

"$PY" "$REPO/tools/env_stamp.py" write || fail "could not write the environment stamp"
echo "[setup_env] environment ready in $(( $(date +%s) - T0 )) s: ${PY}"
