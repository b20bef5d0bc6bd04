"""The training pipelines: endless batches of the step's shape, without tf.data's autotuning thread."""

import numpy as np
import pytest
import tensorflow as tf

from utils.data.batches import labelled_batches, training_dataset

IMAGES = np.linspace(-1, 1, 40 * 4 * 4).reshape(40, 4, 4, 1).astype("float32")


def iterator_of_batches():
    for start in range(0, 40, 10):
        yield IMAGES[start:start + 10], np.zeros(10)


PIPELINES = {
    "array": lambda: training_dataset(IMAGES, 8),
    "array, two updates a step": lambda: training_dataset(IMAGES, 8, n_critic=2),
    "iterator": lambda: training_dataset(iterator_of_batches(), 8, using_generator=True),
    "dataset": lambda: training_dataset(tf.data.Dataset.from_tensor_slices(IMAGES).batch(5), 8,
                                        using_generator=True),
    "labelled": lambda: labelled_batches(IMAGES, np.arange(40) % 3, 8),
    "labelled, two updates a step": lambda: labelled_batches(IMAGES, np.arange(40) % 3, 8, n_critic=2),
}
SHAPES = {"array": (8, 4, 4, 1), "array, two updates a step": (8, 2, 4, 4, 1), "iterator": (8, 4, 4, 1),
          "dataset": (8, 4, 4, 1), "labelled": (8, 4, 4, 1), "labelled, two updates a step": (8, 2, 4, 4, 1)}


@pytest.mark.parametrize("kind", PIPELINES)
def test_every_pipeline_is_endless_batches_of_the_steps_shape(kind):
    batches = iter(PIPELINES[kind]())
    for _ in range(12):  # more batches than one pass holds
        batch = next(batches)
        images = batch[0] if isinstance(batch, tuple) else batch
        assert tuple(images.shape) == SHAPES[kind] and images.dtype == tf.float32


@pytest.mark.parametrize("kind", PIPELINES)
def test_no_pipeline_starts_the_autotuning_thread(kind):
    # With it, destroying a used iterator waits out the thread's sleep (up to a minute).
    assert PIPELINES[kind]().options().autotune.enabled is False


@pytest.mark.parametrize("kind", [kind for kind in PIPELINES if kind.startswith(("array", "labelled"))])
def test_in_memory_pipelines_are_split_between_workers_by_batch(kind):
    policy = PIPELINES[kind]().options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
