#!/usr/bin/env bash
# The README's main job: pre-train a small MultiMAE on the embedded
# synthetic scenes on CPU, draw what it learned, then transfer it
# (semantic segmentation from rgb and from rgb + depth, depth from rgb,
# scene-type classification from rgb) next to the same model trained from
# scratch and a constant baseline.
#
#   bash tools/run_demo.sh
#
# 1. bootstraps the environment if needed (tools/ensure_env.sh);
# 2. renders the synthetic scenes into data/synthetic_scenes/{train,val}
#    unless they are there already (tools/dataset_converters/...);
# 3. pre-trains the demo config with tools/train.py (progress bar on the
#    terminal, full log in the work dir), PRETRAIN_EPOCHS of its 16 epochs;
# 4. writes reconstruction PNGs of held-out scenes and prints the
#    masked-token losses of the trained model next to its initialisation
#    and a constant baseline (tools/visualize_reconstruction.py,
#    tools/analysis_tools/eval_reconstruction.py);
# 5. fine-tunes the checkpoint and a random initialisation on 256 labelled
#    scenes (configs/multimae/benchmarks/semseg/*synthetic*: rgb, rgb+depth;
#    configs/multimae/benchmarks/depth/*synthetic*: depth from rgb) and
#    prints their test metrics on the 64 held-out scenes beside the best
#    constant prediction, with prediction PNGs
#    (tools/analysis_tools/compare_transfers.py);
# 6. fine-tunes the checkpoint and a random initialisation on the scene
#    types (4 classes) of the training scenes
#    (configs/multimae/benchmarks/classification/*synthetic*), prints their
#    top-1 on the 64 held-out scenes beside the majority class, and their
#    accuracy under the 15 ImageNet-C corruptions at severity 3
#    (tools/analysis_tools/eval_robustness.py --corrupt-val).
#
# Environment variables (optional): WORK_DIR (default work_dirs/demo),
# DATA_ROOT (default data/synthetic_scenes), NUM_SCENES (training scenes,
# default 1600), PRETRAIN_EPOCHS (default 6, the config's schedule is 16:
# the demo's time budget), CONFIG (default the demo config).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=tools/ensure_env.sh
source "$ROOT/tools/ensure_env.sh"
cd "$ROOT"

CONFIG="${CONFIG:-configs/multimae/multimae_vit-tiny-6l-p8_1xb32-16e_synthetic-demo.py}"
WORK_DIR="${WORK_DIR:-work_dirs/demo}"
DATA_ROOT="${DATA_ROOT:-data/synthetic_scenes}"
NUM_SCENES="${NUM_SCENES:-1600}"
PRETRAIN_EPOCHS="${PRETRAIN_EPOCHS:-6}"
SEG_CONFIG=configs/multimae/benchmarks/semseg/multimae_vit-tiny-6l-p8_convnext_1xb8-3e_synthetic-64x64
DEPTH_CONFIG=configs/multimae/benchmarks/depth/multimae_vit-tiny-6l-p8_dpt_1xb8-3e_synthetic-64x64-rgb.py
CLS_CONFIG=configs/multimae/benchmarks/classification/multimae_vit-tiny-6l-p8_1xb16-80i_synthetic-64x64-rgb.py
NUM_VAL=64
IMAGE_SIZE=96
# Torch's CPU threads should wait passively when the cores are shared.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

T0=$(date +%s)
step() { echo; echo "[demo $(( $(date +%s) - T0 ))s] $*"; }
mkdir -p "$WORK_DIR"

step "1/6 synthetic scenes -> $DATA_ROOT (train: $NUM_SCENES, val: $NUM_VAL held-out scenes)"
QUIET=()
[ -t 1 ] || QUIET=(--quiet)  # the converter's bar is for terminals only
"$PY" tools/dataset_converters/make_synthetic_scenes.py \
  --out "$DATA_ROOT/train" --num-scenes "$NUM_SCENES" \
  --image-size "$IMAGE_SIZE" --seed 0 --workers 2 ${QUIET[@]+"${QUIET[@]}"}
"$PY" tools/dataset_converters/make_synthetic_scenes.py \
  --out "$DATA_ROOT/val" --num-scenes "$NUM_VAL" \
  --image-size "$IMAGE_SIZE" --seed 1 --workers 2 --quiet

step "2/6 pre-training $(basename "$CONFIG") for $PRETRAIN_EPOCHS epochs on CPU (or the GPU, if there is one)"
LOG="$WORK_DIR/train_console.log"
echo "      full log: $LOG"
# The logger goes to the log file, the progress bar to the terminal.
if ! "$PY" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" \
    --cfg-options "train_dataloader.dataset.data_root=$DATA_ROOT" \
    "val_dataloader.dataset.data_root=$DATA_ROOT" \
    "train_cfg.max_epochs=$PRETRAIN_EPOCHS" \
    "param_scheduler.1.T_max=$(( PRETRAIN_EPOCHS - 1 ))" \
    "param_scheduler.1.end=$PRETRAIN_EPOCHS" \
    > "$LOG"; then
  echo "[demo] training failed; the end of $LOG:" >&2
  tail -n 40 "$LOG" >&2
  exit 1
