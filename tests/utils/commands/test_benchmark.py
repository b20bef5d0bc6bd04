"""gdl-bench's arithmetic and its reference loop (the timings themselves belong to the command)."""

import json
import logging

import keras
import numpy as np
import pytest

from models.GAN import GAN
from models.WGAN import WGAN
from models.WGANGP import WGANGP
from tiny import critic_params, gan_params, images
from utils.commands import benchmark


def test_forward_macs_by_hand():
    gan = GAN(**gan_params())
    # D: conv 8x8x1 -> 4x4x4 (k3): 4*4*9*1*4; conv -> 2x2x8: 2*2*9*4*8; dense 32 -> 1.
    assert benchmark.forward_macs(gan.discriminator) == 576 + 1152 + 32
    # G: dense 6 -> 32; upsample, conv 4x4: 4*4*9*8*8; upsample, conv 8x8 -> 1: 8*8*9*8*1.
    assert benchmark.forward_macs(gan.generator) == 192 + 9216 + 4608


def test_the_exact_upsample_conv_counts_what_it_computes():
    """K = 5: an S = 3 convolution with 4× the filters at half the size, 36/100 of the book's."""
    from models import networks

    exact = GAN(**gan_params(generator_conv_kernel_size=[5, 5]))
    networks.EXACT_UPSAMPLE_CONV = False
    try:
        plain = GAN(**gan_params(generator_conv_kernel_size=[5, 5]))
    finally:
        networks.EXACT_UPSAMPLE_CONV = True
    book = [192, 4 * 4 * 25 * 8 * 8, 8 * 8 * 25 * 8 * 1]
    assert benchmark.layer_macs(plain.generator) == book
    assert benchmark.layer_macs(exact.generator) == [192, 2 * 2 * 9 * 8 * 32, 4 * 4 * 9 * 8 * 4]
    assert benchmark.layer_macs(exact.generator)[1] / book[1] == pytest.approx(0.36)


def test_conv_transpose_counts_per_input_pixel():
    wgangp = WGANGP(**{k: v for k, v in critic_params(generator_upsample=[1, 1],
                                                      generator_conv_strides=[2, 2]).items()
                       if k not in ("optimiser", "z_dim")},
                    optimiser="adam", grad_weight=10, z_dim=6, batch_size=4)
    # Dense 6 -> 32; transpose 2x2x8 -> 4x4x8: 2*2*9*8*8; transpose 4x4x8 -> 8x8x1: 4*4*9*8*1.
    assert benchmark.forward_macs(wgangp.generator) == 192 + 2304 + 1152


def test_step_flops_counts_each_backward_product_once():
    gan = GAN(**gan_params())
    g, g1 = 192 + 9216 + 4608, 192
    d, d1 = 576 + 1152 + 32, 576
    critic_step = g + 2 * (3 * d - d1)
    generator_step = 3 * g - g1 + 2 * d
    assert benchmark.step_flops(gan, 4, 1) == 2 * 4 * (critic_step + generator_step)


def test_step_flops_counts_the_penalty_and_its_double_backward():
    params = {k: v for k, v in critic_params().items() if k not in ("optimiser", "z_dim")}
    wgangp = WGANGP(**params, optimiser="adam", grad_weight=10, z_dim=6, batch_size=4)
    wgan = WGAN(**critic_params())
    d, d_out = 576 + 1152 + 32, 32
    penalty = 2 * d + (2 * d - d_out)  # forward and input gradients; weight gradients and adjoint
    assert benchmark.step_flops(wgangp, 4, 5) - benchmark.step_flops(wgan, 4, 5) == 2 * 4 * 5 * penalty


def test_step_products_of_a_gan_epoch():
    gan = GAN(**gan_params())
    products = benchmark.step_products(gan, 1)
    # Critic: two training passes and the generator step's forward + input gradients.
    assert products["critic", "forward"] == [3, 3, 3]
    assert products["critic", "weights"] == [2, 2, 2]
    assert products["critic", "input"] == [1, 3, 3]
    # Generator: the fakes, then its own training pass.
    assert products["generator", "forward"] == [2, 2, 2]
    assert products["generator", "weights"] == [1, 1, 1]
    assert products["generator", "input"] == [0, 1, 1]


