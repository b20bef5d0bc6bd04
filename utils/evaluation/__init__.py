"""What a GAN learned, in numbers and pictures: feature spaces, measures, latent walks, reports."""
