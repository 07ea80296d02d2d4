#!/usr/bin/env bash
# Train the objects-64 generator on a CUDA machine for about ten minutes and keep the EMA generator.
#
# 1. Once: shrink the training photos to 64 px so they travel (~35 MB instead of 86 MB):
#        bash scripts/device_train_gan.sh pack ../shared/datasets/DUTS-TR-unlabeled-128/images
#    (data/gan-pack/ is git-ignored; copy it with the checkout to the CUDA machine.)
# 2. On the CUDA machine:
#        OUT=results bash scripts/device_train_gan.sh train
#    train-gan imports only torch, OpenCV, safetensors and tqdm, so the package runs from the
#    checkout without installing. Training stops itself after MINUTES (default 8), checkpoints,
#    exports generator_ema.safetensors and copies it, the last sample grid, the log and the
#    summary to $OUT (default data/runs/gan-train). Run it again to continue from data/gan-run.
# 3. Then: saliency discover --generator objects --weights $OUT/generator_ema.safetensors ...
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  pack)
    src="${2:?usage: $0 pack IMAGES_DIR}"
    python - "$src" <<'PY'
import sys, cv2
from pathlib import Path
from saliency.gan.train import load_images
out = Path("data/gan-pack"); out.mkdir(parents=True, exist_ok=True)
images = load_images(sys.argv[1], 64).permute(0, 2, 3, 1).numpy()
for i, img in enumerate(images):
    cv2.imwrite(str(out / f"{i:05d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
print(f"{len(images)} images in {out}")
PY
    ;;
  train)
    OUT=${OUT:-data/runs/gan-train}
    mkdir -p "$OUT"
    (nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no nvidia-smi") | tee "$OUT/hardware.txt"
    PYTHONPATH=. python3 -m saliency train-gan --images data/gan-pack --out data/gan-run \
      --steps "${STEPS:-40000}" --time-limit "${MINUTES:-8}" --checkpoint-every 1000 --sample-every 1000 \
      --device "${DEVICE:-cuda}" > "$OUT/train.log" 2>&1 || { tail -c 3000 "$OUT/train.log"; exit 1; }
    tail -n 2 "$OUT/train.log"
    cp data/gan-run/generator_ema.safetensors data/gan-run/summary.json data/gan-run/log.jsonl "$OUT/"
    cp "$(ls data/gan-run/samples/*.png | tail -1)" "$OUT/samples.png"
    ;;
  *) echo "usage: $0 pack IMAGES_DIR | train" >&2; exit 2 ;;
esac
