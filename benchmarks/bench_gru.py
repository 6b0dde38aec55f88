"""Training time and accuracy of the MNIST-1D GRU: derivax's derived trainer (``gru``) against the
paper's PyTorch model, on the same machine and the same locally generated MNIST-1D data.

The PyTorch side is the MNIST-1D paper's GRU and training loop: ``nn.GRU(1, 6, batch_first=True,
bidirectional=True)`` over the 40 samples as time steps, all 40 outputs of both directions flattened
into ``nn.Linear(480, 10)``; Adam lr 1e-2, batch 100, the training set in order. derivax trains
``gru`` with the same settings and PyTorch's initialisation scheme. With ``--paired`` the PyTorch model
starts from the very parameters derivax starts from at each seed (gates stacked r, u, n as ``nn.GRU``
keeps them; direction 1 forward, 2 reversed), so the two trainings differ only in float rounding; without
it the seeds differ in meaning (JAX keys, torch.manual_seed): compare the spread over seeds. PyTorch is
optional and never a dependency: ``pip install torch==2.13.0`` (the CPU build).

    python benchmarks/bench_gru.py [--seeds 0 1 2 3] [--steps 8000] [--paired] [--json]
"""
import argparse
import json
import statistics
import time


def derivax_run(data, seed, steps, batch=100):
    from compile import compile_trainer, fit
    from derive.network.examples import EXAMPLES
    trainer = compile_trainer(EXAMPLES["gru"].net, "adam", 1e-2)
    t0 = time.perf_counter()
    hist = fit(trainer, data.x_train, data.y_train, steps * batch // len(data.x_train), batch, seed, data.x_test,
               data.y_test, progress=False, shuffle=False)
    return time.perf_counter() - t0, hist.test_accuracy[-1]


def derivax_initial(seed):
    """The parameters derivax's fit starts from at ``seed`` (its own split of the key)."""
    import jax
    import numpy as np
    from compile import compile_trainer
    from derive.network.examples import EXAMPLES
    trainer = compile_trainer(EXAMPLES["gru"].net, "adam", 1e-2)
    k_init, _ = jax.random.split(jax.random.key(seed))
    return {k: np.asarray(v) for k, v in trainer.init_params(k_init).items()}


def load_into(model, params):
    """derivax's gru parameters into the PyTorch model: nn.GRU stacks each direction's gates r, u, n."""
    import numpy as np
    import torch
    with torch.no_grad():
        for layer, suffix in (("1", ""), ("2", "_reverse")):
            stack = lambda side: np.concatenate([params[f"{side}{g}{layer}"] for g in "run"], 1)  # noqa: E731
            for name, value in (("weight_ih_l0", stack("Wx").T), ("weight_hh_l0", stack("Wh").T),
                                ("bias_ih_l0", stack("bx").ravel()), ("bias_hh_l0", stack("bh").ravel())):
                getattr(model.rnn, name + suffix).copy_(torch.tensor(value))
        model.linear.weight.copy_(torch.tensor(params["W5"].T))
        model.linear.bias.copy_(torch.tensor(params["b5"].ravel()))


def torch_run(data, seed, steps, batch=100, paired=False):
    import torch
    import torch.nn as nn
    torch.manual_seed(seed)

    class GRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(1, 6, batch_first=True, bidirectional=True)
            self.linear = nn.Linear(2 * 6 * 40, 10)

        def forward(self, x):
            out, _ = self.rnn(x.view(*x.shape[:2], 1))
            return self.linear(out.reshape(out.shape[0], -1))

    from mnist1d_torch import train
    model = GRU()
    if paired:
        load_into(model, derivax_initial(seed))
    return train(model, data, steps, batch)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--only", choices=["derivax", "pytorch"])
    ap.add_argument("--paired", action="store_true", help="start PyTorch from derivax's initial parameters")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from compile.train.data import load
    data = load("gru", n_inputs=(40, 1), n_outputs=10)
    try:
        import torch  # noqa: F401
    except ImportError:
        torch = None
    peer = (lambda d, s, n: torch_run(d, s, n, paired=True)) if args.paired else torch_run
    sides = [("derivax", derivax_run)] + ([("pytorch", peer)] if torch else [])
    if args.only:
        sides = [s for s in sides if s[0] == args.only]
    rows = {name: [] for name, _ in sides}
    for seed in args.seeds:  # interleaved: one of each per seed, alternating which goes first
        for name, fn in (sides if seed % 2 == 0 else sides[::-1]):
            rows[name].append(fn(data, seed, args.steps))
            print(f"{name} seed {seed}: {rows[name][-1][0]:.1f} s, test accuracy {rows[name][-1][1]:.2%}", flush=True)
    out = {name: {"median_s": statistics.median(r[0] for r in rs), "accuracies": [round(r[1], 4) for r in rs],
                  "median_accuracy": statistics.median(r[1] for r in rs)} for name, rs in rows.items() if rs}
    if rows.get("pytorch") and rows.get("derivax") and args.paired:
        out["paired_accuracy_differences"] = [round(d[1] - p[1], 4) for p, d in zip(rows["pytorch"], rows["derivax"])]
    if rows.get("pytorch") and rows.get("derivax"):
        out["time_ratio_pytorch_over_derivax"] = statistics.median(
            p[0] / d[0] for p, d in zip(rows["pytorch"], rows["derivax"]))
    print(json.dumps(out) if args.json else out)


if __name__ == "__main__":
    main()
