"""The paired MNIST-1D benchmarks start the paper's PyTorch models from derivax's own initial parameters: the
PyTorch loss at those parameters must be derivax's loss (an independent forward pass: PyTorch's modules),
else the comparison would not be paired. Skipped where torch is not installed (it is never a dependency)."""
import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _module(name, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))   # the scripts import their shared training loop by name
    spec = importlib.util.spec_from_file_location(f"paired_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("example, script", [("cnn1d", "bench_cnn1d"), ("gru", "bench_gru")])
def test_the_pytorch_model_starts_where_derivax_starts(example, script, monkeypatch):
    torch = pytest.importorskip("torch")
    import jax.numpy as jnp
    from compile import compile_trainer
    from compile.train.data import load
    from derive.network.examples import EXAMPLES
    bench = _module(script, monkeypatch)
    data = load(example, n_inputs=(40, 1), n_outputs=10)
    params = bench.derivax_initial(3)
    x, y = data.x_train[:50].astype(np.float32), data.y_train[:50].astype(np.float32)
    derived = float(compile_trainer(EXAMPLES[example].net, "adam", 1e-2).loss(
        {k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(x), jnp.asarray(y)))
    seen = {}

    class Stop(Exception):
        pass

    def first_loss(model, data, steps, batch):
        seen["loss"] = torch.nn.functional.cross_entropy(model(torch.tensor(x.reshape(50, -1))),
                                                         torch.tensor(y.argmax(1))).item()
        raise Stop
    monkeypatch.setattr(importlib.import_module("mnist1d_torch"), "train", first_loss)
    with pytest.raises(Stop):
        bench.torch_run(data, 3, 1, paired=True)
    assert seen["loss"] == pytest.approx(derived, rel=1e-5)


@pytest.mark.parametrize("example, script", [("cnn1d", "bench_cnn1d"), ("gru", "bench_gru")])
def test_in_float64_derivax_trains_as_the_papers_pytorch_model_does(example, script, monkeypatch):
    """Adam steps of the derived trainer and of the paper's PyTorch model (its own modules, autograd and
    optimizer) from the same parameters on the same batches: in float64 they stay equal to rounding, so the
    two trainings are one algorithm and their float32 runs differ only by where rounding takes them."""
    torch = pytest.importorskip("torch")
    import jax
    import jax.numpy as jnp
    from compile import compile_trainer
    from compile.train.data import load
    from derive.network.examples import EXAMPLES
    bench = _module(script, monkeypatch)
    data = load(example, n_inputs=(40, 1), n_outputs=10)
    params = bench.derivax_initial(5)
    captured = {}

    def keep(model, data, steps, batch):
        captured["model"] = model
    monkeypatch.setattr(importlib.import_module("mnist1d_torch"), "train", keep)
    bench.torch_run(data, 5, 1, paired=True)
    model = captured["model"].double()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with jax.enable_x64(True):
        trainer = compile_trainer(EXAMPLES[example].net, "adam", 1e-2, dtype="float64")
        p = {k: jnp.asarray(v, jnp.float64) for k, v in params.items()}
        state = trainer.init_opt_state(p)
        for step in range(4):
            x = data.x_train[step * 100:(step + 1) * 100].astype(np.float64)
            y = data.y_train[step * 100:(step + 1) * 100].astype(np.float64)
            p, state, J = trainer.train_step(p, state, jnp.asarray(x), jnp.asarray(y))
            loss = torch.nn.functional.cross_entropy(model(torch.tensor(x.reshape(100, -1))), torch.tensor(y.argmax(1)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            assert float(J) == pytest.approx(loss.item(), rel=1e-12)
    dense = model.linear.weight.detach().numpy()
    ours = np.asarray(p[max((k for k in p if k[:1] == "W" and k[1:].isdigit()), key=lambda k: int(k[1:]))])
    if example == "cnn1d":   # PyTorch flattens (channels, length); derivax (length, channels)
        ours = ours[[pos * 25 + ch for ch in range(25) for pos in range(5)]]
    np.testing.assert_allclose(ours.T, dense, rtol=1e-9, atol=1e-12)
