"""Sample-quality measures for GANs, computed on feature vectors with numpy alone.

A loss curve does not say whether a generator's images look like the data, cover
all of it, or copy it.  The measures here answer those questions from feature
arrays shaped (N, D) (from any feature extractor), without TensorFlow or scipy,
so they can run anywhere and be tested against closed forms.
"""

import numpy as np

# Elements of a (chunk, reference) distance block computed at once:
# 2M float64 values = 16 MB (a few such blocks are alive at the peak).
_BUDGET = 2_000_000


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------

def _features(x, name, min_rows=1):
    """`x` as a finite float64 array (N, D) with at least `min_rows` rows."""
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric array shaped (N, D): {error}") from None
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of feature vectors shaped (N, D), got shape "
            f"{array.shape}; reshape images to (N, -1) or pass features."
        )
    if array.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature column, got shape {array.shape}.")
    if array.shape[0] < min_rows:
        raise ValueError(
            f"{name} needs at least {min_rows} rows (samples), got {array.shape[0]}; "
            f"pass more samples."
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; remove or fix them first.")
    return array


def _same_dimension(a, b, name_a, name_b):
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same feature dimension D, got "
            f"{a.shape[1]} and {b.shape[1]}; use the same feature extractor for both."
        )


def _positive_int(value, name, minimum=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}.")
    return int(value)


def _vector(x, name, allow_nonfinite=False, allow_empty=False):
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a 1-D numeric array: {error}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}; flatten it first.")
    if not allow_empty and array.size == 0:
        raise ValueError(f"{name} is empty; pass at least one value.")
    if not allow_nonfinite and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; remove or fix them first.")
    return array


# --------------------------------------------------------------------------
# Fréchet distance (FID on Inception features)
# --------------------------------------------------------------------------

def feature_statistics(features):
    """Mean and unbiased covariance (ddof=1) of features (N, D).

    These are the Gaussian summaries the Fréchet distance compares; computing
    them once lets a caller cache the statistics of a fixed reference set.

    Args:
        features: feature vectors (N, D), finite numbers, N >= 2.
    Returns:
        ``(mean, cov)``: float64 arrays (D,) and (D, D).
    Raises:
        ValueError: ``features`` is not a finite numeric (N, D) array with at least 2 rows.
    """
    x = _features(features, "features", min_rows=2)
    mean = x.mean(axis=0)
    centred = x - mean
    cov = centred.T @ centred / (len(x) - 1)
    return mean, cov


