"""gdl-bench's arithmetic and its reference loop (the timings themselves belong to the command)."""

import numpy as np

from models.GAN import GAN
from models.WGAN import WGAN
from models.WGANGP import WGANGP
from tiny import critic_params, gan_params, images
from utils import benchmark


def test_forward_macs_by_hand():
    gan = GAN(**gan_params())
    # D: conv 8x8x1 -> 4x4x4 (k3): 4*4*9*1*4; conv -> 2x2x8: 2*2*9*4*8; dense 32 -> 1.
    assert benchmark.forward_macs(gan.discriminator) == 576 + 1152 + 32
    # G: dense 6 -> 32; upsample, conv 4x4: 4*4*9*8*8; upsample, conv 8x8 -> 1: 8*8*9*8*1.
    assert benchmark.forward_macs(gan.generator) == 192 + 9216 + 4608


def test_conv_transpose_counts_per_input_pixel():
    wgangp = WGANGP(**{k: v for k, v in critic_params(generator_upsample=[1, 1],
                                                      generator_conv_strides=[2, 2]).items()
                       if k not in ("optimiser", "z_dim")},
                    optimiser="adam", grad_weight=10, z_dim=6, batch_size=4)
    # Dense 6 -> 32; transpose 2x2x8 -> 4x4x8: 2*2*9*8*8; transpose 4x4x8 -> 8x8x1: 4*4*9*8*1.
    assert benchmark.forward_macs(wgangp.generator) == 192 + 2304 + 1152


def test_step_flops_counts_the_penalty():
    gan = GAN(**gan_params())
    g, d = 192 + 9216 + 4608, 1760
    assert benchmark.step_flops(gan, 4, 1) == 2 * 4 * ((g + 6 * d) + (3 * g + 2 * d))
    params = {k: v for k, v in critic_params().items() if k not in ("optimiser", "z_dim")}
    wgangp = WGANGP(**params, optimiser="adam", grad_weight=10, z_dim=6, batch_size=4)
    wgan = WGAN(**critic_params())
    assert benchmark.step_flops(wgangp, 4, 5) - benchmark.step_flops(wgan, 4, 5) == 2 * 4 * 5 * 6 * d


def test_the_books_loop_runs_and_clips_like_the_book():
    wgan = WGAN(**critic_params())
    benchmark.book_loop(wgan, images(), 8, n_critic=2, clip_threshold=0.01)()
    weights = np.concatenate([np.ravel(w) for w in wgan.critic.get_weights()])
    assert np.abs(weights).max() <= 0.01 + 1e-9
    gan = GAN(**gan_params())
    before = int(gan.g_optimizer.iterations)
    benchmark.book_loop(gan, images(), 8, n_critic=1, clip_threshold=None)()
    assert int(gan.g_optimizer.iterations) == before + 1


def test_matmul_rate_is_positive():
    assert benchmark.matmul_gflops(n=256, repeats=2) > 0
