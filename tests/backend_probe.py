"""Run by tests/models/core/test_backends.py in a process of its own, under the KERAS_BACKEND it sets:

    XLA_FLAGS=--xla_force_host_platform_device_count=2 python tests/backend_probe.py RUN_FOLDER EPOCHS OUT.json

writes, as JSON, ``contracts``: each chapter model trained a little on this backend, and what
the book relies on (parameter counts, a frozen discriminator, clipped weights, the gradient
penalty's value, the recipe's parts); ``resume``: a GAN run written on any backend loaded, its
grid drawn from the run's fixed noise (saved beside it), trained on for ``EPOCHS`` more, and
where it got to; on JAX, ``data-parallel``: a GAN trained under
``keras.distribution.DataParallel`` over every device JAX sees.  One process for all: Keras
and the backend start once.
"""

import json
import sys
from pathlib import Path

# The project before tests/ (this script's folder, first on the path), whose models/ and utils/
# hold tests and would hide the packages of the same names.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tiny import critic_params, gan_params, images, snapshot, wgangp_params  # noqa: E402


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def unchanged(before, after):
    return all(np.array_equal(a, b) for a, b in zip(before, after))


def contracts():
    from models.CGAN import CGAN
    from models.GAN import GAN
    from models.InfoGAN import InfoGAN
    from models.WGAN import WGAN
    from models.WGANGP import WGANGP
    from models.penalties.gradient_penalty import gradient_penalty

    found = {"backend": keras.backend.backend()}
    x = images(32)

    keras.utils.set_random_seed(1)
    gan = GAN(**gan_params(discriminator_batch_norm_momentum=0.9, discriminator_dropout_rate=0.3))
    found["gan_parameters"] = [gan.discriminator.count_params(), gan.generator.count_params()]
    history = gan.fit(x, batch_size=8, epochs=2, verbose=0)
    found["gan_fit_finite"] = bool(np.isfinite(history.history["d_loss"]).all())
    found["gan_d_losses"] = len(gan.d_losses)
    d_before, g_before = snapshot(gan.discriminator), snapshot(gan.generator)
    gan.train_generator(8)
    found["generator_update_leaves_discriminator"] = unchanged(d_before, snapshot(gan.discriminator))
    found["generator_update_moves_generator"] = not unchanged(g_before, snapshot(gan.generator))
    d_before = snapshot(gan.discriminator)
    gan.model.train_on_batch(np.random.normal(size=(8, 6)).astype("float32"), np.ones((8, 1), "float32"))
    found["book_combined_model_leaves_discriminator"] = unchanged(d_before, snapshot(gan.discriminator))
    losses = gan.train_discriminator(x, 8)
    found["discriminator_losses"] = len(losses)

    keras.utils.set_random_seed(2)
    wgan = WGAN(**critic_params())
    wgan.train_critic(x, 8, 0.01)
    wgan.fit(x, batch_size=8 * 2, epochs=1, verbose=0)
    found["wgan_max_weight"] = max(float(np.abs(numpy(w)).max()) for w in wgan.critic.trainable_weights)

    keras.utils.set_random_seed(3)
    wgangp = WGANGP(**wgangp_params())
    wgangp.fit(wgangp.training_batches(x, 8, n_critic=2), steps_per_epoch=1, epochs=1, verbose=0)
    # A linear critic f(x) = w·x + b has ‖∇f‖ = ‖w‖ everywhere: the penalty is (‖w‖ − 1)².
    linear = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    w = numpy(linear.layers[-1].kernel)
    found["penalty"] = float(numpy(gradient_penalty(linear, keras.ops.convert_to_tensor(x[:4]))))
    found["penalty_expected"] = float((np.linalg.norm(w) - 1.0) ** 2)
    losses = wgangp.train_critic(x, 16)
    found["wgangp_losses_finite"] = bool(np.isfinite(losses).all())

    keras.utils.set_random_seed(4)
    modern = GAN(**gan_params(), spectral_norm=True, r1_weight=1.0, ema=0.99,
                 augment="translation,cutout", augment_probability=0.5, augment_target=0.6)
    modern.fit(x, batch_size=8, epochs=3, verbose=0)
    found["recipe_average_updates"] = float(numpy(modern.generator_average.updates))
    found["recipe_probability"] = float(numpy(modern.augmentation.probability))
    found["recipe_finite"] = not modern.non_finite_state()

    keras.utils.set_random_seed(8)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bfloat16 is emulated on most CPUs: slow, still right
        mixed = GAN(**gan_params(), mixed_precision="mixed_bfloat16")
    history = mixed.fit(x, batch_size=8, epochs=1, verbose=0)
    found["mixed_precision"] = [mixed.generator.layers[1].compute_dtype,
                                bool(np.isfinite(history.history["g_loss"]).all())]

    # float16 with loss scaling: the penalty's double backward and the book's critic step.
    keras.utils.set_random_seed(12)
    half = WGANGP(**wgangp_params(), mixed_precision="mixed_float16")
    history = half.fit(x, batch_size=16, epochs=1, verbose=0)
    losses = half.train_critic(x, 16)
    found["float16"] = [type(half.d_optimizer).__name__, half.critic.layers[1].compute_dtype,
                        bool(np.isfinite(history.history["d_loss"]).all() and np.isfinite(losses).all()),
                        int(numpy(half.d_optimizer.iterations))]

    # The subpixel form of UpSampling2D + Conv2D in keras.ops: the same values and input gradient.
    from models.core import backends
    from models.ops import subpixel

    keras.utils.set_random_seed(9)
    small = keras.ops.convert_to_tensor(np.random.default_rng(9).normal(size=(2, 6, 6, 3)).astype("float32"))
    plain = keras.layers.Conv2D(4, 5, padding="same", activation="relu")
    fast = subpixel.Conv2D(4, 5, padding="same", activation="relu")
    upsample = keras.layers.UpSampling2D()
    plain.build((None, 12, 12, 3))
    fast.build((None, 12, 12, 3))
    fast.set_weights(plain.get_weights())
    outputs, gradients = [], []
    for layer in (plain, fast):
        out, grad = backends.input_gradient(lambda x, layer=layer: (layer(upsample(x)), None), small)
        outputs.append(numpy(layer(upsample(small))))
        gradients.append(numpy(grad))
    found["subpixel_form"] = fast.conv_form
    found["subpixel_max_difference"] = [float(np.abs(outputs[0] - outputs[1]).max()),
                                        float(np.abs(gradients[0] - gradients[1]).max())]
    found["generator_uses_subpixel"] = any(
        type(layer).__module__ == "models.ops.subpixel" for layer in gan.generator.layers)

    found.update(measured_forms())
    if keras.backend.backend() == "jax":
        found["handwritten_difference"] = handwritten_difference()

    found.update(round_three_parts(x))

    keras.utils.set_random_seed(5)
    cgan = CGAN(**gan_params(), num_classes=3)
    cgan.fit(x, np.arange(32) % 3, batch_size=8, epochs=1, verbose=0)
    found["cgan_generate"] = list(cgan.generate([0, 1, 2]).shape)

    keras.utils.set_random_seed(6)
    infogan = InfoGAN(**gan_params(), categorical_dim=3, continuous_dim=1)
    infogan.fit(x, batch_size=8, epochs=1, verbose=0)
    found["infogan_d_losses"] = len(infogan.train_discriminator(x, 8))
    return found


