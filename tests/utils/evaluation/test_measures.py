"""Sample-quality measures (utils.evaluation.measures) against closed forms and limiting cases."""

import json

import numpy as np
import pytest

from utils.evaluation import measures
from utils.evaluation.measures import (
    class_histogram,
    correlation,
    density_coverage,
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
    kernel_distance,
    memorisation_summary,
    mode_coverage,
    nearest_neighbour_distances,
    precision_recall,
)


def random_spd(rng, d):
    g = rng.standard_normal((d, d))
    return g @ g.T + 0.1 * np.eye(d)


def brute_force_knn(queries, reference, k, exclude_self=False):
    """k-th nearest distance from explicit differences and a full sort."""
    d = np.sqrt(((queries[:, None, :] - reference[None, :, :]) ** 2).sum(-1))
    if exclude_self:
        d[np.arange(len(queries)), np.arange(len(queries))] = np.inf
    return np.sort(d, axis=1)[:, k - 1]


# --------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------

def test_feature_statistics_are_mean_and_unbiased_covariance():
    x = np.random.default_rng(0).standard_normal((50, 3)) * [1, 2, 3] + [4, 5, 6]
    mean, cov = feature_statistics(x)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x, rowvar=False, ddof=1), rtol=1e-12)


def test_frechet_of_two_large_gaussian_samples_matches_closed_form():
    rng = np.random.default_rng(1)
    mu_a, mu_b = np.array([0.0, 1.0, -1.0, 0.5]), np.array([0.5, 0.5, 0.0, 0.0])
    sd_a, sd_b = np.array([1.0, 2.0, 0.5, 1.5]), np.array([1.5, 1.0, 0.5, 0.7])
    a = mu_a + sd_a * rng.standard_normal((20000, 4))
    b = mu_b + sd_b * rng.standard_normal((20000, 4))
    # Diagonal covariances: Tr(Ca + Cb - 2 sqrt(Ca Cb)) = sum (sd_a - sd_b)^2.
    closed = np.sum((mu_a - mu_b) ** 2) + np.sum((sd_a - sd_b) ** 2)  # 3.64
    # The estimate's spread over seeds at this size is ~0.05.
    assert frechet_distance(a, b) == pytest.approx(closed, abs=0.2)
    assert frechet_distance_from_statistics(
        mu_a, np.diag(sd_a**2), mu_b, np.diag(sd_b**2)
    ) == pytest.approx(closed, abs=1e-8)


def test_frechet_full_covariance_matches_independent_trace_of_square_root():
    rng = np.random.default_rng(2)
    d = 6
    cov_a, cov_b = random_spd(rng, d), random_spd(rng, d)
    assert not np.allclose(cov_a @ cov_b, cov_b @ cov_a)  # they do not commute
    mu_a, mu_b = rng.standard_normal(d), rng.standard_normal(d)
    # Ca Cb is similar to the PSD sqrt(Ca) Cb sqrt(Ca): real, nonnegative eigenvalues.
    eig = np.linalg.eigvals(cov_a @ cov_b)
    assert np.max(np.abs(eig.imag)) < 1e-8
    trace_sqrt = np.sum(np.sqrt(eig.real))
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt
    got = frechet_distance_from_statistics(mu_a, cov_a, mu_b, cov_b)
    assert got == pytest.approx(expected, abs=1e-8)
    # Symmetric, although the computation treats a and b differently.
    assert frechet_distance_from_statistics(mu_b, cov_b, mu_a, cov_a) == pytest.approx(got, abs=1e-8)
    assert isinstance(got, float)


def test_frechet_identical_sets_and_translation():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((500, 5)) @ rng.standard_normal((5, 5))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    v = np.array([1.0, -2.0, 0.5, 3.0, 0.0])
    assert frechet_distance(a, a + v) == pytest.approx(v @ v, rel=1e-8)
    b = rng.standard_normal((400, 5)) + 1.0
    shift = np.sum((a.mean(0) - b.mean(0) - v) ** 2) - np.sum((a.mean(0) - b.mean(0)) ** 2)
    assert frechet_distance(a, b + v) == pytest.approx(frechet_distance(a, b) + shift, rel=1e-8)


