"""Matching learnt codes to classes: contingency, NMI, the Hungarian matching and its accuracy."""

import itertools
import math

import numpy as np
import pytest

from utils.evaluation import codes
from utils.evaluation.codes import (best_match_accuracy, code_class_match, contingency,
                                    linear_sum_assignment, normalised_mutual_information)


# -- contingency ---------------------------------------------------------------------


def test_contingency_counts_each_label_code_pair():
    table = contingency([0, 0, 1, 2, 2, 2], [1, 1, 0, 1, 2, 2])
    np.testing.assert_array_equal(table, [[0, 2, 0], [1, 0, 0], [0, 1, 2]])
    assert table.dtype.kind == "i"


def test_contingency_keeps_rows_and_columns_of_absent_values():
    table = contingency([1, 1], [0, 2], n_labels=4, n_codes=5)
    assert table.shape == (4, 5)
    np.testing.assert_array_equal(table[1], [1, 0, 1, 0, 0])
    assert table.sum() == 2


@pytest.mark.parametrize("labels, codes_, options, name", [
    ([0, 1], [0], {}, "one entry per image"),
    ([0, -1], [0, 1], {}, "labels"),
    ([0, 3], [0, 1], dict(n_labels=3), "labels"),
    ([0, 1], [0, 1.5], {}, "codes"),
    ([0, 1], [0, 1], dict(n_codes=0), "n_codes"),
    ([], [], {}, "empty"),
])
def test_bad_contingency_input_is_named(labels, codes_, options, name):
    with pytest.raises(ValueError, match=name):
        contingency(labels, codes_, **options)


# -- normalised mutual information ------------------------------------------------------


def test_nmi_of_a_worked_example():
    """labels 000111, codes 001122: MI = (2/3) ln 2, H(labels) = ln 2, H(codes) = ln 3.

    NMI = MI / ((ln 2 + ln 3) / 2) = 4 ln 2 / (3 ln 6).
    """
    value = normalised_mutual_information([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    assert value == pytest.approx(4 * math.log(2) / (3 * math.log(6)), rel=1e-12)
    assert value == pytest.approx(0.5158037, abs=1e-7)


def test_nmi_of_a_second_hand_computed_table():
    """Counts [[3, 1], [1, 3]]: MI = 2·(3/8) ln(3/2) + 2·(1/8) ln(1/2), both entropies ln 2."""
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    codes_ = [0, 0, 0, 1, 1, 1, 1, 0]
    mi = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert normalised_mutual_information(labels, codes_) == pytest.approx(mi / math.log(2), rel=1e-12)


def test_nmi_is_one_for_the_same_partition_under_another_naming():
    labels = [0, 0, 1, 1, 2, 2, 2]
    renamed = [7, 7, 3, 3, 5, 5, 5]
    assert normalised_mutual_information(labels, renamed) == pytest.approx(1.0)
    names = ["cat", "cat", "dog", "dog", "cow", "cow", "cow"]
    assert normalised_mutual_information(names, renamed) == pytest.approx(1.0)


def test_nmi_is_zero_for_independent_partitions():
    # Every (label, code) pair occurs equally often: knowing one says nothing of the other.
    labels = np.repeat(np.arange(3), 4)  # 000011112222
    codes_ = np.tile(np.arange(2), 6)    # 010101010101
    assert normalised_mutual_information(labels, codes_) == pytest.approx(0.0, abs=1e-12)


def test_nmi_edge_cases_and_symmetry():
    assert normalised_mutual_information([4, 4, 4], [1, 1, 1]) == 1.0  # one class, one code
    assert normalised_mutual_information([0, 1, 2], [5, 5, 5]) == 0.0  # a constant code says nothing
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 50), rng.integers(0, 3, 50)
    value = normalised_mutual_information(a, b)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(normalised_mutual_information(b, a), rel=1e-12)


def test_nmi_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="one entry per image"):
        normalised_mutual_information([0, 1, 1], [0, 1])


# -- the Hungarian algorithm ---------------------------------------------------------------


def brute_force_minimum(cost):
    rows, cols = cost.shape
    if rows <= cols:
        return min(sum(cost[i, j] for i, j in enumerate(p)) for p in itertools.permutations(range(cols), rows))
    return brute_force_minimum(cost.T)


def check_assignment(cost, rows, cols):
    assert len(rows) == len(cols) == min(cost.shape)
    assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
    assert list(rows) == sorted(rows)


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 3), (5, 5), (6, 6)])
def test_hungarian_matches_brute_force_on_square_matrices(shape):
    rng = np.random.default_rng(shape[0])
    for trial in range(20):
        # Real costs, and small integers, which make many ties.
        cost = rng.normal(size=shape) if trial % 2 else rng.integers(0, 4, shape).astype(float)
        rows, cols = linear_sum_assignment(cost)
        check_assignment(cost, rows, cols)
        assert cost[rows, cols].sum() == pytest.approx(brute_force_minimum(cost), abs=1e-9)


