"""Classical, label-free saliency methods (wCtr, MB+, MR, DSR, HS) and the fusion of several
maps: the baselines that `saliency bench` measures and the teachers that `pseudo-label` fuses.
Each is written here from its paper; `saliency.predictors` lists them by name."""
