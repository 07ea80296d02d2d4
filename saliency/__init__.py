"""Label-free salient object detection from a pretrained GAN (Voynov & Babenko, ICML 2020).

    import saliency
    model = saliency.load()              # the shipped model (or a file, a baseline, a fusion)
    rgba = model.cutout("photo.jpg")     # also model.map(...), model.mask(...)

See saliency.api; the command line is `saliency --help`.
"""

__version__ = "0.1.0"
__all__ = ["load", "Model", "__version__"]


def __getattr__(name: str):
    """`load` and `Model` are imported on first use, so `import saliency` (and the CLI) stays light."""
    if name in ("load", "Model"):
        from saliency import api

        return getattr(api, name)
    raise AttributeError(f"module 'saliency' has no attribute {name!r}")
