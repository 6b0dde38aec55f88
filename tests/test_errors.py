"""Every bad input gets one clear message naming the culprit."""
import re
import sympy as sp
import pytest

from compile.cli.main import main
from derive import Dense, DerivativeError, FormulaError, Network, NetworkError, parse_activation
from derive.network.examples import ModelError, parse_spec


def test_mismatched_skip_names_both_layers_and_shapes():
    with pytest.raises(NetworkError, match=r"layer 2 \(3 units\) cannot add the output of layer 1 "
                                           r"\(2 units\): shapes \(m, 3\) and \(m, 2\)"):
        Network(2, [Dense(2, "tanh"), Dense(3, "tanh", skip_from=(1,))])


def test_skip_from_a_later_layer():
    with pytest.raises(NetworkError, match=r"layer 1: skip_from=1 must name an earlier layer \(0 to 0\)"):
        Network(2, [Dense(2, "tanh", skip_from=(1,))])


def test_unknown_activation_lists_valid_names():
    with pytest.raises(NetworkError, match=r"unknown activation 'tanhh' \(did you mean 'tanh'\?\); valid: identity, sigmoid, tanh"):
        Network(2, [Dense(2, "tanhh")])


def test_unknown_loss_lists_valid_names():
    with pytest.raises(NetworkError, match=r"unknown loss 'hingee'; valid: mse, bce, ce, svm, or a formula"):
        Network(2, [Dense(1, "sigmoid")], loss="hingee")


@pytest.mark.parametrize("written, meant", [("MSE", "mse"), ("mes", "mse"), ("categorical_crossentropy", "ce"),
                                            ("CrossEntropy", "ce"), ("binary_crossentropy", "bce"), ("hinge", "svm")])
def test_a_loss_written_in_capitals_or_as_another_library_names_it_gets_the_table_name(written, meant):
    with pytest.raises(NetworkError, match=rf"unknown loss '{written}' \(did you mean '{meant}'\?\)"):
        Network(2, [Dense(2, "softmax")], loss=written)


def test_cross_entropy_on_one_output_is_refused_for_bce():
    """−Σ y log ŷ over one sigmoid output: an example with y = 0 adds nothing, so the loss cannot learn."""
    with pytest.raises(NetworkError, match=r"the cross-entropy loss \(ce\) .* the last layer has 1 output, so examples "
                                           r"with y = 0 add nothing to it: for two classes write loss='bce'"):
        Network(2, [Dense(3, "tanh"), Dense(1, "sigmoid")], loss="ce")
    assert Network(2, [Dense(3, "tanh"), Dense(1, "sigmoid")], loss="bce").derive()


def test_skip_from_one_number_says_to_write_a_tuple():
    with pytest.raises(NetworkError, match=r"layer 2: skip_from is a tuple of earlier layers' numbers \(0 = the "
                                           r"input X\), not 1: write skip_from=\(1,\) for one"):
        Network(2, [Dense(2, "tanh"), Dense(2, "softmax", skip_from=1)])


def test_spec_error_gives_position():
    with pytest.raises(ModelError) as e:
        parse_spec("2-3:tanh-x:sigmoid")
    assert "expected a layer size (a positive integer), found 'x' at position 10" in str(e.value)
    with pytest.raises(ModelError, match="unknown activation 'tahn'.* at position 5"):
        parse_spec("2-3:tahn-1")


def test_bad_formula_in_z_gives_position():
    with pytest.raises(FormulaError) as e:
        parse_activation("z*sigmoid(z")
    assert "syntax error" in str(e.value)
    with pytest.raises(FormulaError, match=r"unknown name 'x'; known: pi, z at position 3"):
        parse_activation("z*x")
    with pytest.raises(ModelError, match=r"activation formula: unknown name 'q'.* at position 8"):
        parse_spec("2-3:(z+q)-1")


