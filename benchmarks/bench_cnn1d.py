"""Training time and accuracy of the MNIST-1D CNN: derivax's derived trainer against the paper's
PyTorch model, on the same machine and the same locally generated MNIST-1D data.

The PyTorch side is the MNIST-1D paper's ConvBase and training loop: Conv1d 1->25 k5 s2 p1, Conv1d
25->25 k3 s2 p1 twice, relu, a linear layer on the 125 flattened features; Adam lr 1e-2, batch 100,
8000 steps over the training set in order. derivax trains ``cnn1d`` with the same settings and the
same initialisation scheme (200 epochs of 40 batches, in order). The seeds differ in meaning (JAX
keys, torch.manual_seed): the comparison is of the spread over seeds, not seed by seed. PyTorch is optional here and never a dependency:
``pip install torch==2.13.0`` (the CPU build).

    python benchmarks/bench_cnn1d.py [--seeds 0 1 2 3 4 5 6 7] [--json]
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


def torch_run(data, seed, steps=8000, batch=100):
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
    return train(ConvBase(), data, steps, batch)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5, 6, 7])
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
        sides = [("derivax", derivax_run), ("pytorch", torch_run)] if torch else [("derivax", derivax_run)]
        for name, fn in (sides if seed % 2 == 0 else sides[::-1]):
            rows[name].append(fn(data, seed))
            print(f"{name} seed {seed}: {rows[name][-1][0]:.1f} s, test accuracy {rows[name][-1][1]:.2%}", flush=True)
    out = {}
    for name, rs in rows.items():
        if rs:
            out[name] = {"median_s": statistics.median(r[0] for r in rs),
                         "accuracies": [round(r[1], 4) for r in rs],
                         "median_accuracy": statistics.median(r[1] for r in rs)}
    if rows["pytorch"]:
        out["time_ratio_pytorch_over_derivax"] = statistics.median(
            p[0] / d[0] for p, d in zip(rows["pytorch"], rows["derivax"]))
    print(json.dumps(out) if args.json else out)


if __name__ == "__main__":
    main()
