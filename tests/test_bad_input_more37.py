"""Messages for inputs of the wrong kind that named the wrong fix: a recurrent layer given images was told to 'use the
2-D layer' (there is none), a convolution given 28x28 to 'use the 1-D layer' (the fix is the channel axis, 28x28x1);
bench said '--steps 100' of an option not given. Each message is compared with the fix it should name."""
import pytest

from compile.cli.main import main


@pytest.mark.parametrize("spec, words", [
    ("3x3x1-lstm2-2:softmax", "a recurrent layer reads a sequence of vectors: declare the input as steps of features "
                              "(a 3x3x1 image as 3 steps of 3·1 features, the spec 3x3-...)"),
    ("3x3x1-gru2-2:softmax", "(a 3x3x1 image as 3 steps of 3·1 features, the spec 3x3-...)"),
])
def test_an_input_of_the_wrong_rank_is_told_the_fix_that_applies(spec, words, capsys):
    assert main(["show", spec]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert words in err and "use the 2-D layer)" not in err, err


def test_a_convolutions_input_is_told_its_channel_axis_or_the_layer_of_its_rank():
    from derive import Conv1D, Conv2D, Dense, Flatten, Network
    from derive.network.functions import NetworkError
    with pytest.raises(NetworkError, match=r"declare the input with its channels, 28x28x1 for one channel"):
        Network((28, 28), [Conv2D(2, 3), Flatten(), Dense(2, "softmax")]).build()
    with pytest.raises(NetworkError, match=r"this 1-D layer needs a 1-D input, and this one is 2-D \(use the 2-D "
                                           r"layer: Conv2D, MaxPool2D\)"):
        Network((8, 8, 1), [Conv1D(2, 3), Flatten(), Dense(2, "softmax")]).build()


def test_bench_does_not_name_a_steps_option_that_was_not_given(capsys, monkeypatch):
    """A convolutional network is timed over at most 50 steps a repeat: said of --steps only where it was given."""
    import types
    from compile.cli import bench, bench_cnn
    seen = {}

    def run(net, name, batch, repeats, steps, **kw):
        seen["steps"] = steps
        raise bench_cnn.CnnBenchError("stopped here")
    args = types.SimpleNamespace(suite=False, model="4x4x1-conv2k3-flatten-3:softmax", repeats=1, batch_size=4,
                                 steps=None, input=None, first_repeats=None, no_torch=True, json=False, small=None,
                                 small_batch_size=None, small_steps=None)
    monkeypatch.setattr(bench_cnn, "run", run)
    assert bench.main(args) == 2
    assert "--steps" not in capsys.readouterr().err and seen["steps"] == 50
    args.steps = 80
    assert bench.main(args) == 2
    assert "derivax: --steps 80: a network with conv, dense, flatten layers is timed over at most 50 steps" \
        in capsys.readouterr().err


def test_parameters_of_two_layers_spelled_alike_are_refused_not_shared():
    """Gate f1 of layer 1 and gate f of layer 11 both make Wxf11, Whf11, bf11: they were one parameter, silently."""
    from derive import Dense, Network, Recurrent, TimeDistributed
    from derive.network.functions import NetworkError
    layers = [Recurrent(2, lambda s: s.gate("f1", "tanh"), sequences=True)] \
        + [TimeDistributed(Dense(2, "tanh")) for _ in range(9)] \
        + [Recurrent(2, lambda s: s.gate("f", "tanh")), Dense(2, "softmax")]
    with pytest.raises(NetworkError, match=r"layer 11 \(Recurrent 2\): its parameter Wxf11 is spelled as layer 1's, "
                                           r"another parameter"):
        Network((3, 2), layers).build()


@pytest.mark.parametrize("spec, words, col", [
    ("4-bn:unbiased:unbiased-2:softmax", "unbiased is given twice in bn", 15),
    ("4-bn:relu:tanh-2:softmax", "the activation is given twice in bn (relu and tanh)", 11),
    ("3-emb5x4:pos:pos-flatten-2:softmax", "pos is given twice in the embedding", 14),
    ("6x6x1-conv2k3s2s2-flatten-2:softmax", "the stride is given twice in conv2k3s2s2", 16),
    ("6x6x1-pool2s2s1-flatten-2:softmax", "the stride is given twice in pool2s2s1", 14),
])
def test_a_spec_option_given_twice_is_named_at_its_second_place(spec, words, col, capsys):
    assert main(["show", spec]) == 2
    err = capsys.readouterr().err
    assert f"derivax: {words} at position {col} of '{spec}'" in err, err


def test_the_trained_numbers_of_every_layer_are_shown_not_left_out_with_a_wrong_reason():
    """A recurrent layer's Wxh, Whh, bh and the dense layer above it (whose input is no dense layer's units): each
    parameter's statistics, computed here from the numbers themselves; no 'too wide' for a layer of 3 inputs."""
    import numpy as np
    from compile.cli.train import trained_equations
    from derive.network.examples import resolve
    model = resolve("5x2-rnn3-2:softmax")[1].build("rows")
    rng = np.random.default_rng(0)
    params = {str(p.name): rng.normal(size=tuple(int(d) for d in p.shape)) for p in model.params}
    text = trained_equations(model, params)
    assert "too wide" not in text
    for name, shown in (("Wxh1", "Wxh₁"), ("Whh1", "Whh₁"), ("W2", "W₂")):
        v = params[name]
        assert f"{shown} {'×'.join(map(str, v.shape))}: mean {v.mean():.4g}, std {v.std():.4g}" in text, text