@pytest.mark.parametrize("shape", [(1, 4), (2, 5), (3, 6), (4, 2), (6, 3), (5, 1)])
def test_hungarian_matches_brute_force_on_rectangular_matrices(shape):
    rng = np.random.default_rng(sum(shape))
    for trial in range(20):
        cost = rng.normal(size=shape) * 10 if trial % 2 else rng.integers(-3, 3, shape).astype(float)
        rows, cols = linear_sum_assignment(cost)
        check_assignment(cost, rows, cols)
        assert cost[rows, cols].sum() == pytest.approx(brute_force_minimum(cost), abs=1e-9)


def test_hungarian_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        linear_sum_assignment([1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        linear_sum_assignment([[1.0, np.nan], [0.0, 1.0]])
    rows, cols = linear_sum_assignment(np.zeros((0, 3)))
    assert len(rows) == len(cols) == 0


# -- best-match accuracy -------------------------------------------------------------------------


def test_a_permuted_labelling_is_matched_exactly():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, 200)
    permutation = np.array([3, 0, 4, 1, 2])
    accuracy, mapping = best_match_accuracy(labels, permutation[labels])
    assert accuracy == 1.0
    assert mapping == {int(permutation[label]): label for label in range(5)}


def test_best_match_is_one_to_one():
    # One code for everything: it can stand for one class only, the largest (3 of 5).
    accuracy, mapping = best_match_accuracy([0, 0, 0, 1, 1], [9, 9, 9, 9, 9])
    assert accuracy == pytest.approx(3 / 5) and mapping == {9: 0}
    # More codes than classes: codes 0 and 1 share class 0; only one can have it.
    # Counts (label × code): [[2, 1, 0], [0, 0, 2]] → 0→0, 2→1: 4 of 5 right; code 1 unassigned.
    accuracy, mapping = best_match_accuracy([0, 0, 0, 1, 1], [0, 0, 1, 2, 2])
    assert accuracy == pytest.approx(4 / 5) and mapping == {0: 0, 2: 1}


def test_best_match_beats_the_greedy_choice():
    # Counts (class × code): class 0: code 0 → 5, code 1 → 4; class 1: code 0 → 4, code 1 → 0.
    # Greedy takes the largest cell first (code 0 → class 0) and gets 5 of 13 right;
    # the best one-to-one matching is code 0 → class 1 and code 1 → class 0: 8 of 13.
    labels = [0] * 5 + [0] * 4 + [1] * 4
    codes_ = [0] * 5 + [1] * 4 + [0] * 4
    accuracy, mapping = best_match_accuracy(labels, codes_)
    assert accuracy == pytest.approx(8 / 13) and mapping == {0: 1, 1: 0}


# -- code_class_match, on a stand-in for the model ---------------------------------------------------


class FixedCodes:
    """A stand-in for an InfoGAN whose Q head reads the given codes."""

    categorical_dim = 4

    def __init__(self, codes_):
        self.codes = np.asarray(codes_)

    def predict_codes(self, images, batch_size=256):
        return self.codes[: len(images)], np.zeros((len(images), 2), "float32")


def test_code_class_match_reports_the_matching_by_class_name():
    labels = np.array([0, 0, 0, 2, 2, 2, 2, 1])
    model = FixedCodes([3, 3, 1, 0, 0, 0, 0, 1])
    report = code_class_match(model, np.zeros((8, 8, 8, 1)), labels, class_names=["bear", "bird", "cat"])
    # Counts (class × code): bear: 3 → 2, 1 → 1; bird: 1 → 1; cat: 0 → 4.
    assert report["contingency"] == [[0, 1, 0, 2], [0, 1, 0, 0], [4, 0, 0, 0]]
    assert report["mapping"] == {0: "cat", 1: "bird", 2: None, 3: "bear"}  # code 2 never predicted
    assert report["accuracy"] == pytest.approx(7 / 8)
    assert report["n_images"] == 8
    assert report["nmi"] == pytest.approx(normalised_mutual_information(labels, model.codes))
    assert 0.0 < report["nmi"] < 1.0


def test_code_class_match_checks_its_labels():
    with pytest.raises(ValueError, match="one entry per image"):
        code_class_match(FixedCodes([0, 1]), np.zeros((2, 8, 8, 1)), [0, 1, 1])
    with pytest.raises(ValueError, match="labels"):
        code_class_match(FixedCodes([0, 1]), np.zeros((2, 8, 8, 1)), [0, 3], class_names=["a", "b"])


def test_module_needs_no_scipy():
    source = open(codes.__file__).read()
    assert "import scipy" not in source and "from scipy" not in source
