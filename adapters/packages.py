"""The distributions an adapter's framework is made of, as the adapter declares them.

An adapter lists them in an optional ``packages`` attribute (``("dm-haiku", "jax",
"jaxlib")``); the report's environment table gives each one's installed version, so a
plug-in's framework is recorded as the built-ins' are.
"""

from __future__ import annotations


def declared_packages(adapter: object) -> tuple[str, ...]:
    """The adapter's ``packages`` (empty when it lists none); TypeError naming anything else."""
    packages = getattr(adapter, "packages", ())
    if isinstance(packages, str) or not all(isinstance(name, str) and name for name in packages):
        raise TypeError(f"packages: expected a tuple of distribution names, got {packages!r}")
    return tuple(packages)
