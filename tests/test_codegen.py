"""Generated standalone trainers, imported from a file, against hand-written references and optax."""
import ast
import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from compile.lowering.codegen import generate
from conftest import tree_allclose
from derive import Dense, Network

pytestmark = pytest.mark.usefixtures("x64")

NET = Network(4, [Dense(6, "relu"), Dense(5, "tanh"), Dense(3, "softmax")], loss="ce", name="codegen")
OPTAX = {"sgd": lambda: optax.sgd(0.05), "momentum": lambda: optax.sgd(0.05, momentum=0.9),
         "adam": lambda: optax.adam(0.05)}


def reference_loss(p, x, y):
    """NET by hand (W as (in, out)): relu, tanh, softmax, mean cross-entropy."""
    a = jnp.maximum(x @ p["W1"] + p["b1"], 0)
    a = jnp.tanh(a @ p["W2"] + p["b2"])
    z = a @ p["W3"] + p["b3"]
    return jnp.mean(jax.scipy.special.logsumexp(z, axis=1) - jnp.sum(y * z, axis=1))


def data(seed, m=8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(m, 4)), np.eye(3)[rng.integers(0, 3, m)]


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules(tmp_path_factory, x64):
    cache = {}

    def get(optimizer="sgd", convention="rows", net=NET):
        key = (optimizer, convention, net.name)
        if key not in cache:
            path = tmp_path_factory.mktemp("gen") / f"trainer_{optimizer}_{convention}_{net.name}.py"
            path.write_text(generate(net, optimizer, 0.05, convention, dtype="float64"), encoding="utf-8")
            cache[key] = load_module(path, path.stem)
        return cache[key]
    return get


def test_the_module_imports_only_jax_and_numpy(modules):
    tree = ast.parse(open(modules().__file__, encoding="utf-8").read())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"jax", "numpy"}


@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_param_shapes_and_init_follow_the_convention(modules, convention):
    mod = modules(convention=convention)
    rows = {"W1": (4, 6), "b1": (1, 6), "W2": (6, 5), "b2": (1, 5), "W3": (5, 3), "b3": (1, 3)}
    expected = rows if convention == "rows" else {k: s[::-1] for k, s in rows.items()}
    assert mod.PARAM_SHAPES == expected
    params = mod.init_params(jax.random.key(0))
    assert {k: v.shape for k, v in params.items()} == expected
    assert all(v.dtype == jnp.float64 for v in params.values())


@pytest.mark.parametrize("convention", ["rows", "columns"])
def test_generated_grads_equal_jax_grad_of_a_hand_written_model(modules, convention):
    mod = modules(convention=convention)
    flip = (lambda p: p) if convention == "rows" else (lambda p: {k: v.T for k, v in p.items()})
    params = flip(mod.init_params(jax.random.key(1)))  # rows layout
    x, y = data(0)
    assert tree_allclose(flip(mod.grads(flip(params), x, y)), jax.grad(reference_loss)(params, x, y))
    assert np.isclose(mod.loss(flip(params), x, y), reference_loss(params, x, y), rtol=1e-12)
    assert np.allclose(mod.forward(flip(params), x), jax.nn.softmax(
        jnp.tanh(jnp.maximum(x @ params["W1"] + params["b1"], 0) @ params["W2"] + params["b2"])
        @ params["W3"] + params["b3"]), rtol=1e-12)


@pytest.mark.parametrize("optimizer", list(OPTAX))
def test_generated_train_step_is_the_optax_update(modules, optimizer):
    mod = modules(optimizer)
    params = ref = mod.init_params(jax.random.key(2))
    state, ref_state = mod.init_opt_state(params), OPTAX[optimizer]().init(params)
    for step in range(3):
        x, y = data(step + 10)
        params, state, J = mod.train_step(params, state, x, y)
        J_ref, g = jax.value_and_grad(reference_loss)(ref, x, y)
        updates, ref_state = OPTAX[optimizer]().update(g, ref_state, ref)
        ref = optax.apply_updates(ref, updates)
        assert np.isclose(J, J_ref, rtol=1e-12)
    assert tree_allclose(params, ref)


def test_each_derived_line_carries_its_formula(modules):
    source = open(modules().__file__, encoding="utf-8").read()
    body = source[source.index("def grads("):source.index("def loss_and_grads(")]
    for line in ("# Z₁ = X W₁ + b₁\n    Z1 = X @ W1 + b1", "# A₁ = relu(Z₁)\n    A1 = jax.nn.relu(Z1)",
                 "# δ₃ = A₃ − Y\n    delta3 = A3 - Y", "# ∂J/∂W₃ = (1/m) A₂ᵀ δ₃\n    dW3 = transpose_matmul(A2, delta3)/m"):
        assert line in body
    assert "θ ← θ − α·g" in source  # the optimizer's rule, printed in the module's docstring


def test_a_dropout_network_trains_with_masks_from_a_key(modules):
    net = Network(4, [Dense(16, "relu", dropout=0.5), Dense(3, "softmax")], loss="ce", name="drop")
    mod = modules("sgd", net=net)
    params = mod.init_params(jax.random.key(0))
    x, y = data(3)
    key = jax.random.key(7)
    new, _, _ = mod.train_step(params, mod.init_opt_state(params), x, y, key)
    g = mod.grads(params, x, y, mod.dropout_masks(key, len(x)))
    assert tree_allclose(new, {k: params[k] - 0.05 * g[k] for k in params})


def test_codegen_command_writes_a_module(tmp_path, capsys):
    from compile.cli.main import main
    out = tmp_path / "xor_trainer.py"
    assert main(["codegen", "xor", "-o", str(out), "--optimizer", "momentum", "--lr", "0.2"]) == 0
    mod = load_module(out, "xor_trainer")
    assert mod.LR == 0.2 and mod.BETA == 0.9 and mod.PARAM_SHAPES["W1"] == (2, 2)
    assert main(["codegen", "linreg"]) == 0
    assert "LR = 0.01" in capsys.readouterr().out  # the example's own learning rate


@pytest.mark.parametrize("lr", ["0", "-1", "inf", "1e400", "-1e400", "nan", "abc"])
def test_codegen_refuses_a_bad_learning_rate(capsys, lr):
    from compile.cli.main import main
    assert main(["codegen", "xor", "--lr", lr]) == 2
    err = capsys.readouterr().err
    assert "argument --lr: must be a" in err and err.count("\n") == 1


def test_a_network_name_cannot_inject_code_into_the_module():
    evil = 'x"""\nimport os; os.system("echo pwned")\n"""\\N'
    src = generate(Network(2, [Dense(2, "tanh"), Dense(1, "sigmoid")], loss="bce", name=evil), "sgd", 0.1)
    tree = ast.parse(src)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported == {"jax", "jax.numpy", "numpy"}
    assert "os.system" in ast.get_docstring(tree)  # the name stays, as inert text of the docstring
