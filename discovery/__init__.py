"""Stage 1: unsupervised discovery of interpretable latent directions (Voynov & Babenko, ICML 2020).

A deformator A holds K directions in the latent space of a frozen generator G; a reconstructor R
sees G(z) and G(z + eps * A e_k) and must tell k and eps. Directions that R can tell apart are the
ones whose effects are distinct: in practice, interpretable.
"""

from discovery.deformators import DEFORMATORS, build_deformator
from discovery.directions import DirectionSet, load_directions, save_directions
from discovery.reconstructors import RECONSTRUCTORS, build_reconstructor

__all__ = [
    "DEFORMATORS",
    "RECONSTRUCTORS",
    "DirectionSet",
    "build_deformator",
    "build_reconstructor",
    "load_directions",
    "save_directions",
]
