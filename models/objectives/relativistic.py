"""The relativistic pairing loss (RpGAN; the loss of R3GAN, NeurIPS 2024), beyond the book.

The adversary scores each real image against a generated one and is trained to
rank the real above: ``mean(softplus(−(f(x_real) − f(x_fake))))``; the generator
ranks its images above the real ones: ``mean(softplus(−(f(x_fake) − f(x_real))))``.
Judging pairs rather than each image alone removes the minimax loss's mode
dropping in theory and in R3GAN's experiments (every mode of StackedMNIST); with
the zero-centred penalties R1 and R2 (``r1_weight``, ``r2_weight``) training
converges locally.  The loss reads the real and the generated scores together, so
the adversary's update is one step, and the generator's update scores a real batch
too (the adversary frozen).
"""

from keras import ops

from models.objectives.base import Objective


def _paired(first, second):
    """``second`` repeated to the length of ``first`` (CGAN's matching-aware fakes outnumber
    the reals: each real image is paired with every fake in its position)."""
    first, second = ops.cast(first, "float32"), ops.cast(second, "float32")
    repeats = ops.shape(first)[0] // ops.shape(second)[0]
    return first, ops.tile(second, (repeats, 1))


class Relativistic(Objective):
    name = "relativistic"
    summary = "the relativistic pairing loss of R3GAN (real and fake scored in pairs)"
    paired = True
    d_loss_names = ("d_loss",)
    g_loss_names = ("g_loss",)

    def adversary_loss(self, labels, scores):
        raise ValueError("loss='relativistic' scores a real and a generated batch together: train the "
                         "adversary with train(), fit() or train_discriminator(), not "
                         "discriminator.train_on_batch on one batch.")

    def adversary_losses(self, real=None, fake=None):
        fake_scores, real_scores = _paired(fake.scores, real.scores)
        return {"d_loss_pairs": ops.mean(ops.softplus(fake_scores - real_scores))}

    def generator_losses(self, labels, fake_scores, real_scores=None):
        if real_scores is None:
            raise ValueError("loss='relativistic' trains the generator against a real batch: use "
                             "train() or fit() (train_generator(batch_size) has no real images).")
        fake_scores, real_scores = _paired(fake_scores, real_scores)
        return {"g_loss": ops.mean(ops.softplus(real_scores - fake_scores))}
