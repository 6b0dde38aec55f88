"""The language-model examples' train steps against their peers, at several batch sizes, and their
training runs: validation loss against the baselines, and the time taken.

For each of ``makemore`` (embedding, batch norm, tanh) and ``gpt`` (embeddings, one pre-norm
transformer block): the derived SGD step against a hand-written JAX model differentiated by jax.grad,
and against PyTorch eager where torch is installed (``pip install torch==2.13.0``, the CPU build; never a
dependency); interleaved repeats, medians of the per-repeat ratios (> 1: the derived step is faster).
Then ``derivax train`` of each with its defaults.

    python benchmarks/bench_lm.py [--batches 32 256] [--repeats 7] [--no-train] [--json]
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from compile.cli import bench_cnn, bench_lm
    from compile.train.data import load
    from compile.train.train import compile_trainer, fit
    from derive.network.examples import EXAMPLES
    rows = []
    for name in ("makemore", "gpt"):
        net = EXAMPLES[name].net
        for batch in args.batches:
            r = bench_cnn.run(net, name, batch, args.repeats, args.steps, peers=bench_lm)
            rows.append(r)
            torch = f", {r['speedup_vs_pytorch']:.2f}x PyTorch eager" if "speedup_vs_pytorch" in r else ""
            print(f"{name} batch {batch}: derived {r['derived_steps_per_s']:,.0f} steps/s, "
                  f"{r['speedup_vs_jax.grad']:.2f}x jax.grad{torch}")
        if not args.no_train:
            cfg = EXAMPLES[name].train
            model = net.build()
            data = load(name, n_inputs=net.n_inputs, n_outputs=model.sizes[-1],
                        steps=int(model.Y.shape[1]) if model.Y.rank == 3 else None)
            trainer = compile_trainer(net, cfg["optimizer"], cfg["lr"])
            hist = fit(trainer, data.x_train, data.y_train, cfg["epochs"], cfg["batch_size"], 0, data.x_test,
                       data.y_test, progress=False)
            row = {"model": name, "epochs": cfg["epochs"], "seconds": round(hist.seconds, 1),
                   "validation_loss": hist.test_loss[-1], **{f"{k}_baseline": v for k, v in data.baselines.items()}}
            rows.append(row)
            print(f"{name}: trained {cfg['epochs']} epochs in {hist.seconds:.1f} s, validation loss "
                  f"{hist.test_loss[-1]:.3f} (bigram baseline {data.baselines['bigram']:.3f})")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
