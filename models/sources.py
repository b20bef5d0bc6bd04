"""Where the real batches of a training step come from.

Two kinds of training set reach ``train``:

* an in-memory array (camels, CIFAR, the silhouettes).  It is copied to the
  device once and each step samples its batch there, inside the compiled step,
  with replacement like the book's ``np.random.randint`` — no per-step copy from
  numpy;
* a stream of batches (``using_generator=True``: CelebA's ``load_celeb``, a
  ``tf.data.Dataset``, or any iterator yielding ``(images, labels)`` like the
  book's Keras 2 ``DirectoryIterator``).  The step pulls from a ``tf.data``
  iterator, distributed across replicas when a strategy has several.

Both expose ``fetch()`` (called once per batch outside the replicas) and
``take(fetched, per_replica_batch)`` (called on each replica), so the training
step does not care which it has.
"""

import numpy as np
import tensorflow as tf


class ArraySource:
    """A training set held on the device(s) and sampled inside the step."""

    def __init__(self, x_train, strategy):
        images = np.asarray(x_train)
        if images.ndim != 4:
            raise ValueError(
                f"x_train must be an array of images shaped (N, height, width, channels); "
                f"got shape {images.shape}. A stream of batches needs using_generator=True."
            )
        if len(images) == 0:
            raise ValueError("x_train is empty: there is nothing to train on.")
        with strategy.scope():
            self.images = tf.Variable(
                images.astype(np.float32, copy=False), trainable=False, name="training_images"
            )
        self.size = len(images)

    def fetch(self):
        return None

    def take(self, fetched, batch_size):
        indices = tf.random.uniform((batch_size,), 0, self.size, dtype=tf.int32)
        return tf.gather(self.images, indices)


class StreamSource:
    """A (possibly distributed) iterator over an endless ``tf.data`` stream of image batches."""

    def __init__(self, dataset, strategy):
        self.iterator = iter(strategy.experimental_distribute_dataset(dataset))

    def fetch(self):
        return next(self.iterator)

    def take(self, fetched, batch_size):
        return fetched


def make_source(x_train, batch_size, using_generator, strategy):
    if not using_generator:
        if _is_stream(x_train):
            raise ValueError(
                "x_train is a stream of batches (an iterator or dataset), not an array: "
                "call train(..., using_generator=True)."
            )
        return ArraySource(x_train, strategy)
    return StreamSource(image_batches(x_train, batch_size), strategy)


def _is_stream(x):
    return isinstance(x, tf.data.Dataset) or hasattr(x, "__next__") or hasattr(x, "dataset")


def image_batches(stream, batch_size):
    """An endless ``tf.data.Dataset`` of float32 image batches of exactly ``batch_size``."""
    if hasattr(stream, "dataset"):  # utils.loaders.load_celeb's ImageStream
        dataset = stream.dataset
    elif isinstance(stream, tf.data.Dataset):
        dataset = stream
    elif hasattr(stream, "__next__"):
        dataset = _from_iterator(stream)
    else:
        raise TypeError(
            f"using_generator=True needs load_celeb's stream, a tf.data.Dataset or an iterator "
            f"of (images, labels) batches; got {type(stream).__name__}."
        )
    if isinstance(dataset.element_spec, tuple):
        dataset = dataset.map(lambda images, *rest: images)
    rank = dataset.element_spec.shape.rank
    if rank == 3:
        dataset = dataset.batch(batch_size, drop_remainder=True)
    elif dataset.element_spec.shape[0] != batch_size:
        dataset = dataset.unbatch().batch(batch_size, drop_remainder=True)
    return dataset.map(lambda images: tf.cast(images, tf.float32)).repeat().prefetch(
        tf.data.AUTOTUNE
    )


def _from_iterator(iterator):
    first = next(iterator)
    first_images = np.asarray(first[0] if isinstance(first, (tuple, list)) else first)

    def batches():
        yield first_images
        for batch in iterator:
            yield np.asarray(batch[0] if isinstance(batch, (tuple, list)) else batch)

    spec = tf.TensorSpec((None, *first_images.shape[1:]), tf.float32)
    return tf.data.Dataset.from_generator(batches, output_signature=spec)
