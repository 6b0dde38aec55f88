"""Built-in example networks (from the seed articles) and resolving a MODEL argument.

MODEL is a built-in name, a Python file defining ``net`` (or ``file.py:name``), or an inline spec
``2-2:tanh-2:softmax`` where an activation may be a formula in z in parentheses:
``2-3:(z*sigmoid(z))-1:sigmoid``.
"""
from __future__ import annotations

import re
import runpy
from dataclasses import dataclass, field
from pathlib import Path

from derive.formula.parse import FormulaError
from derive.network.functions import ACTIVATION_NAMES, unknown_activation
from derive.network.network import MODEL_ROUTE, Dense, Model, Network, NetworkError, TimeDistributed, _activation
from derive.network.parts import MAX_SIZE, bracketed


@dataclass(frozen=True)
class Example:
    net: Network
    summary: str
    source: str
    # Training defaults from the seed: optimizer, learning rate, epochs, batch size.
    train: dict = field(default_factory=dict)
    # For an example whose layers follow its input (a CNN): the network for another input shape.
    for_input: object = None

    def network(self, shape=None) -> Network:
        if shape is None or self.for_input is None or tuple(shape) == self.net.input_shape:
            return self.net
        return self.for_input(tuple(shape))


def _seed_cnn(shape) -> Network:
    """Seeds 000 and 003's Keras CNN. On the 8x8 digits the 3x3 convolutions pad ('same') so that
    two 2x2 poolings still fit; at MNIST's 28x28 it is the seed's network exactly ('valid')."""
    from derive.network.layers import Conv2D, Flatten, MaxPool2D
    pad = "same" if shape[0] < 16 else "valid"
    return Network(shape, [Conv2D(32, 3, padding=pad, activation="relu"), MaxPool2D(2),
                           Conv2D(64, 3, padding=pad, activation="relu"), MaxPool2D(2), Flatten(),
                           Dense(128, "relu"), Dense(10, "softmax")], loss="ce", name="cnn")


def _mnist1d_cnn() -> Network:
    """The CNN of the MNIST-1D paper: three Conv1D of 25 channels (k5 s2 p1, then k3 s2 p1 twice),
    relu, flatten, a linear layer to the 10 classes; initialised as the paper's PyTorch layers are."""
    from derive.network.layers import Conv1D, Flatten
    init = "pytorch"
    return Network((40, 1), [Conv1D(25, 5, 2, 1, "relu", init=init), Conv1D(25, 3, 2, 1, "relu", init=init),
                             Conv1D(25, 3, 2, 1, "relu", init=init), Flatten(), Dense(10, "softmax", init=init)],
                   loss="ce", name="cnn1d")


def _mnist1d_rnn() -> Network:
    """A simple RNN over MNIST-1D read as 40 time steps of one feature: 64 tanh units, the last state
    into a dense softmax layer."""
    from derive.network.recurrent import SimpleRNN
    return Network((40, 1), [SimpleRNN(64, "tanh"), Dense(10, "softmax")], loss="ce", name="rnn")


def _mnist1d_gru() -> Network:
    """The GRU of the MNIST-1D paper: bidirectional, 6 units each way, all 40 states of both directions
    flattened into a linear layer to the 10 classes; initialised as PyTorch's nn.GRU and nn.Linear are."""
    from derive.network.layers import Flatten
    from derive.network.recurrent import GRU, Bidirectional
    return Network((40, 1), [Bidirectional(GRU(6, sequences=True, init="pytorch")), Flatten(),
                             Dense(10, "softmax", init="pytorch")], loss="ce", name="gru")


CHAR_STEPS = 25   # the character-level language model reads windows of this many characters


def zen_text() -> str:
    """The Zen of Python, from the standard library's ``this`` module (which prints it when first
    imported: that output is swallowed here)."""
    import codecs
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


def char_vocabulary(text: str) -> list:
    return sorted(set(text))


def _char_lm() -> Network:
    """A character-level language model in the manner of char-rnn: one-hot characters in, a simple
    RNN of 64 tanh units, a softmax over the characters at every step; the loss is summed over the
    steps. Sized to the Zen of Python's characters."""
    from derive.network.recurrent import SimpleRNN
    vocab = len(char_vocabulary(zen_text()))
    return Network((CHAR_STEPS, vocab), [SimpleRNN(64, sequences=True), Dense(vocab, "softmax")], loss="ce",
                   name="charlm")


MAKEMORE_CONTEXT = 3   # characters the makemore MLP reads to predict the next


def name_list() -> list:
    """The distinct first names of the US census lists that the ``names`` package ships (female and male),
    lower case, sorted: the package's data files, read locally."""
    from importlib import resources
    out = set()
    for part in ("dist.female.first", "dist.male.first"):
        text = resources.files("names").joinpath(part).read_text()
        out.update(line.split()[0].lower() for line in text.splitlines() if line.strip())
    return sorted(w for w in out if w.isalpha() and w.isascii())


def _makemore() -> Network:
    """makemore's MLP (Bengio et al. 2003, as Karpathy's course builds it): an embedding of each of the
    previous 3 characters (27 of them, 10 numbers each), concatenated, a linear layer of 200 units (no
    bias: batch norm's β takes its place), batch norm, tanh, and a softmax over the 27 characters."""
    from derive.network.embedding import Embedding
    from derive.network.layers import Flatten
    from derive.network.norm import BatchNorm
    return Network(MAKEMORE_CONTEXT, [Embedding(27, 10), Flatten(), Dense(200, use_bias=False), BatchNorm("tanh"),
                                      Dense(27, "softmax")], loss="ce", name="makemore")


GPT_CONTEXT = 32   # characters the gpt example reads at a time, predicting each one's successor