fi
CKPT="$(cat "$WORK_DIR/last_checkpoint")"
echo "      checkpoint: $CKPT"

step "3/6 reconstruction figures of held-out scenes"
FIG_DIR="$WORK_DIR/reconstructions"
"$PY" tools/visualize_reconstruction.py "$CONFIG" "$CKPT" \
  scene_0000000 scene_0000001 scene_0000002 \
  --data-root "$DATA_ROOT/val" --out "$FIG_DIR" > "$WORK_DIR/figures.txt"

step "4/6 did it learn? (held-out scenes)"
"$PY" tools/analysis_tools/eval_reconstruction.py "$CONFIG" "$CKPT" \
  --data-root "$DATA_ROOT/val" --out-json "$WORK_DIR/eval.json"

step "5/6 transfers: fine-tune the checkpoint and a random init on 256 labelled scenes"
# NAME CONFIG INIT: tools/train.py with the data root and the initialisation
finetune() {
  local dir="$WORK_DIR/transfer/$1" init
  if [ "$3" = pretrained ]; then
    init="model.backbone.init_cfg.checkpoint=$CKPT"
  else
    init="model.backbone.init_cfg=None"
  fi
  echo "      $1: $(basename "$2") ($3), log: $dir.log"
  mkdir -p "$WORK_DIR/transfer"
  if ! "$PY" tools/train.py "$2" --work-dir "$dir" --cfg-options "$init" \
      "train_dataloader.dataset.data_root=$DATA_ROOT" \
      "test_dataloader.dataset.data_root=$DATA_ROOT" > "$dir.log" 2>&1; then
    echo "[demo] fine-tuning $1 failed; the end of $dir.log:" >&2
    tail -n 40 "$dir.log" >&2
    return 1
  fi
}
# The pre-trained and the scratch run of a config train side by side, one
# thread each: these small models keep 2 cores busier that way than one
# run with 2 threads (about 1.8x the throughput here).
pair() {
  local pids=() status=0
  for init in pretrained scratch; do
    OMP_NUM_THREADS=1 finetune "${1}_$init" "$2" "$init" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  return $status
}
pair semseg_rgb "${SEG_CONFIG}-rgb.py"
pair semseg_rgb-depth "${SEG_CONFIG}-rgb-depth.py"
pair depth_rgb "$DEPTH_CONFIG"
T="$WORK_DIR/transfer"
# NAME=RUN... -> the table and predictions.png under $T/NAME
compare() {
  local out="$T/$1"
  shift
  if ! "$PY" tools/analysis_tools/compare_transfers.py --out "$out" "$@" \
      2> "$out.err"; then
    echo "[demo] compare_transfers failed; the end of $out.err:" >&2
    tail -n 40 "$out.err" >&2
    exit 1
  fi
}
compare semseg "rgb-pretrained=$T/semseg_rgb_pretrained" \
  "rgb-scratch=$T/semseg_rgb_scratch" \
  "rgbd-pretrained=$T/semseg_rgb-depth_pretrained" \
  "rgbd-scratch=$T/semseg_rgb-depth_scratch"
compare depth "pretrained=$T/depth_rgb_pretrained" \
  "scratch=$T/depth_rgb_scratch"

step "6/6 classification: fine-tune the checkpoint and a random init on the scene types"
pair cls_rgb "$CLS_CONFIG"
compare classification "pretrained=$T/cls_rgb_pretrained" \
  "scratch=$T/cls_rgb_scratch"
# INIT: the run's accuracy on the held-out scenes under the 15 ImageNet-C
# corruptions at severity 3 (both runs side by side, one thread each)
corrupt() {
  local run="$T/cls_rgb_$1" out="$T/classification/corrupted_$1"
  if ! OMP_NUM_THREADS=1 "$PY" tools/analysis_tools/eval_robustness.py \
      "$(ls "$run"/*.py)" "$(cat "$run/last_checkpoint")" --corrupt-val \
      --severities 3 --out-json "$out.json" > "$out.log" 2>&1; then
    echo "[demo] eval_robustness of $1 failed; the end of $out.log:" >&2
    tail -n 40 "$out.log" >&2
    return 1
  fi
}
PIDS=()
for init in pretrained scratch; do
  corrupt "$init" &
  PIDS+=($!)
done
for pid in "${PIDS[@]}"; do wait "$pid" || exit 1; done
for init in pretrained scratch; do
  "$PY" -c 'import json, sys
r = json.load(open(sys.argv[2]))["corrupt_val"]
print("  %-10s top-1 clean %.1f, mean over 15 corruptions (severity 3) %.1f"
      % (sys.argv[1], r["accuracy/clean"], r["mean_accuracy"]))' \
    "$init" "$T/classification/corrupted_$init.json"
done

echo
echo "[demo] done in $(( $(date +%s) - T0 )) s. Reconstruction PNGs:"
sed 's/^/  /' "$WORK_DIR/figures.txt"
echo "  figures drawn during training: $WORK_DIR/vis/"
echo "  transfer predictions: $T/semseg/predictions.png, $T/depth/predictions.png"
echo "  classification under corruptions: $T/classification/corrupted_{pretrained,scratch}.log"