def round_three_parts(x):
    """Lazy R1 (a due step is R1 at ``every`` times the weight, a step between is none), LeCam's
    anchors moving, and minibatch std training, on this backend."""
    from models.GAN import GAN

    def one_step(start, steps=1, **options):
        keras.utils.set_random_seed(0)
        gan = GAN(**gan_params(), **options)
        gan.g_optimizer.iterations.assign(start)
        gan.d_optimizer.iterations.assign(start)
        gan.fit(gan.training_batches(x, 8), epochs=1, steps_per_epoch=steps, verbose=0)
        return gan

    def same(a, b):
        return all(np.allclose(p, q, rtol=1e-5, atol=1e-7)
                   for p, q in zip(snapshot(a.discriminator), snapshot(b.discriminator)))

    lazy_due = one_step(0, r1_weight=1.0, r1_every=2)
    lecam = one_step(0, steps=3, lecam_weight=1.0, minibatch_std=True)  # a fresh net may score 0.5
    anchors = lecam.penalties[-1].anchors
    return {"lazy_due_is_double": same(lazy_due, one_step(0, r1_weight=2.0)),
            "lazy_between_is_none": same(one_step(1, r1_weight=1.0, r1_every=2), one_step(1)),
            "lazy_due_acts": not same(lazy_due, one_step(0)),
            "lecam_anchors_moved": float(anchors.real) != 0.0 and float(anchors.fake) != 0.0,
            "minibatch_std_finite": bool(np.isfinite(np.asarray(lecam.d_losses, dtype=float)).all())}


