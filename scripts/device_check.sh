#!/usr/bin/env bash
# One prepared check of the whole pipeline on a CUDA machine (under 5 minutes), or on the CPU.
#
# 1. On a machine with PyPI access, when the CUDA machine has none: fetch the wheels a bare torch
#    image lacks into .whl/ and copy 100 ECSSD images into data/device-pack/ (both git-ignored),
#    then copy the checkout with both to the CUDA machine:
#        bash scripts/device_check.sh pack
# 2. On the CUDA machine (installs .whl/ if present):
#        OUT=results bash scripts/device_check.sh --device cuda
#    The same checks at CPU sizes (CI runs this): bash scripts/device_check.sh --device cpu
# Prints a table (stage, seconds, result) and, where OUT is set, writes $OUT/device_check.json and
# the stages' logs there.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS="segmentation-models-pytorch==0.6.0 albumentations==2.0.8 albucore==0.0.24 simsimd==6.5.16 stringzilla==5.3.2
pydantic==2.13.4 pydantic-core==2.46.4 annotated-types==0.7.0 typing-inspection==0.4.2 pysodmetrics==1.6.2 webdataset==1.0.2 braceexpand==0.1.7"
if [ "${1:-}" = "pack" ]; then
  mkdir -p .whl data/device-pack
  for w in $WHEELS; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl "$w"
  done
  python3 - <<'PY'
import shutil
from saliency.bench.datasets import open_dataset
ds = open_dataset("ecssd", limit=100)
for sub in ("images", "ground_truth_mask"):
    (shutil.os.makedirs(f"data/device-pack/ECSSD/{sub}", exist_ok=True))
for s in ds.samples:
    shutil.copy(s.image, f"data/device-pack/ECSSD/images/{s.image.name}")
    shutil.copy(s.mask, f"data/device-pack/ECSSD/ground_truth_mask/{s.mask.name}")
print(f"{len(ds.samples)} ECSSD pairs in data/device-pack/ECSSD; wheels in .whl/")
PY
  exit 0
fi
if ls .whl/*.whl >/dev/null 2>&1 && ! python3 -c "import segmentation_models_pytorch, albumentations, py_sod_metrics, webdataset" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" NO_ALBUMENTATIONS_UPDATE=1 PYTHONUNBUFFERED=1
exec python3 scripts/device_check.py "$@"
