"""The book's CelebA faces (``--data celeb``): a folder of JPEGs streamed in batches."""

from dataclasses import dataclass

import numpy as np

from utils.data.sets.base import DataSet, split_off


@dataclass(frozen=True)
class Celeb(DataSet):
    """The faces under ``data/celeb/``, read on demand at the model's height (see ``load_celeb``)."""

    name = "celeb"

    def load_training(self, input_dim, batch_size):
        from utils import loaders

        return loaders.load_celeb("celeb", input_dim[0], batch_size), True

    def real_images(self, input_dim, n_train=2000, n_held_out=1000, seed=0):
        """Read from a shuffled stream until there are enough (at most two passes)."""
        from utils import loaders

        stream = loaders.load_celeb("celeb", input_dim[0], batch_size=100, shuffle=True, seed=seed)
        images = []
        while sum(len(batch) for batch in images) < n_train + n_held_out and len(images) < len(stream) * 2:
            images.append(next(stream)[0])
        return split_off(np.concatenate(images), n_train, n_held_out)  # the stream is shuffled already
