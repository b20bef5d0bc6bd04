"""Latent walks: interpolation paths, class means and the analogy points."""

import numpy as np
import pytest

from utils.evaluation import latent


def test_linear_path_is_straight_and_keeps_its_ends():
    a, b = np.array([1.0, 0.0, 2.0]), np.array([-1.0, 4.0, 0.0])
    path = latent.interpolate(a, b, 5, "linear")
    assert path.shape == (5, 3)
    np.testing.assert_allclose(path[0], a)
    np.testing.assert_allclose(path[-1], b)
    np.testing.assert_allclose(path[2], (a + b) / 2)
    np.testing.assert_allclose(np.diff(path, axis=0), np.tile((b - a) / 4, (4, 1)))


def test_spherical_path_stays_on_the_shell():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=100), rng.normal(size=100)
    b *= np.linalg.norm(a) / np.linalg.norm(b)  # same length
    path = latent.interpolate(a, b, 9, "spherical")
    np.testing.assert_allclose(path[0], a, atol=1e-12)
    np.testing.assert_allclose(path[-1], b, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(a), rtol=1e-9)
    # equal angles between successive points
    unit = path / np.linalg.norm(path, axis=1, keepdims=True)
    angles = np.arccos(np.clip((unit[:-1] * unit[1:]).sum(axis=1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-6)
    # while the straight path's midpoint falls inside the shell
    assert np.linalg.norm(latent.interpolate(a, b, 9, "linear")[4]) < 0.8 * np.linalg.norm(a)


def test_parallel_ends_fall_back_to_the_straight_path():
    a = np.array([1.0, 2.0])
    np.testing.assert_allclose(latent.interpolate(a, 3 * a, 3, "spherical"), [a, 2 * a, 3 * a])


@pytest.mark.parametrize("bad", [dict(steps=1), dict(method="cubic")])
def test_bad_interpolation_arguments_are_named(bad):
    arguments = dict(start=np.zeros(2), end=np.ones(2), steps=3, method="linear")
    arguments.update(bad)
    with pytest.raises(ValueError, match=next(iter(bad))):
        latent.interpolate(**arguments)


def test_interpolation_latents_are_reproducible_rows():
    first = latent.interpolation_latents(4, pairs=3, steps=5, seed=7)
    assert first.shape == (15, 4)
    np.testing.assert_array_equal(first, latent.interpolation_latents(4, pairs=3, steps=5, seed=7))
    assert not np.array_equal(first, latent.interpolation_latents(4, pairs=3, steps=5, seed=8))


def test_class_means_and_analogy_points():
    latents = np.array([[1.0, 0], [3.0, 0], [0, 2.0], [0, 4.0], [5.0, 5.0]])
    labels = np.array([0, 0, 1, 1, 2])
    means = latent.class_means(latents, labels, min_count=2)
    assert sorted(means) == [0, 1]  # class 2 has one sample only
    np.testing.assert_allclose(means[0], [2.0, 0])
    np.testing.assert_allclose(means[1], [0, 3.0])

    means = {0: np.array([1.0, 0.0]), 1: np.array([0.0, 1.0]), 2: np.array([1.0, 1.0])}
    points = latent.analogy_latents(means, [(0, 1, 2)])
    assert points.shape == (4, 2)
    # c + (b − a) = (0, 2), rescaled to the norm of a typical N(0, I) draw, √2
    np.testing.assert_allclose(points[3], [0.0, np.sqrt(2)], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), np.sqrt(2), rtol=1e-6)


def test_analogies_need_three_classes():
    assert latent.analogies({0: np.zeros(2), 1: np.ones(2)}) == []
    triples = latent.analogies({k: np.zeros(2) for k in range(5)}, rows=4, seed=0)
    assert len(triples) == 4 and all(len(set(t)) == 3 for t in triples)
    assert triples == latent.analogies({k: np.zeros(2) for k in range(5)}, rows=4, seed=0)
