"""How much of the case space a run covers: its ``--depth``.

``full`` is the suite the committed report and CI run: each backend's forward covering
design holds every 3-way combination of factor values twice, its gradient design every
2-way combination three times, and every project test runs. ``quick`` is the README's
test command: every check on every backend (the threads check on one large case each),
over designs that hold every 2-way combination of the forward factors once and every
value of each factor in the gradients, fewer copies at the large shapes (a float64 one
and a float32 gradient case among them) and in reduced precision (one gradient case per
dtype), the deep and long
copies, the first three invariant cases each backend runs (one for a backend with costly
runs), a smaller sweep;
checks and project tests that each cost seconds of process starts, whole suite runs,
exports, standalone reproducers or primitive probes (marked ``full_depth``) run at
``full`` only. A backend with costly runs (an
export or a compilation per run) gets the smaller designs of either depth.
"""

from __future__ import annotations

from dataclasses import dataclass

# The marker of a test that runs at --depth full only, and what pytest says about it.
FULL_DEPTH_MARKER = "full_depth"
FULL_DEPTH_DESCRIPTION = "runs at --depth full only (seconds of process starts, whole suite runs or exports)"


@dataclass(frozen=True)
class Depth:
    """The sizes of one depth; (strength, multiplicity) pairs are covering designs'
    (:func:`conformance.cases.covering.covering_rows`)."""

    name: str
    forward: tuple[int, int]
    gradients: tuple[int, int]
    # Either design, for a backend with costly runs.
    costly: tuple[int, int]
    costly_gradients: tuple[int, int]
    # Large shapes each backend runs one case at (a backend with costly runs: the first only).
    large_shapes: int
    # The dtypes of the gradient cases at a large shape (one each, where the backend has them),
    # and whether those and the float64 forward copy are made the cheapest (one forward
    # layer, full-length sequences).
    large_gradient_dtypes: tuple[str, ...]
    cheapest_large_copies: bool
    # float32 cases copied to each reduced-precision dtype a backend offers (costly: half, at
    # least one), and float32 gradient cases copied so (where it has gradients there).
    reduced_cases: int
    reduced_gradient_cases: int
    # Float32 copies in the edge regime, each with another activation set (see conformance.run.backends.edge_copies).
    edge_cases: int
    # Cases copied to CUDA, where a backend has it.
    cuda_cases: int
    # Of the distinct cases a backend runs for those a check lists (conformance.cases.table.INVARIANT_CASES),
    # the first this many; the second for a backend with costly runs.
    listed_cases: int
    costly_listed_cases: int
    # Hypothesis examples per backend in the sweep, unless --sweep-examples says otherwise.
    sweep_examples: int
    # Whether tests marked full_depth run.
    runs_full_depth_tests: bool


DEPTHS = {
    "full": Depth(
        "full",
        forward=(3, 2),
        gradients=(2, 3),
        costly=(2, 1),
        costly_gradients=(2, 1),
        large_shapes=3,
        large_gradient_dtypes=("f32", "f64"),
        cheapest_large_copies=False,
        reduced_cases=6,
        reduced_gradient_cases=6,
        edge_cases=3,
        cuda_cases=8,
        listed_cases=8,
        costly_listed_cases=8,
        sweep_examples=40,
        runs_full_depth_tests=True,
    ),
    "quick": Depth(
        "quick",
        forward=(2, 1),
        gradients=(1, 1),
        costly=(1, 1),
        costly_gradients=(1, 1),
        large_shapes=1,
        large_gradient_dtypes=("f32",),
        cheapest_large_copies=True,
        reduced_cases=2,
        reduced_gradient_cases=1,
        edge_cases=1,
        cuda_cases=2,
        listed_cases=3,
        costly_listed_cases=1,
        sweep_examples=10,
        runs_full_depth_tests=False,
    ),
}
DEFAULT_DEPTH = "full"
