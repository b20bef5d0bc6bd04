"""How well a learnt categorical code matches the true classes (InfoGAN's categorical code).

InfoGAN is never told the classes.  If its categorical code has captured them,
each code value should stand for one class, but which value stands for which
class is arbitrary: the measures here are blind to a renaming of the codes.

* ``normalised_mutual_information``: how much knowing the code tells about the
  class, from 0 (independent) to 1 (the same partition, up to renaming).  The
  normalisation is scikit-learn's default, the arithmetic mean of the two
  entropies, so the numbers compare with published ones.
* ``best_match_accuracy``: the accuracy of the code as a classifier once each
  code value is given the class it overlaps most, under a one-to-one matching
  (the Hungarian algorithm, exact; clustering papers report this as "ACC").
  One-to-one matters: a code that puts everything in one value cannot score
  more than the largest class's share.

numpy only: scipy's ``linear_sum_assignment`` would do the matching, but scipy
is not a dependency of the project, and the algorithm is thirty lines.
"""

import numpy as np


def _partition(values, name):
    """``(distinct values, each entry's rank among them)`` of a 1-D array of labels or codes.

    Only the partition counts, so values are renamed 0, 1, ... in sorted order.
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, one per image; got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"{name} is empty; pass at least one label.")
    distinct, ranks = np.unique(array, return_inverse=True)
    return distinct, ranks.reshape(-1)


def _same_length(labels, codes):
    if len(labels) != len(codes):
        raise ValueError(
            f"labels and codes must have one entry per image; got {len(labels)} labels and "
            f"{len(codes)} codes.")


def _indices(values, name, size):
    """Whole numbers in [0, size) as int64, or a ValueError naming ``name``."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of integer indices; got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"{name} is empty; pass at least one label.")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise ValueError(f"{name} must hold whole-number indices (no NaN or fractions).")
    elif not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer indices, got dtype {array.dtype}.")
    array = array.astype(np.int64)
    if array.min() < 0:
        raise ValueError(f"{name} must hold indices of at least 0; got {array.min()}.")
    if size is not None and array.max() >= size:
        raise ValueError(
            f"{name} must lie in [0, {size}); got values up to {array.max()}. Check n_{name}.")
    return array


def contingency(labels, codes, n_labels=None, n_codes=None):
    """Counts ``[label, code]``: how many images of each label received each code.

    ``labels`` and ``codes`` are integer indices from 0.  Rows and columns run
    over ``range(n_labels)`` and ``range(n_codes)`` (by default up to the
    largest value present), so classes or codes that never occur still get
    their row or column of zeros.

    Args:
        labels: 1-D integer indices >= 0 (whole-number floats are accepted).
        codes: 1-D integer indices >= 0, one per label.
        n_labels: the number of rows (every label below it); None: the largest label + 1.
        n_codes: the number of columns (every code below it); None: the largest code + 1.
    Returns:
        int64 array (rows, columns) of counts.
    Raises:
        ValueError: ``n_labels`` or ``n_codes`` is not an integer >= 1, or ``labels`` or
            ``codes`` is empty, not 1-D, not whole numbers, negative, out of range, or of
            another length than the other.
    """
    if n_labels is not None and (isinstance(n_labels, bool) or int(n_labels) != n_labels or n_labels < 1):
        raise ValueError(f"n_labels={n_labels!r}: expected an integer of at least 1.")
    if n_codes is not None and (isinstance(n_codes, bool) or int(n_codes) != n_codes or n_codes < 1):
        raise ValueError(f"n_codes={n_codes!r}: expected an integer of at least 1.")
    labels = _indices(labels, "labels", n_labels)
    codes = _indices(codes, "codes", n_codes)
    _same_length(labels, codes)
    rows = int(n_labels) if n_labels is not None else int(labels.max()) + 1
    cols = int(n_codes) if n_codes is not None else int(codes.max()) + 1
    table = np.zeros((rows, cols), dtype=np.int64)
    np.add.at(table, (labels, codes), 1)
    return table


