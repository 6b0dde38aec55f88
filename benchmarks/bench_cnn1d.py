"""Training time and accuracy of the MNIST-1D CNN: derivax's derived trainer against the paper's
PyTorch model, on the same machine and the same locally generated MNIST-1D data.

The PyTorch side is the MNIST-1D paper's ConvBase and training loop: Conv1d 1->25 k5 s2 p1, Conv1d
25->25 k3 s2 p1 twice, relu, a linear layer on the 125 flattened features; Adam lr 1e-2, batch 100,
8000 steps over the training set in order. derivax trains ``cnn1d`` with the same settings and the
same initialisation scheme (200 epochs of 40 batches, in order). With ``--paired`` the PyTorch model
starts from the very parameters derivax starts from at each seed (kernels (k, c_in, c_out) turned to
(c_out, c_in, k), the dense weights' rows reordered from (length, channels) to PyTorch's (channels,
length) flattening), so the two trainings differ only in float rounding; without it the seeds differ in
meaning (JAX keys, torch.manual_seed) and the comparison is of the spread over seeds. PyTorch is optional
here and never a dependency: ``pip install torch==2.13.0`` (the CPU build).

    python benchmarks/bench_cnn1d.py [--seeds 0 1 2 3 4 5 6 7] [--paired] [--json]
"""
import argparse
import json
import statistics
import time

import numpy as np


def derivax_run(data, seed):
    from compile import compile_trainer, fit
    from derive.network.examples import EXAMPLES
    trainer = compile_trainer(EXAMPLES["cnn1d"].net, "adam", 1e-2)
    t0 = time.perf_counter()
    hist = fit(trainer, data.x_train, data.y_train, 200, 100, seed, data.x_test, data.y_test, progress=False,
               shuffle=False)
    return time.perf_counter() - t0, hist.test_accuracy[-1]


def derivax_initial(seed):
    """The parameters derivax's fit starts from at ``seed`` (its own split of the key)."""
    import jax
    from compile import compile_trainer
    from derive.network.examples import EXAMPLES
    trainer = compile_trainer(EXAMPLES["cnn1d"].net, "adam", 1e-2)
    k_init, _ = jax.random.split(jax.random.key(seed))
    return {k: np.asarray(v) for k, v in trainer.init_params(k_init).items()}


def load_into(model, params):
    """derivax's cnn1d parameters into the PyTorch ConvBase."""
    import torch
    weights = sorted((k for k in params if k.startswith("W")), key=lambda k: int(k[1:]))
    biases = sorted((k for k in params if k.startswith("b")), key=lambda k: int(k[1:]))
    dense = params[weights[3]]                       # (125, 10): row = position * 25 + channel
    length, channels = 5, 25
    order = [pos * channels + ch for ch in range(channels) for pos in range(length)]   # PyTorch's row ch * 5 + pos
    with torch.no_grad():
        for conv, w, b in zip((model.conv1, model.conv2, model.conv3), weights[:3], biases[:3]):
            conv.weight.copy_(torch.tensor(params[w].transpose(2, 1, 0)))
            conv.bias.copy_(torch.tensor(params[b].reshape(-1)))
        model.linear.weight.copy_(torch.tensor(dense[order].T))
        model.linear.bias.copy_(torch.tensor(params[biases[3]].reshape(-1)))


def torch_run(data, seed, steps=8000, batch=100, paired=False):
    import torch
    import torch.nn as nn
    torch.manual_seed(seed)

    class ConvBase(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(1, 25, 5, stride=2, padding=1)
            self.conv2 = nn.Conv1d(25, 25, 3, stride=2, padding=1)
            self.conv3 = nn.Conv1d(25, 25, 3, stride=2, padding=1)
            self.linear = nn.Linear(125, 10)

        def forward(self, x):
            x = x.view(-1, 1, x.shape[-1])
            h = self.conv3(self.conv2(self.conv1(x).relu()).relu()).relu()
            return self.linear(h.view(h.shape[0], -1))

    from mnist1d_torch import train
    model = ConvBase()
    if paired:
        load_into(model, derivax_initial(seed))
    return train(model, data, steps, batch)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5, 6, 7])
    ap.add_argument("--paired", action="store_true", help="start PyTorch from derivax's initial parameters")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from compile.train.data import load
    data = load("cnn1d", n_inputs=(40, 1), n_outputs=10)
    try:
        import torch
        torch.set_num_threads(max(1, torch.get_num_threads()))
    except ImportError:
        torch = None
    rows = {"derivax": [], "pytorch": []}
    for seed in args.seeds:  # interleaved: one of each per seed, alternating which goes first
        peer = (lambda d, s: torch_run(d, s, paired=True)) if args.paired else torch_run
        sides = [("derivax", derivax_run), ("pytorch", peer)] if torch else [("derivax", derivax_run)]
        for name, fn in (sides if seed % 2 == 0 else sides[::-1]):
            rows[name].append(fn(data, seed))
            print(f"{name} seed {seed}: {rows[name][-1][0]:.1f} s, test accuracy {rows[name][-1][1]:.2%}", flush=True)
    out = {}
    for name, rs in rows.items():
        if rs:
            out[name] = {"median_s": statistics.median(r[0] for r in rs),
                         "accuracies": [round(r[1], 4) for r in rs],
                         "median_accuracy": statistics.median(r[1] for r in rs)}
    if rows["pytorch"] and args.paired:
        out["paired_accuracy_differences"] = [round(d[1] - p[1], 4) for p, d in zip(rows["pytorch"], rows["derivax"])]
    if rows["pytorch"]:
        out["time_ratio_pytorch_over_derivax"] = statistics.median(
            p[0] / d[0] for p, d in zip(rows["pytorch"], rows["derivax"]))
    print(json.dumps(out) if args.json else out)


if __name__ == "__main__":
    main()
