"""Mixed precision: bfloat16/float16 compute, float32 variables, outputs and losses."""

import keras
import numpy as np
import pytest

from models.ops.precision import resolve_precision
from models.GAN import GAN
from models.WGAN import WGAN
from tiny import critic_params, gan_params


@pytest.fixture
def machine(monkeypatch):
    """Fake the CPU's flags and whether a GPU is present."""
    from models.ops import precision

    def fake(flags, gpu=False, model="Test CPU"):
        monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
        monkeypatch.setattr(precision, "cpu_model", lambda: model)
        monkeypatch.setattr(precision, "gpu_available", lambda: gpu)
        monkeypatch.setattr(precision, "_told", set())
    return fake


@pytest.mark.parametrize("flags, gpu, policy", [
    ({"avx2", "fma"}, False, None),                                # most laptops: stay in float32
    ({"avx2", "avx512f", "avx512_bf16"}, False, "mixed_bfloat16"),  # e.g. Cooper Lake, Zen 4
    ({"avx2", "amx_bf16", "amx_tile"}, False, "mixed_bfloat16"),    # Sapphire Rapids
    ({"asimd", "bf16"}, False, "mixed_bfloat16"),                   # Arm with bf16
    ({"avx2"}, True, "mixed_float16"),                             # any GPU
])
def test_true_picks_the_policy_that_pays_on_this_machine(machine, flags, gpu, policy):
    machine(flags, gpu)
    if policy is None:
        with pytest.warns(UserWarning, match=r"staying in float32 on Test CPU \(avx2.*\).*11x slower"):
            assert resolve_precision(True) is None
    else:
        assert resolve_precision(True) == policy
    assert resolve_precision(False) is None


def test_the_reason_for_float32_is_given_once(machine, recwarn):
    machine({"avx2"})
    resolve_precision(True)
    resolve_precision(True)
    assert len([w for w in recwarn if "staying in float32" in str(w.message)]) == 1


def test_a_named_policy_is_used_as_asked_with_a_warning_where_slow(machine):
    machine({"avx2"})
    with pytest.warns(UserWarning, match="emulates them"):
        assert resolve_precision("mixed_bfloat16") == "mixed_bfloat16"
    assert resolve_precision("mixed_float16") == "mixed_float16"
    machine({"avx512_bf16"})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("mixed_bfloat16") == "mixed_bfloat16"


def test_the_model_builds_in_float32_where_bfloat16_would_be_emulated(machine):
    machine({"avx2"})
    with pytest.warns(UserWarning, match="staying in float32"):
        gan = GAN(**gan_params(), mixed_precision=True)
    assert gan.dtype_policy.name == "float32"
    assert gan.generator.get_layer("generator_conv_0").compute_dtype == "float32"


def test_cpu_flags_are_read_from_this_machine():
    from models.ops import precision

    assert isinstance(precision.cpu_flags(), frozenset) and precision.cpu_model()
    assert precision.cpu_model() in precision.cpu_summary()


def test_bfloat16_computes_in_bfloat16_but_outputs_and_variables_are_float32():
    gan = GAN(**gan_params(), mixed_precision="mixed_bfloat16")
    conv = gan.generator.get_layer("generator_conv_0")
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    assert gan.discriminator.layers[-1].compute_dtype == "float32"
    assert gan.generator.layers[-1].compute_dtype == "float32"  # the tanh
    noise = np.random.normal(size=(4, gan.z_dim)).astype("float32")
    assert gan.generator(noise).dtype == "float32"
    assert gan.model(noise).dtype == "float32"


def test_float16_uses_loss_scaling_and_trains():
    wgan = WGAN(**critic_params(), mixed_precision="mixed_float16")
    assert isinstance(wgan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(wgan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    x = np.random.uniform(-1, 1, (32, 8, 8, 1)).astype("float32")
    losses = wgan.train_critic(x, 16, 0.01) + [wgan.train_generator(16)]
    assert np.isfinite(losses).all()


@pytest.mark.parametrize("policy", [None, "mixed_bfloat16"])
def test_mixed_precision_learns_the_same_task(policy):
    """The discriminator separates real from fake just as well in bfloat16 as in float32."""
    keras.utils.set_random_seed(3)
    gan = GAN(**gan_params(discriminator_learning_rate=0.01), mixed_precision=policy)
    real = np.full((64, 8, 8, 1), 0.9, dtype="float32")
    for _ in range(30):
        d = gan.train_discriminator(real, 32)
    assert d[4] == 1.0 and d[5] == 1.0
    assert all(np.isfinite(d)) and all(isinstance(v, float) for v in d)