def pydoc_text() -> str:
    """The standard library's pydoc topics (``pydoc_data.topics``), joined in key order: text that ships
    with Python itself (about 465,000 characters; the exact text differs between Python versions)."""
    from pydoc_data.topics import topics
    return "\n\n".join(topics[k] for k in sorted(topics))


def _gpt() -> Network:
    """A one-block character-level GPT: token and position embeddings of 48, a pre-norm transformer block
    of 3 causal heads (MLP 192 wide, relu), a final layer norm and a softmax over the characters at every
    step; the loss is the mean over the batch and the steps, as GPT's is."""
    from derive.network.attention import TransformerBlock
    from derive.network.embedding import Embedding
    from derive.network.norm import LayerNorm
    vocab = len(char_vocabulary(pydoc_text()))
    return Network(GPT_CONTEXT, [Embedding(vocab, 48, positions=True), TransformerBlock(3), LayerNorm(),
                                 Dense(vocab, "softmax")], loss="ce", name="gpt", steps="mean")


EXAMPLES = {
    "xor": Example(
        Network(2, [Dense(2, "tanh"), Dense(2, "softmax")], loss="ce", name="xor"),
        "XOR: 2 inputs, 2 tanh hidden units, 2 softmax outputs, cross-entropy (seed 000)",
        "000", {"optimizer": "sgd", "lr": 0.1, "epochs": 1000, "batch_size": 4, "seed": 3}),
    "linreg": Example(
        Network(1, [Dense(1, "identity"), Dense(1, "identity")], loss="mse", name="linreg"),
        "linear regression: Input(1) -> Dense(1) -> Dense(1), MSE, on X = y = [0, 1, 2, 3] (seed 004)",
        "004", {"optimizer": "sgd", "lr": 0.01, "epochs": 1000, "batch_size": 4}),
    "mlp": Example(
        Network(64, [Dense(128, "relu", dropout=0.2), Dense(10, "softmax")], loss="ce", name="mlp"),
        "digits MLP: Dense 128 relu, Dropout 0.2, Dense 10 softmax, Adam (seeds 001, 002)",
        "001, 002", {"optimizer": "adam", "lr": 0.001, "epochs": 30, "batch_size": 32}),
    "cnn": Example(
        _seed_cnn((8, 8, 1)),
        "digits CNN: Conv 32 3x3 relu, MaxPool 2, Conv 64 3x3 relu, MaxPool 2, Flatten, Dense 128 relu, "
        "Dense 10 softmax, Adam (seeds 000, 003); on the 8x8 digits the convolutions pad 'same' so the "
        "seed's layers fit; --input 28x28x1 (or MNIST data) gives the seed's 'valid' network",
        "000, 003", {"optimizer": "adam", "lr": 0.001, "epochs": 30, "batch_size": 32}, for_input=_seed_cnn),
    "cnn1d": Example(
        _mnist1d_cnn(),
        "MNIST-1D CNN (the MNIST-1D paper): Conv1D 25 k5 s2 p1, Conv1D 25 k3 s2 p1 twice, relu, Flatten, "
        "Dense 10, PyTorch's initialisation; Adam lr 1e-2, batch 100, 8000 steps through the training set in "
        "order, as the paper trains it; on MNIST-1D generated locally",
        "MNIST-1D", {"optimizer": "adam", "lr": 0.01, "epochs": 200, "batch_size": 100, "shuffle": False}),
    "rnn": Example(
        _mnist1d_rnn(),
        "MNIST-1D simple RNN (seed 003's recurrent network): 40 steps of one feature, SimpleRNN 64 tanh, its last "
        "state into Dense 10 softmax; Adam lr 1e-3, batch 100; on MNIST-1D generated locally",
        "003, MNIST-1D", {"optimizer": "adam", "lr": 0.001, "epochs": 100, "batch_size": 100}),
    "charlm": Example(
        _char_lm(),
        "character-level language model (char-rnn's network): windows of 25 one-hot characters of the Zen of "
        "Python, SimpleRNN 64 tanh, a softmax over the characters at every step, the loss summed over the steps; "
        "Adam lr 1e-2, batch 32",
        "003", {"optimizer": "adam", "lr": 0.01, "epochs": 60, "batch_size": 32}),
    "makemore": Example(
        _makemore(),
        "makemore MLP (Bengio et al. 2003): the previous 3 characters of a name, each embedded in 10 numbers, "
        "Dense 200 without bias, BatchNorm, tanh, softmax over the 27 characters; Adam lr 1e-2, batch 32; on the "
        "first names the `names` package ships, validation loss against the bigram baseline",
        "makemore", {"optimizer": "adam", "lr": 0.01, "epochs": 10, "batch_size": 32}),
    "gpt": Example(
        _gpt(),
        "character-level GPT: windows of 32 characters of the pydoc topics that ship with Python, token and position "
        "embeddings of 48, one pre-norm transformer block (3 causal heads, MLP 192 relu), layer norm, softmax at "
        "every step; Adam lr 3e-3, batch 32; validation loss against the bigram baseline",
        "gpt", {"optimizer": "adam", "lr": 0.003, "epochs": 4, "batch_size": 32}),
    "gru": Example(
        _mnist1d_gru(),
        "MNIST-1D GRU (the MNIST-1D paper): bidirectional GRU of 6 units, all 40 states of both directions "
        "flattened into Dense 10; PyTorch's initialisation; Adam lr 1e-2, batch 100, 8000 steps through the "
        "training set in order, as the paper trains it; on MNIST-1D generated locally",
        "MNIST-1D", {"optimizer": "adam", "lr": 0.01, "epochs": 200, "batch_size": 100, "shuffle": False}),
}


