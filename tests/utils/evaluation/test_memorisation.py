"""The memorisation check's nearest-neighbour search (utils.evaluation.memorisation)."""

import numpy as np
import pytest
from PIL import Image

from utils.evaluation.memorisation import nearest_training_images, save_memorisation_check


def brute_force(samples, x_train):
    """The book's loop: every sample against every training image, first minimum kept."""
    indices, distances = [], []
    for sample in samples:
        best, best_index = np.inf, -1
        for k, image in enumerate(x_train):
            d = np.mean(np.abs(sample - image))
            if d < best:
                best, best_index = d, k
        indices.append(best_index)
        distances.append(best)
    return np.array(indices), np.array(distances)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x_train = rng.uniform(-1, 1, (37, 6, 5, 3)).astype(np.float32)
    samples = rng.uniform(-1, 1, (7, 6, 5, 3)).astype(np.float32)
    return samples, x_train


def test_matches_brute_force(data):
    samples, x_train = data
    indices, distances = nearest_training_images(samples, x_train)
    expected_indices, expected_distances = brute_force(samples, x_train)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_allclose(distances, expected_distances, rtol=1e-5)


@pytest.mark.parametrize("chunk", [1, 4, 10, 36, 37, 1000])
def test_chunking_gives_the_same_answer(data, chunk):
    samples, x_train = data
    whole = nearest_training_images(samples, x_train, chunk=len(x_train))
    chunked = nearest_training_images(samples, x_train, chunk=chunk)
    np.testing.assert_array_equal(chunked[0], whole[0])
    np.testing.assert_allclose(chunked[1], whole[1], rtol=1e-6)


def test_an_exact_copy_is_found_at_distance_zero(data):
    samples, x_train = data
    samples = samples.copy()
    samples[3] = x_train[29]
    samples[5] = x_train[0]
    indices, distances = nearest_training_images(samples, x_train, chunk=8)
    assert indices[3] == 29 and distances[3] == 0
    assert indices[5] == 0 and distances[5] == 0
    assert (np.delete(distances, [3, 5]) > 0).all()


def test_mismatched_shapes_are_refused(data):
    samples, x_train = data
    with pytest.raises(ValueError, match="same image shape"):
        nearest_training_images(samples[:, :5], x_train)
    with pytest.raises(ValueError, match="chunk"):
        nearest_training_images(samples, x_train, chunk=0)


def test_save_writes_both_grids(tmp_path, data):
    samples, x_train = data
    x_train = np.concatenate([x_train, x_train])[:50]
    samples = np.concatenate([samples, samples, samples, samples])[:25]
    samples[0] = x_train[42]
    check = save_memorisation_check(samples, x_train, tmp_path, chunk=16)
    images = tmp_path / "images"
    assert {p.name for p in images.iterdir()} == {
        "memorisation_samples.png", "memorisation_nearest.png"}
    assert check.indices.shape == (25,) and check.distances.shape == (25,)
    assert check.distances[0] == 0 and check.indices[0] == 42 % 37  # the first copy wins
    with Image.open(check.samples_path) as a, Image.open(check.nearest_path) as b:
        assert a.size == b.size and a.mode == b.mode == "RGB"
