"""Label-free salient object detection from a pretrained GAN (Voynov & Babenko, ICML 2020)."""

__version__ = "0.1.0"
