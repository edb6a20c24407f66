#!/usr/bin/env bash
# The Fashion-MNIST accuracy figures on a lent GPU machine, in one prepared call.
#
# A GPU session has 15 minutes of device time in all (machine start included), and the machine
# has neither the Debian package with the data nor pydantic and can reach nothing. So:
#
#   here:   bash benchmarks/gpu_fashion.sh prepare
#           -> .gpu/ (git-ignored): the Fashion-MNIST IDX files and the wheels the machine lacks
#   there:  the device tool's run with carry [".gpu"] and timeout_s 600:
#           bash benchmarks/gpu_fashion.sh all      train (schedule `gpu`) + figures   (~10 min?)
#           bash benchmarks/gpu_fashion.sh twins    min/mid/max trained from scratch   (separate call)
#
# Results land in $OUT (the device tool's folder that comes back; runs/gpu when unset):
# run/checkpoint.pt and run/metrics.json (per-epoch times), train.log, figures.log, twins.log.
# Every stage has its own time limit (seconds, environment): a stage that runs out leaves what it
# wrote so far (the checkpoint is written after every epoch) and the next stage is skipped.
#
#   OFA_GPU_DEVICE    cuda           (cpu: try the whole script here with a small schedule)
#   OFA_GPU_SCHEDULE  gpu            (a schedule name or YAML)
#   OFA_GPU_TRAIN_S   400            time limit of the training
#   OFA_GPU_FIG_S     150            time limit of the figures
#   OFA_GPU_FIG_ARGS                 more fashion_figures.py options (they override the ones here)
#   OFA_GPU_TWIN_S    170            time limit of each from-scratch twin
#   OFA_GPU_EPOCHS    68             the twins' epochs (the `gpu` schedule's total)
#   PYTHON            python3
set -u
cd "$(dirname "$0")/.."
stage=${1:-}
OUT=${OUT:-runs/gpu}
PYTHON=${PYTHON:-python3}
DEVICE=${OFA_GPU_DEVICE:-cuda}
SCHEDULE=${OFA_GPU_SCHEDULE:-gpu}
WHEELS="pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0 pyserial==3.5"

prepare() {
    mkdir -p .gpu/fashion-mnist .gpu/whl
    grep -qx '/.gpu/' "$(git rev-parse --git-path info/exclude)" 2>/dev/null \
        || echo '/.gpu/' >> "$(git rev-parse --git-path info/exclude)"
    cp /usr/share/datasets/fashion-mnist/*-ubyte.gz .gpu/fashion-mnist/ || {
        echo "prepare: /usr/share/datasets/fashion-mnist missing (make install as root)"; exit 2; }
    # the machine's python is 3.12 (the device tool's notes); --no-deps: each one is named above
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .gpu/whl $WHEELS || { echo "prepare: pip download failed"; exit 1; }
    du -sh .gpu
}

setup() {  # on the machine: the carried wheels and data
    if [ -d .gpu/whl ] && ls .gpu/whl/*.whl >/dev/null 2>&1; then
        $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
            .gpu/whl/*.whl || exit 1
        export PYTHONPATH=/tmp/site:$PWD
    else
        export PYTHONPATH=$PWD
    fi
    [ -d .gpu/fashion-mnist ] && export OFA_MCU_FASHION_MNIST_DIR=$PWD/.gpu/fashion-mnist
    export PYTHONUNBUFFERED=1
    mkdir -p "$OUT"
    [ "$DEVICE" = cuda ] && { nvidia-smi -L; $PYTHON -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())'; }
}

train() {
    timeout "${OFA_GPU_TRAIN_S:-400}" $PYTHON -m ofa_mcu train --data fashion-mnist --space mcu-28 \
        --schedule "$SCHEDULE" --device "$DEVICE" --out "$OUT/run" --quiet 2>&1 | tee "$OUT/train.log"
    rc=${PIPESTATUS[0]}
    $PYTHON - "$OUT/run/metrics.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
t = [e["time_s"] for e in m["epochs"]]
print(f"{len(t)} epochs, {sum(t):.0f} s, per epoch min {min(t):.1f} s max {max(t):.1f} s")
EOF
    return "$rc"
}

figures() {
    timeout "${OFA_GPU_FIG_S:-150}" $PYTHON benchmarks/fashion_figures.py --checkpoint "$OUT/run" \
        --device "$DEVICE" --skip-int8 --seeds 5 --predictor-samples 240 --held-out 100 \
        --out /tmp/gpu-fashion-figures ${OFA_GPU_FIG_ARGS:-} 2>&1 | tee "$OUT/figures.log"
}

twins() {
    for s in min mid max; do
        timeout "${OFA_GPU_TWIN_S:-170}" $PYTHON benchmarks/scratch_ceiling.py --data fashion-mnist --space mcu-28 \
            --subnet $s --epochs "${OFA_GPU_EPOCHS:-68}" --batch 1024 --lr 0.4 --device "$DEVICE" 2>&1 \
            | tee -a "$OUT/twins.log" | grep -v '^epoch'
    done
}

case "$stage" in
    prepare) prepare ;;
    all) setup; train && figures ;;
    train) setup; train ;;
    figures) setup; figures ;;
    twins) setup; twins ;;
    *) echo "usage: $0 prepare|all|train|figures|twins"; exit 2 ;;
esac