def test_frechet_singular_covariance_is_finite_and_nonnegative():
    rng = np.random.default_rng(4)
    a = np.c_[rng.standard_normal((100, 2)), np.zeros(100)]  # rank-deficient covariance
    b = np.c_[rng.standard_normal((100, 2)), np.zeros(100)]
    value = frechet_distance(a, b)
    assert np.isfinite(value) and value >= 0


# --------------------------------------------------------------------------
# Kernel distance
# --------------------------------------------------------------------------

def gaussian_moments(mu):
    """Raw moments E[x], E[x x^T], E[x_i x_j x_k] of N(mu, I)."""
    d = len(mu)
    eye = np.eye(d)
    m2 = np.outer(mu, mu) + eye
    m3 = (
        np.einsum("i,j,k->ijk", mu, mu, mu)
        + np.einsum("i,jk->ijk", mu, eye)
        + np.einsum("j,ik->ijk", mu, eye)
        + np.einsum("k,ij->ijk", mu, eye)
    )
    return mu, m2, m3


def population_kid(mu_a, mu_b):
    """MMD^2 for k = (x.y/D + 1)^3 = 1 + 3s + 3s^2 + s^3, s = x.y/D, between N(mu_a, I) and N(mu_b, I)."""
    d = len(mu_a)
    a, b = gaussian_moments(mu_a), gaussian_moments(mu_b)
    return (
        3 * np.sum((a[0] - b[0]) ** 2) / d
        + 3 * np.sum((a[1] - b[1]) ** 2) / d**2
        + np.sum((a[2] - b[2]) ** 2) / d**3
    )


def test_kid_full_set_equals_brute_force_unbiased_mmd():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)) + 0.3
    m, d = 6, 3

    def k(x, y):
        return (x @ y / d + 1) ** 3

    # subset_size caps at the set size, so the one subset is each whole set (permuted).
    mean, std = kernel_distance(a, b, subsets=1, subset_size=100, seed=0)
    x, y = a, b
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    assert mean == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-10)
    assert std == 0.0
    assert isinstance(mean, float) and isinstance(std, float)


def test_kid_matches_population_value_for_shifted_gaussians():
    rng = np.random.default_rng(6)
    mu_a, mu_b = np.zeros(3), np.array([0.5, 0.0, -0.3])
    a = rng.standard_normal((4000, 3)) + mu_a
    b = rng.standard_normal((4000, 3)) + mu_b
    expected = population_kid(mu_a, mu_b)
    mean, std = kernel_distance(a, b, subsets=20, subset_size=1000, seed=1)
    assert mean > 5 * std / np.sqrt(20)  # clearly positive
    assert mean == pytest.approx(expected, rel=0.15)


def test_kid_same_distribution_is_near_zero_and_unbiased():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((2000, 4)), rng.standard_normal((2000, 4))
    mean, std = kernel_distance(a, b, subsets=30, subset_size=500, seed=0)
    shifted, _ = kernel_distance(a, b + 0.5, subsets=30, subset_size=500, seed=0)
    assert abs(mean) < 0.01 * shifted
    assert abs(mean) < 3 * std
    # The unbiased estimate is negative about half the time for equal
    # distributions; a biased (diagonal-including) one never is.
    values = [kernel_distance(a, b, subsets=1, subset_size=200, seed=s)[0] for s in range(10)]
    assert min(values) < 0 < max(values)


def test_kid_seed_makes_it_reproducible():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((300, 3)), rng.standard_normal((300, 3))
    first = kernel_distance(a, b, subsets=5, subset_size=100, seed=3)
    assert kernel_distance(a, b, subsets=5, subset_size=100, seed=3) == first
    assert kernel_distance(a, b, subsets=5, subset_size=100, seed=4) != first


