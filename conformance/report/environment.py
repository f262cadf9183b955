"""What a run ran on: Python, package versions, CPU and GPU, read without importing frameworks."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version

PACKAGES = (
    "numpy", "torch", "paddlepaddle", "paddlepaddle-gpu", "paddle2onnx", "onnx", "onnxruntime", "onnxscript", "keras", "jax",
    "jaxlib", "flax", "tensorflow-cpu", "tensorflow", "mindspore", "pytest", "pytest-xdist", "hypothesis", "lstm-conformance",
)


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    """Names of the NVIDIA GPUs nvidia-smi lists (empty without one)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=20, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listing.stdout.splitlines() if line.strip()]


def describe_environment(declared: list[str] | tuple[str, ...] = ()) -> dict:
    """Python, platform, package versions (the frameworks of the built-in backends and the
    ``declared`` ones, those plug-ins list: see :mod:`adapters.packages`), CPU model and
    count, GPUs."""
    names = dict.fromkeys((*PACKAGES, *declared))
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: package_version(name) for name in names if package_version(name) is not None},
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": gpu_names(),
    }
