"""Time the float64 oracle against torch.nn.LSTM in float64 on the CPU, in one process.

Prints, per shape and pass, the best-of-N wall time of each and the ratio oracle / torch
(then, per shape, the oracle's forward and backward over their own matrix-product floors):
``forward`` is the oracle's forward against a no-grad torch forward; ``backward`` is
:func:`reference.lstm_backward` (which runs its own forward) against a torch autograd
forward and ``outputs.backward(grad)`` with ``x.requires_grad``; ``gemms`` is only the
matrix products the oracle's forward cannot avoid (the input projection and one
recurrent product per step, through NumPy's BLAS, made as the oracle makes them) against
the whole torch forward: the floor under the oracle's forward on this machine;
``bgemms`` is the same for the backward (:func:`backward_gemms`) against torch's autograd
forward and backward.
Run: ``python benchmarks/oracle_speed.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from reference import LSTMSpec, init_params, lstm_backward, lstm_forward
from reference.forward import PROJECTION_ROWS

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


def torch_module(spec: LSTMSpec, params):
    """A float64 torch.nn.LSTM holding the oracle's parameters."""
    import torch

    from adapters.layouts import to_backend
    from adapters.shared_layouts import TORCH_LAYOUT

    module = torch.nn.LSTM(spec.input_size, spec.hidden_size, dtype=torch.float64)
    module.load_state_dict({name: torch.from_numpy(value) for name, value in to_backend(TORCH_LAYOUT, spec, params).items()})
    return module


def torch_lstm_float64(spec: LSTMSpec, params, x: np.ndarray) -> Callable[[], object]:
    """A no-grad float64 torch.nn.LSTM forward on ``x`` with the oracle's parameters."""
    import torch

    module = torch_module(spec, params)
    tensor = torch.from_numpy(x)

    def run() -> object:
        with torch.no_grad():
            return module(tensor)

    return run


def torch_lstm_float64_backward(spec: LSTMSpec, params, x: np.ndarray, grad_outputs: np.ndarray) -> Callable[[], object]:
    """A float64 torch.nn.LSTM autograd forward and backward of ``sum(outputs * grad_outputs)``
    with respect to x and every parameter."""
    import torch

    module = torch_module(spec, params)
    tensor = torch.from_numpy(x).requires_grad_()
    grad = torch.from_numpy(grad_outputs)

    def run() -> object:
        module.zero_grad(set_to_none=True)
        tensor.grad = None
        outputs, _ = module(tensor)
        outputs.backward(grad)
        return tensor.grad

    return run


def forward_gemms(spec: LSTMSpec, params, x: np.ndarray) -> Callable[[], object]:
    """The oracle forward's matrix products alone, made exactly as it makes them: the input
    projection [rows, I] x [I, 4H] per chunk of PROJECTION_ROWS rows into one reused buffer,
    then T times [B, H] x [H, 4H], both by contiguous transposes of the weights."""
    cell = params[0]
    steps, batch, _ = x.shape
    chunk = max(1, PROJECTION_ROWS // batch)
    w_ih_t, w_hh_t = np.ascontiguousarray(cell.w_ih.T), np.ascontiguousarray(cell.w_hh.T)
    projected = np.empty((min(chunk, steps) * batch, 4 * spec.hidden_size))
    state = np.zeros((batch, spec.hidden_size))
    product = np.empty((batch, 4 * spec.hidden_size))

    def run() -> object:
        for start in range(0, steps, chunk):
            rows = min(chunk, steps - start) * batch
            np.matmul(x[start : start + chunk].reshape(rows, -1), w_ih_t, out=projected[:rows])
        for _ in range(steps):
            np.matmul(state, w_hh_t, out=product)
        return product

    return run


def backward_gemms(spec: LSTMSpec, params, x: np.ndarray) -> Callable[[], object]:
    """The oracle backward's matrix products alone, made exactly as it makes them: the
    forward's (:func:`forward_gemms`, which it reruns), then T times [B, 4H] x [4H, H] for
    the previous state's gradient, and from all steps at once dz^T x (x, h_prev, h0) for the
    weight gradients and dz x w_ih for the input's: six products of one size."""
    cell = params[0]
    steps, batch, input_size = x.shape
    hidden = spec.hidden_size
    forward = forward_gemms(spec, params, x)
    grad_gates = np.ones((steps, batch, 4, hidden))
    dz = grad_gates.reshape(steps * batch, 4 * hidden)
    states, h0 = np.zeros((steps, batch, hidden)), np.zeros((batch, hidden))
    dh = np.empty((batch, hidden))

    def run() -> object:
        forward()
        for t in range(steps - 1, -1, -1):
            np.matmul(grad_gates[t].reshape(batch, 4 * hidden), cell.w_hh, out=dh)
        dz[batch:].T @ states[:-1].reshape((steps - 1) * batch, hidden) + dz[:batch].T @ h0
        dz.T @ x.reshape(steps * batch, input_size)
        return dz @ cell.w_ih

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'pass':<8} {'T':>5} {'B':>4} {'I':>4} {'H':>4} {'oracle s':>10} {'torch s':>10} {'ratio':>7}")
    for steps, batch, input_size, hidden in SHAPES:
        spec = LSTMSpec(input_size, hidden)
        params = init_params(spec, seed=0)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((steps, batch, input_size))
        grad_outputs = rng.standard_normal((steps, batch, hidden))
        runs = {
            "forward": (lambda: lstm_forward(spec, params, x), torch_lstm_float64(spec, params, x)),
            "gemms": (forward_gemms(spec, params, x), torch_lstm_float64(spec, params, x)),
            "backward": (
                lambda: lstm_backward(spec, params, x, grad_outputs),
                torch_lstm_float64_backward(spec, params, x, grad_outputs),
            ),
            "bgemms": (backward_gemms(spec, params, x), torch_lstm_float64_backward(spec, params, x, grad_outputs)),
        }
        oracle_times = {}
        for name, (oracle_run, torch_run) in runs.items():
            oracle_times[name] = oracle = best_time(oracle_run, args.repeats)
            torch_time = best_time(torch_run, args.repeats)
            print(
                f"{name:<8} {steps:>5} {batch:>4} {input_size:>4} {hidden:>4} "
                f"{oracle:>10.4f} {torch_time:>10.4f} {oracle / torch_time:>7.2f}"
            )
        print(f"forward / gemms floor at T={steps} B={batch}: {oracle_times['forward'] / oracle_times['gemms']:.2f}")
        print(f"backward / bgemms floor at T={steps} B={batch}: {oracle_times['backward'] / oracle_times['bgemms']:.2f}")


if __name__ == "__main__":
    main()
