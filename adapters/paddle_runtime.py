"""What both Paddle adapters need from Paddle: import, dtype scope, device and reasons."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .base import RunConfig


def import_paddle():
    """Import paddle (ImportError when absent) and return the module."""
    import paddle

    return paddle


@contextmanager
def default_dtype(dtype: str) -> Iterator[None]:
    """Build Paddle layers and parameters in ``dtype``, restoring the previous default after."""
    paddle = import_paddle()
    previous = paddle.get_default_dtype()
    paddle.set_default_dtype(dtype)
    try:
        yield
    finally:
        paddle.set_default_dtype(previous)


def use_device(device: str) -> None:
    """Make ``device`` ("cpu" or "cuda") Paddle's current device."""
    import_paddle().set_device("gpu" if device == "cuda" else "cpu")


def device_reasons(config: RunConfig) -> list[str]:
    """Why Paddle cannot run on ``config.device`` here (empty when it can)."""
    if config.device != "cuda":
        return []
    paddle = import_paddle()
    if not paddle.device.is_compiled_with_cuda():
        return ["this paddle build has no CUDA support"]
    if paddle.device.cuda.device_count() == 0:
        return ["no CUDA device is available to paddle"]
    return []