def measured_forms():
    """The subpixel layer's forms timed on this backend: built directly, and built inside another
    layer's symbolic call (inside ``jax.eval_shape`` on JAX); cached under this backend's name."""
    import os
    import tempfile

    from models.ops import conv_forms, subpixel

    class Wrapper(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = subpixel.Conv2D(4, 3, padding="same")

        def call(self, x):
            return self.inner(x)

    os.environ["KERAS_HOME"] = tempfile.mkdtemp()
    decided = len(conv_forms.decisions())
    with conv_forms.forced("measure"):
        subpixel.Conv2D(4, 3, padding="same").build((None, 8, 8, 2))
        keras.Sequential([keras.Input((10, 10, 2)), Wrapper()])
        # One output channel in float16: PyTorch 2.13's CPU convolution has no weight gradient
        # for it in Keras' own form; a form that cannot run is not chosen.
        subpixel.Conv2D(1, 3, padding="same", dtype="mixed_float16").build((None, 8, 8, 2))
    decisions = conv_forms.decisions()[decided:]
    with open(conv_forms.cache_path()) as f:
        keys = list(json.load(f)["entries"])
    return {"measured_forms": [[d["form"], d["ms"], d["source"]] for d in decisions],
            "form_cache_keys": keys}


def handwritten_difference():
    """The largest difference between the state after one step of the GAN's own jitted step and
    after the hand-written JAX step (utils/commands/handwritten_jax_step.py), from the same state."""
    import jax

    from models.GAN import GAN
    from utils.commands.handwritten_jax_step import handwritten_step, initial_state, trainer_state

    keras.utils.set_random_seed(10)
    gan = GAN(**gan_params(generator_batch_norm_momentum=0.9, discriminator_dropout_rate=0.3))
    real = jax.numpy.asarray(images(8))
    state = trainer_state(gan)
    written = initial_state(gan)
    _, state = jax.jit(gan.train_step)(state, real)
    losses, written = jax.jit(handwritten_step(gan))(written, real)
    for group, values in zip((gan.trainable_variables, gan.non_trainable_variables, gan.optimizer.variables),
                             state):
        for variable, value in zip(group, values):
            variable.assign(value)
    ours = initial_state(gan)
    return max(float(np.abs(np.asarray(a, "float64") - np.asarray(b, "float64")).max())
               for name in ours for a, b in zip(*(
                   (x[name],) if name == "seed" else x[name] for x in (ours, written))))


def resume(folder, epochs):
    from models.GAN import GAN
    from utils.runs.saved import load_model

    model = load_model(GAN, folder)
    found = {"backend": keras.backend.backend(), "epoch_loaded": int(model.epoch),
             "d_losses_loaded": len(model.d_losses),
             "iterations_loaded": int(numpy(model.d_optimizer.iterations))}
    np.save(Path(folder) / f"grid_{keras.backend.backend()}.npy", model.sample_batch()[0])
    model.train(images(64), batch_size=8, epochs=epochs, run_folder=str(folder), print_every_n_batches=epochs,
                tensorboard=False)
    found["epoch_after"] = int(model.epoch)
    found["iterations_after"] = int(numpy(model.d_optimizer.iterations))
    return found


def data_parallel():
    import jax

    from models.GAN import GAN

    devices = jax.devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    keras.utils.set_random_seed(7)
    gan = GAN(**gan_params(), ema=0.99)
    before = snapshot(gan.generator)
    history = gan.fit(images(32), batch_size=8, epochs=2, verbose=0)
    kernel = gan.generator.trainable_weights[0].value
    return {"devices": len(devices), "finite": bool(np.isfinite(history.history["d_loss"]).all()),
            "moved": not unchanged(before, snapshot(gan.generator)),
            "replicated_over": len(kernel.sharding.device_set),
            "average_updates": float(numpy(gan.generator_average.updates))}


def everything(folder, epochs):
    """All of this backend's checks in one process (one start of Keras and the backend): the
    contracts, the run in ``folder`` continued for ``epochs``, and on JAX, last (it sets a global
    distribution), data-parallel training."""
    found = {"contracts": contracts(), "resume": resume(folder, epochs)}
    if keras.backend.backend() == "jax":
        found["data-parallel"] = data_parallel()
    return found


if __name__ == "__main__":
    folder, epochs, out = sys.argv[1:]
    Path(out).write_text(json.dumps(everything(folder, int(epochs))))
