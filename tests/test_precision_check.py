"""gdl-precision-check: same-seed float32 and mixed-precision runs, scored and shown side by side."""

import json
import os
import subprocess

import numpy as np
import pytest

from utils.commands import precision_check
from utils.loaders import load_silhouettes


def test_quality_scores_real_images_better_than_noise_or_a_collapsed_generator():
    x, _ = load_silhouettes("horse")
    real, scoring_set = precision_check.split_halves(x, 200)
    real_realism, real_coverage = precision_check.quality(real, scoring_set)
    noise = np.random.default_rng(0).uniform(-1, 1, real.shape).astype("float32")
    noise_realism, noise_coverage = precision_check.quality(noise, scoring_set)
    assert real_realism < noise_realism / 2 and real_coverage < noise_coverage / 2
    # One real image repeated: perfectly "real", but it covers little of the data.
    collapsed = np.repeat(scoring_set[:1], len(real), axis=0)
    collapsed_realism, collapsed_coverage = precision_check.quality(collapsed, scoring_set)
    assert collapsed_realism < real_realism
    assert collapsed_coverage > real_coverage * 1.2


def test_halves_do_not_overlap():
    x = np.arange(100, dtype="float32").reshape(100, 1, 1, 1)
    real, scoring_set = precision_check.split_halves(x, 30)
    assert len(real) == 30 and len(scoring_set) == 50
    assert not set(real.ravel()) & set(scoring_set.ravel())


@pytest.fixture
def tiny_presets(monkeypatch):
    """The camel preset, shrunk so that both precisions train in seconds."""
    from tiny import use_tiny_camel

    use_tiny_camel(monkeypatch, batch_size=16)


def test_check_trains_both_precisions_from_the_same_start(tiny_presets, run_dir):
    report = precision_check.check("04_01", epochs=6, n_samples=40, folder=str(run_dir / "p"))
    assert report["float32"]["policy"] == "float32"
    assert report["mixed"]["policy"] in ("mixed_bfloat16", "mixed_float16")
    for name in ("float32", "mixed"):
        assert os.path.exists(run_dir / "p" / name / "images" / "sample_0.png")
        assert np.isfinite(report[name]["realism"]) and np.isfinite(report[name]["coverage"])
    assert os.path.exists(report["side_by_side"])
    assert json.loads((run_dir / "p" / "precision.json").read_text())["epochs"] == 6
    text = precision_check.format_report(report)
    assert "mixed / float32" in text and "real images" in text


def test_both_runs_start_from_the_same_weights_and_noise(tiny_presets, run_dir):
    models = precision_check.train_both("04_01", load_silhouettes("horse")[0], 0, 16, 3,
                                        str(run_dir / "p"))
    first, second = models.values()
    np.testing.assert_array_equal(first.fixed_noise, second.fixed_noise)
    for a, b in zip(first.generator.get_weights(), second.generator.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_command_rejects_a_bad_step_count():
    result = subprocess.run(["gdl-precision-check", "--epochs", "0"], capture_output=True, text=True)
    assert result.returncode == 2 and "--epochs must be at least 1" in result.stderr
