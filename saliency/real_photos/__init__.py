"""Learning from the user's unlabeled photos: the stage that carries the GAN's masks over to real
photos.

- `inversion`: an encoder E that inverts the frozen generator, so a photo gets a latent; its
  trunk also starts a U-Net's encoder, and G(E(x)) makes the GAN a teacher of photos;
- `pseudo_labels`: pseudo-masks of a photo folder from teachers (a U-Net, classical baselines,
  the GAN through E), sure pixels only;
- `self_training`: rounds of pseudo-labelling and student training.
"""
