#!/usr/bin/env bash
# The GPU rows of BENCHMARKS.md in one run on one CUDA GPU, each part under a time limit (about 9 min
# in all): the classical propagators on the GPU, training steps/s at 256x256, batch 16,
# bf16 per backbone, eval.py's throughput with colorizer batches of 1, 8 and 32.
#
#     bash benchmarks/gpu_rows.sh OUT_DIR
#
# Needs torch with CUDA, lightning, torchmetrics, scipy, scikit-image, opencv and the packages of
# pyproject.toml; packages missing on the GPU machine can wait in .whl/ as wheels (installed into
# /tmp/site first; BENCHMARKS.md "GPU rows" says how to fetch them).
set -uo pipefail
out=${1:?usage: bash benchmarks/gpu_rows.sh OUT_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 WANDB_MODE=offline EIIP_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi

part() {  # part NAME SECONDS COMMAND...: run COMMAND under a time limit, its output also in OUT_DIR/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most $limit s): $*"
    timeout "$limit" "$@" 2>&1 | tee "$out/$name.txt"
    echo "== $name: exit ${PIPESTATUS[0]}"
}

nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" || exit 1
part propagators 120 python3 benchmarks/propagator_speed.py --baseline-rev none --no-demo --device cuda \
    --sizes 256x256 512x640 1024x1280 --repeats 2
part train_steps 180 python3 benchmarks/train_steps.py --baseline-rev none --trainer gpu --size 256 --batch-size 16 \
    --workers 8 --warmup 5 --steps 20 --runs 1
part eval_throughput 210 python3 benchmarks/eval_throughput.py --devices cuda --batch-sizes 1 8 32 --images 32 \
    --sizes 256x256 512x640 --workers 1
