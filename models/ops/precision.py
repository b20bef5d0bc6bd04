"""Which mixed-precision policy pays on this machine.

bfloat16 halves the bytes moved and, on CPUs that execute it natively (x86
``avx512_bf16`` or ``amx_bf16``, Arm's ``bf16``), doubles the arithmetic rate;
elsewhere TensorFlow emulates it and a step runs many times slower (the
figures are in docs/speed.md).  GPUs compute in float16 with loss scaling.  So ``mixed_precision=True`` picks
float16 on a GPU, bfloat16 on a CPU with the instructions, and otherwise stays
in float32 and says why, once.  A policy named explicitly is used as asked,
with a warning where it will be slow.
"""

import functools
import platform
import subprocess
import warnings

import keras

NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@functools.lru_cache(maxsize=None)
def cpu_flags():
    """The CPU's feature flags: /proc/cpuinfo's ``flags`` (x86) or ``Features`` (Arm) on Linux,
    ``sysctl`` on macOS; an empty set where neither says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            answer = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"],
                                    capture_output=True, text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return frozenset()
        return frozenset({"bf16"}) if answer == "1" else frozenset()
    return frozenset()


@functools.lru_cache(maxsize=None)
def cpu_model():
    """The CPU's model name, as lscpu shows it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_summary():
    """The model and the flags that decide speed here: vector width and bfloat16."""
    flags = cpu_flags()
    shown = sorted(f for f in flags if f.startswith(("avx", "amx")) or f in ("fma", "bf16", "asimd", "sve"))
    return f"{cpu_model()} ({' '.join(shown) or 'no vector flags reported'})"


def native_bfloat16():
    """Whether this CPU executes bfloat16 arithmetic in hardware."""
    return any(flag in cpu_flags() for flag in NATIVE_BFLOAT16_FLAGS)


def gpu_available():
    """Whether the backend Keras runs on sees a GPU."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


def gpu_name():
    """The first GPU's name as the backend Keras runs on reports it; None without a GPU."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        gpus = [device for device in jax.devices() if device.platform == "gpu"]
        return gpus[0].device_kind if gpus else None
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name") or gpus[0].name


_told = set()


def _tell_once(message):
    if message not in _told:
        _told.add(message)
        warnings.warn(message, stacklevel=3)


def resolve_precision(mixed_precision):
    """The Keras dtype policy for ``mixed_precision`` (None: float32).

    ``True``: 'mixed_float16' on a GPU, 'mixed_bfloat16' on a CPU with native
    bfloat16, else float32 with a one-time warning.  A policy name is taken as
    is; 'mixed_bfloat16' on a CPU without the instructions warns that it is slow.
    """
    if not mixed_precision:
        return None
    if isinstance(mixed_precision, str):
        if mixed_precision == "mixed_bfloat16" and not gpu_available() and not native_bfloat16():
            _tell_once(f"mixed_bfloat16 on {cpu_summary()}: this CPU has no bfloat16 instructions "
                       "(avx512_bf16, amx_bf16 or Arm bf16), so TensorFlow emulates them and training "
                       "runs about 11x slower than in float32.")
        return mixed_precision
    if gpu_available():
        return "mixed_float16"
    if native_bfloat16():
        return "mixed_bfloat16"
    _tell_once(f"mixed_precision=True: staying in float32 on {cpu_summary()}. It has no bfloat16 "
               "instructions (avx512_bf16, amx_bf16 or Arm bf16), where bfloat16 is emulated and about "
               "11x slower. Pass mixed_precision='mixed_bfloat16' to use it all the same.")
    return None
