"""Backend adapters: one per LSTM implementation, behind the interface in :mod:`adapters.base`."""

from .base import Adapter, Availability, BaseAdapter, RunConfig, RunRequest, UnsupportedCase
from .registry import BUILTIN_ADAPTERS, ENTRY_POINT_GROUP, known_adapters, load_adapter

__all__ = [
    "Adapter",
    "Availability",
    "BUILTIN_ADAPTERS",
    "BaseAdapter",
    "ENTRY_POINT_GROUP",
    "RunConfig",
    "RunRequest",
    "UnsupportedCase",
    "known_adapters",
    "load_adapter",
]
