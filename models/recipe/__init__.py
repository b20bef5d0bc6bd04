"""Parts beside the book's recipe, off by default: the GAN hacks (``hacks``), differentiable
augmentation (``augment``), the generator's average (``average``) and the options that choose
them (``options``); the penalties on the adversary are ``models.penalties``."""