@pytest.mark.parametrize("form", ["fast", "keras"])
@pytest.mark.parametrize("network", ["generator", "critic"])
def test_each_layer_product_has_the_shape_of_what_it_computes(network, form):
    from models.ops import conv_forms

    params = {k: v for k, v in critic_params(generator_upsample=[1, 2],
                                             generator_conv_strides=[2, 1]).items()
              if k not in ("optimiser", "z_dim")}
    with conv_forms.forced(form):
        wgangp = WGANGP(**params, optimiser="adam", grad_weight=10, z_dim=6, batch_size=4)
    layers = benchmark.product_layers(getattr(wgangp, network))
    kinds = {type(layer).__name__ for layer in layers}
    assert kinds == ({"Dense", "Conv2DTranspose", "Conv2D"} if network == "generator" else {"Dense", "Conv2D"})
    from models.ops import subpixel

    for layer in layers:
        expected = {"forward": (3, *layer.output.shape[1:]), "input": (3, *layer.input.shape[1:]),
                    "weights": tuple(layer.kernel.shape)}
        if isinstance(layer, subpixel.Conv2D) and form == "fast":  # its convolution runs before the upsampling
            assert benchmark.computes_subpixel(layer)
            (h, w), kernel = benchmark.subpixel_shapes(layer)
            expected = {"forward": (3, h, w, kernel[3]), "input": (3, h, w, kernel[2]), "weights": kernel}
        for product, shape in expected.items():
            assert tuple(benchmark.layer_product(layer, product, 3)().shape) == shape, (layer.name, product)


def test_arithmetic_seconds_adds_up_the_timed_products(monkeypatch):
    wgan = WGAN(**critic_params())
    monkeypatch.setattr(benchmark, "product_seconds", lambda layer, product, batch, repeats: 1.0)
    expected = sum(sum(counts) for counts in benchmark.step_products(wgan, 5).values())
    assert benchmark.arithmetic_seconds(wgan, 4, 5) == expected


def test_the_books_loop_runs_and_clips_like_the_book():
    wgan = WGAN(**critic_params())
    benchmark.book_loop(wgan, images(), 8, n_critic=2, clip_threshold=0.01)(1)
    weights = np.concatenate([np.ravel(w) for w in wgan.critic.get_weights()])
    assert np.abs(weights).max() <= 0.01 + 1e-9
    gan = GAN(**gan_params())
    before = int(gan.g_optimizer.iterations)
    benchmark.book_loop(gan, images(), 8, n_critic=1, clip_threshold=None)(1)
    assert int(gan.g_optimizer.iterations) == before + 1


def test_variants_are_timed_in_turns():
    calls = []
    seconds = benchmark.time_in_turns([lambda n: calls.extend("a" * n), lambda n: calls.extend("b" * n)],
                                      warmup=1, steps=2, repeats=2,
                                      between_rounds=lambda: calls.append("|"))
    assert "".join(calls) == "ab|aabb|aabb"
    assert len(seconds) == 2 and all(s >= 0 for s in seconds)


def test_matmul_rate_is_positive():
    assert benchmark.matmul_gflops(n=256, repeats=2) > 0


@pytest.fixture
def small_matmul(monkeypatch):
    """The matmul rate on 256×256 matrices: the command's 2048×2048 bfloat16 readings take most of
    a minute where bfloat16 is emulated (the rate itself: test_matmul_rate_is_positive)."""
    import functools

    monkeypatch.setattr(benchmark, "matmul_gflops", functools.partial(benchmark.matmul_gflops, n=256, repeats=2))