def _sqrt_psd(matrix):
    """Symmetric PSD square root via eigh (tiny negative eigenvalues clipped to 0)."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance_from_statistics(mean_a, cov_a, mean_b, cov_b):
    """Fréchet distance between Gaussians N(mean_a, cov_a) and N(mean_b, cov_b).

    ||ma - mb||^2 + Tr(Ca + Cb - 2 (Ca Cb)^(1/2)).  Tr((Ca Cb)^(1/2)) is the sum
    of square roots of the eigenvalues of sqrt(Ca) Cb sqrt(Ca), a symmetric PSD
    matrix, which is stable where a general matrix square root is not.

    Args:
        mean_a: mean vector (D,) of the first set.
        cov_a: its covariance matrix (D, D) (symmetrised before use).
        mean_b: mean vector (D,) of the second set.
        cov_b: its covariance matrix (D, D).
    Returns:
        The distance, a float >= 0 (a rounding error below 0 is clipped to 0).
    Raises:
        ValueError: the shapes do not match, or a value is NaN or infinite.
    """
    mean_a = _vector(mean_a, "mean_a")
    mean_b = _vector(mean_b, "mean_b")
    d = mean_a.shape[0]
    if mean_b.shape[0] != d:
        raise ValueError(
            f"mean_a and mean_b must have the same length, got {d} and {mean_b.shape[0]}."
        )
    covs = []
    for name, cov in (("cov_a", cov_a), ("cov_b", cov_b)):
        try:
            cov = np.asarray(cov, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be a numeric (D, D) matrix: {error}") from None
        if cov.shape != (d, d):
            raise ValueError(
                f"{name} must be a ({d}, {d}) covariance matrix matching the means, "
                f"got shape {cov.shape}."
            )
        if not np.all(np.isfinite(cov)):
            raise ValueError(f"{name} contains NaN or infinite values.")
        covs.append(0.5 * (cov + cov.T))
    cov_a, cov_b = covs

    sqrt_a = _sqrt_psd(cov_a)
    middle = sqrt_a @ cov_b @ sqrt_a
    middle = 0.5 * (middle + middle.T)
    trace_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)))
    diff = mean_a - mean_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def frechet_distance(features_a, features_b):
    """Fréchet distance (FID formula) between two feature sets (N, D) and (M, D).

    Fits a Gaussian to each set and measures how far apart they are in mean and
    covariance: 0 for identical statistics, growing as quality or diversity
    differ.  Biased upwards for small N; compare values at equal sample sizes.

    Args:
        features_a: feature vectors (N, D), N >= 2 (e.g. of generated images).
        features_b: feature vectors (M, D), M >= 2, from the same extractor.
    Returns:
        The distance, a float >= 0, in squared feature units.
    Raises:
        ValueError: either set is not a finite (N, D) array with at least 2 rows, or their D differ.
    """
    a = _features(features_a, "features_a", min_rows=2)
    b = _features(features_b, "features_b", min_rows=2)
    _same_dimension(a, b, "features_a", "features_b")
    mean_a, cov_a = feature_statistics(a)
    mean_b, cov_b = feature_statistics(b)
    return frechet_distance_from_statistics(mean_a, cov_a, mean_b, cov_b)


# --------------------------------------------------------------------------
# Kernel distance (KID)
# --------------------------------------------------------------------------

def _poly_kernel(x, y):
    """(x.y/D + 1)^3 for every pair of rows (products, not `** 3`, which is far slower)."""
    base = x @ y.T
    base /= x.shape[1]
    base += 1.0
    cube = base * base
    cube *= base
    return cube


def kernel_distance(features_a, features_b, subsets=100, subset_size=1000, seed=0):
    """Kernel Inception Distance: unbiased MMD^2 with kernel (x.y/D + 1)^3.

    Unlike FID it assumes no Gaussian shape and its estimate is unbiased, so
    it is comparable across sample sizes; it can be slightly negative when both
    sets come from one distribution.  Returns (mean, std) over `subsets` random
    subsets of size min(subset_size, N, M).

    Args:
        features_a: feature vectors (N, D), N >= 2.
        features_b: feature vectors (M, D), M >= 2, the same D.
        subsets: how many pairs of random subsets to average over (an integer >= 1).
        subset_size: rows drawn without replacement from each set per subset (an integer >= 2),
            capped at N and M.
        seed: seed of the numpy generator that draws the subsets.
    Returns:
        ``(mean, std)``: floats, the mean and standard deviation of the MMD² estimates.
    Raises:
        ValueError: a feature set is not a finite (N, D) array with at least 2 rows, their D
            differ, or ``subsets`` or ``subset_size`` is not an integer in range.
    """
    a = _features(features_a, "features_a", min_rows=2)
    b = _features(features_b, "features_b", min_rows=2)
    _same_dimension(a, b, "features_a", "features_b")
    subsets = _positive_int(subsets, "subsets")
    subset_size = _positive_int(subset_size, "subset_size", minimum=2)
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for s in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = _poly_kernel(x, x)
        kyy = _poly_kernel(y, y)
        kxy = _poly_kernel(x, y)
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values[s] = within - 2.0 * kxy.mean()
    return float(values.mean()), float(values.std())


# --------------------------------------------------------------------------
# Nearest neighbours, precision/recall, density/coverage
# --------------------------------------------------------------------------

def _chunk_rows(chunk, n_reference):
    if chunk is None:
        return max(1, _BUDGET // max(1, n_reference))
    return _positive_int(chunk, "chunk")


def _squared_distances(q, r, r_norms):
    """Squared Euclidean distances (len(q), len(r)), clipped at 0."""
    d2 = q @ r.T
    d2 *= -2.0
    d2 += np.sum(q * q, axis=1)[:, None]
    d2 += r_norms[None, :]
    return np.clip(d2, 0.0, None, out=d2)


def _centred(queries, reference):
    # Subtracting a common point leaves distances unchanged and reduces the
    # cancellation in |q|^2 + |r|^2 - 2 q.r for features far from the origin.
    centre = reference.mean(axis=0)
    return queries - centre, reference - centre


def nearest_neighbour_distances(queries, reference, k=1, exclude_self=False, chunk=None):
    """Euclidean distance from each query (N, D) to its k-th nearest reference point.

    The radius of the k-NN balls that precision/recall and density/coverage use
    to estimate where the data lie.  With exclude_self=True, `queries` must be
    `reference` itself and each point's own entry is skipped (the (k+1)-th
    smallest distance).  Works `chunk` query rows at a time (default: ~16 MB).

    Args:
        queries: points (N, D).
        reference: points (M, D), the same D.
        k: which neighbour, an integer >= 1 (1: the nearest).
        exclude_self: skip each point's own entry; ``queries`` must be ``reference`` (only
            their shapes are checked).
        chunk: query rows per block of distances; None sizes blocks to about 16 MB.
    Returns:
        float64 array (N,): each query's distance to its k-th nearest reference point.
    Raises:
        ValueError: bad arrays or ``k``, shapes that differ with ``exclude_self``, or fewer
            than k reference points (k + 1 with ``exclude_self``).
    """
    q = _features(queries, "queries")
    r = _features(reference, "reference")
    _same_dimension(q, r, "queries", "reference")
    k = _positive_int(k, "k")
    if exclude_self and q.shape != r.shape:
        raise ValueError(
            "exclude_self=True needs queries to be the reference set itself "
            f"(same shape), got {q.shape} and {r.shape}."
        )
    available = len(r) - (1 if exclude_self else 0)
    if k > available:
        raise ValueError(
            f"k={k} needs at least {k + (1 if exclude_self else 0)} reference points"
            f"{' (own point excluded)' if exclude_self else ''}, got {len(r)}; "
            "lower k or pass more reference points."
        )
    rows = _chunk_rows(chunk, len(r))
    q, r = _centred(q, r)
    r_norms = np.sum(r * r, axis=1)
    out = np.empty(len(q))
    for start in range(0, len(q), rows):
        stop = min(start + rows, len(q))
        d2 = _squared_distances(q[start:stop], r, r_norms)
        if exclude_self:
            own = np.arange(start, stop)
            d2[own - start, own] = np.inf
        out[start:stop] = np.partition(d2, k - 1, axis=1)[:, k - 1]
    return np.sqrt(out)


def _ball_counts(points, centres, radii, chunk=None):
    """For each point, how many balls (centre_i, radius_i) contain it (distance <= radius)."""
    rows = _chunk_rows(chunk, len(centres))
    p, c = _centred(points, centres)
    c_norms = np.sum(c * c, axis=1)
    r2 = radii ** 2
    counts = np.empty(len(p), dtype=np.int64)
    for start in range(0, len(p), rows):
        stop = min(start + rows, len(p))
        d2 = _squared_distances(p[start:stop], c, c_norms)
        counts[start:stop] = np.count_nonzero(d2 <= r2[None, :], axis=1)
    return counts


def precision_recall(real, fake, k=3):
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls around its points with radius the
    distance to the k-th nearest other point of the same set.  Precision: the
    fraction of fake points inside the real manifold (are samples realistic?).
    Recall: the fraction of real points inside the fake manifold (is all of the
    data produced?).  A point on a ball's boundary counts as inside.

    Args:
        real: features of real images (N, D), N >= k + 1.
        fake: features of generated images (M, D), M >= k + 1, the same D.
        k: the neighbour whose distance is each ball's radius (an integer >= 1).
    Returns:
        ``{"precision": float, "recall": float}``, each in [0, 1].
    Raises:
        ValueError: bad arrays or ``k``, or a set with k points or fewer.
    """
    real = _features(real, "real")
    fake = _features(fake, "fake")
    _same_dimension(real, fake, "real", "fake")
    k = _positive_int(k, "k")
    for name, x in (("real", real), ("fake", fake)):
        if len(x) < k + 1:
            raise ValueError(
                f"{name} needs at least k+1={k + 1} points for k-NN radii, got {len(x)}; "
                "lower k or pass more samples."
            )
    real_radii = nearest_neighbour_distances(real, real, k=k, exclude_self=True)
    fake_radii = nearest_neighbour_distances(fake, fake, k=k, exclude_self=True)
    precision = np.mean(_ball_counts(fake, real, real_radii) > 0)
    recall = np.mean(_ball_counts(real, fake, fake_radii) > 0)
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(real, fake, k=5):
    """Density and coverage (Naeem et al. 2020).

    Density: how many real k-NN balls contain each fake point, divided by k and
    averaged (about 1 when fake matches real, above 1 when samples crowd where
    the data are dense); unlike precision it is not inflated by real outliers.
    Coverage: the fraction of real points whose ball contains at least one fake
    point (does the generator reach every part of the data?).

    Args:
        real: features of real images (N, D), N >= k + 1.
        fake: features of generated images (M, D), M >= 1, the same D.
        k: the neighbour whose distance is each real ball's radius (an integer >= 1).
    Returns:
        ``{"density": float >= 0, "coverage": float in [0, 1]}``.
    Raises:
        ValueError: bad arrays or ``k``, or ``real`` with k points or fewer.
    """
    real = _features(real, "real")
    fake = _features(fake, "fake")
    _same_dimension(real, fake, "real", "fake")
    k = _positive_int(k, "k")
    if len(real) < k + 1:
        raise ValueError(
            f"real needs at least k+1={k + 1} points for k-NN radii, got {len(real)}; "
            "lower k or pass more samples."
        )
    radii = nearest_neighbour_distances(real, real, k=k, exclude_self=True)
    density = _ball_counts(fake, real, radii).sum() / (k * len(fake))
    nearest_fake = nearest_neighbour_distances(real, fake, k=1)
    coverage = np.mean(nearest_fake <= radii)
    return {"density": float(density), "coverage": float(coverage)}


