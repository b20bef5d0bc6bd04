"""gdl-eval end to end: a short run on the silhouettes, scored, checked and walked, in eval/."""

import json

import pytest

from models.GAN import GAN
from tiny import gan_params, use_tiny_camel
from utils.commands import cli, evaluate
from utils.data.silhouettes import load_silhouettes
from utils.evaluation.quality import QualityMonitor


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """Three animals, six steps of the tiny camel GAN, scored every two steps (trained once).

    Six tiny steps take less time than one scoring, so the time budget (tested in
    test_quality.py) would skip them all: here every scoring is made.
    """
    run_dir = tmp_path_factory.mktemp("evaluated") / "run"
    run_dir.mkdir()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("GDL_RUN_DIR", str(run_dir))
        use_tiny_camel(monkeypatch, 8)
        monkeypatch.setattr(QualityMonitor, "maybe_score", QualityMonitor.score)
        cli.main_gan(["--data", "silhouettes", "--classes", "cat,dog,horse", "--epochs", "6",
                      "--batch-size", "8", "--print-every", "3", "--seed", "1", "--quality-every", "2"])
    return run_dir / "gan" / "0001_silhouettes-cat-dog-horse"


def test_the_command_records_its_data_and_scores_quality_while_training(short_run):
    assert json.loads((short_run / "data.json").read_text()) == {"name": "silhouettes", "classes": "cat,dog,horse"}
    quality = json.loads((short_run / "quality.json").read_text())
    assert [r["epoch"] for r in quality["records"]] == [2, 4, 6]
    assert quality["features"] == "silhouette-classifier"
    # as many samples as held-out images of the three animals
    held_out, _ = load_silhouettes(["cat", "dog", "horse"], split="held-out")
    assert quality["n_samples"] == quality["n_held_out"] == len(held_out)
    assert (short_run / "quality.png").exists()


def test_gdl_eval_writes_every_measure_beside_its_floor(short_run, capsys):
    report = evaluate.evaluate([str(short_run), "--samples", "300"])
    out = capsys.readouterr().out
    eval_folder = short_run / "eval"
    saved = json.loads((eval_folder / "metrics.json").read_text())
    assert saved["epoch"] == 6 and saved["counts"]["samples"] == 300 and saved["counts"]["held_out_unseen"]
    for side in ("samples", "held_out"):
        assert set(saved["measures"][side]) >= {"fid", "kid", "precision", "recall", "density", "coverage"}
    # six steps of a tiny generator are far from real images: worse than the floor
    assert saved["measures"]["samples"]["fid"] > 2 * saved["measures"]["held_out"]["fid"]
    coverage = saved["mode_coverage"]
    assert coverage["classes_in_data"] == 3 and len(coverage["fake_histogram"]) == 10
    assert coverage["held_out"]["classes_covered"] == 3  # the classifier sees all three in real images
    assert saved["memorisation"]["expected_fraction"] == 0.05
    assert "loss_quality" in saved and saved["loss_quality"]["n"] == 3
    for picture in ("samples.png", "closest_pairs.png", "interpolation_linear.png",
                    "interpolation_spherical.png", "class_histogram.png", "loss_vs_quality.png",
                    "summary.html"):
        assert (eval_folder / picture).stat().st_size > 0
    page = (eval_folder / "summary.html").read_text()
    assert "closest_pairs.png" in page and "held-out" in page
    assert "fid" in out and "held-out" in out and "summary.html" in out
    assert report["measures"]["samples"] == saved["measures"]["samples"]


def test_the_console_script_prints_the_table_only(short_run):
    import subprocess

    result = subprocess.run(["gdl-eval", str(short_run), "--samples", "50"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("summary.html")  # not the report's dict after it


def test_gdl_eval_names_what_is_missing(tmp_path, run_dir):
    with pytest.raises(SystemExit, match="No run folder"):
        evaluate.main([str(tmp_path / "nowhere")])
    unnamed = tmp_path / "0001_my-drawings"
    unnamed.mkdir()
    with pytest.raises(SystemExit, match="is not a run folder: it holds no params.json, run.json or"):
        evaluate.main([str(unnamed)])
    GAN(**gan_params()).save(unnamed)  # a run, but nothing says what it trained on
    with pytest.raises(SystemExit, match="--data silhouettes:horse"):
        evaluate.main([str(unnamed)])
    with pytest.raises(SystemExit, match="--samples must be at least 4"):
        evaluate.main([str(unnamed), "--samples", "3"])
    with pytest.raises(SystemExit, match="--draws must be at least 1"):
        evaluate.main([str(unnamed), "--draws", "0"])
    with pytest.raises(SystemExit, match="choose one of"):
        evaluate.main([str(unnamed), "--data", "mnist"])


def test_quality_options_are_checked(run_dir):
    with pytest.raises(SystemExit, match="--quality-draws must be at least 1"):
        cli.main_gan(["--data", "silhouettes", "--quality-draws", "0"])
    for budget in ("0", "-0.5", "nan"):
        with pytest.raises(SystemExit, match="--quality-budget"):
            cli.main_gan(["--data", "silhouettes", "--quality-budget", budget])
    with pytest.raises(SystemExit, match="--quality-every"):
        cli.main_gan(["--data", "silhouettes", "--quality-every", "0"])
