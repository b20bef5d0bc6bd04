"""Parts beside the book's recipe, off by default: the GAN hacks (``hacks``)."""