# --------------------------------------------------------------------------
# Class modes
# --------------------------------------------------------------------------

def _labels(labels, name, n_classes):
    try:
        array = np.asarray(labels)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a 1-D array of class indices: {error}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class indices, got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"{name} is empty; pass at least one label.")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}.")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise ValueError(f"{name} must hold whole-number class indices (no NaN or fractions).")
    array = array.astype(np.int64)
    if array.min() < 0 or array.max() >= n_classes:
        raise ValueError(
            f"{name} must lie in [0, n_classes) = [0, {n_classes}), got values from "
            f"{array.min()} to {array.max()}; check n_classes."
        )
    return array


def class_histogram(labels, n_classes):
    """Fraction of labels in each of `n_classes` classes (sums to 1).

    The distribution of a classifier's labels over generated samples shows
    which modes of the data a generator produces and how often.

    Args:
        labels: 1-D class indices in [0, n_classes) (integers, or whole-number floats).
        n_classes: the number of classes (an integer >= 1).
    Returns:
        float64 array (n_classes,): each class's share of ``labels``.
    Raises:
        ValueError: ``n_classes`` is not a positive integer, or ``labels`` is empty, not 1-D,
            not whole numbers, or outside [0, n_classes).
    """
    n_classes = _positive_int(n_classes, "n_classes")
    labels = _labels(labels, "labels", n_classes)
    return np.bincount(labels, minlength=n_classes) / len(labels)


