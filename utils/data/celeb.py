"""Stream a folder of face images (CelebA) in batches with `tf.data`.

CelebA's 202,599 aligned faces would take ~10 GB as float32 arrays even at
64x64, so the book used Keras' `ImageDataGenerator.flow_from_directory`, whose
`DirectoryIterator` reads and decodes each batch on demand.  That class is
gone from Keras 3.  `ImageStream` does the same job with a `tf.data`
pipeline (decoding in parallel, ahead of the training step) and keeps the
parts of the `DirectoryIterator` interface that the book's notebook uses:
`next(stream)[0]` is a batch of images and `stream[0][0][0]` an image.

The files are checked before they get here (`utils.data.image_files`); one
that becomes undecodable afterwards is skipped while streaming, with a
TensorFlow log line, instead of stopping the training run.
"""

import math
import numbers

import numpy as np
import tensorflow as tf


class ImageStream:
    """Endless batches of images scaled to [-1, 1], read from files on demand.

    Attributes:
        dataset: the `tf.data.Dataset` behind the stream. It yields float32
            batches of shape `(batch_size, height, width, 3)` forever
            (reshuffled on every pass when `shuffle` is set): a training loop
            can consume it directly.
        filepaths: the image files, in sorted order.
        n: how many files.
        batch_size: images per batch.
        image_shape: `(height, width, 3)`.

    Like Keras' old `DirectoryIterator`:
        * `next(stream)` returns `(images, labels)` as numpy arrays, the labels
          being zeros (the images have no class);
        * `stream[i]` is batch `i` of the files in sorted order, so
          `stream[0][0][0]` is the first image;
        * `len(stream)` is the number of batches in one pass over the files.

    Args:
        filepaths: the image files (JPEG or PNG), at least one.
        image_size: the side of the square images, or their `(height, width)`.
        batch_size: images per batch, at least 1.
        shuffle: reshuffle the files on every pass of `dataset` (indexing keeps the
            sorted order).
        seed: seed of the shuffling; None: another order on every run.

    Raises:
        ValueError: `batch_size` is below 1, or there is no file.
    """

    def __init__(self, filepaths, image_size, batch_size, shuffle=True, seed=None):
        if isinstance(image_size, numbers.Integral):  # numpy's integers too
            image_size = (int(image_size), int(image_size))
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.filepaths = [str(p) for p in filepaths]
        self.n = len(self.filepaths)
        if self.n == 0:
            raise ValueError("ImageStream needs at least one image file.")
        self.batch_size = int(batch_size)
        self.image_shape = (int(image_size[0]), int(image_size[1]), 3)
        self.shuffle = shuffle
        self.seed = seed
        self.dataset = self._build_dataset()
        self._iterator = None

    # `do_not_convert`: straight-line code, nothing for AutoGraph to rewrite.
    @tf.autograph.experimental.do_not_convert
    def _load_image(self, path):
        """Reads, decodes and resizes one file; scales it to [-1, 1]."""
        image = tf.io.decode_image(
            tf.io.read_file(path), channels=3, expand_animations=False
        )
        # As the book's DirectoryIterator did, resize the whole picture
        # (CelebA is 178x218) to the target size, without cropping.
        image = tf.image.resize(image, self.image_shape[:2], antialias=True)
        return tf.clip_by_value(image / 127.5 - 1.0, -1.0, 1.0)

    def _images(self, paths):
        """Decoded images of `paths`; files that fail to decode are skipped."""
        images = paths.map(self._load_image, num_parallel_calls=tf.data.AUTOTUNE)
        # A truncated or corrupt file must not stop a run of several hours:
        # drop it, and let TensorFlow log a warning saying why.
        return images.ignore_errors(log_warning=True)

    def _build_dataset(self):
        paths = tf.data.Dataset.from_tensor_slices(self.filepaths)
        if self.shuffle:
            # Shuffle the file names, not decoded images: the buffer can then
            # hold the whole list at a few bytes per entry.
            paths = paths.shuffle(
                self.n, seed=self.seed, reshuffle_each_iteration=True
            )
        # `repeat` after the decoding: if no file at all can be decoded, a
        # pass is empty and the stream ends instead of spinning forever.
        batches = self._images(paths).repeat()
        batches = batches.batch(self.batch_size, drop_remainder=True)
        return batches.prefetch(tf.data.AUTOTUNE)

    def _labelled(self, images):
        images = np.asarray(images)
        return images, np.zeros(len(images), dtype=np.float32)

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __getitem__(self, index):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(
                f"Batch {index} asked for, but the stream has {len(self)} batches."
            )
        start = index * self.batch_size
        chunk = self.filepaths[start : start + self.batch_size]
        batch = self._images(tf.data.Dataset.from_tensor_slices(chunk))
        for images in batch.batch(len(chunk)):
            return self._labelled(images)
        raise ValueError(
            f"None of the {len(chunk)} files of batch {index} could be decoded (first: {chunk[0]}): "
            f"they are damaged; replace or remove them.")

    def __iter__(self):
        return self

    def __next__(self):
        if self._iterator is None:
            self._iterator = iter(self.dataset)
        try:
            images = next(self._iterator)
        except StopIteration:
            raise RuntimeError(
                f"None of the {self.n} image files could be decoded "
                f"(first: {self.filepaths[0]})."
            ) from None
        return self._labelled(images)

    next = __next__  # the old Keras iterators had a `.next()` method too

    def __repr__(self):
        return (
            f"<ImageStream: {self.n} images, batches of {self.batch_size} "
            f"x {self.image_shape}>"
        )
