"""Where the real batches of ``train()`` come from: an array or a stream, as a ``tf.data.Dataset``.

Two kinds of training set reach the book's ``train``:

* an in-memory array (camels, CIFAR, the silhouettes): shuffled passes over
  the images, batched, repeated for as many steps as asked;
* a stream of batches (``using_generator=True``: CelebA's ``load_celeb``, a
  ``tf.data.Dataset``, or any iterator yielding ``(images, labels)`` like the
  book's Keras 2 ``DirectoryIterator``), re-batched to the step's size.

Either way ``fit()`` receives an endless dataset of float32 image batches;
Keras distributes it across replicas when a strategy has several.  With ``n_critic``
adversary updates per step, each element holds their real batches side by side,
``(batch, n_critic, H, W, C)``: the step reads how many updates to make from the data.
"""

import numpy as np
import tensorflow as tf

from models.arguments import image_array


def training_dataset(x_train, batch_size, using_generator=False, n_critic=1):
    """An endless ``tf.data.Dataset`` of float32 image batches of exactly ``batch_size`` images
    (``n_critic`` of them per element, see ``per_update``)."""
    if not using_generator:
        if is_stream(x_train):
            raise ValueError(
                "x_train is a stream of batches (an iterator or dataset), not an array: "
                "call train(..., using_generator=True)."
            )
        batches = array_batches(x_train, batch_size * n_critic)
    else:
        batches = image_batches(x_train, batch_size * n_critic)
    return untuned(per_update(batches, n_critic))


def untuned(dataset):
    """``dataset`` without tf.data's autotuning thread.  An iterator that had one waits for that
    thread's sleep, which grows to a minute, when it is destroyed: a run's finished ``fit`` then
    stalls whatever step the garbage collector happens to free it in.  These pipelines read
    memory or decode a few files a step; prefetching a batch ahead is all they need."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def sharded_by_batch(dataset):
    """``dataset`` split between several workers by batch, each taking every n-th (an array has no
    files to shard by)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def per_update(dataset, n_critic):
    """Each element of ``batch × n_critic`` images (and labels) as ``(batch, n_critic, …)``: the
    real batches of the step's ``n_critic`` adversary updates side by side, update ``i`` taking
    every ``n_critic``-th image from the ``i``-th; unchanged for one update.  The batch stays
    the first axis, so that a strategy splits it across replicas."""
    if n_critic == 1:
        return dataset

    def side_by_side(*parts):
        shaped = tuple(tf.reshape(part, (-1, n_critic, *part.shape[1:])) for part in parts)
        return shaped if len(shaped) > 1 else shaped[0]

    return dataset.map(side_by_side)


def array_batches(x_train, batch_size):
    images = image_array(x_train)
    dataset = tf.data.Dataset.from_tensor_slices(images.astype(np.float32, copy=False))
    dataset = dataset.shuffle(len(images)).repeat().batch(batch_size, drop_remainder=True)
    return sharded_by_batch(dataset).prefetch(tf.data.AUTOTUNE)


def labelled_batches(x_train, y_train, batch_size, n_critic=1):
    """An endless dataset of ``(images, labels)`` batches for a conditional model: float32
    images and int32 labels of shape (batch,), shuffled together (``n_critic`` batches per
    element, see ``per_update``)."""
    images = image_array(x_train)
    labels = np.asarray(y_train)
    if labels.ndim == 2 and labels.shape[1] == 1:  # Keras' CIFAR labels are (N, 1)
        labels = labels[:, 0]
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"y_train must hold one integer class per image: got shape {labels.shape} for "
            f"{len(images)} images.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"y_train must hold integer classes (0, 1, ...); got {labels.dtype}.")
    dataset = tf.data.Dataset.from_tensor_slices(
        (images.astype(np.float32, copy=False), labels.astype(np.int32)))
    dataset = dataset.shuffle(len(images)).repeat().batch(batch_size * n_critic, drop_remainder=True)
    return untuned(per_update(sharded_by_batch(dataset), n_critic).prefetch(tf.data.AUTOTUNE))


def is_dataset(x):
    """Whether ``x`` is a ``tf.data.Dataset`` (which ``fit`` takes on every backend)."""
    return isinstance(x, tf.data.Dataset)


def is_stream(x):
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


def book_batch(x_train, batch_size, using_generator, iterators):
    """One batch for the book's ``train_discriminator``/``train_critic``.

    From an array: ``batch_size`` random images, as the book's ``np.random.randint``.
    From a stream: its next batch; ``iterators`` keeps one iterator per stream.
    """
    if not using_generator:
        images = image_array(x_train)
        return images[np.random.randint(0, len(images), batch_size)].astype("float32", copy=False)
    key = (id(x_train), batch_size)
    if key not in iterators:
        # Keep x_train referenced so that its id cannot be reused by another object.
        iterators[key] = (x_train, iter(image_batches(x_train, batch_size)))
    return next(iterators[key][1]).numpy()