def mode_coverage(fake_labels, real_labels, n_classes, min_share=0.1):
    """Which classes (modes) of the data a generator produces, from predicted labels.

    A class present in the real labels counts as covered when its share of
    fake samples is at least `min_share` times its share of the data; a
    collapsed generator covers few.  Also the total variation ½Σ|p - q|
    between the two class histograms.

    Args:
        fake_labels: the classes predicted for generated samples, 1-D indices in [0, n_classes).
        real_labels: the classes of the real data, 1-D indices in [0, n_classes).
        n_classes: the number of classes (an integer >= 1).
        min_share: a number > 0: the fraction of a class's share of the data that its share
            of the samples must reach for it to count as covered.
    Returns:
        A dict: ``real_histogram`` and ``fake_histogram`` (lists of n_classes shares),
        ``classes_in_data`` and ``classes_covered`` (ints), ``total_variation`` (a float in
        [0, 1]) and ``missing`` (the indices of classes in the data that are not covered).
    Raises:
        ValueError: bad labels, ``n_classes`` or ``min_share``.
    """
    n_classes = _positive_int(n_classes, "n_classes")
    try:
        min_share = float(min_share)
    except (TypeError, ValueError):
        raise ValueError(f"min_share must be a number > 0, got {min_share!r}.") from None
    if not np.isfinite(min_share) or min_share <= 0:
        raise ValueError(f"min_share must be a finite number > 0, got {min_share}.")
    q = class_histogram(_labels(fake_labels, "fake_labels", n_classes), n_classes)
    p = class_histogram(_labels(real_labels, "real_labels", n_classes), n_classes)
    present = p > 0
    covered = present & (q >= min_share * p)
    return {
        "real_histogram": [float(v) for v in p],
        "fake_histogram": [float(v) for v in q],
        "classes_in_data": int(present.sum()),
        "classes_covered": int(covered.sum()),
        "total_variation": float(0.5 * np.abs(p - q).sum()),
        "missing": [int(i) for i in np.flatnonzero(present & ~covered)],
    }


# --------------------------------------------------------------------------
# Memorisation
# --------------------------------------------------------------------------

