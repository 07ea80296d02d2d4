#!/usr/bin/env bash
# The papers' recipe end to end: discover, select, synth, train-unet, bench on ECSSD, DUTS-TE and
# DUT-OMRON, then one table.
#
#   bash scripts/paper_recipe.sh biggan-128 [--device cuda] [--out DIR] [--weights FILE]
#   bash scripts/paper_recipe.sh bigbigan   [--device cuda] [--out DIR] [--weights FILE] [--bg-direction FILE | --discover]
#   bash scripts/paper_recipe.sh biggan-128 --smoke     # the same path at tiny sizes, random weights, CPU (CI;
#                                                       # scripts/device_check.sh runs it with --device cuda)
#
# biggan-128: Voynov & Babenko 2020 (ortho deformator, 120 directions, ResNet-18 reconstructor,
# 100k steps; intensity masks at 0.95, shift 26; U-Net schedule 2020). bigbigan: Voynov et al.
# 2021 (lighting masks, shift 5, area <= 0.5, peaks and component filters; U-Net schedule 2021),
# with the paper's published bg_direction.pth (fetched into the weights cache, or --bg-direction
# FILE); --discover discovers a direction instead. The run says which direction it uses.
# Every stage checkpoints and resumes: rerun the same command after an interruption. A stage that
# finished is skipped (OUT/.done-STAGE). Missing benchmark sets are downloaded (--download).
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n 2,14p "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
GEN=$1; shift
case "$GEN" in biggan-128|bigbigan) ;; *) usage ;; esac
DEVICE="" OUT="" WEIGHTS="" BG="" SMOKE=0 DISCOVER_OWN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --weights) WEIGHTS=$2; shift 2 ;;
    --bg-direction) BG=$2; shift 2 ;;
    --discover) DISCOVER_OWN=1; shift ;;
    --smoke) SMOKE=1; shift ;;
    *) usage ;;
  esac
done
export NO_ALBUMENTATIONS_UPDATE=1
SAL=(python -m saliency)
OUT=${OUT:-data/runs/paper-$GEN$([ $SMOKE = 1 ] && echo -smoke)}
mkdir -p "$OUT"
if [ "$GEN" = bigbigan ] && [ $DISCOVER_OWN = 0 ]; then  # the paper's own direction, fetched or given
  BG=$(python - "$BG" <<'PY'
import sys
from saliency.errors import UserError
from saliency.generators.biggan import published_bg_direction
try:
    print(published_bg_direction(sys.argv[1] or None))
except UserError as e:
    sys.exit(f"paper_recipe: {e}")
PY
) || exit 2
fi

if [ $SMOKE = 1 ]; then
  DEVICE=${DEVICE:-cpu}
  if [ -z "$WEIGHTS" ]; then  # random weights in the publisher's format, loaded as real ones are
    WEIGHTS=$OUT/random-$GEN.pth
    [ -f "$WEIGHTS" ] || python - "$GEN" "$WEIGHTS" <<'PY'
import sys, torch
from saliency.generators import build_generator
torch.manual_seed(0)
torch.save(build_generator(sys.argv[1], random_init=True).state_dict(), sys.argv[2])
PY
  fi
  DISCOVER=(--directions 2 --steps 2 --batch-size 2 --eval-samples 1 --checkpoint-every 1 --no-grids)
  SELECT=(--samples 2 --top 1 --min-score 0 --threshold 0.5 --min-area 0 --max-area 1 --min-peaks 0 --min-component 0)
  SYNTH=(--n 8 --batch-size 4 --threshold 0.5 --min-area 0 --max-area 1 --min-peaks 0 --min-component 0)
  UNET=(--steps 2 --batch-size 2 --size 64 --val-every 2 --encoder resnet18)
  BENCH=(--limit 4 --no-field-metrics)
else
  DISCOVER=(--directions 120 --steps 100000)
  SELECT=()
  SYNTH=(--n 100000 --batch-size 128)
  UNET=()
  BENCH=(--download)
fi
DEVICE=${DEVICE:-auto}
G=(--generator "$GEN" --device "$DEVICE")
[ -n "$WEIGHTS" ] && G+=(--weights "$WEIGHTS")
if [ "$GEN" = biggan-128 ]; then
  MASKS=(--rule intensity --threshold 0.95 --min-area 0.05 --max-area 0.5 --min-peaks 0 --min-component 0)
  SHIFTS=(--shifts 26); PRESET=2020
else
  MASKS=(--rule lighting --max-area 0.5)
  SHIFTS=(--shifts 5); PRESET=2021
fi
[ $SMOKE = 1 ] && SHIFTS=(--shifts 2)  # random weights saturate at the papers' shifts

stage() {  # stage NAME CMD...: run once; skipped when OUT/.done-NAME exists
  local name=$1; shift
  if [ -f "$OUT/.done-$name" ]; then echo "== $name: done before, skipped"; return; fi
  echo "== $name: $*"
  local t=$SECONDS
  "$@"
  echo "$((SECONDS - t)) s" > "$OUT/.done-$name"
}

if [ -n "$BG" ]; then
  echo "== direction: the 2021 paper's published background direction, $BG"
  SEL=(--directions "$BG" --direction 0 --sign + --shift 5)
else
  echo "== direction: discovered by this run (discover, then the best of its directions)"
  stage discover "${SAL[@]}" discover "${G[@]}" --deformator ortho --reconstructor resnet18 "${DISCOVER[@]}" --out "$OUT/discover"
  SEL=(--directions "$OUT/discover/directions.safetensors" "${SHIFTS[@]}")
fi
# the papers rank the discovered directions; they do not optimise one (--optimise-steps 0)
stage select "${SAL[@]}" select "${G[@]}" "${SEL[@]}" --optimise-steps 0 --random-starts 0 "${MASKS[@]}" "${SELECT[@]}" --out "$OUT/select"
# the smoke run's own filter flags come after the recipe's, so they win
stage synth "${SAL[@]}" synth "${G[@]}" --selection "$OUT/select/selection.json" "${MASKS[@]}" "${SYNTH[@]}" --out "$OUT/pairs"
stage train-unet "${SAL[@]}" train-unet --generator "$GEN" --device "$DEVICE" --preset $PRESET --data "$OUT/pairs" "${UNET[@]}" --out "$OUT/unet"
for ds in ecssd duts-te dut-omron; do
  if [ $SMOKE = 1 ] && ! python -c "import sys; from saliency.bench.datasets import open_dataset; open_dataset(sys.argv[1])" "$ds" >/dev/null 2>&1; then
    echo "== bench-$ds: skipped (the set is not on this machine; the real recipe downloads it)"
    continue
  fi
  stage "bench-$ds" "${SAL[@]}" bench --dataset "$ds" --model "$OUT/unet/best.safetensors" "${BENCH[@]}" --device "$DEVICE" --out "$OUT/bench/$ds"
done

python - "$OUT" "$GEN" <<'PY'
import json, sys
from pathlib import Path
out, gen = Path(sys.argv[1]), sys.argv[2]
rows = []
for ds in ("ecssd", "duts-te", "dut-omron"):
    f = out / "bench" / ds / "results.json"
    if f.is_file():
        r = json.loads(f.read_text())["results"][0]
        rows.append((ds, r["images"], r["max_fbeta"], r["iou"], r["accuracy"]))
table = f"| {gen}: dataset | images | max F | IoU | accuracy |\n|---|---|---|---|---|\n" + "\n".join(f"| {d} | {n} | {f:.3f} | {i:.3f} | {a:.3f} |" for d, n, f, i, a in rows)
(out / "table.md").write_text(table + "\n")
print(table)
PY
