"""Published rows and the protocol each was measured under, so a table sets like beside like.

Two protocols (`saliency bench --protocol`):
- `papers`: the 2021 code's (BigGANsAreWatching `train_segmentation.py` / `metrics.py`): the
  model sees the photo at short side 128, its soft map is resized back to the mask's size,
  ground truth at 0.5; IoU and accuracy at 0.5 per image; max F-beta with beta^2 = 0.3: each
  image's F at 255 thresholds, averaged over images, then the maximum. Melas-Kyriazi et al.
  2022 compute the same metrics on masks resized to short side 128 (and CUB / Flowers
  centre-cropped), close to but not exactly the same numbers.
- `field`: the saliency field's (pysodmetrics): the map at full resolution, min-max normalised;
  MAE, S-measure, E-measure, weighted F and the F-measure curve with beta^2 = 0.3.

Some later code (SelfMask, FOUND, PEEKABOO) squares 0.3 again (beta = 0.3, then beta^2 = 0.09),
which weighs precision more and inflates max F; `saliency bench` reports that variant beside the
real one (`max_fbeta_beta2_squared`) so the size of the gap is visible, and lists no such row as
comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOLS = {
    "papers": "the papers' (2021 code): U-Net at short side 128 (or the size its file records), map resized back bilinearly, "
    "ground truth at 0.5, per-image metrics averaged, max F-beta with beta^2 = 0.3",
    "field": "the saliency field's (pysodmetrics): maps at full resolution as the model delivers them, "
    "MAE, S-measure, E-measure, weighted F, F-measure curve with beta^2 = 0.3",
}


@dataclass(frozen=True)
class PublishedRow:
    source: str  # --compare-with key
    citation: str
    method: str
    dataset: str  # saliency.bench.datasets name
    protocol: str  # papers | papers, masks at 128 | ...
    max_f: float | None
    iou: float | None
    accuracy: float | None
    full_set: bool = True


def _rows(source: str, citation: str, method: str, protocol: str, figures: dict[str, tuple]) -> list[PublishedRow]:
    return [PublishedRow(source, citation, method, dataset, protocol, *values) for dataset, values in figures.items()]


V2021 = "Voynov, Morozov & Babenko, ICML 2021 (Big GANs Are Watching You)"
M2022 = "Melas-Kyriazi et al., ICLR 2022"
MASKS_128 = "papers, masks resized to short side 128"

PUBLISHED: list[PublishedRow] = [
    *_rows(
        "voynov2021",
        V2021,
        "BigBiGAN",
        "papers",
        {"ecssd": (0.782, 0.672, 0.899), "duts-te": (0.608, 0.498, 0.878), "dut-omron": (0.549, 0.453, 0.856)},
    ),
    *_rows(
        "voynov2021",
        V2021,
        "E-BigBiGAN",
        "papers",
        {"ecssd": (0.797, 0.684, 0.906), "duts-te": (0.624, 0.511, 0.882), "dut-omron": (0.563, 0.464, 0.860)},
    ),
    *_rows(
        "voynov2021",
        V2021,
        "HS (classical)",
        "papers",
        {"ecssd": (0.673, 0.508, 0.847), "duts-te": (0.504, 0.369, 0.826), "dut-omron": (0.561, 0.433, 0.843)},
    ),
    *_rows(
        "voynov2021",
        V2021,
        "wCtr (classical)",
        "papers",
        {"ecssd": (0.684, 0.517, 0.862), "duts-te": (0.522, 0.392, 0.835), "dut-omron": (0.541, 0.416, 0.838)},
    ),
    *_rows(
        "melas-kyriazi2022",
        M2022,
        "their GAN route (IoU / accuracy)",
        MASKS_128,
        {"ecssd": (None, 0.713, 0.915), "duts-te": (None, 0.528, 0.893), "dut-omron": (None, 0.509, 0.883)},
    ),
]

SOURCES = sorted({r.source for r in PUBLISHED})


def comparable(dataset: str, protocol: str, sources: list[str], full_set: bool) -> list[str]:
    """Lines for `--compare-with`: the published rows on `dataset` from `sources` ("all": every
    source), each marked by whether it shares this run's protocol and set."""
    chosen = SOURCES if "all" in sources else sources
    rows = [r for r in PUBLISHED if r.dataset == dataset and r.source in chosen]
    if not rows:
        return [f"no published row of {', '.join(chosen)} on {dataset} in this project's list ({', '.join(SOURCES)})"]
    lines = []
    for r in rows:
        figures = " / ".join("-" if v is None else f"{v:.3f}" for v in (r.max_f, r.iou, r.accuracy))
        if r.protocol == protocol and full_set:
            verdict = "same protocol and set: comparable"
        elif r.protocol.startswith(protocol) and full_set:
            verdict = f"close protocol ({r.protocol}): comparable to about .01"
        elif not full_set:
            verdict = "this run is not the full set: not comparable"
        else:
            verdict = f"another protocol ({r.protocol}): not comparable"
        lines.append(f"{r.method}, {r.citation}: max F / IoU / accuracy {figures} ({verdict})")
    return lines
