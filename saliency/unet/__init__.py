"""Stage 4: the saliency model (a segmentation-models-pytorch U-Net), its data and its training."""
