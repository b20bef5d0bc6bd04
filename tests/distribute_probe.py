"""tf.distribute probe, run as a script by tests/models/core/test_distribute.py: a fit() step under
MirroredStrategy on two logical CPU devices against the same step on one, and the models that
train under it; prints its measurements as one JSON line.

The CPU is split into two logical devices, which must happen before TensorFlow starts: hence a
fresh interpreter.
"""

import json
import os
import sys

GLOBAL_BATCH = 16


def fixed_noise(z_critic, z_generator):
    """A stand-in for the model's ``latent_batch``: each replica's slice of two fixed latent batches.

    ``train_step`` asks for noise twice per replica, for the critic then the generator
    update; each replica is traced in a thread of its own, so the count is per thread.
    """
    import threading

    import tensorflow as tf

    local = threading.local()

    def noise(batch_size):
        calls = getattr(local, "calls", 0)
        local.calls = calls + 1
        source = tf.constant(z_critic if calls % 2 == 0 else z_generator)
        context = tf.distribute.get_replica_context()
        per_replica = GLOBAL_BATCH // context.num_replicas_in_sync
        start = context.replica_id_in_sync_group * per_replica
        return source[start: start + per_replica]

    return noise


def _worker():
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    # The project before tests/ (this script's folder, first on the path), whose models/ and utils/
    # hold tests and would hide the packages of the same names.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from models.GAN import GAN
    from models.WGAN import WGAN
    from models.WGANGP import WGANGP
    from tiny import critic_params, gan_params

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (GLOBAL_BATCH, 8, 8, 1)).astype("float32")
    # Batch norm is synchronised across replicas (global-batch statistics), so it is
    # compared too; dropout draws per-replica masks, so the networks here have none.
    cases = {
        "GAN": (GAN, gan_params(discriminator_batch_norm_momentum=0.8)),
        "WGAN": (WGAN, critic_params()),
    }
    report = {"replicas": strategy.num_replicas_in_sync}
    for name, (cls, params) in cases.items():
        keras.utils.set_random_seed(0)
        single = cls(**params)
        mirrored = cls(**params, strategy=strategy)
        mirrored.set_weights(single.get_weights())
        start = [np.array(w) for w in single.get_weights()]
        z_critic = rng.normal(size=(GLOBAL_BATCH, single.z_dim)).astype("float32")
        z_generator = rng.normal(size=(GLOBAL_BATCH, single.z_dim)).astype("float32")
        logs = []
        for model in (single, mirrored):
            model.latent_batch = fixed_noise(z_critic, z_generator)
            history = model.fit(real, batch_size=GLOBAL_BATCH, epochs=1, shuffle=False, verbose=0)
            logs.append(np.array([history.history[key][0] for key in (*model.d_loss_names, *model.g_loss_names)]))
        after_single, after_mirrored = single.get_weights(), mirrored.get_weights()
        report[name] = {
            "max_weight_change": max(float(np.abs(a - b).max()) for a, b in zip(after_single, start)),
            "max_weight_difference": max(
                float(np.abs(a - b).max()) for a, b in zip(after_single, after_mirrored)),
            "max_loss_difference": float(np.abs(logs[0] - logs[1]).max()),
            "book_history_recorded": mirrored.epoch == 1 and len(mirrored.d_losses) == 1,
        }
        if name == "WGAN":
            per_replica = [
                float(np.abs(component.numpy()).max())
                for w in mirrored.critic.trainable_weights for component in w.value.values
            ]
            report[name]["max_abs_critic_weight_any_replica"] = max(per_replica)

    with strategy.scope():  # the Keras way: built in the scope, no strategy argument
        scoped = GAN(**gan_params())
    scoped.fit(real, batch_size=GLOBAL_BATCH, epochs=1, verbose=0)
    report["built_in_scope"] = {
        "uses_the_strategy": scoped.distribute_strategy is strategy,
        "mirrored_weights": all(len(w.value.values) == 2 for w in scoped.generator.trainable_weights),
        "epoch": scoped.epoch,
    }

    params = {k: v for k, v in critic_params().items() if k not in ("optimiser", "z_dim")}
    wgangp = WGANGP(**params, optimiser="adam", grad_weight=10, z_dim=6, batch_size=GLOBAL_BATCH,
                    strategy=strategy)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        wgangp.train(rng.uniform(-1, 1, (64, 8, 8, 1)).astype("float32"), GLOBAL_BATCH, 2, folder,
                     print_every_n_batches=1, n_critic=2)
    agree = all(
        np.array_equal(w.value.values[0].numpy(), w.value.values[1].numpy())
        for w in wgangp.weights
    )
    report["WGANGP"] = {
        "finite": bool(np.isfinite(wgangp.d_losses).all() and np.isfinite(wgangp.g_losses).all()),
        "replicas_agree": agree,
        "epoch": wgangp.epoch,
    }
    recipe = GAN(**gan_params(), ema=0.9, augment="translation,cutout", augment_probability=0.5,
                 augment_target=0.6, spectral_norm=True, r1_weight=1.0, strategy=strategy)
    with tempfile.TemporaryDirectory() as folder:
        recipe.train(rng.uniform(-1, 1, (64, 8, 8, 1)).astype("float32"), GLOBAL_BATCH, 2, folder,
                     print_every_n_batches=1)
    report["recipe"] = {
        "finite": bool(np.isfinite(recipe.d_losses).all() and np.isfinite(recipe.g_losses).all()),
        "replicas_agree": all(
            np.array_equal(w.value.values[0].numpy(), w.value.values[-1].numpy())
            for w in recipe.weights if hasattr(w.value, "values")),
        "average_updates": float(recipe.generator_average.updates.numpy()),
        "probability_moved": float(recipe.augmentation.probability.numpy()) != 0.5,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    _worker()