def _entropy(counts):
    """Shannon entropy (nats) of a distribution given by counts; empty cells contribute nothing."""
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(table):
    """Mutual information (nats) between the row and the column of a contingency table.

    Args:
        table: a 2-D table of counts >= 0 (``contingency``).
    Returns:
        The mutual information in nats, a float >= 0.
    """
    table = np.asarray(table, dtype=np.float64)
    n = table.sum()
    rows, cols = table.sum(axis=1, keepdims=True), table.sum(axis=0, keepdims=True)
    nonzero = table > 0
    joint = table[nonzero] / n
    independent = (rows @ cols)[nonzero] / (n * n)
    # Rounding can leave a tiny negative value where the true MI is 0.
    return max(0.0, float((joint * np.log(joint / independent)).sum()))


def normalised_mutual_information(labels, codes):
    """NMI = MI(labels, codes) / mean(H(labels), H(codes)), in [0, 1].

    1 when the two partitions are the same up to renaming, 0 when they are
    independent.  Any hashable values work (class names, code indices): only
    the partition they make counts.  Where both have a single value (both
    entropies 0) the partitions are identical, and the NMI is 1, as in
    scikit-learn.

    Args:
        labels: 1-D array of the true classes, one per image (any sortable values).
        codes: 1-D array of the codes, one per image.
    Returns:
        The NMI, a float in [0, 1].
    Raises:
        ValueError: an array is empty or not 1-D, or their lengths differ.
    """
    (_, labels), (_, codes) = _partition(labels, "labels"), _partition(codes, "codes")
    _same_length(labels, codes)
    table = contingency(labels, codes)
    h_labels, h_codes = _entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))
    if h_labels == 0.0 and h_codes == 0.0:
        return 1.0
    mean = 0.5 * (h_labels + h_codes)
    return float(min(1.0, mutual_information(table) / mean))