class ModelError(ValueError):
    """A MODEL argument that names nothing usable. ``position`` (0-based) is where in the spec, when the
    message points at one; ``message`` is the message without the echoed spec."""

    def __init__(self, text, *args):
        super().__init__(text, *args)
        self.position = getattr(text, "pos", None)
        self.message = getattr(text, "message", str(text))


class _Located(str):
    """A message that points at a position of the spec (``_at``), carrying the position and the bare message."""

    def __new__(cls, text, pos, message):
        self = super().__new__(cls, text)
        self.pos, self.message = pos, message
        return self


def parse_spec(spec: str, loss=None) -> Network:
    """An inline spec: sizes separated by '-', each layer ``units[:activation]``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(spec):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ModelError(_at(spec, i, "unbalanced ')'"))
        elif ch == "-" and depth == 0:
            parts.append((start, spec[start:i]))
            start = i + 1
    if depth:
        raise ModelError(_at(spec, len(spec) - 1, "unbalanced '('"))
    parts.append((start, spec[start:]))
    if len(parts) < 2:
        raise ModelError(_at(spec, 0, "a spec needs an input size and at least one layer, e.g. 2-2:tanh-1:sigmoid"))
    pos, first = parts[0]
    first = _input(spec, pos, first)
    layers = []
    for pos, part in parts[1:]:
        if re.match(r"(bi)?(rnn|gru|lstm)\d", part):
            layers.append(_recurrent_layer(spec, pos, part))
            continue
        if re.match(r"(conv|pool|maxpool|avgpool|flatten)", part):
            layers.append(_window_layer(spec, pos, part))
            continue
        if re.match(r"(bn|ln)(:|$)|emb|att\d|block\d", part):
            layers.append(_norm_or_embedding(spec, pos, part))
            continue
        each = part.startswith("td") and part[2:3].isdigit()   # td5:tanh, a dense layer at every step of a sequence
        if each:
            pos, part = pos + 2, part[2:]
        units, colon, rest = part.partition(":")
        n = _size(spec, pos, units, "a layer size")
        act, apos, bias, drop = (_layer_options(spec, pos + len(units) + 1, rest, part, dropout=True) if colon
                                 else ("identity", pos + len(units) + 1, True, None))
        layers.append((apos, n, act, bias, drop, each))
    if loss is None:
        last = layers[-1][2] if isinstance(layers[-1], tuple) else "identity"
        loss = "ce" if last == "softmax" else "bce" if last == "sigmoid" else "mse"
    built = []
    for layer in layers:
        if isinstance(layer, _Deferred):
            nd = len(first) - 1 if isinstance(first, tuple) else 0
            if layer.what == "flatten" and any(type(b).__name__ == "Embedding" for b in built):
                built.append(layer.make(nd))   # an embedding's positions, side by side
                continue
            if nd not in (1, 2):
                raise ModelError(_at(spec, layer.pos, f"{layer.what} needs an input with a shape: length x channels "
                                                      f"(40x1) or height x width x channels (28x28x1)"))
            built.append(layer.make(nd))
            continue
        if not isinstance(layer, tuple):  # a recurrent layer, already made
            built.append(layer)
            continue
        apos, units, act, bias, drop, each = layer
        try:
            _activation(act)
        except FormulaError as exc:
            raise ModelError(_at(spec, apos + bracketed(act) + exc.col, f"activation formula: {exc.message}")) from None
        except NetworkError as exc:   # a formula that parses but is no real function derivax computes
            raise ModelError(_at(spec, apos + 1, f"layer {len(built) + 1}: {exc}")) from None
        dense = Dense(units, act, use_bias=bias, dropout=drop) if drop else Dense(units, act, use_bias=bias)
        built.append(TimeDistributed(dense) if each else dense)
    try:
        return Network(first, built, loss=loss, name=spec)
    except NetworkError as exc:
        raise ModelError(f"{exc} (in the spec {_short(spec)!r})") from None


# conv32k3, conv25k5s2p1:relu, conv8k3psame; pool2, maxpool3s2, avgpool2; flatten
WINDOW_LAYER = re.compile(r"(?:(conv)(\d+)k(\d+)(?:s(\d+))?(?:p(\d+|same|valid))?"
                          r"|(pool|maxpool|avgpool)(\d+)(?:s(\d+))?|(flatten))(?::(.*))?$", re.S)


def _window_layer(spec: str, pos: int, part: str):
    """A convolution, pooling or flatten layer of a spec; its dimension (1-D or 2-D) follows the input."""
    from derive.network.layers import AvgPool1D, AvgPool2D, Conv1D, Conv2D, Flatten, MaxPool1D, MaxPool2D
    match = WINDOW_LAYER.match(part)
    twice = re.match(r"(?:conv\d+k\d+|(?:max|avg)?pool\d+)(?:[sp](?:\d+|same|valid))*?([sp])(?:\d+|same|valid)"
                     r"(?:[sp](?:\d+|same|valid))*?\1", part) if not match else None
    if twice:   # conv2k3s2s2: an option given twice, said as such
        said = {"s": "the stride", "p": "the padding"}[twice.group(1)]
        raise ModelError(_at(spec, pos + twice.end() - 1, f"{said} is given twice in {part.split(':')[0][:20]}"))
    if not match:
        raise ModelError(_at(spec, pos, f"expected a layer: units[:activation] (128:relu), convFkK[sS][pP][:act] "
                                        f"(conv32k3:relu, conv25k5s2p1), pool2 / maxpool3s2 / avgpool2, or flatten; "
                                        f"found {part[:20]!r}"))
    conv, filters, kernel, stride, pad, pool, size, pstride, flat, act = match.groups()
    if flat:
        if act is not None:
            raise ModelError(_at(spec, pos + len("flatten"), "flatten takes no activation"))
        return _Deferred(pos, "flatten", lambda nd: Flatten())
    if pool:
        if act is not None:
            raise ModelError(_at(spec, pos + match.end(8 if pstride else 7), f"{pool} takes no activation"))
        size_ = _size(spec, pos + match.start(7), size, "a pool size")
        stride_ = _size(spec, pos + match.start(8), pstride, "a pool stride") if pstride else None
        kind = AvgPool2D if pool == "avgpool" else MaxPool2D
        one = AvgPool1D if pool == "avgpool" else MaxPool1D
        return _Deferred(pos, pool, lambda nd: (one if nd == 1 else kind)(size_, stride_))
    if act is None:
        act, apos, bias = "identity", pos + len(part), True
    else:
        act, apos, bias, _ = _layer_options(spec, pos + match.start(10), act, part[:match.start(10) - 1], dropout=False)
    filters_ = _size(spec, pos + match.start(2), filters, "a number of filters")
    kernel_ = _size(spec, pos + match.start(3), kernel, "a kernel size")
    stride_ = _size(spec, pos + match.start(4), stride, "a stride") if stride else 1
    pad_ = "valid" if pad is None else pad if pad in ("same", "valid") else int(pad)
    try:
        _activation(act)
    except FormulaError as exc:
        raise ModelError(_at(spec, apos + bracketed(act) + exc.col, f"activation formula: {exc.message}")) from None
    except NetworkError as exc:
        raise ModelError(_at(spec, apos + 1, str(exc))) from None
    return _Deferred(pos, "conv", lambda nd: (Conv1D if nd == 1 else Conv2D)(filters_, kernel_, stride_, pad_, act,
                                                                              use_bias=bias))


# bn, bn:tanh, bn:tanh:unbiased, ln:relu: batch or layer norm, then an activation; emb27x10: an embedding
# emb27x10:pos (with a row per position); att2 (two heads, causal), att2:full (every key); block2, block2x64
# (a pre-norm transformer block of two heads, its MLP 64 wide)
NORM_LAYER = re.compile(r"(bn|ln)((?::[^:]*)*)$", re.S)
EMBEDDING_LAYER = re.compile(r"emb(\d+)x(\d+)(:pos)?$")
ATTENTION_LAYER = re.compile(r"(att|block)(\d+)(?:x(\d+))?(:full)?$")


def _norm_or_embedding(spec: str, pos: int, part: str):
    from derive.network.attention import Attention, TransformerBlock
    from derive.network.embedding import Embedding
    from derive.network.norm import BatchNorm, LayerNorm
    if part.startswith("emb"):
        match = EMBEDDING_LAYER.match(part)
        twice = re.match(r"emb\d+x\d+:pos:pos(?::|$)", part)
        if twice:
            raise ModelError(_at(spec, pos + len(part.split(":pos")[0]) + 5, "pos is given twice in the embedding"))
        if not match:
            raise ModelError(_at(spec, pos, "expected an embedding: embVxD[:pos] (emb27x10: 27 rows of 10; :pos adds "
                                            f"a row per position); found {part[:20]!r}"))
        return Embedding(_size(spec, pos + match.start(1), match.group(1), "a vocabulary size"),
                         _size(spec, pos + match.start(2), match.group(2), "an embedding size"), bool(match.group(3)))
    if part.startswith(("att", "block")):
        match = ATTENTION_LAYER.match(part)
        if not match or (match.group(1) == "att" and match.group(3)):
            raise ModelError(_at(spec, pos, "expected attention: attH[:full] (att2: two causal heads) or a transformer "
                                            f"block blockH[xHIDDEN][:full]; found {part[:20]!r}"))
        kind, heads, hidden, full = match.groups()
        h = _size(spec, pos + match.start(2), heads, "a number of heads")
        if kind == "att":
            return Attention(h, causal=not full)
        return TransformerBlock(h, _size(spec, pos + match.start(3), hidden, "an MLP width") if hidden else None,
                                causal=not full)
    match = NORM_LAYER.match(part)
    if not match:
        raise ModelError(_at(spec, pos, f"expected bn[:activation][:unbiased] or ln[:activation]; found {part[:20]!r}"))
    kind, rest = match.groups()
    act, unbiased, at = None, False, pos + len(kind)
    for option in rest.split(":")[1:]:
        at += 1
        if option == "unbiased" and kind == "bn" and not unbiased:
            unbiased = True
        elif option == "unbiased" and kind == "bn":
            raise ModelError(_at(spec, at, f"unbiased is given twice in {kind}"))
        elif act is None and _activation_option(spec, at, option):
            act = option
        elif act is not None and _activation_option(spec, at, option):
            raise ModelError(_at(spec, at, f"the activation is given twice in {kind} ({act} and {option[:20]})"))
        else:
            raise ModelError(_at(spec, at, f"unknown option {option[:20]!r} of {kind}: expected an activation"
                                           + (" or unbiased (the variance with 1/(m − 1))" if kind == "bn" else "")))
        at += len(option)
    layer = BatchNorm if kind == "bn" else LayerNorm
    return layer(act or "identity", variance="unbiased" if unbiased else "biased")


def _activation_option(spec: str, at: int, option: str) -> bool:
    """Whether a layer's option (at position ``at`` of the spec) is an activation: a table name, or a
    formula in z in parentheses, which must parse (a ModelError names the position where it does not)."""
    if not option or not (option in ACTIVATION_NAMES or option.startswith("(") and option.endswith(")")):
        return False
    try:
        _activation(option)
    except FormulaError as exc:
        raise ModelError(_at(spec, at + bracketed(option) + exc.col, f"activation formula: {exc.message}")) from None
    return True


# rnn32, rnn32:relu, rnn32:seq, gru6:seq, bigru6:seq, lstm8: a recurrent layer, its last state unless :seq
RECURRENT_LAYER = re.compile(r"(bi)?(rnn|gru|lstm)(\d+)((?::[^:]*)*)$", re.S)


def _recurrent_layer(spec: str, pos: int, part: str):
    from derive.network.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
    match = RECURRENT_LAYER.match(part)
    if not match:
        raise ModelError(_at(spec, pos, "expected a recurrent layer: rnnN[:activation][:seq], gruN[:seq], lstmN[:seq], "
                                        f"with bi before for both directions (bigru6:seq); found {part[:20]!r}"))
    bi, kind, units, rest = match.groups()
    n = _size(spec, pos + match.start(3), units, "a number of units")
    options, at, act, seq = rest.split(":")[1:], pos + match.end(3), None, False
    for option in options:
        at += 1
        if option == "seq" and seq:
            raise ModelError(_at(spec, at, f"seq is given twice in {kind}{units}"))
        if option == "seq":
            seq = True
        elif kind == "rnn" and act is None and _activation_option(spec, at, option):
            act = option
        else:
            what = ("seq (every state) or an activation" if kind == "rnn" else
                    f"seq (every state); a{'n LSTM' if kind == 'lstm' else ' GRU'}'s gates have their own activations")
            raise ModelError(_at(spec, at, f"unknown option {option[:20]!r} of {kind}{units}: expected {what}"))
        at += len(option)
    layer = (SimpleRNN(n, act or "tanh", sequences=seq) if kind == "rnn" else GRU(n, sequences=seq) if kind == "gru"
             else LSTM(n, sequences=seq))
    return Bidirectional(layer) if bi else layer


def _layer_options(spec: str, pos: int, text: str, layer: str, dropout: bool) -> tuple:
    """(activation, its position in the spec, use_bias, dropout rate or None) of a layer's text after its size
    (``text``, at position ``pos`` of the spec), its parts separated by ':' in any order: an activation (a name,
    or a formula in z in parentheses), ``nobias`` (no bias), and where ``dropout`` is allowed ``drop0.2`` (drop
    20% of the layer's outputs while training: inverted dropout, the kept ones scaled by 1/0.8). Each may be
    given once; ``layer`` names the layer in messages."""
    act, apos, bias, drop = None, pos, True, None
    shown = layer if len(layer) <= 30 else layer[:27] + "..."
    for at, option in _split_options(text, pos):
        if option == "nobias":
            if not bias:
                raise ModelError(_at(spec, at, f"nobias is given twice in {shown}"))
            bias = False
        elif dropout and option.startswith("drop"):
            rate = option[len("dropout"):] if option.startswith("dropout") else option[len("drop"):]
            if not re.fullmatch(r"0?\.[0-9]+", rate) or not 0 < float(rate) < 1:
                raise ModelError(_at(spec, at, "dropout takes a rate between 0 and 1, as drop0.2; "
                                               f"found {option[:20]!r}"))
            if drop is not None:
                raise ModelError(_at(spec, at, f"dropout is given twice in {shown}"))
            drop = float(rate)
        elif act is None and option:
            if not (option.startswith("(") and option.endswith(")")) and option not in ACTIVATION_NAMES:
                raise ModelError(_at(spec, at, unknown_activation(option, "or a formula in z in parentheses")))
            act, apos = option, at
        elif option in ACTIVATION_NAMES or option.startswith("(") and option.endswith(")"):
            raise ModelError(_at(spec, at, f"the activation is given twice in {shown} ({act or 'identity'} and "
                                           f"{option[:20]}): a layer has one"))
        else:
            written = f"{act}:{option}"
            said = unknown_activation(written) if act else ""
            if said.startswith(f"activation {written!r}:"):   # leaky_relu:alpha=0.2: a parameter, which has a formula
                raise ModelError(_at(spec, apos, said))
            expected = "an activation, nobias or a dropout rate (drop0.2)" if dropout else "an activation or nobias"
            if not option:
                where = "after the" if at == pos + len(text) else "between two"
                raise ModelError(_at(spec, at, f"an empty option: nothing {where} ':' in {shown!r}; expected "
                                               f"{expected}"))
            raise ModelError(_at(spec, at, f"unknown option {option[:20]!r} of {shown}: expected {expected}"))
    return act or "identity", apos, bias, drop


def _split_options(text: str, pos: int) -> list:
    """(position, part) of ``text`` (at position ``pos`` of the spec) cut at each ':' outside parentheses."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == ":" and depth == 0:
            out.append((pos + start, text[start:i]))
            start = i + 1
    out.append((pos + start, text[start:]))
    return out


class _Deferred:
    """A spec's window layer, made 1-D or 2-D once the input's rank is known (see ``_input``)."""

    def __init__(self, pos, what, make):
        self.pos, self.what, self.make = pos, what, make


def _input(spec: str, pos: int, text: str):
    """The input of a spec: a size (64) or a shape, sizes joined by 'x' (40x1, 28x28x1)."""
    if "x" not in text:
        return _size(spec, pos, text, "the input size")
    sizes, at = [], pos
    for piece in text.split("x"):
        sizes.append(_size(spec, at, piece, "an input size"))
        at += len(piece) + 1
    if len(sizes) > 3:
        raise ModelError(_at(spec, pos, f"an input shape has 2 sizes (length x channels) or 3 (height x width x "
                                        f"channels), not {len(sizes)}"))
    return tuple(sizes)


def _size(spec: str, pos: int, text: str, what: str) -> int:
    """A size in a spec: ASCII digits only (str.isdigit also takes '²' and '①'), 1 to MAX_SIZE."""
    if not re.fullmatch(r"[0-9]+", text):
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise ModelError(_at(spec, pos, f"expected {what} (a positive integer), found {shown!r}"))
    if len(text) > len(str(MAX_SIZE)) or int(text) > MAX_SIZE:
        shown = text if len(text) <= 20 else f"{text[:10]}... ({len(text)} digits)"
        raise ModelError(_at(spec, pos, f"{what} {shown} is too large (at most {MAX_SIZE})"))
    if int(text) < 1:
        raise ModelError(_at(spec, pos, f"expected {what} (a positive integer), found {text!r}"))
    return int(text)


def _at(spec: str, pos: int, message: str, width: int = 70) -> str:
    """``message at position N``, then the spec with a caret under N: a long spec is cut to a window
    of about ``width`` characters around N, so it is echoed once, readably."""
    start = max(0, min(pos - width // 2, len(spec) - width))
    window = spec[start:start + width]
    left, right = ("..." if start > 0 else ""), ("..." if start + width < len(spec) else "")
    shown = repr(spec) if len(spec) <= width else f"the spec ({len(spec)} characters)"
    return _Located(f"{message} at position {pos + 1} of {shown}\n  {left}{window}{right}\n  "
                    f"{' ' * (pos - start + len(left))}^", pos, message)


def resolve(model: str, loss=None, input_shape=None, l2=None, l2_form=None, reduction=None) -> tuple[str, Network]:
    """(name, network) for a MODEL argument; ``input_shape`` picks a built-in CNN's variant for
    that input (the seed CNN at 28x28x1); ``l2`` and ``l2_form`` add (or replace) its weight decay;
    ``reduction="sum"`` makes J the sum over the batch, not the mean."""
    for i, ch in enumerate(model if isinstance(model, str) else ""):   # a byte of no UTF-8 character, as the
        if 0xDC80 <= ord(ch) <= 0xDCFF:                               # command line hands it on
            shown = model.translate({c: "\ufffd" for c in range(0xDC80, 0xDD00)})
            raise ModelError(_at(shown, i, f"the byte 0x{ord(ch) - 0xDC00:02x} is not UTF-8 text (a Latin-1 no-break "
                                           "space or accent?): retype that character"))
    name, net = _resolve(model, loss, input_shape)
    if reduction is not None and reduction != getattr(net, "reduction", "mean"):
        net = Network(net.n_inputs, net.layers, loss=net.loss, l2=net.l2, name=net.name, steps=net.steps,
                      l2_form=net.l2_form, reduction=reduction)
    if l2 is None and l2_form is None:
        return name, net
    if l2 is None and not net.l2:
        raise ModelError("--l2-form says how the weight decay is written; give its λ with --l2 (e.g. --l2 0.01)")
    return name, Network(net.n_inputs, net.layers, loss=net.loss, l2=net.l2 if l2 is None else l2, name=net.name,
                         steps=net.steps, l2_form=l2_form or net.l2_form, reduction=getattr(net, "reduction", "mean"))


def _resolve(model: str, loss=None, input_shape=None) -> tuple[str, Network]:
    model = model.strip() if isinstance(model, str) else model
    if not isinstance(model, str) or not model:
        raise ModelError("no model given: name a built-in example (" + ", ".join(EXAMPLES) + "), a .py file, "
                         "or an inline spec such as 2-2:tanh-2:softmax")
    if input_shape is not None and not (model in EXAMPLES and EXAMPLES[model].for_input is not None):
        adaptive = ", ".join(k for k, e in EXAMPLES.items() if e.for_input is not None)
        raise ModelError(f"--input applies to the built-in examples whose layers follow their input ({adaptive}); "
                         "a spec declares its own input shape (28x28x1-conv32k3:relu-...)")
    if model in EXAMPLES:
        net = EXAMPLES[model].network(input_shape)
        if loss is not None:
            net = Network(net.n_inputs, net.layers, loss=loss, l2=net.l2, name=net.name, steps=net.steps, l2_form=net.l2_form)
        return model, net
    path, attr = model_path(model)
    if path.endswith(".py"):
        if Path(path).is_dir():
            raise ModelError(f"{path} is a folder, not a model file: name the .py file that declares the network")
        kind = file_kind(path)
        if kind:   # never opened: reading a FIFO would wait for a writer
            raise ModelError(f"{path} is {kind}, not a model file: name the .py file that declares the network")
        if not Path(path).is_file():
            raise ModelError(f"no such file: {path}")
        attr = attr or "net"
        if not attr.isidentifier():
            raise ModelError(f"{path}:{attr}: {attr!r} is not a Python name; name the variable that holds the "
                             "network (file.py:net)")
        namespace = run_model_file(path)
        if attr not in namespace:
            raise ModelError(f"{path} defines no {attr!r}; define `{attr} = Network(...)`")
        net = namespace[attr]
        if not isinstance(net, Network):
            route = f": {MODEL_ROUTE}" if isinstance(net, Model) else ""
            raise ModelError(f"{path}:{attr} is a {type(net).__name__}, not a derive.Network{route}")
        if loss is not None:
            net = Network(net.n_inputs, net.layers, loss=loss, l2=net.l2, name=net.name, steps=net.steps, l2_form=net.l2_form)
        return attr, net
    if re.match(r"^\s*[\d-]", model) or model[:1].isdigit():  # isdigit: '２-3' is a spec with a bad size
        return _short(model), parse_spec(model, loss)
    raise ModelError(f"unknown model {_short(model)!r}: not a built-in example ({', '.join(EXAMPLES)}), "
                     "a .py file, or an inline spec such as 2-2:tanh-2:softmax")


def model_path(model: str) -> tuple:
    """(path, name) of a MODEL argument ``file.py`` or ``file.py:name``; (model, "") for any other. The name
    follows the last ':' where what comes before it is a .py file that exists, or the whole argument is none,
    so that a path with a colon of its own (``runs/a:b/net.py:net``) takes a name too."""
    head, sep, tail = model.rpartition(":")
    if sep and head.endswith(".py") and (Path(head).is_file() or not model.endswith(".py")):
        return head, tail
    return model, ""


def file_kind(path) -> str | None:
    """What ``path`` is where it is no regular file: "a directory", "a FIFO (a named pipe)", "a character device",
    "a block device", "a socket"; None for a regular file, or a path that does not exist or cannot be looked up.
    Found without opening it: opening a FIFO to read it waits for a writer, forever where none comes."""
    import os
    import stat
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):   # ValueError: a NUL character in the name
        return None
    for test, what in ((stat.S_ISREG, None), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (a named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "no regular file"


STRAY_THREADS: list = []   # (model file, thread): threads a model file started and left running
STRAY_PROCESSES: list = []   # (model file, process id): child processes a model file started and left running
MODEL_FILE_SECONDS = 30.0   # a model file declares a network: work past this is a loop, a download, a mistake
MODEL_FILE_GRACE = 2.0      # how long past the limit the file may take to unwind before it is stopped outright


def run_model_file(path: str, seconds: float | None = None) -> dict:
    """Run the user's model file as ``python file.py`` would and return its namespace. What it raises
    becomes a ModelError showing the user's own frames only (derivax's frames are no help there).

    What the file prints goes to standard error: standard output belongs to the command (``show --format
    json``, ``predict``'s table), and a stray line there corrupts it. The file runs under a time limit
    (``seconds``, default MODEL_FILE_SECONDS): Python code past it is cut off by ``derive.run.limits``
    and reported as a ModelError; code that cannot be cut off from inside (a C call that never returns to
    the interpreter, a loop that catches even the cut-off) is ended with the process by a watchdog
    process MODEL_FILE_GRACE seconds later, which says why first."""
    import signal
    import threading
    from derive.run.limits import time_limit
    seconds = MODEL_FILE_SECONDS if seconds is None else seconds
    # The cut-off comes from SIGALRM on the main thread: where there is none (Windows), no limit.
    timed = hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread()
    before, children = set(threading.enumerate()), _children()
    try:
        with _stdout_to_stderr(), _watchdog(path, seconds):
            with time_limit(seconds if timed else None) as limit:
                namespace = _run(path)
    finally:
        # A thread the file started and left running would keep the process alive after the command is done, and a
        # child process would outlive it (multiprocessing waits for its own at exit): the command line ends both
        # once its work is over (compile.cli.main.console), and says so.
        STRAY_THREADS.extend((path, t) for t in threading.enumerate() if t not in before and not t.daemon)
        STRAY_PROCESSES.extend((path, pid) for pid in sorted(_children() - children))
    if limit.expired:
        raise ModelError(f"{path}: running the model file took longer than {seconds:g} s, the limit for loading a "
                         "model file, and was stopped: a model file should only declare `net` (is there a loop that "
                         "never ends, or training or a download at its top level?)")
    return namespace


def _children() -> set:
    """The ids of this process's child processes: from /proc where Linux lists them (every child, however it was
    started), else those multiprocessing started."""
    import glob
    import sys
    found, listed = set(), False
    for name in glob.glob("/proc/self/task/*/children"):
        try:
            with open(name) as f:
                found.update(int(pid) for pid in f.read().split())
            listed = True
        except (OSError, ValueError):
            pass
    if not listed and "multiprocessing" in sys.modules:
        found.update(p.pid for p in sys.modules["multiprocessing"].active_children() if p.pid)
    return found


def end_stray_processes() -> list:
    """End the child processes that model files started and left running (SIGTERM, then SIGKILL a moment
    later); returns (model file, process id) of those that were still running. A process already ended (and
    collected, by multiprocessing or the file itself) is left alone: its id may belong to another by now."""
    import os
    import signal
    import time
    running = []
    for path, pid in STRAY_PROCESSES:
        try:
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                running.append((path, pid))
        except ChildProcessError:
            pass
    STRAY_PROCESSES.clear()
    for _, pid in running:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 1.0
    for _, pid in running:
        try:
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    break
                time.sleep(0.01)
        except OSError:   # collected meanwhile
            pass
    return running


class _Exited(BaseException):
    """os._exit called by a model file: it would end derivax on the spot, with its status and without a word."""


def _run(path: str) -> dict:
    import faulthandler
    import os
    import sys
    from derive.run import worker  # noqa: F401 - imported before os._exit is replaced: its children take the real one
    from derive.run.limits import OutOfTime

    def refuse_exit(status):
        if os.getpid() != here:   # a child forked while the file runs (a SymPy step under its limit) leaves as it would
            real_exit(status)
        raise _Exited(status)
    real_exit, handled, here = os._exit, faulthandler.is_enabled(), os.getpid()
    os._exit = refuse_exit
    interrupted = _interrupts()   # a Ctrl-C while the file runs is the user's: it stays an interruption
    if not handled:   # a crash in native code (ctypes, an extension) prints the file's line before the process ends
        try:
            faulthandler.enable(file=sys.__stderr__ or sys.stderr)
        except (AttributeError, ValueError, OSError):   # no stderr with a descriptor
            handled = True
    try:
        return runpy.run_path(path)
    except _Exited as exc:
        raise ModelError(f"{path} called os._exit({exc.args[0]!r}) before it defined a network") from None
    except SystemExit as exc:
        raise ModelError(f"{path} exited (sys.exit({exc.code!r})) before it defined a network") from None
    except OutOfTime:
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's program failed: say where, in their file
        from derive.run.limits import _cut_off
        if _cut_off(exc) is not None:   # the time limit's cut-off, wrapped by code it went through
            raise
        if isinstance(exc, KeyboardInterrupt) and interrupted.seen:   # Ctrl-C, not a raise in the file
            raise
        if isinstance(exc, (ModelError, NetworkError, FormulaError)):
            detail = str(exc)
        else:   # KeyboardInterrupt and MemoryError too: the file raised them, derivax was not interrupted
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, SyntaxError) and exc.lineno is None or isinstance(exc, ValueError) and "null bytes" in str(exc):
            return _raise(f"{path} is not Python source: {getattr(exc, 'msg', None) or exc}")
        if isinstance(exc, SyntaxError):
            return _raise(f"{path} has a syntax error at line {exc.lineno}: {exc.msg}")
        import traceback
        mine = Path(path).resolve()
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if Path(f.filename).resolve() == mine]
        shown = "".join(traceback.format_list(frames)).rstrip()
        raise ModelError(f"{path} raised {detail}" + (f"\nTraceback (your file):\n{shown}" if shown else "")) \
            from None
    finally:
        os._exit = real_exit
        interrupted.restore()
        if not handled:
            faulthandler.disable()
        if os.getpid() != here:   # a child the file forked came to its end: it must not go on to run the command
            real_exit(0)


class _interrupts:
    """SIGINT noted while a model file runs, then raised as KeyboardInterrupt as Python's own handler does:
    ``seen`` tells a real Ctrl-C from a KeyboardInterrupt the file raises itself. Only where Python's handler is
    in place (on the main thread, SIGINT not ignored); ``restore()`` puts it back unless the file set its own."""

    def __init__(self):
        import signal
        import threading
        self.seen, self.installed = False, False
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            try:
                signal.signal(signal.SIGINT, self._on_interrupt)
                self.installed = True
            except (ValueError, OSError):
                pass

    def _on_interrupt(self, signum, frame):
        self.seen = True
        raise KeyboardInterrupt

    def restore(self):
        import signal
        if self.installed and signal.getsignal(signal.SIGINT) == self._on_interrupt:
            signal.signal(signal.SIGINT, signal.default_int_handler)


class _stdout_to_stderr:
    """Standard output sent to standard error for the block: Python's ``print`` (sys.stdout) and what C
    code or a child process writes to file descriptor 1."""

    def __enter__(self):
        import contextlib
        import os
        import sys
        self._redirect = contextlib.redirect_stdout(sys.stderr)
        self._saved = None
        try:
            sys.stdout.flush()
            sys.__stdout__.flush()
            self._saved = os.dup(1)
            os.dup2(2, 1)
        except (OSError, ValueError, AttributeError):   # no descriptor 1 (a closed stdout): Python's alone
            self._saved = None
        self._redirect.__enter__()
        return self

    def __exit__(self, *exc):
        import os
        import sys
        self._redirect.__exit__(*exc)
        if self._saved is not None:
            try:
                sys.stderr.flush()
                if sys.__stdout__ is not None:
                    sys.__stdout__.flush()
                os.dup2(self._saved, 1)
            finally:
                os.close(self._saved)
        return False


class _watchdog:
    """A child process that ends this one if the block outlives ``seconds`` + MODEL_FILE_GRACE: the last
    resort for code ``time_limit`` cannot reach (it raises between bytecodes, and a C call that never
    returns, or an ``except BaseException`` in a loop, never lets it finish). The child says why on
    standard error, then kills this process (exit status 137 in a shell). Leaving the block in time writes
    to a pipe the child waits on, and it leaves quietly. Where there is no fork, the block runs without it."""

    def __init__(self, path, seconds):
        self.path, self.seconds = path, seconds

    def __enter__(self):
        import os
        import select
        import signal
        self.pid = None
        if not hasattr(os, "fork") or not self.seconds or self.seconds <= 0:
            return self
        message = (f"derivax: {self.path}: running the model file took longer than {self.seconds:g} s, the limit "
                   "for loading a model file, and could not be interrupted (a call that never returns to Python, "
                   "or a loop that catches every exception): derivax stopped\n").encode("utf-8", "replace")
        from derive.run.worker import fork
        global _AT_FORK
        if not _AT_FORK and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_close_watchdog_pipes)
            _AT_FORK = True
        read, write = os.pipe()
        parent = os.getpid()
        pid = fork()   # the child waits on a pipe, writes a line, sends a signal, exits
        if pid == 0:   # the watchdog
            try:
                os.close(write)
                ready, _, _ = select.select([read], [], [], self.seconds + MODEL_FILE_GRACE)
                if not ready:
                    os.write(2, message)
                    os.kill(parent, signal.SIGKILL)
            finally:
                os._exit(0)
        os.close(read)
        self.pid, self.write = pid, write
        _WATCHDOG_PIPES.add(write)
        return self

    def __exit__(self, *exc):
        import os
        if self.pid is not None:
            # The watchdog leaves on a byte, or on the end of the pipe: a byte, because a process the file forked
            # may hold the pipe open (one forked by Python closes it, see _close_watchdog_pipes; one forked by C
            # code keeps it).
            _WATCHDOG_PIPES.discard(self.write)
            try:
                os.write(self.write, b".")
            except OSError:
                pass
            os.close(self.write)
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
        return False


_WATCHDOG_PIPES: set = set()   # the write ends of the pipes watchdogs wait on, open while a model file runs
_AT_FORK = False


def _close_watchdog_pipes():
    """In a child forked while a model file runs (multiprocessing, os.fork in the file): close the watchdogs'
    pipes, which belong to this process alone."""
    import os
    for fd in list(_WATCHDOG_PIPES):
        try:
            os.close(fd)
        except OSError:
            pass
    _WATCHDOG_PIPES.clear()


def _raise(message):
    raise ModelError(message)


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else f"{text[:width - 20]}...{text[-12:]}"


__all__ = ["EXAMPLES", "Example", "ModelError", "NetworkError", "parse_spec", "resolve"]
