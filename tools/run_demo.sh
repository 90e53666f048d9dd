#!/usr/bin/env bash
# The README's main job: pre-train a small MultiMAE on the embedded
# synthetic scenes on CPU (about 5-6 minutes on 2 cores) and draw what it
# learned.
#
#   bash tools/run_demo.sh
#
# 1. bootstraps the environment if needed (tools/ensure_env.sh);
# 2. renders the synthetic scenes into data/synthetic_scenes/{train,val}
#    unless they are there already (tools/dataset_converters/...);
# 3. trains the demo config with tools/train.py (progress bar on the
#    terminal, full log in the work dir);
# 4. writes reconstruction PNGs of held-out scenes: a sweep over the number
#    of visible tokens, three random masks per scene, and depth + semseg
#    predicted from RGB alone (tools/visualize_reconstruction.py);
# 5. prints the masked-token losses and the RGB-only depth error of the
#    trained model next to its initialisation and a constant baseline
#    (tools/analysis_tools/eval_reconstruction.py), and where the PNGs are.
#
# Environment variables (optional): WORK_DIR (default work_dirs/demo),
# DATA_ROOT (default data/synthetic_scenes), NUM_SCENES (training scenes,
# default 1600), CONFIG (default the demo config).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=tools/ensure_env.sh
source "$ROOT/tools/ensure_env.sh"
cd "$ROOT"

CONFIG="${CONFIG:-configs/multimae/multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py}"
WORK_DIR="${WORK_DIR:-work_dirs/demo}"
DATA_ROOT="${DATA_ROOT:-data/synthetic_scenes}"
NUM_SCENES="${NUM_SCENES:-1600}"
NUM_VAL=64
IMAGE_SIZE=96
# Torch's CPU threads should wait passively when the cores are shared.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

T0=$(date +%s)
step() { echo; echo "[demo $(( $(date +%s) - T0 ))s] $*"; }
mkdir -p "$WORK_DIR"

step "1/4 synthetic scenes -> $DATA_ROOT (train: $NUM_SCENES, val: $NUM_VAL held-out scenes)"
QUIET=()
[ -t 1 ] || QUIET=(--quiet)  # the converter's bar is for terminals only
"$PY" tools/dataset_converters/make_synthetic_scenes.py \
  --out "$DATA_ROOT/train" --num-scenes "$NUM_SCENES" \
  --image-size "$IMAGE_SIZE" --seed 0 --workers 2 ${QUIET[@]+"${QUIET[@]}"}
"$PY" tools/dataset_converters/make_synthetic_scenes.py \
  --out "$DATA_ROOT/val" --num-scenes "$NUM_VAL" \
  --image-size "$IMAGE_SIZE" --seed 1 --workers 2 --quiet

step "2/4 pre-training $(basename "$CONFIG") on CPU (or the GPU, if there is one)"
LOG="$WORK_DIR/train_console.log"
echo "      full log: $LOG"
# The logger goes to the log file, the progress bar to the terminal.
if ! "$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" \
    --cfg-options "train_dataloader.dataset.data_root=$DATA_ROOT" \
    > "$LOG"; then
  echo "[demo] training failed; the end of $LOG:" >&2
  tail -n 40 "$LOG" >&2
  exit 1
fi
CKPT="$(cat "$WORK_DIR/last_checkpoint")"
echo "      checkpoint: $CKPT"

step "3/4 reconstruction figures of held-out scenes"
FIG_DIR="$WORK_DIR/reconstructions"
"$PY" tools/visualize_reconstruction.py "$CONFIG" "$CKPT" \
  scene_0000000 scene_0000001 scene_0000002 \
  --data-root "$DATA_ROOT/val" --out "$FIG_DIR" > "$WORK_DIR/figures.txt"

step "4/4 did it learn? (held-out scenes)"
"$PY" tools/analysis_tools/eval_reconstruction.py "$CONFIG" "$CKPT" \
  --data-root "$DATA_ROOT/val" --out-json "$WORK_DIR/eval.json"

echo
echo "[demo] done in $(( $(date +%s) - T0 )) s. Reconstruction PNGs:"
sed 's/^/  /' "$WORK_DIR/figures.txt"
echo "  figures drawn during training: $WORK_DIR/vis/"
