"""gdl-precision-check: same-seed float32 and mixed-precision runs, scored and shown side by side."""

import json
import os
import subprocess

import numpy as np
import pytest

from utils.commands import precision_check
from utils.loaders import load_silhouettes


@pytest.fixture
def tiny_presets(monkeypatch):
    """The camel preset, shrunk so that both precisions train in seconds."""
    from tiny import use_tiny_camel

    use_tiny_camel(monkeypatch, batch_size=16)


def test_check_trains_both_precisions_from_the_same_start(tiny_presets, run_dir):
    report = precision_check.check("04_01", epochs=6, n_samples=40, folder=str(run_dir / "p"))
    assert report["float32"]["policy"] == "float32"
    assert report["mixed"]["policy"] in ("mixed_bfloat16", "mixed_float16")
    assert report["n_samples"] == 40 and report["features"] == "silhouette-classifier"
    floor = report["held-out real images"]
    for name in ("float32", "mixed"):
        assert os.path.exists(run_dir / "p" / name / "images" / "sample_0.png")
        # six tiny steps are far from real silhouettes
        assert report[name]["fid"] > floor["fid"] and report[name]["coverage"] < floor["coverage"]
    assert os.path.exists(report["side_by_side"])
    assert json.loads((run_dir / "p" / "precision.json").read_text())["epochs"] == 6
    text = precision_check.format_report(report)
    assert "held-out real images" in text and "mixed (mixed_" in text and "fid" in text


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
