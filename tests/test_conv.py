"""Convolutional networks: the printed derivation (exact strings), the spec syntax and the seed
architectures' shapes, three-way verification of tiny conv nets, property tests over random conv and
pool architectures, training on the digits, standalone code generation."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compile.checks.verify import verify
from derive import AvgPool1D, AvgPool2D, Conv1D, Conv2D, Dense, Flatten, MaxPool1D, MaxPool2D, Network, NetworkError
from derive.network.examples import EXAMPLES, ModelError, parse_spec, resolve

TINY = Network((4, 4, 1), [Conv2D(2, 3, padding="same", activation="relu"), MaxPool2D(2), Flatten(),
                           Dense(2, "softmax")], name="tiny")

TINY_TEXT = "╭─ Layout ─────────────────────────────────────────────────────────────────────────────────────────╮\n│ Layout as in Keras: inputs (batch, height, width, channels), kernels (kh, kw, c_in, c_out),      │\n│ biases (c_out,); flatten is row-major over the positions, then the channels.                     │\n│ layer 1: Conv2D, 2 filters of 3x3, stride 1x1, padding same (1, 1), (1, 1); W₁ (3, 3, 1, 2), b₁  │\n│ (2,), A₁ (m, 4, 4, 2)                                                                            │\n│ layer 2: max-pooling over 2x2 windows, stride 2x2; A₂ (m, 2, 2, 2)                               │\n│ layer 3: flatten; A₃ (m, 8)                                                                      │\n│ ∗ is cross-correlation, as frameworks compute it (the kernel is not flipped; a subscript is the  │\n│ stride). In a backward line, δ ∗ rot180(W) correlates δ, dilated by the stride (dilate) and      │\n│ padded by k − 1 − p, with the kernel turned by 180°; A ⋆ δ correlates the padded input with δ    │\n│ (dilated by the stride), summed over the batch. Σᵢ,ₚ sums over the batch and every position.     │\n│ up repeats each entry over its pooling window; mask marks each window's maximum (where a window  │\n│ holds its maximum twice, the first in row-major order takes the gradient); route and spread do   │\n│ the same for windows that overlap.                                                               │\n╰──────────────────────────────────────────────────────────────────────────────────────────────────╯\n╭─ Forward pass ───────────────────────────────────────────────────────────────────────────────────╮\n│ Z₁ = X ∗ W₁ + b₁                                                                                 │\n│ A₁ = relu(Z₁)                                                                                    │\n│ A₂ = maxpool₂(A₁)                                                                                │\n│ A₃ = flatten(A₂)                                                                                 │\n│ Z₄ = A₃ W₄ + b₄                                                                                  │\n│ A₄ = softmax(Z₄)                                                                                 │\n╰──────────────────────────────────────────────────────────────────────────────────────────────────╯\n╭─ Loss (categorical cross-entropy) ───────────────────────────────────────────────────────────────╮\n│ J = −(1/m) Σ Y ⊙ log(A₄)                                                                         │\n╰──────────────────────────────────────────────────────────────────────────────────────────────────╯\n╭─ Error signals ──────────────────────────────────────────────────────────────────────────────────╮\n│ δ₄ = A₄ − Y                                                                                      │\n│ δ₁ = (mask₂(A₁) ⊙ up₂(reshape(δ₄ W₄ᵀ, (m, 2, 2, 2)))) ⊙ step(Z₁)                                 │\n╰──────────────────────────────────────────────────────────────────────────────────────────────────╯\n╭─ Gradients ──────────────────────────────────────────────────────────────────────────────────────╮\n│ ∂J/∂W₁ = (1/m) X ⋆ δ₁                                                                            │\n│ ∂J/∂b₁ = (1/m) Σᵢ,ₚ δ₁                                                                           │\n│ ∂J/∂W₄ = (1/m) A₃ᵀ δ₄                                                                            │\n│ ∂J/∂b₄ = (1/m) Σᵢ δ₄⁽ⁱ⁾                                                                          │\n╰──────────────────────────────────────────────────────────────────────────────────────────────────╯\n╭─ Index form (i: example; y, x or t: position; c: channel; u, v: kernel offset) ──────────────────╮\n│ Z₁[i, y, x, c] = Σ_{u,v,c'} X[i, y+u−1, x+v−1, c'] W₁[u, v, c', c] + b₁[c]                       │\n│ ∂J/∂W₁[u, v, c', c] = (1/m) Σ_{i,y,x} X[i, y+u−1, x+v−1, c'] δ₁[i, y, x, c]                      │\n│ ∂J/∂b₁[c] = (1/m) Σ_{i,y,x} δ₁[i, y, x, c]                                                       │\n╰──────────────────────────────────────────────────────────────────────────────────────────────────╯\nKinks: at a kink the derivative takes its value from the left: relu′(0) = step(0) = 0.\n"


def test_tiny_conv_net_prints_exactly():
    assert TINY.derive().text(width=100) == TINY_TEXT


def test_tiny_conv_net_latex_renders_and_says_what_it_derived():
    from matplotlib.mathtext import MathTextParser
    tex = TINY.derive().latex(steps=True)
    for line in [r"Z^{[1]} &= X \ast W^{[1]} + b^{[1]}",
                 r"\frac{\partial J}{\partial W^{[1]}} &= \frac{1}{m} X \star \delta^{[1]}",
                 r"\frac{\partial J}{\partial b^{[1]}} &= \frac{1}{m} \sum_{i,p} \delta^{[1]}",
                 r"Z^{[1]}_{i,y,x,c} &= \sum_{u,v,c'} X_{i,y+u-1,x+v-1,c'} W^{[1]}_{u,v,c',c} + b^{[1]}_{c}"]:
        assert line in tex, line
    parser = MathTextParser("path")
    eqs = [l.replace("&=", "=").split(r" && \text")[0].split(r" \qquad \text")[0].rstrip(" \\") for l in tex.splitlines() if "&=" in l]
    for eq in eqs:
        parser.parse(f"${eq}$")


def test_strided_convolution_prints_the_dilated_rot180_form():
    net = Network((7, 7, 1), [Conv2D(2, 3, activation="tanh"), Conv2D(2, 2, stride=2, activation="tanh"),
                              Flatten(), Dense(1, "sigmoid")], loss="bce")
    text = net.derive().text(width=200)
    assert "Z₂ = A₁ ∗₂ W₂ + b₂" in text
    assert "δ₁ = (dilate₂(δ₂) ∗ rot180(W₂)) ⊙ (1 − A₁²)" in text
    assert "∂J/∂W₂ = (1/m) A₁ ⋆ dilate₂(δ₂)" in text
    assert "∂J/∂A₁[i, y, x, c'] = (1/m) Σ_{u,v,c} δ₂[i, (y−u)/2, (x−v)/2, c] W₂[u, v, c', c]" in text


def test_spec_builds_the_seed_cnn_with_keras_parameter_counts():
    # Keras's summary of the seeds' model: 320, 18496, 204928 and 1290 parameters (flatten 1600)
    net = parse_spec("28x28x1-conv32k3:relu-pool2-conv64k3:relu-pool2-flatten-128:relu-10:softmax")
    model = net.build()
    counts = {}
    for r in model.records:
        counts[r.layer] = counts.get(r.layer, 0) + int(np.prod(r.shape))
    assert counts == {1: 320, 3: 18496, 6: 204928, 7: 1290}
    assert model.layers[4].A.shape[1] == 1600
    assert resolve("cnn", input_shape=(28, 28, 1))[1].build().records[4].shape == (1600, 128)


def test_cnn1d_is_the_papers_network():
    model = EXAMPLES["cnn1d"].net.build()
    lengths = [int(l.A.shape[1]) for l in model.layers[:3]]
    assert lengths == [19, 10, 5]                       # (40 + 2 - 5)//2 + 1, then (n + 2 - 3)//2 + 1
    assert [r.shape for r in model.records][-2:] == [(125, 10), (1, 10)]   # linear_in = 125


@pytest.mark.parametrize("spec, where, words", [
    ("64-conv3k3", 4, "needs an input with a shape"),
    ("8x8x1-pool2:relu", 12, "takes no activation"),
    ("8x8x1-conv4k3:foo", 15, "unknown activation 'foo'"),
    ("8x8x1-convk3", 7, "expected a layer"),
])
def test_spec_errors_name_the_position(spec, where, words):
    with pytest.raises(ModelError) as e:
        parse_spec(spec)
    assert words in str(e.value) and f"at position {where} of" in str(e.value)


@pytest.mark.parametrize("layers, words", [
    ([Conv2D(4, 3), Dense(10)], "layer 2 (Dense 10) takes (batch, features) inputs; its input, layer 1, is "
                                "(m, 6, 6, 4): put a Flatten() before it"),
    ([Conv2D(4, 9)], "layer 1 (Conv2D 4): a kernel of 9x9 does not fit"),
    ([Conv1D(4, 3)], "layer 1 (Conv1D 4) takes (batch, length, channels) inputs"),
    ([Conv2D(4, 3, padding="full")], "padding must be 'valid', 'same'"),
    ([MaxPool2D(3), Flatten(), Dense(2, "softmax")], None),
    ([Flatten(), Flatten()], "layer 2 (Flatten): its input, layer 1, is (m, 64), already flat"),
    ([Flatten(), Conv2D(2, 3)], "convolutions and pooling come before the Flatten"),
    ([Conv1D(2, 3)], "this 1-D layer needs a 1-D input, and this one is 2-D"),
    ([Conv2D(2, 3)], "the prediction must be (batch, outputs); the last layer's output is (m, 6, 6, 2)"),
    ([Conv2D(2, 3, init="he"), Flatten(), Dense(2)], "layer 1 (Conv2D 2): init must be None"),
    ([Conv2D(2, 3, stride=0), Flatten(), Dense(2)], "the stride must be a positive integer or 2 of them, not 0"),
    ([Conv2D(2, 3, activation="softmax"), Flatten(), Dense(2)], "softmax belongs on the output Dense layer"),
])
def test_layer_errors_name_the_layer_and_the_shapes(layers, words):
    if words is None:
        Network((8, 8, 1), layers)  # builds
        return
    with pytest.raises(NetworkError) as e:
        Network((8, 8, 1), layers)
    assert words in str(e.value)


@pytest.mark.parametrize("net", [
    Network((3, 3, 1), [Conv2D(1, 2, activation="tanh"), MaxPool2D(2), Flatten(), Dense(2, "softmax")]),
    Network((5, 1), [Conv1D(2, 3, stride=2, padding=1, activation="z*sigmoid(z)"), AvgPool1D(2, 1), Flatten(),
                     Dense(1, "sigmoid")], loss="bce"),
], ids=["2d-conv-maxpool", "1d-strided-conv-avgpool"])
def test_tiny_conv_nets_agree_three_ways(net):
    report = verify(net, m=2)
    assert report.scalar == "used" and report.ok, report.to_json()
    assert all(set(p.comparisons) == {"jax_grad", "finite_diff", "sympy"} for p in report.params.values())


SMOOTH = ["tanh", "sigmoid", "softplus", "z*sigmoid(z)", "identity"]


@st.composite
def conv_nets(draw):
    nd = draw(st.sampled_from([1, 2]))
    size = draw(st.integers(3, 7))
    channels = draw(st.integers(1, 2))
    shape = (size,) * nd + (channels,)
    layers, spatial = [], size
    for _ in range(draw(st.integers(1, 2))):
        k = draw(st.integers(1, min(3, spatial)))
        s = draw(st.integers(1, 2))
        pad = draw(st.sampled_from(["valid", "same", 1, (0, 1)]))
        if pad == (0, 1):
            pad = ((0, 1),) * nd
        conv = (Conv1D if nd == 1 else Conv2D)(draw(st.integers(1, 2)), k, s, pad, draw(st.sampled_from(SMOOTH)))
        try:
            probe = Network(shape, layers + [conv, Flatten(), Dense(1)], loss="mse")
        except NetworkError:
            continue
        layers.append(conv)
        spatial = int(probe.build().layers[len(layers) - 1].A.shape[1])
        if spatial >= 2 and draw(st.booleans()):
            window = draw(st.integers(1, min(3, spatial)))
            pool = (AvgPool1D if nd == 1 else AvgPool2D)(window, draw(st.integers(1, 2)))
            layers.append(pool)
            spatial = (spatial - window) // pool.stride + 1
    out = draw(st.sampled_from([("mse", "identity", 2), ("ce", "softmax", 3), ("bce", "sigmoid", 1)]))
    return Network(shape, layers + [Flatten(), Dense(out[2], out[1])], loss=out[0])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_nets(), st.integers(0, 2**16))
def test_random_conv_and_avg_pool_nets_agree_with_finite_differences(net, seed):
    """Smooth activations and average pooling: the loss is smooth, so finite differences decide."""
    report = verify(net, seed=seed, m=2, engine="numpy", scalar_limit=0)
    assert report.ok or report.problem, report.to_json()


@settings(max_examples=7, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([1, 2]), st.integers(2, 3), st.integers(1, 3), st.integers(0, 2**16))
def test_random_max_pool_nets_agree_with_jax_grad(nd, window, stride, seed):
    """Max-pooling has kinks where a finite difference can straddle a switch of the maximum;
    jax.grad differentiates at the point itself."""
    shape = (6,) * nd + (2,)
    net = Network(shape, [(Conv1D if nd == 1 else Conv2D)(2, 2, activation="tanh"),
                          (MaxPool1D if nd == 1 else MaxPool2D)(window, stride), Flatten(), Dense(2, "softmax")])
    report = verify(net, seed=seed, m=2, scalar_limit=0)
    assert all(p.comparisons["jax_grad"].ok for p in report.params.values()), report.to_json()


def test_a_small_cnn_learns_the_digits():
    from compile import compile_trainer, fit
    from compile.train.data import load
    net = parse_spec("8x8x1-conv8k3:relu-pool2-flatten-10:softmax")
    data = load("cnn", n_inputs=(8, 8, 1), n_outputs=10)
    assert data.x_train.shape[1:] == (8, 8, 1)
    trainer = compile_trainer(net, "adam", 0.01)
    hist = fit(trainer, data.x_train, data.y_train, 5, 32, 0, data.x_test, data.y_test, progress=False)
    assert hist.test_accuracy[-1] > 0.85, hist.test_accuracy


def test_codegen_writes_a_standalone_cnn_trainer():
    import jax
    from compile import generate
    from compile.lowering.lower import run_source
    source = generate(parse_spec("6x1-conv2k3s2p1:tanh-avgpool2s1-flatten-2:softmax"), "sgd", 0.1, dtype="float64")
    assert "import derive" not in source and "from compile" not in source and "from derive" not in source
    assert "x is (batch, length, channels) or (batch, length) for one channel" in source
    with jax.enable_x64(True):
        ns = run_source(source, "cnn_module")
        params = ns["init_params"](jax.random.key(0))
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(3, 6)), np.eye(2)[[0, 1, 1]]  # (batch, length): one channel
        grads = ns["grads"](params, x, y)
        ref = jax.grad(lambda p: ns["loss"](p, x[..., None], y))(params)
        for k in params:
            np.testing.assert_allclose(np.asarray(grads[k]), np.asarray(ref[k]), rtol=1e-10, atol=1e-12)


# ---- check-code on a student's naive-loop conv backward pass (parameters in the printed layout) ----

CONV_SPEC = "6x6x1-conv2k3:tanh-conv2k2s2:tanh-flatten-3:softmax"
CONV_BACKWARD = 'import numpy as np\n\n\ndef conv_forward(x, w, b, s):\n    m, H, W, C = x.shape\n    k, _, _, F = w.shape\n    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1\n    out = np.zeros((m, Ho, Wo, F))\n    for i in range(m):\n        for y in range(Ho):\n            for x_ in range(Wo):\n                patch = x[i, y * s:y * s + k, x_ * s:x_ * s + k, :]\n                for f in range(F):\n                    out[i, y, x_, f] = np.sum(patch * w[:, :, :, f]) + b[f]\n    return out\n\n\ndef conv_backward(dout, x, w, s):\n    m, H, W, C = x.shape\n    k, _, _, F = w.shape\n    _, Ho, Wo, _ = dout.shape\n    dx, dw = np.zeros_like(x), np.zeros_like(w)\n    db = np.sum(dout, axis=(0, 1, 2))\n    for i in range(m):\n        for y in range(Ho):\n            for x_ in range(Wo):\n                for f in range(F):\n                    dw[:, :, :, f] += x[i, y * s:y * s + k, x_ * s:x_ * s + k, :] * dout[i, y, x_, f]\n                    dx[i, y * s:y * s + k, x_ * s:x_ * s + k, :] += w[:, :, :, f] * dout[i, y, x_, f]\n    return dx, dw, db\n\n\ndef backward(params, x, y):\n    """X (6x6x1) -> conv 2 filters 3x3 tanh -> conv 2 filters 2x2 stride 2 tanh -> flatten -> dense 3 softmax."""\n    m = x.shape[0]\n    z1 = conv_forward(x, params["W1"], params["b1"], 1)\n    a1 = np.tanh(z1)\n    z2 = conv_forward(a1, params["W2"], params["b2"], 2)\n    a2 = np.tanh(z2)\n    a3 = a2.reshape(m, -1)\n    z4 = a3 @ params["W4"] + params["b4"]\n    e = np.exp(z4 - z4.max(axis=1, keepdims=True))\n    p = e / e.sum(axis=1, keepdims=True)\n    dz4 = (p - y) / m\n    grads = {"W4": a3.T @ dz4, "b4": dz4.sum(axis=0)}\n    da2 = (dz4 @ params["W4"].T).reshape(a2.shape)\n    dz2 = da2 * (1 - a2 ** 2)\n    da1, grads["W2"], grads["b2"] = conv_backward(dz2, a1, params["W2"], 2)\n    dz1 = da1 * (1 - a1 ** 2)\n    _, grads["W1"], grads["b1"] = conv_backward(dz1, x, params["W1"], 1)\n    return grads\n'


@pytest.mark.parametrize("bug, wrong, words", [
    (None, set(), ""),
    # the input's gradient with the kernel turned by 180° (a convolution where it is a correlation's
    # transpose): only what lies below the second layer is wrong
    (("dx[i, y * s:y * s + k, x_ * s:x_ * s + k, :] += w[:, :, :, f]",
      "dx[i, y * s:y * s + k, x_ * s:x_ * s + k, :] += w[::-1, ::-1, :, f]"), {"W1", "b1"}, ""),
    # the kernel's gradient without the stride: only the strided layer's kernel is wrong
    (("dw[:, :, :, f] += x[i, y * s:y * s + k, x_ * s:x_ * s + k, :]",
      "dw[:, :, :, f] += x[i, y:y + k, x_:x_ + k, :]"), {"W2"}, ""),
    # the bias summed over the batch only
    (("db = np.sum(dout, axis=(0, 1, 2))", "db = np.sum(dout, axis=0)"), {"b1", "b2"},
     "not summed over the batch and every position?"),
], ids=["right", "wrong-flip", "missing-stride", "bias-not-summed-over-positions"])
def test_check_code_names_exactly_the_wrong_conv_parameters(tmp_path, bug, wrong, words):
    from compile import check_code
    source = CONV_BACKWARD if bug is None else CONV_BACKWARD.replace(*bug)
    assert bug is None or source != CONV_BACKWARD
    path = tmp_path / "student.py"
    path.write_text(source)
    report = check_code(parse_spec(CONV_SPEC), f"{path}:backward")
    assert report.error is None, report.error
    assert {n for n, p in report.params.items() if not p.ok} == wrong
    assert all(words in report.params[n].message for n in wrong)


@pytest.mark.parametrize("target, formula, ok, words", [
    ("W1", "conv_weight_grad(X, delta1) / m", True, ""),
    ("W1", "conv_weight_grad(X, delta1)", False, "missing 1/m"),
    ("b1", "sum(delta1, (0, 1, 2)) / m", True, ""),
    ("delta1", "route(A1, reshape(delta4 @ W4.T, (m, 2, 2, 2))) * step(Z1)", True, ""),
    ("delta1", "route(A1, reshape(delta4 @ W4.T, (m, 2, 2, 2)))", False, "step(Z₁)"),
])
def test_check_takes_conv_formulas_in_the_printed_formula_syntax(target, formula, ok, words):
    from compile import check_formula
    result = check_formula(TINY, target, formula)
    assert result.ok is ok and words in " ".join(result.diagnosis), (result.diagnosis, result.counterexample)


def test_the_json_formulas_of_a_conv_net_check_as_right():
    """What --format json prints for each gradient is a formula check takes back, and finds right."""
    import json
    from compile import check_formula
    printed = json.loads(TINY.derive().json())
    for target, formula in [*printed["gradients"].items(), *printed["deltas"].items()]:
        assert check_formula(TINY, target, formula).ok, (target, formula)


# ---- bad input on the paths convolution added: one line naming the culprit, exit status 2 ----

@pytest.mark.parametrize("argv, words", [
    (["show", "cnn", "--input", "0x28x1"], "argument --input: an input shape is 2 or 3 positive sizes"),
    (["show", "cnn", "--input", "28x28x1x1"], "argument --input: an input shape is 2 or 3 positive sizes"),
    (["show", "xor", "--input", "28x28x1"], "--input applies to the built-in examples whose layers follow"),
    (["show", "cnn", "--convention", "columns"], "build it in the rows convention"),
    (["show", "makemore", "--convention", "columns"], "layer 1 (Embedding): embeddings are built in the rows"),
    (["check", CONV_SPEC, "--param", "W1", "--formula", "reshape(delta1, (m, -4))"],
     "a shape holds whole numbers > 0, -1 (the one dimension inferred) and m"),
])
def test_bad_conv_input_is_one_line_and_exit_2(argv, words, capsys):
    from compile.cli.main import main
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err


@pytest.mark.parametrize("formula, words", [
    ("conv(X, W4)", "conv: no convolution layer of this network has operands of these shapes"),
    ("route(A1, delta2)", "route: no max-pooling layer of this network fits these shapes"),
])
def test_a_window_of_operands_no_layer_takes_is_not_equal(formula, words, capsys):
    """Operands whose shapes fit no convolution or pooling layer: a wrong formula, NOT EQUAL (exit 1), as a matrix
    product whose shapes do not fit is."""
    from compile.cli.main import main
    assert main(["check", CONV_SPEC, "--param", "W1", "--formula", formula]) == 1
    out = capsys.readouterr().out
    assert "NOT EQUAL" in out and words in " ".join(out.split()), out


def test_check_code_on_a_conv_net_in_columns_says_why(tmp_path):
    from compile import check_code
    path = tmp_path / "student.py"
    path.write_text(CONV_BACKWARD)
    with pytest.raises(NetworkError, match="build it in the rows convention"):
        check_code(parse_spec(CONV_SPEC), f"{path}:backward", convention="columns")
    with pytest.raises(ValueError, match="convention must be 'rows' or 'columns', not 'cols'"):
        check_code(parse_spec(CONV_SPEC), f"{path}:backward", convention="cols")


def test_the_bench_peer_is_an_independent_model_of_the_same_network():
    """The hand-written JAX peer of `derivax bench` (lax.conv_general_dilated, reduce_window, jax.grad)
    computes the same loss and gradients as the derived trainer: the benchmark times equal work."""
    import jax
    from compile import compile_trainer
    from compile.cli.bench_cnn import jax_loss, program
    net = parse_spec("6x6x2-conv3k3s2p1:tanh-pool2s1-conv2k2psame:relu-avgpool2-flatten-3:softmax")
    with jax.enable_x64(True):
        trainer = compile_trainer(net, "sgd", 0.1, dtype="float64")
        params = trainer.init_params(jax.random.key(0))
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(4, 6, 6, 2)), np.eye(3)[[0, 2, 1, 1]]
        prog = program(net)
        np.testing.assert_allclose(float(jax_loss(params, x, y, prog)), float(trainer.loss(params, x, y)), rtol=1e-12)
        peer = jax.grad(jax_loss)(params, x, y, prog)
        derived = trainer.grads(params, x, y)
        for k in params:
            np.testing.assert_allclose(np.asarray(derived[k]), np.asarray(peer[k]), rtol=1e-9, atol=1e-12)