def memorisation_summary(sample_distances, held_out_distances, percentile=5):
    """Do generated samples sit closer to the training set than unseen real images do?

    Inputs: each sample's distance to its nearest training image, and each
    held-out real image's distance to its nearest training image.  A generator
    that draws fresh samples matches the held-out distances (ratio ~1,
    fraction_closer ~ percentile/100); one that copies has many far smaller
    (ratio << 1, fraction_closer >> percentile/100).

    Args:
        sample_distances: 1-D distances >= 0, one per generated sample.
        held_out_distances: 1-D distances >= 0, one per held-out real image, in the same units.
        percentile: in (0, 100): this percentile of the held-out distances is the threshold
            below which a sample counts as close.
    Returns:
        A dict of floats: ``median_sample``, ``median_held_out``, ``ratio`` (their quotient;
        None when the held-out median is 0), ``threshold``, ``fraction_closer`` (the share of
        samples below the threshold) and ``expected_fraction`` (percentile / 100).
    Raises:
        ValueError: empty, non-finite or negative distances, or a percentile outside (0, 100).
    """
    samples = _vector(sample_distances, "sample_distances")
    held_out = _vector(held_out_distances, "held_out_distances")
    for name, x in (("sample_distances", samples), ("held_out_distances", held_out)):
        if np.any(x < 0):
            raise ValueError(f"{name} are distances and must be >= 0.")
    try:
        percentile = float(percentile)
    except (TypeError, ValueError):
        raise ValueError(f"percentile must be a number in (0, 100), got {percentile!r}.") from None
    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be in (0, 100), got {percentile}.")
    median_sample = float(np.median(samples))
    median_held_out = float(np.median(held_out))
    threshold = float(np.percentile(held_out, percentile))
    return {
        "median_sample": median_sample,
        "median_held_out": median_held_out,
        "ratio": median_sample / median_held_out if median_held_out > 0 else None,
        "threshold": threshold,
        "fraction_closer": float(np.mean(samples < threshold)),
        "expected_fraction": percentile / 100.0,
    }


# --------------------------------------------------------------------------
# Correlation (e.g. a measure against human judgement or training progress)
# --------------------------------------------------------------------------

def _average_ranks(values):
    """Ranks 1..n, ties given the average of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends - 1) / 2.0 + 1.0
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def _pearson(x, y):
    if np.all(x == x[0]) or np.all(y == y[0]):
        return None
    dx = x - x.mean()
    dy = y - y.mean()
    denominator = np.sqrt((dx @ dx) * (dy @ dy))
    if denominator == 0:
        return None
    return float(np.clip((dx @ dy) / denominator, -1.0, 1.0))


def correlation(x, y):
    """Pearson and Spearman correlation of two series, for checking whether two measures agree.

    Pairs where either value is NaN or infinite are dropped (n counts those
    kept).  Spearman is Pearson of average ranks, so it sees any monotone
    relation.  With fewer than 3 pairs or a constant series the values are
    None, which serialises to JSON where NaN would not.

    Args:
        x: a 1-D numeric series (NaN and infinities allowed).
        y: a 1-D numeric series of the same length.
    Returns:
        ``{"pearson": float or None, "spearman": float or None, "n": int}``, the
        correlations in [-1, 1].
    Raises:
        ValueError: a series is not 1-D and numeric, or their lengths differ.
    """
    x = _vector(x, "x", allow_nonfinite=True, allow_empty=True)
    y = _vector(y, "y", allow_nonfinite=True, allow_empty=True)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}.")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(len(x))
    if n < 3:
        return {"pearson": None, "spearman": None, "n": n}
    pearson = _pearson(x, y)
    spearman = _pearson(_average_ranks(x), _average_ranks(y)) if pearson is not None else None
    return {"pearson": pearson, "spearman": spearman, "n": n}


def per_class_accuracy(asked, judged):
    """For each class asked for, the share of its samples judged to be that class.

    ``asked`` and ``judged`` are equal-length integer arrays (the class a conditional
    generator was asked to draw, the class a classifier sees).  Returns
    ``{class: share}`` over the classes in ``asked``, in increasing order.

    Args:
        asked: the class each sample was asked to be (integers; flattened).
        judged: the class each sample was judged to be, one per entry of ``asked``.
    Returns:
        ``{int class: float share in [0, 1]}``.
    Raises:
        ValueError: ``asked`` and ``judged`` do not have the same number of entries.
    """
    asked, judged = np.asarray(asked).reshape(-1), np.asarray(judged).reshape(-1)
    if asked.shape != judged.shape:
        raise ValueError(f"asked and judged need one entry per sample; got {asked.shape} and {judged.shape}.")
    return {int(c): float(np.mean(judged[asked == c] == c)) for c in np.unique(asked)}
