"""tf.distribute: a fit() step under MirroredStrategy on two devices equals the same step on one.

The machine's CPU is split into two logical devices, which must happen before
TensorFlow starts, so the comparison runs in a fresh interpreter (tests/distribute_probe.py)
and reports its measurements as JSON.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[2] / "distribute_probe.py"


def _compare_in_fresh_process():
    result = subprocess.run(
        [sys.executable, str(PROBE)], capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def comparison():
    return _compare_in_fresh_process()


def test_two_replicas_were_used(comparison):
    assert comparison["replicas"] == 2


@pytest.mark.parametrize("model", ["GAN", "WGAN"])
def test_mirrored_step_matches_single_device_step(comparison, model):
    report = comparison[model]
    assert report["max_weight_change"] > 1e-3  # the step did move the weights
    # Absolute, at the scale of N(0, 0.02) weights: a conv bias followed by batch norm has a
    # zero gradient up to round-off, which Adam rescales to ~1e-5 steps in either run.
    assert report["max_weight_difference"] < 1e-4
    assert report["max_loss_difference"] < 1e-5
    assert report["book_history_recorded"]


def test_wgan_clipping_holds_on_every_replica(comparison):
    assert comparison["WGAN"]["max_abs_critic_weight_any_replica"] <= 0.01 + 1e-9


def test_a_model_built_in_strategy_scope_trains_on_every_replica(comparison):
    assert comparison["built_in_scope"] == {"uses_the_strategy": True, "mirrored_weights": True, "epoch": 1}


def test_the_modern_recipe_trains_under_mirrored_strategy(comparison):
    report = comparison["recipe"]
    assert report["finite"] and report["replicas_agree"]
    assert report["average_updates"] == 2 and report["probability_moved"]


def test_wgangp_trains_under_mirrored_strategy(comparison):
    report = comparison["WGANGP"]
    assert report["finite"] and report["replicas_agree"]
    assert report["epoch"] == 2
