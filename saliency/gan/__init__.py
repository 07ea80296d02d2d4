"""Training an unconditional generator on unlabeled photos (`saliency train-gan`), so that a
domain with no masks and no public generator still gets one to discover directions in."""