def linear_sum_assignment(cost):
    """The one-to-one assignment of rows to columns with the least total cost (Hungarian algorithm).

    Like scipy's ``linear_sum_assignment``: returns ``(rows, cols)``, index
    arrays sorted by row, with ``cost[rows, cols].sum()`` minimal.  A
    rectangular matrix assigns every row (more columns) or every column (more
    rows); the rest stay unassigned.  O(n² m) with potentials (Kuhn-Munkres as
    Jonker and Volgenant refined it), exact for any finite costs.

    Args:
        cost: a 2-D matrix (n, m) of finite numbers.
    Returns:
        ``(rows, cols)``: int64 arrays of length min(n, m), sorted by row.
    Raises:
        ValueError: ``cost`` is not 2-D or holds NaN or infinity.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a 2-D matrix; got shape {cost.shape}.")
    if not np.all(np.isfinite(cost)):
        raise ValueError("cost must hold finite numbers (no NaN or infinity).")
    if cost.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost = cost.T
    n, m = cost.shape  # n <= m: every row gets a column
    # 1-based arrays as in the classic formulation; column 0 is a virtual start.
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    match = np.zeros(m + 1, dtype=np.int64)  # match[j]: the row assigned to column j (0 = none)
    way = np.zeros(m + 1, dtype=np.int64)
    for row in range(1, n + 1):
        match[0] = row
        column = 0
        slack = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:  # grow an alternating tree from `row` until it reaches a free column
            used[column] = True
            current = match[column]
            reduced = cost[current - 1] - u[current] - v[1:]
            free = ~used[1:]
            better = free & (reduced < slack[1:])
            slack[1:][better] = reduced[better]
            way[1:][better] = column
            candidates = np.where(free, slack[1:], np.inf)
            nearest = int(np.argmin(candidates)) + 1
            delta = candidates[nearest - 1]
            u[match[used]] += delta
            v[used] -= delta
            slack[~used] -= delta
            column = nearest
            if match[column] == 0:
                break
        while column:  # flip the alternating path
            previous = way[column]
            match[column] = match[previous]
            column = previous
    assigned = np.nonzero(match[1:])[0]
    rows, cols = match[1:][assigned] - 1, assigned
    if transposed:
        rows, cols = cols, rows
    order = np.argsort(rows)
    return rows[order].astype(np.int64), cols[order].astype(np.int64)


def best_match_accuracy(labels, codes):
    """The accuracy of ``codes`` as predictions of ``labels`` under the best one-to-one renaming.

    Returns ``(accuracy, mapping)``: ``mapping[code] = label`` for each code
    value the optimal matching assigns (with more code values than labels,
    some code values stay unassigned, and their images count as errors).
    Values keep their own type (labels may be class names).

    Args:
        labels: 1-D array of the true classes, one per image (any sortable values).
        codes: 1-D array of the codes, one per image.
    Returns:
        ``(accuracy, mapping)``: a float in [0, 1], and ``{code value: label value}``.
    Raises:
        ValueError: an array is empty or not 1-D, or their lengths differ.
    """
    label_values, label_ranks = _partition(labels, "labels")
    code_values, code_ranks = _partition(codes, "codes")
    _same_length(label_ranks, code_ranks)
    table = contingency(label_ranks, code_ranks)
    rows, cols = linear_sum_assignment(-table)
    accuracy = float(table[rows, cols].sum()) / len(label_ranks)
    mapping = {_plain(code_values[c]): _plain(label_values[r]) for r, c in zip(rows, cols)}
    return accuracy, mapping


def _plain(value):
    """numpy scalars as Python ones, so that mappings print and serialise plainly."""
    return value.item() if isinstance(value, np.generic) else value


def code_class_match(infogan, images, labels, class_names=None):
    """How well an InfoGAN's categorical code, read by its Q head from real ``images``, matches ``labels``.

    ``labels`` are class indices from 0 (``load_silhouettes`` gives them, with
    ``SILHOUETTE_CLASSES`` as ``class_names``).  Returns a dict:

    * ``nmi``: normalised mutual information between classes and codes;
    * ``accuracy``: best one-to-one match accuracy (chance is about the largest class's share);
    * ``mapping``: ``{code: class name}`` for every code value 0 .. categorical_dim - 1, ``None``
      where the code was never predicted or the matching leaves it unassigned;
    * ``contingency``: counts ``[class][code]`` as lists (rows: classes, columns: code values);
    * ``n_images``.

    Args:
        infogan: an InfoGAN (``predict_codes``, ``categorical_dim``).
        images: real images (N, H, W, C) of the model's ``input_dim``, in [-1, 1].
        labels: the class index of each image, from 0 (below ``len(class_names)`` when given).
        class_names: the name of each class index; None: the indices stand for themselves.
    Returns:
        The dict above.
    Raises:
        ValueError: ``labels`` are not whole indices in range, ``images`` and ``labels``
            differ in length, or the images do not fit the model.
    """
    labels = _indices(labels, "labels", None if class_names is None else len(class_names))
    if len(images) != len(labels):
        raise ValueError(
            f"images and labels must have one entry per image; got {len(images)} images and "
            f"{len(labels)} labels.")
    codes, _ = infogan.predict_codes(images)
    n_classes = len(class_names) if class_names is not None else int(labels.max()) + 1
    names = list(class_names) if class_names is not None else list(range(n_classes))
    table = contingency(labels, codes, n_labels=n_classes, n_codes=int(infogan.categorical_dim))
    accuracy, matched = best_match_accuracy(labels, codes)
    mapping = {code: None for code in range(int(infogan.categorical_dim))}
    for code, label in matched.items():
        mapping[int(code)] = names[int(label)]
    return {
        "nmi": normalised_mutual_information(labels, codes),
        "accuracy": accuracy,
        "mapping": mapping,
        "contingency": table.tolist(),
        "n_images": int(len(labels)),
    }