# --------------------------------------------------------------------------
# Nearest neighbours
# --------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("chunk", [None, 7])
def test_nearest_neighbours_match_brute_force(k, chunk):
    rng = np.random.default_rng(9)
    queries, reference = rng.standard_normal((53, 5)) + 10, rng.standard_normal((41, 5)) + 10
    got = nearest_neighbour_distances(queries, reference, k=k, chunk=chunk)
    np.testing.assert_allclose(got, brute_force_knn(queries, reference, k), rtol=1e-9)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("chunk", [None, 5])
def test_nearest_neighbours_exclude_self_match_brute_force(k, chunk):
    x = np.random.default_rng(10).standard_normal((37, 4))
    got = nearest_neighbour_distances(x, x, k=k, exclude_self=True, chunk=chunk)
    np.testing.assert_allclose(got, brute_force_knn(x, x, k, exclude_self=True), rtol=1e-9)
    assert np.all(got > 0)
    # Without exclusion the first neighbour is the point itself.
    np.testing.assert_allclose(nearest_neighbour_distances(x, x, k=1), 0.0, atol=1e-6)


# --------------------------------------------------------------------------
# Precision / recall, density / coverage
# --------------------------------------------------------------------------

def brute_force_prdc(real, fake, k):
    """Precision, recall, density, coverage from full distance matrices."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    real_radii = brute_force_knn(real, real, k, exclude_self=True)
    fake_radii = brute_force_knn(fake, fake, k, exclude_self=True)
    real_fake = dist(real, fake)  # (N, M)
    inside_real = real_fake <= real_radii[:, None]  # fake j in ball of real i
    inside_fake = real_fake <= fake_radii[None, :]  # real i in ball of fake j
    return {
        "precision": inside_real.any(axis=0).mean(),
        "recall": inside_fake.any(axis=1).mean(),
        "density": inside_real.sum() / (k * fake.shape[0]),
        "coverage": (real_fake.min(axis=1) <= real_radii).mean(),
    }


@pytest.mark.parametrize("budget", [None, 50])  # 50: one row per chunk
def test_precision_recall_density_coverage_match_brute_force(budget, monkeypatch):
    if budget is not None:
        monkeypatch.setattr(measures, "_BUDGET", budget)
    rng = np.random.default_rng(18)
    real = rng.standard_normal((120, 3))
    fake = 0.7 * rng.standard_normal((90, 3)) + [0.8, 0.0, 0.0]
    for k in (1, 3, 5):
        expected = brute_force_prdc(real, fake, k)
        got = {**precision_recall(real, fake, k=k), **density_coverage(real, fake, k=k)}
        assert got == pytest.approx(expected, abs=1e-12)
        # Not a limiting case: the recall and coverage are strictly between 0 and 1.
        assert 0 < got["recall"] < 1 and 0 < got["coverage"] < 1


def test_hand_computed_precision_recall_density_coverage():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # k=1 radii: all 1
    fake = np.array([[0.5], [0.9], [10.0], [10.2]])  # k=1 radii: 0.4, 0.4, 0.2, 0.2
    # Fakes 0.5 and 0.9 lie in the balls of reals 0 and 1; reals: only 1 is within 0.4 of a fake.
    assert precision_recall(real, fake, k=1) == pytest.approx({"precision": 0.5, "recall": 0.25})
    # 4 ball memberships / (k=1 * 4 fakes); reals 0 and 1 have a fake within 1.
    assert density_coverage(real, fake, k=1) == pytest.approx({"density": 1.0, "coverage": 0.5})


def test_identical_sets_have_full_precision_and_recall():
    x = np.random.default_rng(11).standard_normal((300, 4))
    assert precision_recall(x, x, k=3) == {"precision": 1.0, "recall": 1.0}
    assert density_coverage(x, x, k=5)["coverage"] == 1.0


def test_collapsed_generator_is_precise_but_has_low_recall_and_coverage():
    real = np.random.default_rng(12).standard_normal((500, 4))
    fake = np.repeat(real[:1], 200, axis=0)
    pr = precision_recall(real, fake, k=3)
    dc = density_coverage(real, fake, k=5)
    assert pr["precision"] == 1.0
    assert pr["recall"] < 0.05
    assert dc["coverage"] < 0.05


def test_far_off_cloud_scores_zero():
    rng = np.random.default_rng(13)
    real = rng.standard_normal((400, 4))
    fake = rng.standard_normal((400, 4)) + 100.0
    assert precision_recall(real, fake, k=3) == {"precision": 0.0, "recall": 0.0}
    assert density_coverage(real, fake, k=5) == {"density": 0.0, "coverage": 0.0}


def test_same_distribution_density_near_one_and_high_coverage():
    rng = np.random.default_rng(14)
    real, fake = rng.standard_normal((2000, 4)), rng.standard_normal((2000, 4))
    dc = density_coverage(real, fake, k=5)
    pr = precision_recall(real, fake, k=3)
    assert 0.8 < dc["density"] < 1.2
    assert dc["coverage"] > 0.9
    assert pr["precision"] > 0.85 and pr["recall"] > 0.85
    # Fakes crowded into the centre: still realistic, but the tails are missed.
    crowded_dc = density_coverage(real, 0.3 * fake, k=5)
    crowded_pr = precision_recall(real, 0.3 * fake, k=3)
    assert crowded_pr["precision"] > 0.9 and crowded_pr["recall"] < 0.4
    assert crowded_dc["coverage"] < 0.4


# --------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------

def test_class_histogram_fractions():
    hist = class_histogram([0, 2, 2, 3], 5)
    np.testing.assert_allclose(hist, [0.25, 0, 0.5, 0.25, 0])
    assert hist.sum() == pytest.approx(1.0)


def test_generator_with_three_of_ten_classes():
    rng = np.random.default_rng(15)
    real = rng.integers(0, 10, 5000)
    fake = rng.choice([1, 4, 7], 3000)
    result = mode_coverage(fake, real, 10)
    assert result["classes_in_data"] == 10
    assert result["classes_covered"] == 3
    assert result["missing"] == [0, 2, 3, 5, 6, 8, 9]
    assert sum(result["real_histogram"]) == pytest.approx(1.0)
    assert sum(result["fake_histogram"]) == pytest.approx(1.0)
    # p ~ 0.1 each; q ~ 1/3 on three classes: TV ~ 0.7.
    assert result["total_variation"] == pytest.approx(0.7, abs=0.03)
    json.dumps(result)


def test_mode_coverage_hand_computed():
    # p = [.5, .5, 0, 0], q = [.75, 0, .25, 0]; TV = (.25 + .5 + .25) / 2.
    result = mode_coverage([0, 0, 0, 2], [0, 0, 1, 1], 4)
    assert result["total_variation"] == pytest.approx(0.5)
    assert result["classes_in_data"] == 2  # class 2 is generated but not in the data
    assert result["classes_covered"] == 1
    assert result["missing"] == [1]
    # The min_share threshold: 0.04 of fakes in a class holding 0.5 of the data.
    fake = np.r_[np.zeros(96, int), np.ones(4, int)]
    assert mode_coverage(fake, [0, 1], 2, min_share=0.1)["missing"] == [1]
    assert mode_coverage(fake, [0, 1], 2, min_share=0.05)["missing"] == []


# --------------------------------------------------------------------------
# Memorisation
# --------------------------------------------------------------------------

def test_copying_generator_is_flagged():
    held_out = np.random.default_rng(16).uniform(1.0, 2.0, 1000)
    result = memorisation_summary(np.zeros(200), held_out, percentile=5)
    assert result["fraction_closer"] == 1.0
    assert result["median_sample"] == 0.0 and result["ratio"] == 0.0
    assert result["expected_fraction"] == 0.05
    json.dumps(result)


def test_fresh_generator_matches_held_out():
    rng = np.random.default_rng(17)
    held_out = rng.gamma(4.0, 1.0, 4000)
    samples = rng.gamma(4.0, 1.0, 20000)
    result = memorisation_summary(samples, held_out, percentile=5)
    assert result["threshold"] == pytest.approx(np.percentile(held_out, 5))
    assert result["fraction_closer"] == pytest.approx(0.05, abs=0.012)
    assert result["ratio"] == pytest.approx(1.0, abs=0.05)
    assert result["median_held_out"] == pytest.approx(np.median(held_out))


# --------------------------------------------------------------------------
# Correlation
# --------------------------------------------------------------------------

def test_monotone_nonlinear_relation():
    x = np.linspace(0.1, 5.0, 50)
    result = correlation(x, np.exp(x))
    assert result["spearman"] == pytest.approx(1.0)
    assert result["pearson"] < 0.95
    assert correlation(x, -x**3)["spearman"] == pytest.approx(-1.0)
    assert result["n"] == 50


def test_correlation_ties_hand_computed():
    # x ranks (ties averaged): 1, 3, 3, 3, 5; y ranks: 2, 1, 4, 3, 5.
    # Spearman = 6 / sqrt(8 * 10); Pearson on the raw values = 7 / sqrt(9.2 * 10).
    result = correlation([1, 2, 2, 2, 5], [2, 1, 4, 3, 5])
    assert result["spearman"] == pytest.approx(6 / np.sqrt(80), abs=1e-12)
    assert result["pearson"] == pytest.approx(7 / np.sqrt(92), abs=1e-12)


def test_correlation_drops_non_finite_pairs():
    x = [1, 2, 2, 2, 5, np.nan, 7, np.inf]
    y = [2, 1, 4, 3, 5, 9, np.nan, 1]
    result = correlation(x, y)
    assert result["n"] == 5
    assert result == correlation([1, 2, 2, 2, 5], [2, 1, 4, 3, 5])


def test_correlation_undefined_cases_are_none():
    assert correlation([0.1, 0.1, 0.1, 0.1], [1, 2, 3, 4]) == {"pearson": None, "spearman": None, "n": 4}
    # 0.1 * 3 / 3 != 0.1 in floating point: a constant must still be seen as constant.
    assert correlation([1, 2, 3], [0.1, 0.1, 0.1]) == {"pearson": None, "spearman": None, "n": 3}
    assert correlation([1, 2, np.nan], [1, 2, 3]) == {"pearson": None, "spearman": None, "n": 2}
    json.dumps(correlation([1, 2, 3], [3, 3, 3]))


# --------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------

X = np.zeros((10, 3))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: frechet_distance(np.zeros(10), X), "features_a"),
        (lambda: frechet_distance(X, np.zeros((10, 4))), "same feature dimension"),
        (lambda: frechet_distance(X, X[:1]), "features_b"),
        (lambda: frechet_distance(X, np.full((10, 3), np.nan)), "features_b"),
        (lambda: frechet_distance_from_statistics(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), "cov_a"),
        (lambda: kernel_distance(X, X, subsets=0), "subsets"),
        (lambda: kernel_distance(X, X, subset_size=1), "subset_size"),
        (lambda: nearest_neighbour_distances(X, X, k=0), "k"),
        (lambda: nearest_neighbour_distances(X, X, k=10, exclude_self=True), "k=10"),
        (lambda: nearest_neighbour_distances(X, X[:5], exclude_self=True), "exclude_self"),
        (lambda: nearest_neighbour_distances(X, X, chunk=0), "chunk"),
        (lambda: precision_recall(X[:3], X, k=3), "real"),
        (lambda: density_coverage(X, X[:, :2]), "same feature dimension"),
        (lambda: class_histogram([0, 5], 5), "labels"),
        (lambda: class_histogram([0.5, 1], 5), "labels"),
        (lambda: mode_coverage([0, 1], [0, 1], 2, min_share=0), "min_share"),
        (lambda: mode_coverage([[0, 1]], [0, 1], 2), "fake_labels"),
        (lambda: memorisation_summary([-1.0], [1.0]), "sample_distances"),
        (lambda: memorisation_summary([1.0], [], percentile=5), "held_out_distances"),
        (lambda: memorisation_summary([1.0], [1.0], percentile=100), "percentile"),
        (lambda: correlation([1, 2, 3], [1, 2]), "same length"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
