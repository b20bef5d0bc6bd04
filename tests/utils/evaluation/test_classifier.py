"""Tests of the silhouette classifier, the feature space for evaluating GANs on the silhouettes.

The shipped weights are checked against their sha256 and their measured
held-out accuracy; retraining uses a tiny schedule (a couple of batches) so
the file stays fast.
"""

import hashlib
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from utils.data.silhouettes import SILHOUETTE_CLASSES, load_silhouettes
from utils.evaluation import classifier
from utils.evaluation.classifier import (
    SHIPPED_HELD_OUT_ACCURACY,
    SHIPPED_SHA256,
    ClassifierWeightsError,
    SilhouetteFeatures,
    held_out_accuracy,
    load_classifier,
    main,
    to_classifier_input,
    train_classifier,
)

TINY = dict(epochs=1, steps_per_epoch=2)


@pytest.fixture(scope="module")
def shipped():
    return SilhouetteFeatures()


@pytest.fixture(scope="module")
def shipped_scores(shipped):
    return held_out_accuracy(shipped)


def weight_arrays(path):
    """{dataset name: array} of a .weights.h5 file."""
    arrays = {}
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
        )
    return arrays


# ---------------------------------------------------------------------------
# The shipped file
# ---------------------------------------------------------------------------


def test_shipped_file_has_the_recorded_sha256():
    data = classifier.SHIPPED_WEIGHTS.read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHIPPED_SHA256
    assert classifier.file_sha256(classifier.SHIPPED_WEIGHTS) == SHIPPED_SHA256
    assert len(data) < 1_000_000


