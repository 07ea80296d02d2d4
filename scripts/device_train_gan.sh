#!/usr/bin/env bash
# Train the objects-64 generator on a lent GPU for about ten minutes and bring the EMA generator back.
#
# 1. Here (CPU), once: shrink the training photos to 64 px so they travel (~35 MB instead of 86 MB):
#        bash scripts/device_train_gan.sh pack ../shared/datasets/DUTS-TR-unlabeled-128/images
#    (data/gan-pack/ is git-ignored; the device tool carries it.)
# 2. There, as one device call with carry ["data/gan-pack"] and a timeout of 600 s:
#        bash scripts/device_train_gan.sh train
#    The GPU image has torch, OpenCV, safetensors and tqdm, which is all train-gan imports, so the
#    package runs from the checkout without installing. Training stops itself after MINUTES
#    (default 8), checkpoints, exports generator_ema.safetensors and copies it, the last sample
#    grid, the log and the summary to $OUT. To continue in a later lease, carry data/gan-run too.
# 3. Here: saliency discover --generator objects --weights <files_at>/generator_ema.safetensors ...
#    and write steps, wall time and hardware (summary.json) into the model card.
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
    : "${OUT:?run this through the device tool, which sets OUT}"
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
