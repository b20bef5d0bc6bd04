"""The "GAN hacks" as options: what the discriminator is shown and what it is asked to say.

Three of the well-known tricks for steadier GAN training change only the
discriminator's side of the game, so they can be switched on without touching
the book's networks or losses.  All are off by default, and then nothing at all
changes (the targets are the book's 0/1 and the images pass through untouched):

* ``label_smoothing`` (one-sided, Salimans et al. 2016): targets of 1 become
  ``1 − s`` in the discriminator's updates, so it is never pushed to absolute
  certainty about real images; fakes keep 0, and the generator's own target
  stays 1;
* ``label_flip`` (noisy labels): each of the discriminator's targets is swapped
  (real ↔ fake) with probability ``p``, before smoothing;
* ``instance_noise`` (Sønderby et al. 2016): Gaussian noise of this standard
  deviation is added to every image the discriminator or critic sees, real and
  generated, in its own updates and inside the generator's, so that the two
  distributions overlap and its gradients stay informative.

Label options only mean something for a discriminator trained with binary
cross-entropy on 0/1 targets (the objective says: ``binary_targets``); a
Wasserstein or hinge critic has no targets to smooth, and asking for it is an
error.  Instance noise applies to every model.
"""

from dataclasses import asdict, dataclass

from keras import ops

from models.core.randomness import Randomness

NAMES = ("label_smoothing", "label_flip", "instance_noise")


@dataclass(frozen=True)
class Hacks:
    label_smoothing: float = 0.0
    label_flip: float = 0.0
    instance_noise: float = 0.0

    def check(self):
        """Refuse values that cannot work, naming the argument and its range (whether the label
        options apply is the objective's to say: ``Objective.check_hacks``)."""
        for name, value, upper in (("label_smoothing", self.label_smoothing, 0.5),
                                   ("label_flip", self.label_flip, 0.5)):
            if not isinstance(value, (int, float)) or not 0.0 <= value < upper:
                raise ValueError(f"{name} must be a number in [0, {upper}), got {value!r}.")
        if not isinstance(self.instance_noise, (int, float)) or self.instance_noise < 0:
            raise ValueError(f"instance_noise is a standard deviation, ≥ 0; got {self.instance_noise!r}.")
        return self

    def as_dict(self):
        return asdict(self)

    @property
    def active(self):
        return any(self.as_dict().values())

    def targets(self, label, n, random=None):
        """The discriminator's (n, 1) targets for a batch whose true label is ``label`` (0 or 1),
        label flips drawn from ``random`` (the model's ``models.core.randomness.Randomness``)."""
        random = random or Randomness.for_backend()
        targets = ops.full((n, 1), label, dtype="float32")
        if self.label_flip:
            flip = random.uniform((n, 1)) < self.label_flip
            targets = ops.where(flip, 1.0 - targets, targets)
        if self.label_smoothing:
            targets = ops.where(targets > 0.5, 1.0 - self.label_smoothing, targets)
        return targets

    def noisy(self, images, random=None):
        """``images`` plus the instance noise drawn from ``random`` (the images themselves when it
        is off)."""
        if not self.instance_noise:
            return images
        random = random or Randomness.for_backend()
        return images + ops.cast(self.instance_noise, images.dtype) * random.normal(
            ops.shape(images), dtype=images.dtype)