def test_the_command_prints_and_writes_the_table(monkeypatch, tmp_path, capsys, small_matmul):
    from models.ops import precision
    from tiny import use_tiny_camel

    use_tiny_camel(monkeypatch, batch_size=8)
    # A CPU with bfloat16 instructions, so that the mixed-precision row is timed.
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    monkeypatch.setattr(precision, "cpu_model", lambda: "Test CPU")
    warnings = []  # TensorFlow's Python warnings (retracing...) go through its logger
    handler = logging.Handler(logging.WARNING)
    handler.emit = warnings.append
    logging.getLogger("tensorflow").addHandler(handler)
    try:
        benchmark.main(["--quick", "--chapters", "04_01", "--out", str(tmp_path)])
    finally:
        logging.getLogger("tensorflow").removeHandler(handler)
    assert not [record.getMessage() for record in warnings if "retracing" in record.getMessage()]
    printed = capsys.readouterr().out
    assert "Machine: Test CPU (avx2 avx512_bf16)" in printed
    assert "x_arithmetic" in printed and "speed-up over the book's loop" in printed
    table = json.loads((tmp_path / "benchmark.json").read_text())
    assert table["machine"].startswith("Test CPU (avx2 avx512_bf16)")
    assert [row["variant"][:3] for row in table["rows"]] == ["(a)", "(b)", "(c)", "(e)"]
    for row in table["rows"]:
        assert row["ms_per_step"] > 0 and row["arithmetic_ms"] > 0
        ceiling = table["matmul_gflop_per_s"][row["matmul_rate"]]
        assert row["fraction_of_matmul"] == pytest.approx(row["gflop_per_s"] / ceiling, abs=1e-3)
        assert row["x_arithmetic"] == pytest.approx(row["ms_per_step"] / row["arithmetic_ms"], rel=0.02, abs=0.01)
    assert len(table["matmul_readings"]["float32"]) == 3  # one per round of --quick
    assert table["matmul_gflop_per_s"]["float32"] == pytest.approx(max(table["matmul_readings"]["float32"]), abs=0.1)
    assert (tmp_path / "benchmark.csv").read_text().startswith("preset,variant,ms_per_step")
    # The forms of (b) and (c), each layer once per precision (the tests force GDL_CONV_FORM=fast).
    assert "Convolution forms of (b)-(d)" in printed
    forms = table["conv_forms"]
    assert {(d["layer"], d["signature"]["dtype"]) for d in forms} == {
        (name, dtype) for name in ("discriminator_conv_0", "discriminator_conv_1", "generator_conv_0",
                                   "generator_conv_1") for dtype in ("float32", "bfloat16")}
    assert len(forms) == 8 and all(d["preset"] == "camel GAN" for d in forms)
    assert all(d["source"] == "GDL_CONV_FORM=fast" and d["form"] == "subpixel" for d in forms
               if d["layer"].startswith("generator"))
    assert benchmark.format_form(forms[0]) in printed


def test_mixed_precision_is_not_timed_where_it_would_stay_float32(monkeypatch, tmp_path, capsys, small_matmul):
    from models.ops import precision
    from tiny import use_tiny_camel

    use_tiny_camel(monkeypatch, batch_size=8)
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    monkeypatch.setattr(precision, "gpu_available", lambda: False)
    benchmark.main(["--quick", "--chapters", "04_01", "--out", str(tmp_path)])
    table = json.loads((tmp_path / "benchmark.json").read_text())
    mixed = [row for row in table["rows"] if row["variant"].startswith("(c)")]
    assert len(mixed) == 1 and "ms_per_step" not in mixed[0] and "stays in float32" in mixed[0]["note"]
    assert "stays in float32" in capsys.readouterr().out