@pytest.mark.parametrize("text,culprit", [
    ("__import__('os').system('ls')", "attribute access .system is not allowed"),
    ("z.__class__", "attribute access .__class__ is not allowed"),
    ("(lambda q: q)(z)", "a lambda is not allowed"),
    ("[z for z in (1, 2)][0]", "a subscript is not allowed"),
    ("open('x')", "call of 'open' is not allowed"),
    ("'abc'", "constant 'abc' is not allowed"),
    ("z**10**10", "constant 10000000000 is too large"),
])
def test_formula_injection_is_refused(text, culprit):
    with pytest.raises(FormulaError, match=culprit.replace("(", r"\(").replace(")", r"\)")):
        parse_activation(text)


def test_function_sympy_cannot_differentiate():
    z = sp.Symbol("z")
    with pytest.raises(DerivativeError, match=r"cannot differentiate layer 1 activation f\(z\) in closed form"):
        Network(2, [Dense(2, sp.Lambda(z, sp.Function("f")(z)))])


def test_softmax_over_one_unit():
    with pytest.raises(NetworkError, match="layer 1: softmax over 1 unit is the constant 1"):
        Network(2, [Dense(1, "softmax")])


def test_cli_errors_are_one_line_without_traceback(capsys):
    assert main(["show", "2-2:tanhh-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("derivax: unknown activation 'tanhh'") and "Traceback" not in err
    assert main(["show", "xor", "--loss", "hinge"]) == 2
    assert "unknown loss 'hinge'" in capsys.readouterr().err
    assert main(["show", "mlp", "--scalar"]) == 2
    assert "use the matrix view" in capsys.readouterr().err
    assert main(["show", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["show", "missing.py"]) == 2
    assert "no such file: missing.py" in capsys.readouterr().err


# ---- a log loss needs probabilities ----

@pytest.mark.parametrize("layers, loss, words", [
    ([Dense(3, "tanh"), Dense(1)], "ce", "layer 2 (dense, the output layer) has no activation (identity), whose "
                                         "values are not all in (0, 1): at z = -3 it gives -3"),
    ([Dense(3, "tanh"), Dense(2, "tanh")], "ce", "the activation tanh, whose values are not all in (0, 1): at z = -3 "
                                                 "it gives -0.995"),
    ([Dense(3, "tanh"), Dense(1, "relu")], "bce", "the activation relu, whose values are not all in (0, 1): at z = -3 "
                                                  "it gives 0"),
    ([Dense(3, "tanh"), Dense(2, "softplus")], "ce", "softplus, whose values are not all in (0, 1): at z = 1 it "
                                                     "gives 1.31"),
    ([Dense(3, "tanh"), Dense(2, "z*sigmoid(z)")], "ce", "z*sigmoid(z), whose values are not all in (0, 1): at "
                                                         "z = -3 it gives -0.142"),
    ([Dense(3, "tanh"), Dense(1, "exp(-z**2)")], "bce", "at z = 0 it gives 1"),   # log(1 - 1)
])
def test_a_log_loss_on_an_output_that_is_no_probability_is_refused(layers, loss, words):
    with pytest.raises(NetworkError) as err:
        Network(2, layers, loss=loss)
    assert words in str(err.value) and f"the loss {loss} takes the log of the network's output" in str(err.value)
    assert "Use softmax (with ce) or sigmoid (with bce) on the output layer, or the loss mse" in str(err.value)


def test_outputs_a_log_loss_can_take_still_build():
    """softmax and sigmoid; a formula whose values at the points tried are all probabilities (its range is
    not decided: let through); ce on exp(-z²), whose largest value 1 is log's 0; the hinge on scores of any
    range; mse on anything; a sigmoid's probabilities passed on by pooling and flatten."""
    from derive.network.layers import Conv2D, Flatten, MaxPool2D
    Network(2, [Dense(3, "tanh"), Dense(2, "softmax")], loss="ce")
    Network(2, [Dense(3, "tanh"), Dense(1, "sigmoid")], loss="bce")
    Network(2, [Dense(3, "tanh"), Dense(1, "1/(1 + exp(-z))")], loss="bce")
    Network(2, [Dense(3, "tanh"), Dense(2, "exp(-z**2)")], loss="ce")
    Network(2, [Dense(3, "tanh"), Dense(3)], loss="svm")
    Network(2, [Dense(3, "tanh"), Dense(1)], loss="mse")
    Network((4, 4, 1), [Conv2D(1, 2, activation="sigmoid"), MaxPool2D(3), Flatten()], loss="bce")
    with pytest.raises(NetworkError, match=r"layer 1 \(conv, whose values the output passes on\) has no activation"):
        Network((4, 4, 1), [Conv2D(1, 2), MaxPool2D(3), Flatten()], loss="bce")


def test_the_command_line_refuses_a_log_loss_on_an_unbounded_output(capsys, tmp_path):
    """As a spec with --loss and as a model file whose default loss is ce: one line, exit 2, no run."""
    assert main(["show", "2-3:tanh-1", "--loss", "ce"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("derivax: the loss ce takes the log of the network's output") and err.count("\n") == 1
    f = tmp_path / "m.py"
    f.write_text("from derive import Dense, Network\nnet = Network(2, [Dense(3, 'tanh'), Dense(1)])\n")
    for argv in (["verify", str(f)], ["train", str(f), "--data", "xor"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "the loss ce takes the log of the network's output" in err and "Traceback (most recent" not in err


@pytest.mark.parametrize("make, says", [
    (lambda z, yh, y: dict(layers=[Dense(3, sp.nan * z), Dense(1)], loss="mse"), "activation nan holds the constant nan"),
    (lambda z, yh, y: dict(layers=[Dense(3, sp.oo * z), Dense(1)], loss="mse"), "activation oo*z holds the constant oo"),
    (lambda z, yh, y: dict(layers=[Dense(3, "tanh"), Dense(1)], loss=sp.oo * (yh - y) ** 2), "holds the constant oo"),
    (lambda z, yh, y: dict(layers=[Dense(3, "tanh"), Dense(1)], loss=(yh - y) ** 2 + sp.nan), "loss nan holds the constant nan"),
])
def test_a_formula_holding_an_infinite_or_undefined_constant_is_refused(make, says):
    """SymPy's nan, oo and zoo are no numbers: nan*z would differentiate to 0 and print as a gradient."""
    z, yh, y = sp.symbols("z yhat y")
    with pytest.raises(NetworkError, match=re.escape(says)):
        Network(2, **make(z, yh, y))


@pytest.mark.parametrize("spec, loss, says", [
    ("2-3:tanh-1", "-y*log(yhat)-(1-y)*log(1-yhat)", "takes log(yhat), which must be positive, but layer 2 (dense) "
                                                     "has no activation (identity): at z = -3 the output is -3"),
    ("2-3:tanh-1:relu", "-y*log(yhat)", "has the activation relu: at z = -3 the output is 0"),
    ("2-3:tanh-1:softplus", "-y*log(1-yhat)", "takes log(1 - yhat), which must be positive"),
])
def test_a_loss_formula_taking_the_log_of_an_output_that_can_leave_its_domain_is_refused(spec, loss, says):
    with pytest.raises(ModelError, match=re.escape(says)):
        parse_spec(spec, loss)


@pytest.mark.parametrize("spec, loss", [("2-3:tanh-1:sigmoid", "-y*log(yhat)-(1-y)*log(1-yhat)"),
                                        ("2-3:tanh-1:softplus", "yhat - y*log(yhat)"),   # Poisson: positive outputs
                                        ("2-3:tanh-2:softmax", "-y*log(yhat)")])
def test_a_loss_formula_whose_logs_the_output_keeps_defined_builds(spec, loss):
    assert parse_spec(spec, loss).build().loss_name == loss


@pytest.mark.parametrize("layers, says", [
    (lambda: Dense(1), "layers is a list of layers: write [Dense(...)] for a network of one layer"),
    (lambda: [Dense, Dense(1)], "layer 1 is the class Dense, not a layer: write Dense(...) with its size"),
    (lambda: [Dense(2, "tanh"), 3], "layer 2 is int 3, not a layer"),
])
def test_layers_that_are_not_layers_are_named(layers, says):
    with pytest.raises(NetworkError, match=re.escape(says)):
        Network(2, layers())


@pytest.mark.parametrize("spec, says, col", [
    ("2-3:tanh-3:(sqrt(z))-3:tanh-1", "layer 2: activation sqrt(z) is not real-valued for real inputs", 13),
    ("4x4x1-conv2k3:(log(z))-flatten-2:softmax", "activation log(z) is not real-valued for real inputs", 16),
])
def test_an_activation_formula_that_is_not_real_names_its_place_in_the_spec(spec, says, col):
    with pytest.raises(ModelError) as info:
        parse_spec(spec)
    text = str(info.value)
    assert says in text and f"at position {col} of" in text, text


def test_a_derivation_asked_for_a_parameter_it_lacks_names_the_ones_it_has():
    d = parse_spec("2-3:tanh-2:softmax").derive()
    with pytest.raises(KeyError, match=re.escape("no parameter 'W9'; the parameters are W1, b1, W2, b2")):
        d["W9"]
    assert d["W2"] is d.grads["W2"]


@pytest.mark.parametrize("make, says", [
    (lambda: __import__("derive").Bidirectional(None), "Bidirectional wraps a recurrent layer (SimpleRNN, GRU, LSTM, "
                                                       "Recurrent), not nothing"),
    (lambda: __import__("derive").Bidirectional(Dense(2)), "Bidirectional wraps a recurrent layer (SimpleRNN, GRU, "
                                                           "LSTM, Recurrent), not Dense"),
    (lambda: Network((4,), [__import__("derive").Embedding(10, 6), __import__("derive").TransformerBlock(4),
                            __import__("derive").Flatten(), Dense(2, "softmax")]).build(),
     "layer 2 (TransformerBlock): its 6 features do not split into 4 heads")])
def test_a_wrapper_or_block_names_itself_and_the_layer_the_user_declared(make, says):
    """Bidirectional(None) failed later with an AttributeError, Bidirectional(Dense) asked for a Flatten, and a
    block's heads were refused as 'layer 3 (Attention)', a layer inside the block the user declared as layer 2."""
    with pytest.raises(NetworkError, match=re.escape(says)):
        make()


def test_attention_and_the_transformer_block_are_exported_as_the_readme_writes_them():
    from derive import Attention, TransformerBlock
    assert Attention(2).heads == 2 and TransformerBlock(2).heads == 2


@pytest.mark.parametrize("loss, curve", [("y*log(yhat) + (1 - y)*log(1 - yhat)", "-4"), ("-(yhat - y)**2", "-2")])
def test_a_loss_with_its_sign_flipped_is_refused(loss, curve):
    """bce written without its minus trained to a loss of −369 and exit 0: minimizing it pushes ŷ from y."""
    with pytest.raises(NetworkError, match=rf"curves down where the prediction equals the target \(its second "
                                           rf"derivative in yhat is {curve} at yhat = y = 1/2\).*Is its sign flipped\?"):
        Network(2, [Dense(1, "sigmoid")], loss=loss)


@pytest.mark.parametrize("loss", ["log(cosh(yhat - y))", "(yhat - y)**2/2", "log(1 + (yhat - y)**2)", "abs(yhat - y)",
                                  "-(y*log(yhat) + (1 - y)*log(1 - yhat))"])
def test_losses_that_compare_are_taken(loss):
    assert Network(2, [Dense(1, "sigmoid")], loss=loss).derive()
