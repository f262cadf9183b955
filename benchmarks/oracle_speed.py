"""Time the float64 oracle against torch.nn.LSTM in float64 on the CPU, in one process.

Prints, per shape, the best-of-N wall time of each and the ratio oracle / torch.
Run: ``python benchmarks/oracle_speed.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from reference import LSTMSpec, init_params, lstm_forward

SHAPES = ((200, 64, 256, 256), (1000, 8, 64, 64))  # (T, B, I, H)


def best_time(run: Callable[[], object], repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls after one warm-up call, in seconds."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def torch_lstm_float64(spec: LSTMSpec, params, x: np.ndarray) -> Callable[[], object]:
    """A no-grad float64 torch.nn.LSTM forward on ``x`` with the oracle's parameters."""
    import torch

    from adapters.torch_lstm import canonical_to_torch

    module = torch.nn.LSTM(spec.input_size, spec.hidden_size, dtype=torch.float64)
    module.load_state_dict({name: torch.from_numpy(value) for name, value in canonical_to_torch(spec, params).items()})
    tensor = torch.from_numpy(x)

    def run() -> object:
        with torch.no_grad():
            return module(tensor)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'T':>5} {'B':>4} {'I':>4} {'H':>4} {'oracle s':>10} {'torch s':>10} {'ratio':>7}")
    for steps, batch, input_size, hidden in SHAPES:
        spec = LSTMSpec(input_size, hidden)
        params = init_params(spec, seed=0)
        x = np.random.default_rng(0).standard_normal((steps, batch, input_size))
        oracle = best_time(lambda: lstm_forward(spec, params, x), args.repeats)
        torch_time = best_time(torch_lstm_float64(spec, params, x), args.repeats)
        print(f"{steps:>5} {batch:>4} {input_size:>4} {hidden:>4} {oracle:>10.4f} {torch_time:>10.4f} {oracle / torch_time:>7.2f}")


if __name__ == "__main__":
    main()