@pytest.mark.parametrize("readings, warned", [([400.0, 390.0, 380.0], False), ([400.0, 330.0], True)])
def test_the_command_warns_when_the_matmul_readings_spread(monkeypatch, tmp_path, capsys, readings, warned):
    monkeypatch.setattr(benchmark, "benchmark", lambda chapters, quick, xla: (
        {"float32": readings, "bfloat16": []}, [], []))
    benchmark.main(["--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert ("warning: the float32 matmul rate varied by more than 15%" in printed) is warned
    assert "float32 400 GFLOP/s" in printed


def test_book_layers_are_keras_own_and_ours_are_the_fast_ones():
    """Rows (a) and (e) time Keras' own layers and forms; row (b) this project's."""
    from models.ops import conv_forms, fast_conv

    def modules(model):
        return {type(layer).__module__.split(".")[0] for network in (model.generator, model.adversary)
                for layer in benchmark.product_layers(network)}

    with benchmark.book_layers(True):
        book = GAN(**gan_params())
        assert conv_forms.mode() == "keras"  # any of this project's layers built here: Keras' forms
        assert fast_conv.Conv2D(4, 3, padding="same")(keras.Input((8, 8, 2))) is not None
    assert modules(book) == {"keras"}
    assert conv_forms.decisions()[-1]["form"] == "keras"
    assert conv_forms.mode() == "fast"  # as the tests set it
    ours = GAN(**gan_params())
    assert "models" in modules(ours)
    assert benchmark._arithmetic_kind(book) != benchmark._arithmetic_kind(ours)
    with conv_forms.forced("keras"):
        ours_keras_forms = GAN(**gan_params())
    assert benchmark._arithmetic_kind(ours_keras_forms) not in (benchmark._arithmetic_kind(ours),
                                                                 benchmark._arithmetic_kind(book))


def test_fast_layers_time_the_product_they_compute():
    """A fast layer's input product is the forward-convolution form, with the same values."""
    from models.ops import conv_forms, fast_conv

    layer = fast_conv.Conv2D(64, 5, strides=2, padding="same")
    layer(keras.Input((14, 14, 64)))
    run = benchmark.layer_product(layer, "input", 2)
    ops = {op.type for op in run.get_concrete_function().graph.get_operations()}
    assert "Conv2DBackpropInput" not in ops and "Conv2D" in ops
    assert tuple(run().shape) == (2, 14, 14, 64)
    plain = keras.layers.Conv2D(64, 5, strides=2, padding="same")
    plain(keras.Input((14, 14, 64)))
    with conv_forms.forced("keras"):  # the form is chosen when the layer is built
        ours_in_keras_form = fast_conv.Conv2D(64, 5, strides=2, padding="same")
        ours_in_keras_form(keras.Input((14, 14, 64)))
    for layer in (plain, ours_in_keras_form):
        ops = {op.type for op in benchmark.layer_product(layer, "input", 2).get_concrete_function()
               .graph.get_operations()}
        assert "Conv2DBackpropInput" in ops


def test_an_upsample_conv_in_keras_form_counts_the_books_products():
    from models.ops import conv_forms, subpixel

    with conv_forms.forced("keras"):
        gan = GAN(**gan_params(generator_conv_kernel_size=[5, 5]))
    assert any(isinstance(layer, subpixel.Conv2D) for layer in gan.generator.layers)
    assert benchmark.layer_macs(gan.generator) == [192, 4 * 4 * 25 * 8 * 8, 8 * 8 * 25 * 8 * 1]
    layer = gan.generator.get_layer("generator_conv_0")
    assert tuple(benchmark.layer_product(layer, "input", 3)().shape) == (3, *layer.input.shape[1:])


def test_backend_rows_time_each_backend_in_its_own_process_in_turns(monkeypatch):
    """The backends alternate round after round, each in a process with its KERAS_BACKEND; a row
    is the median of its rounds; a child that fails is named with its error."""
    import subprocess
    from types import SimpleNamespace

    from utils.commands import benchmark

    calls, seconds = [], {"tensorflow": iter([0.5, 0.7, 0.6]), "jax": iter([2.0, 1.0, 3.0])}

    def fake_run(command, env, **kwargs):
        calls.append(env["KERAS_BACKEND"])
        assert "fit_seconds('04_01'" in command[-1]
        backend = env["KERAS_BACKEND"]
        decision = dict(layer="generator_conv_0", signature={"input": [14, 14, 64]}, form=f"{backend} form",
                        ms=None, source="measured")
        result = json.dumps({"seconds": next(seconds[backend]), "forms": [decision]})
        return SimpleNamespace(returncode=0, stdout=f"noise\nRESULT {result}\n", stderr="")

    monkeypatch.setattr(subprocess, "run", fake_run)
    rows, forms = benchmark.backend_rows(["04_01"], ["tensorflow", "jax"])
    assert calls == ["tensorflow", "jax"] * 3
    assert [(row["variant"], row["ms_per_step"]) for row in rows] == [
        ("(f) fit() on tensorflow", 600.0), ("(f) fit() on jax", 2000.0)]
    # Each backend's forms, once per layer although every round reports them.
    assert [(d["preset"], d["form"]) for d in forms["jax"]] == [("camel GAN", "jax form")]
    assert len(forms["tensorflow"]) == 1
    monkeypatch.setattr(subprocess, "run", lambda command, env, **kw: SimpleNamespace(
        returncode=1, stdout="", stderr="ModuleNotFoundError: No module named 'jax'"))
    with pytest.raises(RuntimeError, match="timing 04_01 on jax failed:\n.*No module named 'jax'"):
        benchmark.backend_rows(["04_01"], ["jax"])


def test_jax_step_rows_time_ours_and_the_hand_written_step_on_jax(monkeypatch):
    """One JAX process per preset reports both steps' seconds (or why it has no hand-written step)."""
    import subprocess
    from types import SimpleNamespace

    from utils.commands import benchmark

    replies = {"04_01": {"ours": 2.0, "handwritten": 1.6}, "04_02": {"note": "the book's GAN only"}}

    def fake_run(command, env, **kwargs):
        assert env["KERAS_BACKEND"] == "jax"
        chapter = next(name for name in replies if repr(name) in command[-1])
        return SimpleNamespace(returncode=0, stdout=f"RESULT {json.dumps(replies[chapter])}\n", stderr="")

    monkeypatch.setattr(subprocess, "run", fake_run)
    rows = benchmark.jax_step_rows(["04_01", "04_02"])
    assert [(row["variant"], row.get("ms_per_step"), row.get("note")) for row in rows] == [
        ("(g) JAX step, ours (jitted)", 2000.0, None), ("(h) JAX step, hand-written", 1600.0, None),
        ("(h) JAX step, hand-written", None, "the book's GAN only")]


def test_fit_seconds_times_the_presets_fit_here():
    from utils.commands import benchmark

    assert 0 < benchmark.fit_seconds("04_01", steps=1, warmup=1) < 60


def refuse_work(monkeypatch):
    def no(*args, **kwargs):
        raise AssertionError("timed although its input was refused")

    for name in ("benchmark", "backend_rows", "jax_step_rows"):
        monkeypatch.setattr(benchmark, name, no)


def test_a_missing_backend_is_named_before_any_work(monkeypatch, tmp_path, capsys):
    from utils import backends

    refuse_work(monkeypatch)
    monkeypatch.setattr(backends, "installed", lambda backend: backend != "torch")
    with pytest.raises(SystemExit) as stop:
        benchmark.main(["--backends", "torch", "--out", str(tmp_path)])
    assert stop.value.code == 2
    assert "--backends torch: PyTorch is not installed here; install it with pip install -e '.[torch]'" in \
        capsys.readouterr().err
    monkeypatch.setattr(backends, "installed", lambda backend: backend == "jax")
    with pytest.raises(SystemExit) as stop:  # (a)-(e) need TensorFlow
        benchmark.main(["--out", str(tmp_path)])
    assert stop.value.code == 2 and "--backends jax,torch" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        benchmark.main(["--backends", "jax", "--xla", "--out", str(tmp_path)])
    assert stop.value.code == 2 and "--xla times TensorFlow's row (d)" in capsys.readouterr().err


def test_an_output_that_cannot_be_written_is_named_before_any_work(monkeypatch, tmp_path, capsys):
    refuse_work(monkeypatch)
    a_file = tmp_path / "table.json"
    a_file.write_text("{}")
    for out, message in ((a_file, "it is a file, not a folder"), (a_file / "sub", "cannot write there")):
        with pytest.raises(SystemExit) as stop:
            benchmark.main(["--out", str(out)])
        assert stop.value.code == 2 and f"--out {out}: {message}" in capsys.readouterr().err


def test_other_backends_are_timed_without_tensorflow(tmp_path):
    """``--backends jax`` in a Python where TensorFlow cannot be imported: no TensorFlow row, no
    TensorFlow import, the backends' rows written."""
    import subprocess
    import sys

    code = f"""
import sys
sys.modules["tensorflow"] = None  # as if not installed: importing it fails
sys.path.insert(0, {str(benchmark.__file__).rsplit('/utils/', 1)[0]!r})
from utils.commands import benchmark
row = dict(preset="camel GAN", variant="(f) fit() on jax", ms_per_step=1.0, images_per_s=64.0)
benchmark.backend_rows = lambda chapters, backends, quick=False: ([row], {{"jax": []}})
benchmark.jax_step_rows = lambda chapters, quick=False: []
benchmark.main(["--backends", "jax", "--chapters", "04_01", "--out", {str(tmp_path)!r}])
import keras
print("BACKEND", keras.backend.backend())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={k: v for k, v in __import__("os").environ.items() if k != "KERAS_BACKEND"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Rows (a)-(e) are TensorFlow's: not timed" in result.stdout and "BACKEND jax" in result.stdout
    saved = json.loads((tmp_path / "benchmark.json").read_text())
    assert [row["variant"] for row in saved["rows"]] == ["(f) fit() on jax"]
