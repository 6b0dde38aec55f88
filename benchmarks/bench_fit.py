"""`compile.fit` against a hand-written loop of jitted `jax.grad` steps and PyTorch's eager loop: see
compile/cli/bench_fit.py. Usage: python benchmarks/bench_fit.py [--epochs 5] [--torch] [--json]"""
from compile.cli.bench_fit import main

if __name__ == "__main__":
    raise SystemExit(main())
