"""Reading Paddle's ``.pdparams`` files without running code from them.

``paddle.save`` pickles a state dict, and ``paddle.load`` unpickles it with no restriction:
a crafted file runs whatever its pickle names (``os.system``, say) the moment it is opened.
This module reads the same files with an unpickler that admits only what a state dict of
arrays needs, and refuses anything else with the offending global named, before any of it
is called:

- NumPy's array and scalar reconstruction (``numpy.core``/``numpy._core`` ``multiarray._reconstruct``
  and ``scalar``, ``numpy.ndarray``, ``numpy.dtype``), under NumPy 1's and 2's module names;
- plain containers (``builtins.tuple``, ``list``, ``dict``, ``collections.OrderedDict``);
- ``_codecs.encode``, which pickle protocols 0 to 2 use for bytes, resolved to a function
  that encodes Latin-1 only (no other codec, such as a decompressor, is reachable).

It then undoes what ``paddle.save`` does to a dict: large arrays split into slices under
``UnpackBigParamInfor@@`` are joined, the ``StructuredToParameterName@@`` name table is
dropped, and Paddle 2.1's ``(name, ndarray)`` pairs become their arrays. Every value must be
a numeric array: object arrays (whose elements a pickle could fill with anything) are
refused. No Paddle is needed to read a file.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

# (module, name) globals a state dict's pickle may name.
ALLOWED_GLOBALS = frozenset(
    {
        *((module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray") for name in ("_reconstruct", "scalar")),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("builtins", "tuple"),
        ("builtins", "list"),
        ("builtins", "dict"),
        ("collections", "OrderedDict"),
    }
)
SPLIT_ARRAYS = "UnpackBigParamInfor@@"  # paddle.save's own spelling
NAME_TABLE = "StructuredToParameterName@@"
# Array kinds a weight can have: bool, signed and unsigned integers, floats, complex.
NUMERIC_KINDS = "biufc"


LATIN_1 = ("latin1", "latin-1", "iso-8859-1")


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle names a global outside :data:`ALLOWED_GLOBALS`."""


def latin_1_bytes(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as protocols 0 to 2 call it for bytes: Latin-1 only."""
    if not isinstance(text, str) or encoding not in LATIN_1:
        raise RefusedGlobal(f"_codecs.encode with the codec {encoding!r}")
    return text.encode("latin-1")


class StateDictUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` (and Latin-1 bytes) and has no
    persistent ids."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):
            return latin_1_bytes
        if (module, name) not in ALLOWED_GLOBALS:
            raise RefusedGlobal(f"{module}.{name}")
        return super().find_class(module, name)


def joined_slices(loaded: dict) -> dict:
    """``loaded`` with the arrays ``paddle.save`` split into slices joined again."""
    split = loaded.pop(SPLIT_ARRAYS, {})
    if not isinstance(split, dict):
        raise ValueError(f"{SPLIT_ARRAYS}: expected a dict of split arrays, got {type(split).__name__}")
    for name, info in split.items():
        slices = [loaded.pop(part) for part in info["slices"]]
        loaded[name] = np.concatenate(slices).reshape(info["OriginShape"])
    return loaded


def as_array(name: str, value: object) -> np.ndarray:
    """A state dict's value as a numeric array: an array, or Paddle 2.1's (name, array) pair."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        value = value[1]
    if not isinstance(value, (np.ndarray, np.generic)) or value.dtype.kind not in NUMERIC_KINDS:
        shown = f"an array of dtype {value.dtype}" if isinstance(value, (np.ndarray, np.generic)) else type(value).__name__
        raise ValueError(f"{name}: expected a numeric array, got {shown}")
    return np.asarray(value)


def read_file(path: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.pdparams`` file at ``path``, by name; ValueError naming the path
    and what is wrong for a file that is not a pickled state dict of numeric arrays (a global
    outside :data:`ALLOWED_GLOBALS` is refused before anything it names is called)."""
    try:
        loaded = StateDictUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except RefusedGlobal as error:
        raise ValueError(f"path: {str(path)!r} names the global {error}, which a Paddle state dict never holds; refused without running it") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as error:
        raise ValueError(f"path: expected a Paddle state dict (a pickle), got {str(path)!r}, which cannot be read as one ({type(error).__name__}: {error})") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"path: expected a Paddle state dict in {str(path)!r}, got {type(loaded).__name__}")
    loaded.pop(NAME_TABLE, None)
    try:
        return {str(name): as_array(str(name), value) for name, value in joined_slices(loaded).items()}
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"path: {str(path)!r} is not a state dict of arrays ({error})") from None