def test_tampered_shipped_file_is_refused(tmp_path, monkeypatch):
    load_classifier()  # the genuine file, now cached: the cache must not hide the change
    tampered = tmp_path / "silhouette_classifier.weights.h5"
    data = bytearray(classifier.SHIPPED_WEIGHTS.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    monkeypatch.setattr(classifier, "SHIPPED_WEIGHTS", tampered)

    with pytest.raises(ClassifierWeightsError) as refused:
        load_classifier()
    message = str(refused.value)
    assert isinstance(refused.value, ValueError)
    assert str(tampered) in message
    assert SHIPPED_SHA256 in message and hashlib.sha256(data).hexdigest() in message
    assert "Reinstall" in message and "gdl-train-classifier" in message and "--classifier" in message
    with pytest.raises(ClassifierWeightsError):
        SilhouetteFeatures()


def test_missing_shipped_file_is_named(tmp_path, monkeypatch):
    missing = tmp_path / "gone.weights.h5"
    monkeypatch.setattr(classifier, "SHIPPED_WEIGHTS", missing)
    with pytest.raises(ClassifierWeightsError, match="gone.weights.h5.*Reinstall"):
        load_classifier()


def test_user_files_are_not_checked_against_the_shipped_sha256_but_must_be_readable(tmp_path):
    own = tmp_path / "own.weights.h5"
    with h5py.File(own, "w") as file:  # the shipped weights in a file with other bytes
        for name, array in weight_arrays(classifier.SHIPPED_WEIGHTS).items():
            file.create_dataset(name, data=array)
    assert classifier.file_sha256(own) != SHIPPED_SHA256
    model = load_classifier(own)
    for loaded, shipped_weight in zip(model.get_weights(), load_classifier().get_weights()):
        np.testing.assert_array_equal(loaded, shipped_weight)

    with pytest.raises(ClassifierWeightsError, match="nowhere.weights.h5"):
        load_classifier(tmp_path / "nowhere.weights.h5")
    garbage = tmp_path / "garbage.weights.h5"
    garbage.write_bytes(b"not an HDF5 file" * 100)
    with pytest.raises(ClassifierWeightsError, match="garbage.weights.h5"):
        SilhouetteFeatures(garbage)


def test_shipped_held_out_accuracy_is_as_recorded(shipped_scores):
    overall, per_class = shipped_scores
    # Within three of the 1,900 held-out images: another CPU's kernels may round a near-tie the
    # other way; a damaged file or a wrong input conversion costs far more than that.
    assert overall == pytest.approx(SHIPPED_HELD_OUT_ACCURACY, abs=3 / 1900)
    assert overall >= 0.95
    assert list(per_class) == list(SILHOUETTE_CLASSES)
    assert min(per_class.values()) >= 0.9


@pytest.mark.parametrize("image_size, channels", [(32, 3), (64, 3), (64, 1)])
def test_chapter_sizes_are_classified_nearly_as_well(shipped, shipped_scores, image_size, channels):
    overall, _ = held_out_accuracy(shipped, image_size=image_size, channels=channels)
    assert overall >= shipped_scores[0] - 0.02


# ---------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------


def test_features_are_deterministic_and_shaped(shipped):
    x, y = load_silhouettes(split="held-out")
    x = x[::2][:700]  # more than one batch of 500
    features = shipped(x)
    assert features.shape == (700, 128) and features.dtype == np.float32
    np.testing.assert_array_equal(shipped(x), features)
    assert features.std(axis=0).max() > 0  # not a constant
    np.testing.assert_allclose(SilhouetteFeatures(batch_size=64)(x), features, rtol=1e-4, atol=1e-5)

    labels = shipped.classify(x)
    assert labels.shape == (700,) and np.issubdtype(labels.dtype, np.integer)
    assert labels.min() >= 0 and labels.max() <= 9
    np.testing.assert_array_equal(labels, shipped.probabilities(x).argmax(axis=1))

    assert shipped.name == "silhouette-classifier"
    assert "28x28" in shipped.description and "antialias" in shipped.description
    assert "\n" not in shipped.description


def test_input_conversion():
    x, _ = load_silhouettes(split="held-out")
    x = x[:50]
    assert to_classifier_input(x) is x  # 28x28x1: untouched
    gray = np.asarray(to_classifier_input(np.repeat(x, 3, axis=-1)))
    np.testing.assert_allclose(gray, x, atol=1e-6)
    colour = np.concatenate([x, np.full_like(x, -1.0), np.ones_like(x)], axis=-1)
    np.testing.assert_allclose(np.asarray(to_classifier_input(colour)), x / 3, atol=1e-6)  # the mean
    big, _ = load_silhouettes(image_size=64, channels=3, split="held-out")
    small = np.asarray(to_classifier_input(big[:50]))
    assert small.shape == (50, 28, 28, 1)
    assert np.abs(small - x).mean() < 0.1


def test_bad_images_are_refused(shipped):
    good = np.zeros((2, 28, 28, 1), np.float32)
    with pytest.raises(ValueError, match=r"\(N, H, H, 1\)"):
        shipped(good[..., 0])
    with pytest.raises(ValueError, match="shape"):
        shipped(np.zeros((2, 28, 28, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        shipped(np.zeros((2, 28, 32, 1), np.float32))
    with pytest.raises(ValueError, match=r"\[-1, 1\].*127.5"):
        shipped(good + 255)
    with pytest.raises(ValueError, match="NaN"):
        shipped.classify(np.full((2, 28, 28, 1), np.nan, np.float32))
    assert shipped(good[:0]).shape == (0, 128)


# ---------------------------------------------------------------------------
# Training and the command
# ---------------------------------------------------------------------------


def test_retraining_is_reproducible(tmp_path):
    from tensorflow.python.framework import config

    determinism_before = config.is_op_determinism_enabled()
    first = train_classifier(tmp_path / "a.weights.h5", seed=0, **TINY)
    second = train_classifier(tmp_path / "b.weights.h5", seed=0, **TINY)
    other = train_classifier(tmp_path / "c.weights.h5", seed=1, **TINY)
    assert config.is_op_determinism_enabled() == determinism_before

    a, b, c = (weight_arrays(r.path) for r in (first, second, other))
    assert len(a) == 10 and a.keys() == b.keys() == c.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert any(not np.array_equal(a[name], c[name]) for name in a)
    assert first.sha256 == second.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()
    assert first.held_out_accuracy == second.held_out_accuracy
    assert 0 <= first.held_out_accuracy <= 1 and list(first.per_class_accuracy) == list(SILHOUETTE_CLASSES)
    assert first.held_out_images == len(load_silhouettes(split="held-out")[1])


def test_command_trains_and_reports(run_dir, capsys):
    assert main(["--epochs", "1", "--steps-per-epoch", "2", "--seed", "3"]) == 0
    out = run_dir / "classifier" / "silhouette_classifier.weights.h5"
    assert out.is_file()
    printed = capsys.readouterr().out
    accuracy, _ = held_out_accuracy(SilhouetteFeatures(out))
    assert f"Held-out accuracy: {accuracy:.4f}" in printed
    assert all(name in printed for name in SILHOUETTE_CLASSES)
    assert hashlib.sha256(out.read_bytes()).hexdigest() in printed
    assert f"--classifier {out}" in printed


@pytest.mark.parametrize(
    "argv, complaint",
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--steps-per-epoch", "0"], "--steps-per-epoch must be at least 1"),
        (["--seed", "-1"], "--seed must be 0 or more"),
        (["--out", "model.h5"], "ending in .weights.h5"),
        (["--epochs", "many"], "invalid int value"),
    ],
)
def test_command_refuses_bad_arguments(argv, complaint, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert complaint in capsys.readouterr().err


def test_command_refuses_a_folder_as_out(tmp_path, capsys):
    folder = tmp_path / "x.weights.h5"
    folder.mkdir()
    with pytest.raises(SystemExit):
        main(["--out", str(folder)])
    assert "is a folder" in capsys.readouterr().err


def test_command_help_explains_the_quick_option(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--steps-per-epoch" in help_text and "quick checks" in help_text


def test_command_refuses_an_unwritable_out_before_loading_tensorflow(tmp_path):
    """Bad arguments are answered at once: TensorFlow (seconds to import) is loaded only for the work."""
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    code = ("import sys\nfrom utils.evaluation.classifier import main\n"
            f"try:\n    main(['--out', {str(a_file / 'x.weights.h5')!r}])\n"
            "except SystemExit as stop:\n    print(stop.code, 'tensorflow' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert f"--out {a_file / 'x.weights.h5'}: its folder {a_file}: it is a file, not a folder" in done.stderr
