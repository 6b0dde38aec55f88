"""A formula as the books and courses print it, respelled into the grammar ``derive.formula.parse`` reads.

Students copy gradient formulas from where they read them: derivax's own text view (``(1/m) δ₂ A₁ᵀ``),
a textbook's typeset notation (``W₂ᵀ δ₂ ⊙ σ′(Z₁)``, ``A − Y``), LaTeX (``\\frac{1}{m} \\delta_2 A_1^\\top``),
Octave (``Theta2' .* ...``) or a line of their notebook (``dW2 = 1/m * np.dot(dZ2, A1.T);``). ``respell``
rewrites those spellings, character by character, into the Python-shaped text the whitelisted parser
walks; it never evaluates anything, and it keeps, for every character it writes, the offset of the
character of the user's text it came from, so that an error points into what the user typed.

What it rewrites (nothing else is touched):

- around the formula: backticks, ``$...$``, ``\\( ... \\)``; a left-hand side ``dW2 =`` or ``∂J/∂W₂ =``;
  a trailing ``;``;
- unicode: ``−`` and dashes as ``-``; ``⊙`` and ``∘`` as ``*``; ``·``, ``⋅`` and ``×`` as a product (below);
  ``ᵀ`` and ``⊤`` as ``.T``; ``²``, ``³`` as ``**2``, ``**3``; subscript digits as digits; ``δ`` as delta,
  ``λ`` as lam, ``σ`` as sigmoid, ``ε`` as epsilon, ``π`` as pi, ``φ`` as phi; a subscript digit ends a name
  (``δ₂W₂ᵀ`` is δ₂ W₂ᵀ) and a caret after it is a power (``A₁^2``);
- LaTeX: ``\\frac{a}{b}``; ``\\delta``, ``\\lambda``, ``\\sigma``, ``\\tanh``, ``\\phi``, ...; ``\\odot``, ``\\circ``,
  ``\\bullet``, ``\\cdot``, ``\\times``; ``^T``, ``^\\top``, ``^{T}``, ``^\\intercal`` as ``.T``; ``^\\prime`` and
  ``\\prime`` as ``'``; ``_{2}``, ``_2``, Ng's ``^{[2]}`` and UFLDL's and CS229's ``^{(2)}`` (``⁽²⁾``, on a bare W,
  b, a, z, A, Z, δ, or dW, ...) as a layer's index (in derivax's numbering, or with ``numbering="ufldl"`` in UFLDL's,
  below); ``\\left(``, ``\\right)``, ``\\mathbf{W}``, spacing commands;
  the sums derivax prints, each over its term (to the next + or − outside brackets): ``\\sum_{i=1}^{m} x^{(i)}``
  over the examples, ``\\sum_{k}`` over the class index (``sum_k``: the classes' axis), a bare ``\\sum`` over every
  entry; a sum over another index, and any other command, is refused with its position; an align's ``&=``, its
  ``&& \\text{...}`` remark and its line breaks ``\\\\`` (lines of definitions, as derivax prints the forward pass);
- Octave: ``.*`` and ``./`` as ``*`` and ``/``, ``.^`` as ``**``; and, where the text does not parse as
  it is, ``A1'`` as ``A1.T`` and ``sigmoid'(Z1)`` as ``sigmoid_prime(Z1)`` (a prime is never a string's quote);
  in a formula that holds Octave's ``.*`` or a ``'`` that transposes (and no ``@``), ``*`` as Octave's product: ``*``
  beside a number, ``@`` between two matrices (``(1/m) * A1' * delta2``);
- Nielsen's layers as superscripts (``δ^3 (a^2)^T``, ``(w³)ᵀ δ³ ⊙ σ′(z²)``, ``δ^L``, ``a^{L-1}``): his input is
  layer 1, so his w^l, b^l, z^l, a^l, δ^l are derivax's layer l − 1 (a^1 is X) and L the output layer; a layer
  named by a symbol (``w^{l+1}``), one the network does not have, an upper-case name with a superscript (numbered
  otherwise by other books) and an entry (``w^l_{jk}``) are refused with their position. His ``∇_a C`` is the
  output's d-name, ``∂C/∂w^2`` as ``∂J/∂``, and his cost ``(1/2n) Σ_x ‖y − a^L‖²`` the squares summed (n as m);
- what derivax's text and LaTeX views print besides: a normalization's ``γ₂``, ``β₂``, ``μ₂``, ``X̄₂`` (``\\gamma^{[2]}``,
  ``\\bar{X}^{[2]}``, ...) as gamma2, beta2, mu2, xc2, and ``σ₂``, ``σ²₂`` (``\\sigma^{[2]}``, ``{\\sigma^2}^{[2]}``) as
  sigma2, var2 where the derivation has them (σ is the sigmoid elsewhere); a step, ``h₁⟨t−1⟩``
  (``h^{[1]\\langle t-1\\rangle}``), as h1_tm1, and LaTeX's ``W_{hh}^{[1]}`` as Whh1; ``Σₜ``, ``Σₖ``, ``Σᵢ,ₚ``
  (``\\sum_{t}``, ``\\sum_{i,p}``) as sum_t, sum_k, sum_ip over their term; a convolution's ``X ⋆ δ₁``,
  ``G ∗ rot180(W₂)`` and ``X ∗ W₁`` as conv_weight_grad, conv_input_grad and conv calls (``_convolutions``); pooling's
  ``mask₂(A₁) ⊙ up₂(G)`` as route(A1, G) and an embedding's ``onehot(X)ᵀ G`` as scatter_add(G, X); ``√(2)`` as sqrt(2);
  a text panel's ``│`` borders, its notes in brackets and the lines it breaks an equation into before a sign;
- a product written by juxtaposition (``(1/m) δ₂ A₁ᵀ``), in a formula in the books' notation (one that
  holds any of the above) that does not parse as it is: ``*`` where one side is a number (or m, λ), ``@``
  between two matrices, as the books mean it. (In plain Python text two operands side by side stay a
  syntax error, at its position, whose message names the product their shapes fit: code would not run them.)

With the derivation's ``names`` (``respell(text, names)``), a name the derivation does not know is read
as the one it plainly means, where exactly one fits: ``delta_2`` and ``delta[2]`` as delta2, ``a1`` and
``dz2`` as A1 and dZ2 (a book's lower case), ``A0`` as X (the input as layer 0's activation), ``N`` and ``n``
as m (CS231n's batch size, Nielsen's number of inputs), ``lambda`` as the weight decay's λ, and the output layer's names as the courses give
them (Ng's ``AL``, ``dZL``, the books' ``ŷ``, CS231n's ``probs`` and ``scores``); in a formula for one layer's
gradient (``respell(text, names, own)``), ``a``, ``z`` and ``δ`` without an index as that layer's input, Z and δ. A
name a line of the formula defines (``dscores = ...``) is its own, and never read as another. The Coursera ML
course's ``Theta1``, ``Theta2`` (and ``Theta2_grad``), which hold the bias in column 0, are refused with what to write.

Two other numberings of the layers, each from the input as layer 1, are read where asked (``numbering``):
``"ufldl"``, UFLDL's and CS229's notes, where a^{(1)} is X and z^{(l+1)} = W^{(l)} a^{(l)} + b^{(l)}: their a, z and δ
in round brackets are derivax's layer l − 1 (a^{(2)} is A1, δ^{(3)} is δ2), their W^{(l)}, b^{(l)} derivax's W_l,
b_l;
``"ex4"``, the Coursera ML course's ex4 (Octave), whose bare a1 is X and a<k+1>, z<k+1>, d<k+1> derivax's A_k, Z_k,
δ_k (a3 is A2, d3 is δ2).
"""
from __future__ import annotations

import ast
import re

from derive.formula.errors import FormulaError

_SUBSCRIPTS = {chr(0x2080 + k): str(k) for k in range(10)}
_UNICODE = {"−": "-", "–": "-", "—": "-", "⊙": "*", "∘": "*", "÷": "/", "⊘": "/", "²": "**2", "³": "**3",
            "δ": "delta", "λ": "lam", "σ": "sigmoid", "ε": "epsilon", "π": "pi", "ᵀ": ".T", "⊤": ".T",
            "′": "'", "’": "'", "“": '"', "”": '"', "\u00a0": " ", "ŷ": "yhat", "Ŷ": "Yhat", "\u0302": "hat",
            "φ": "phi", "ϕ": "phi", "γ": "gamma", "β": "beta", "μ": "mu", **_SUBSCRIPTS,
            # a fraction typeset as one character, the fraction slash, ⊺ for ⊤, a PDF's prime (U+02B9), and the
            # assignment arrow of pseudocode (Goodfellow's g ← ∇ŷ J) as a line's definition
            "½": "(1/2)", "⅓": "(1/3)", "¼": "(1/4)", "¾": "(3/4)", "⁄": "/", "⊺": ".T", "ʹ": "'", "←": "="}
# the books' signs a formula spells otherwise (a message says how)
_SUMS_READ = ("a sum: write np.sum(x, axis=...) (axis 1 is the batch's in the columns convention, 0 in rows), or one "
              "of the sums derivax prints: Σᵢ x⁽ⁱ⁾ over the examples, Σₖ over the classes, Σₜ over the steps of a "
              "sequence (sum_t(...)), Σᵢ,ₚ and Σᵢ,ₜ over the examples and every position or step")
_REFUSED = {"Σ": _SUMS_READ, "∑": _SUMS_READ,
            "√": "a square root: write np.sqrt(...)", "∇": "a gradient: write the formula it stands for",
            "∂": "a derivative: write the formula it stands for (a name such as dZ2 for ∂J/∂Z2)",
            "⊗": "an outer or Kronecker product: write np.outer(a, b) or a @ b.T",
            "‖": "a norm: write np.sum(x ** 2) for ‖x‖²",
            "⋆": "a convolution layer's weight gradient, the correlation of its input with the adjoint of its "
                 "output, which this network has no layer for (a convolution's is written conv_weight_grad(X, "
                 "delta1))",
            "⟨": "a step of a sequence written ⟨t⟩ (h₁⟨t−1⟩, δ₁⟨t+1⟩, ∂J/∂h₁⟨3⟩) after a name of the network: write "
                 "the name at its step, h1_tm1, delta1_tp1, dh1_at3, inside sum_t(...) where it runs over t"}
_PRODUCT = "\x00"   # a product sign (·, ⋅, ×, \cdot, \times) until its operands say which product it is
# a convolution's signs as derivax prints them, until their operands are known (``_convolutions``): X ∗ W₁ (conv),
# δ₂ ∗ rot180(W₂) (conv_input_grad), X ⋆ δ₁ (conv_weight_grad)
_CONVOLVED, _CORRELATED = "\x01", "\x02"
_PRODUCTS = ("·", "⋅", "×", "∙")
# LaTeX commands read as a name or an operator; any other command is refused with its position
_LATEX = {"delta": "delta", "lambda": "lam", "sigma": "sigmoid", "tanh": "tanh", "exp": "exp", "log": "log",
          "cosh": "cosh", "sinh": "sinh", "coth": "coth", "sech": "sech", "csch": "csch",
          "ln": "log", "epsilon": "epsilon", "varepsilon": "epsilon", "pi": "pi", "phi": "phi", "varphi": "phi",
          "odot": "*", "circ": "*", "bullet": "*", "prime": "'",
          "gamma": "gamma", "beta": "beta", "mu": "mu",
          "ast": "*", "oslash": "/", "div": "/", "cdot": _PRODUCT, "times": _PRODUCT, "top": "T", "intercal": "T", "sqrt": "sqrt",
          "max": "max", "left": "", "right": "", "Big": "", "big": "", "Bigg": "", "bigg": "",
          "mathbf": "", "mathrm": "", "boldsymbol": "", "bm": "", "mathit": "", "mathsf": "", "text": "",
          "operatorname": "", "displaystyle": "", "quad": " ", "qquad": " ", "coloneqq": "="}
_SPACES = {",", ";", "!", " ", ":"}
_WRAPPERS = {"mathbf", "mathrm", "boldsymbol", "bm", "mathit", "mathsf", "text", "operatorname"}
# ordinary names a formula uses besides the derivation's (never respelled)
_FUNCTION_WORDS = {"np", "numpy", "jnp", "math", "T", "axis", "keepdims", "float", "int", "sum", "softmax",
                   "max", "sum_t", "sum_k", "sum_ip", "flatten", "reshape", "True", "False", "None"}
_SCALARS = {"m", "lam", "reg", "lambd", "lmbda", "lambda_", "pi", "epsilon", "N", "n"}
_KEYWORDS = {"and", "or", "not", "in", "is", "if", "else", "for", "lambda", "None", "True", "False"}


class _Out:
    """Text being written, with the offset in the user's text of each character written."""

    def __init__(self, last=None, names=None, batch=0):
        self.chars, self.at = [], []
        self.last, self.names = last, names   # the output layer's index and the derivation's names, where known
        self.batch = batch        # the examples' axis (0 in rows, 1 in columns): what \sum_{i=1}^{m} sums over
        self.example = False      # inside such a sum, where x^{(i)} (one example's x) is read as x
        self.classes = False      # inside \sum_{k}, where x_k (x's entry at class k) is read as x
        self.marks = []           # where in the text written a name marked (i) (one example's) ends
        self.octave = False       # Octave's syntax (.*, A1'), where * is the matrix product
        self.numbering = None     # "ufldl": layers in round brackets on a, z, δ read from the input as layer 1
        self.glued = -1           # where the name after an adjoint's d (∂J/∂γ₂, dgamma2) begins: no space there
        self.convolutions = False  # the network has convolution layers: ∗ and \ast are theirs, not a product
        self.scalar = False       # the formula is of a number (J): a bare Σ sums every entry of its term, as \sum does

    def put(self, text, at):
        self.chars.extend(text)
        self.at.extend([at] * len(text))

    def apart(self, at):
        """A space where the text written ends in a name's letter or digit, so that the next name is read apart
        (σ(Z) after a name), but not after the d of an adjoint, which the name after it joins (∂J/∂γ₂ is dgamma2)."""
        if self.chars and (self.chars[-1].isalnum() or self.chars[-1] == "_") and len(self.chars) != self.glued:
            self.put(" ", at)

    def text(self):
        return "".join(self.chars)


def respell(text: str, names=None, own=None, numbering=None, scalar=False):
    """(respelled text, offsets): ``offsets[k]`` is the offset in ``text`` of the respelled text's
    character k (one more entry, for the end). Returns ``text`` itself, and offsets 0..n, where
    nothing needs respelling. ``own``: the names a formula for one layer's gradient writes without the layer's
    index, as the books write one layer's (``Σᵢ a⁽ⁱ⁾ᵀ δ⁽ⁱ⁾``), and the derivation's name each is
    ({"a": "A1", "z": "Z2", "delta": "delta2"} for W2). ``numbering``: None (derivax's, Ng's), "ufldl" or "ex4"
    (the module's doc). ``scalar``: the formula is of a number, the cost J, where a bare Σ (as derivax prints the
    loss) can only be the sum of every entry of its term; elsewhere it is refused, for a bias's gradient is as often
    written with it over the batch alone."""
    from derive.formula.errors import MAX_LENGTH, MAX_RESPELLED
    if numbering not in NUMBERINGS:
        raise ValueError(f"numbering must be one of {', '.join(map(repr, NUMBERINGS))}, not {numbering!r}")
    if not isinstance(text, str) or len(text) > MAX_LENGTH:   # the parser refuses a text this long
        return text, None
    for placeholder in (_PRODUCT, _CONVOLVED, _CORRELATED):   # the placeholders of the signs below: none typed
        if placeholder in text:
            raise FormulaError(text, text.index(placeholder), f"a control character (U+{ord(placeholder):04X}) is no "
                                                              "part of a formula" if placeholder != _PRODUCT else
                               "a NUL character is no part of a formula")
    try:
        new, at = _powered_calls(*_characters(text, names, numbering, scalar))
    except RecursionError:
        raise FormulaError(text, 0, "formula nested too deeply") from None
    typeset = new != text.strip()   # the books' notation (δ₂, ᵀ, ⊙, LaTeX): juxtaposition is a product there
    if names is not None:
        new, at = _without_bias(text, new, at, names)
    if typeset:
        new, at = _square_brackets(new, at)
    new, at = _called_products(new, at, names or {}, typeset)
    new, at = _convolutions(text, new, at)
    if not _parses(new):   # what Python reads otherwise: kept only where it makes the text parse
        primed = _octave_primes(new, at)
        tries = [primed] + ([_juxtaposed(new, at, names or {}), _juxtaposed(*primed, names or {})] if typeset else [])
        for tried, tried_at in tries:
            if _parses(_products(tried, tried_at)[0]):
                new, at = tried, tried_at
                break
        else:   # a prime (f'(z), A1') is never a string's quote, where the text does not parse either way; the
            # books' operands side by side are their product there too, so that its syntax error is its own
            new, at = tries[-1]
    new, at = _products(new, at)
    new, at = _pooled_and_scattered(new, at)
    if names is not None:
        new, at = _theta_grad(text, new, at, names)
        _refuse_theta(text, new, at, names)
        new, at = _names(new, at, names, own or {}, numbering)
    if len(new) > MAX_RESPELLED:   # the books' short signs grow (δ as delta, σ′ as sigmoid_prime): bounded too
        raise FormulaError(text, 0, f"formula too long once read: its {len(text)} characters read as {len(new)} "
                                    f"(δ as delta, σ′ as sigmoid_prime, ...), more than {MAX_RESPELLED}")
    return new, at


NUMBERINGS = (None, "ufldl", "ex4")
_THETA = re.compile(r"[Tt]heta_?(\d+)(_grad)?")


# ex4's Theta<k> without its bias column: Octave's Theta2(:, 2:end), NumPy's Theta2[:, 1:]
_THETA_STRIPPED = re.compile(r"(?<![A-Za-z0-9_.])([Tt]heta_?(\d+))\s*(?:\(\s*:\s*,\s*2\s*:\s*end\s*\)"
                             r"|\[\s*:\s*,\s*1\s*:\s*\])")
# a column of ones, as the course puts the bias before a1 and a2 ([ones(m, 1) X], np.ones((m, 1)))
_ONES = re.compile(r"(?<![A-Za-z0-9_.])(?:(?:np|numpy|jnp)\s*\.\s*)?ones\s*\(")


def _theta_as_w(k, names) -> str:
    """What the Coursera ML course's Theta<k> without its bias column is in derivax's names: W<k>ᵀ in the rows
    convention (Theta's rows are W's columns), W<k> in columns."""
    return f"W{k}ᵀ" if _batch_axis(names) == 0 else f"W{k}"


def _no_such_weight(text, at, t, k, names):
    """The refusal of ex4's Theta<k> (``t`` as typed, at ``at``) in a network without W<k>."""
    weights = sorted((n for n in names if re.fullmatch(r"W\d+", n)), key=lambda n: int(n[1:]))
    raise FormulaError(text, at, f"{t}: the Coursera ML course's Theta{k} is derivax's layer {k}, W{k} and b{k}, and "
                                 f"this network has no W{k} (its weights: {', '.join(weights) or 'none'})")


def _without_bias(text, new, at, names):
    """The Coursera ML course's ex4 as derivax reads it: Theta<k> without its bias column (Octave's Theta2(:, 2:end),
    NumPy's Theta2[:, 1:]) as W<k>ᵀ (W<k> in the columns convention), before the rest of the respelling, which reads
    it as an operand; a column of ones put before a1 or a2 (``[ones(m, 1) X]``), the course's bias, refused."""
    ones = _ONES.search(new)
    if ones is not None:
        raise FormulaError(text, at[ones.start()], "a column of ones, as the Coursera ML course puts the bias before "
                                                   "a1 and a2 ([ones(m, 1) X]): derivax keeps the biases apart (b1, "
                                                   "b2) and reads ex4's a1 as X and a2 as A1, without it; leave out "
                                                   "the lines that add it (a line Theta1_grad = ... is then read as "
                                                   f"its columns 2:end, d{_theta_as_w(1, names)}) and check the "
                                                   "bias's gradient, Theta1_grad's first column, with --param b1")
    edits = []
    for hit in _THETA_STRIPPED.finditer(new):
        t, k = hit.group(1), hit.group(2)
        if t in names:   # a name of the derivation's own
            continue
        if f"W{k}" not in names:
            _no_such_weight(text, at[hit.start()], hit.group(), k, names)
        edits.append((hit.start(), hit.end(), f"W{k}.T" if _batch_axis(names) == 0 else f"W{k}"))
    return _edited(new, at, edits)


def _theta_grad(text, respelled, at, names):
    """ex4's gradients: a line ``Theta<k>_grad = ...`` as ``dW<k> = (...).T`` in the rows convention (``dW<k> = ...``
    in columns), and ``Theta<k>_grad`` read after it as ``dW<k>.T`` (``dW<k>``). With a1 and a2 read without the
    course's bias column (X and A1), what the line computes is Theta<k>_grad without its column 1, the bias's
    gradient: Theta<k>_grad(:, 2:end), which is dW<k>ᵀ (dW<k> in columns). Any other Theta is left to
    ``_refuse_theta``."""
    tokens = _tokens(respelled)
    if not tokens or "heta" not in respelled:
        return respelled, at
    rows = _batch_axis(names) == 0
    edits, defined, pending = [], set(), []   # pending: (the token that ends a definition's line, k)
    for j, (kind, t, s, e) in enumerate(tokens):
        while pending and pending[0][0] < j:
            defined.add(pending.pop(0)[1])
        found = _THETA.fullmatch(t) if kind == "name" and t not in names else None
        if found is None or not found.group(2) or j > 0 and tokens[j - 1][1] == ".":
            continue
        k = found.group(1)
        starts = j == 0 or tokens[j - 1][1] == ";" or "\n" in respelled[tokens[j - 1][3]:s]
        if starts and j + 2 < len(tokens) and tokens[j + 1][1] == "=":   # Theta1_grad = ...: its line
            if f"W{k}" not in names:
                _no_such_weight(text, at[s], t, k, names)
            last, depth = j + 2, 0
            for n in range(j + 2, len(tokens)):   # the line's end: a ; or a new line outside brackets
                ends = tokens[n][1] == ";" or "\n" in respelled[tokens[n - 1][3]:tokens[n][2]]
                if depth == 0 and n > j + 2 and ends:
                    break
                depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(tokens[n][1], 0)
                last = n
            edits.append((s, e, f"dW{k}"))
            if rows:
                edits += [(tokens[j + 2][2], tokens[j + 2][2], "("), (tokens[last][3], tokens[last][3], ").T")]
            pending.append((last, k))
        elif k in defined:   # read after its line: what that line defined
            edits.append((s, e, f"dW{k}.T" if rows else f"dW{k}"))
    return _edited(respelled, at, edits)


def _operand_text(text, tokens):
    """(start, end) in ``text`` of an operand's tokens."""
    return tokens[0][2], tokens[-1][3]


_CALLED = re.compile(r"(\w+)\s*\((.*)\)", re.S)
_DILATE = r"dilate\d+"   # a strided layer's adjoint dilated (dilate₂(δ₂)), as the calls take it undilated


def _call_of(text, names):
    """The argument text of ``text`` where it is one call of a function named in ``names`` (re patterns) that spans
    it all (dilate2(delta2), rot180(W2)), else None."""
    found = _CALLED.fullmatch(text.strip())
    if found is None or not any(re.fullmatch(n, found.group(1)) for n in names):
        return None
    depth = 0
    for k, c in enumerate(found.group(2)):   # the brackets of the call close at its end, not before
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth < 0:
            return None
    return found.group(2).strip() if depth == 0 else None


def _convolutions(text, new, at):
    """A convolution's signs as derivax prints them, read by their operands (the stride, padding and window are the
    network's layer's, which the calls take from it): X ⋆ δ₁ as conv_weight_grad(X, delta1), δ₂ ∗ rot180(W₂) as
    conv_input_grad(delta2, W2), X ∗ W₁ as conv(X, W1); a strided layer's dilate₂(δ₂) is its adjoint as the calls
    take it. A sign without both operands is refused with what to write."""
    while _CONVOLVED in new or _CORRELATED in new:
        tokens = _tokens(new) or []
        k = next((j for j, t in enumerate(tokens) if t[1] in (_CONVOLVED, _CORRELATED)), None)
        if k is None:
            break
        sign = tokens[k][1]
        left, right = _operand_left(tokens, k), _operand_right(tokens, k)
        if not left or not right or left[0][1] in (_CONVOLVED, _CORRELATED) or right[-1][1] in (_CONVOLVED,
                                                                                              _CORRELATED):
            said = "X ⋆ δ₁ is a convolution layer's weight gradient: write conv_weight_grad(X, delta1)" \
                if sign == _CORRELATED else "∗ is a convolution, δ₂ ∗ rot180(W₂) its input's gradient: write " \
                                            "conv(X, W1), conv_input_grad(delta2, W2)"
            raise FormulaError(text, at[tokens[k][2]], f"{said} (the layer's stride, padding and window are taken "
                                                       "from the network), each operand whole")
        (ls, le), (rs, re_) = _operand_text(new, left), _operand_text(new, right)
        a, b = new[ls:le], new[rs:re_]
        a = _call_of(a, [_DILATE]) or a
        if sign == _CORRELATED:
            put = f"conv_weight_grad({a}, {_call_of(b, [_DILATE]) or b})"
        elif _call_of(b, ["rot180"]) is not None:
            put = f"conv_input_grad({a}, {_call_of(b, ['rot180'])})"
        else:
            put = f"conv({a}, {b})"
        new, at = _edited(new, at, [(ls, re_, put)])
    return new, at


def _pooled_and_scattered(new, at):
    """Pooling's and an embedding's gradients as derivax prints them, as calls of the grammar: mask₂(A₁) ⊙ up₂(G)
    (each window's first maximum, the adjoint repeated over it) as route(A1, G), and onehot(X)ᵀ G (each row of G
    added into the row of the table it was read from) as scatter_add(G, X); a product of matrices after onehot(X)ᵀ
    is its G whole."""
    if "mask" not in new and "onehot" not in new:
        return new, at
    tokens = _tokens(new) or []

    def closing(j):   # the token that closes the bracket opened at token j
        depth = 0
        for n in range(j, len(tokens)):
            depth += {"(": 1, ")": -1}.get(tokens[n][1], 0)
            if depth == 0:
                return n
        return None

    def inside(j, n):   # the text between the brackets at tokens j and n
        return new[tokens[j][3]:tokens[n][2]].strip()
    edits = []
    for k, (kind, t, s, _) in enumerate(tokens):
        if kind != "name" or k + 1 >= len(tokens) or tokens[k + 1][1] != "(" or k > 0 and tokens[k - 1][1] == ".":
            continue
        close = closing(k + 1)
        if close is None:
            continue
        after = tokens[close + 1:]
        if re.fullmatch(r"mask\d+", t) and len(after) >= 3 and after[0][1] == "*" and after[1][1] == f"up{t[4:]}" \
                and after[2][1] == "(":
            shut = closing(close + 3)
            if shut is not None:
                edits.append((s, tokens[shut][3], f"route({inside(k + 1, close)}, {inside(close + 3, shut)})"))
        elif t == "onehot" and len(after) >= 3 and [a[1] for a in after[:3]] == [".", "T", "@"]:
            j, last = close + 3, None
            while j < len(tokens) and tokens[j][1] == "@":   # G: the product of matrices that follows, whole
                g = _operand_right(tokens, j)
                if not g:
                    break
                last, j = g[-1][3], j + len(g) + 1
            if last is not None:
                edits.append((s, last, f"scatter_add({new[tokens[close + 4][2]:last].strip()}, "
                                       f"{inside(k + 1, close)})"))
    edits = [edit for n, edit in enumerate(edits) if not any(o[0] <= edit[0] < o[1] for o in edits[:n])]
    return _edited(new, at, edits)


def _edited(text, at, edits):
    """(text, offsets) with each (start, end, replacement) of ``edits`` made (an insertion where start == end); the
    replacement's characters point where the text it replaces (or the character it stands before) began."""
    if not edits:
        return text, at
    out = _Out()
    prev = 0
    for s, e, put in sorted(edits, key=lambda edit: (edit[0], edit[1])):
        for c in range(prev, s):
            out.put(text[c], at[c])
        out.put(put, at[min(s, len(at) - 1)])
        prev = e
    for c in range(prev, len(text)):
        out.put(text[c], at[c])
    out.at.append(at[-1])
    return out.text(), out.at


def _refuse_theta(text, respelled, at, names):
    """The Coursera ML course's Theta1, Theta2 (Theta2_grad) refused where a formula uses one as it is: each holds
    the bias in column 0 beside Wᵀ (beside W in the columns convention), which derivax keeps apart as W and b
    (``_without_bias`` and ``_theta_grad`` read it without the bias column)."""
    for kind, t, s, _ in _tokens(respelled) or ():
        found = _THETA.fullmatch(t) if kind == "name" and t not in names else None
        if found is None:
            continue
        k = found.group(1)
        rows = _batch_axis(names) == 0   # rows: Theta's rows are W's columns
        w, typed = (f"W{k}ᵀ", f"W{k}'") if rows else (f"W{k}", f"W{k}")
        raise FormulaError(text, at[s], f"{t}: the Coursera ML course's Theta{k} holds the bias in column 0 and is {w} "
                                        f"without it (Theta{k}(:, 2:end) = {w}); derivax keeps W{k} and b{k} apart: "
                                        f"write Theta{k}(:, 2:end) or {typed} for Theta{k} without its bias column, "
                                        f"b{k} for its column 0, and the gradient as a line Theta{k}_grad = ..., "
                                        f"read as its columns 2:end (d{_theta_as_w(k, names)})")


def map_error(exc: FormulaError, original: str, respelled: str, offsets) -> FormulaError:
    """``exc`` (raised on the respelled text) as an error in the text the user typed. A note of what the text was
    read as is said once: one the error carries already (the parser's own, on a text respelled again) gives way to
    the one of the user's text."""
    if offsets is None or respelled == original or exc.text != respelled:
        return exc
    lead = len(original) - len(original.lstrip())
    stripped = original.strip()
    col = min(max(offsets[min(max(exc.col, 0), len(offsets) - 1)] - lead, 0), len(stripped))
    said = shown(respelled)
    note = f" (read as {said!r})" if said != shown(stripped) and len(said) <= 160 else ""
    return type(exc)(stripped, col, unread(exc.message) + note)   # a ShapeMismatch stays one


_READ_AS = re.compile(r" \(read as (?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\)")


def unread(message: str) -> str:
    """An error's message without the notes of what the formula was read as (``map_error``'s)."""
    return _READ_AS.sub("", message)


def shown(respelled: str) -> str:
    """A formula as a message quotes it: its spaces as one, and its lines (a notebook's, dZ2 = A2 - Y then
    dW2 = ...) kept apart by '; ' (a line that ends in ';' already keeps its own); a line broken inside brackets
    goes on."""
    lines, depth, start = [], 0, 0
    for k, c in enumerate(respelled):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(depth - 1, 0)
        elif c == "\n" and depth == 0 and not respelled[start:k].rstrip().endswith("\\"):
            lines.append(respelled[start:k])
            start = k + 1
    lines.append(respelled[start:])
    out = ""
    for line in (" ".join(l.split()) for l in lines):
        if line:
            out += ("" if not out else " " if out.endswith(";") else "; ") + line
    return out


def _parses(text) -> bool:
    """Whether the text is Python's expression, or lines of one (dZ2 = A2 - Y; dW2 = ...)."""
    for mode in ("eval", "exec"):
        try:
            ast.parse(text, mode=mode)
            return True
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return False


def _strip_around(text):
    """(start, end) of the formula inside backticks, $...$, \\( \\), a left-hand side and a trailing ';'."""
    start, end = 0, len(text)
    changed = True
    while changed:
        changed = False
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        for left, right in (("```", "```"), ("`", "`"), ("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
            if text.startswith(left, start) and text.endswith(right, 0, end) and end - start > len(left) + len(right):
                start, end, changed = start + len(left), end - len(right), True
                break
        if end > start and text[end - 1] == ";":
            end, changed = end - 1, True
        lhs = re.match(r"[^=()<>!:,'\"\[\]]*?(?<![=<>!+\-*/@%&|^])=(?!=)", text[start:end])   # not dW2 += ...
        if "\n" in text[start:end].strip() or ";" in text[start:end]:
            lhs = None   # lines of definitions: each line's name is read (derive.formula.parse)
        if lhs and _unbalanced(lhs.group()):   # \sum_{i=1}^{m}: an index's =, inside its braces
            lhs = None
        if lhs and re.fullmatch(r"\s*[Tt]heta_?\d+_grad\s*=", lhs.group()):
            lhs = None   # ex4's Theta1_grad = ...: kept, read as derivax's gradient (``_theta_grad``)
        if lhs and lhs.group().strip(" =") and not re.search(r"\b(axis|keepdims)\s*=$", lhs.group()):
            start, changed = start + lhs.end(), True
    return start, end


def _unbalanced(text) -> bool:
    """Whether a brace opened in ``text`` is left open (or one closes that was not opened)."""
    depth = 0
    for c in text:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return True
    return depth != 0


def _characters(text, names=None, numbering=None, scalar=False):
    """The always-safe respellings: characters and LaTeX commands that no Python expression holds."""
    start, end = _strip_around(text)
    layers = [int(n[1:]) for n in (names or ()) if re.fullmatch(r"A\d+", n)]
    out = _Out(max(layers) if layers else None, set(names) if names is not None else None, _batch_axis(names))
    out.numbering, out.scalar = numbering, scalar
    out.convolutions = any(re.fullmatch(r"W\d+", str(k)) and getattr(v, "rank", 0) >= 3 for k, v in names.items()) \
        if isinstance(names, dict) else False
    latex = "\\" in text[start:end] or "^{" in text[start:end] or "_{" in text[start:end]
    out.octave = _octave(text[start:end])
    _write(text, start, end, out, latex)
    out.at.append(end)
    return out.text(), out.at


def _batch_axis(names) -> int:
    """The axis of the examples: where X has m (0 in the rows convention, 1 in columns); 0 without names."""
    x, m = (names or {}).get("X"), (names or {}).get("m")
    shape = list(getattr(x, "shape", ()) or ())
    return shape.index(m) if m is not None and m in shape else 0


def _write(text, start, end, out, latex):
    """text[start:end] respelled into ``out`` (offsets into the whole text, for its errors)."""
    i = start
    while i < end:
        c = text[i]
        if i == start or text[i - 1] == "\n":
            aside = _ASIDE.match(text, i, end)
            if aside and (latex or not aside.group().lstrip().startswith("%")):
                # a line of the block derivax prints around its formulas: % Gradients, \begin{align*}, $$,
                # a markdown heading, a text panel's border
                out.put("\n", i)
                i = aside.end()
                continue
        if c in ".," and _LINE_END.match(text, i + 1, end) and not (c == "." and i > start and text[i - 1].isdigit()) \
                and _outside_brackets(text, i):
            i += 1   # the sentence's full stop or comma after an equation in the notes, not part of it
            continue
        if c == "$":   # math mode's delimiters, each line of a block wrapped in its own $$...$$: no part of it
            if out.chars and out.chars[-1] not in "\n ":
                out.put(" ", i)
            i += 1
            continue
        if (c == ":" and text.startswith("=", i + 1) or c == "≔") and _outside_brackets(text, i):
            # := and ≔ defining a line's name (dW := ...): =; inside brackets Python's := stays, refused as such
            out.put("=", i)
            i += 1 if c == "≔" else 2
            continue
        if c == "│":   # a text panel's border, around a line copied from it
            out.put(" ", i)
            i += 1
            continue
        going_on = _GOES_ON.match(text, i + 1, end) if c == "\n" and not latex else None
        if going_on:   # a text panel's equation broken before a sign: its next line goes on with it
            out.put(" ", i)
            i = going_on.end()
            continue
        note = _NOTE.match(text, i, end) if c in " \t" and not latex else None
        if note:   # a text panel's note beside its equation, [t < 3: what step t+1 sends back]: words
            i = note.end()
            continue
        example = _EXAMPLE.match(text, i, end) if c in "^⁽" else None
        if example:   # x^{(i)}, δ^{[2](i)}, δ₁⁽ⁱ⁾: one example's row, summed over by the \sum_{i=1}^{m} around it
            if not out.example:
                raise FormulaError(text, i, "(i) marks one example's row of a matrix: write it inside the sum over the "
                                            "examples, \\sum_{i=1}^{m} x^{(i)} (Σᵢ x⁽ⁱ⁾), or write the whole matrix")
            if example.group(2):   # δ^{(2)(i)}: layer 2's, in round brackets as W^{(2)}
                out.put(_round_index(out, example.group(2), text, i) if _layer_name(out) else example.group(2), i)
            out.put(example.group(1) or "", i)
            if example.group(3):   # δ^{[1]\langle t\rangle(i)}: one example's δ₁⟨t⟩
                out.put("_" + _step_key(example.group(3)), i)
            out.marks.append(len(out.chars))
            if example.group(4):   # a^{[1](i)T}: one example's a, transposed
                out.put(".T", i)
            i = example.end()
            continue
        layer = _TYPESET_LAYER.match(text, i, end) if c == "⁽" else None
        if layer and _layer_name(out):   # W⁽²⁾, δ⁽²⁾: the layer's index, as W^{(2)}
            out.put(_round_index(out, "".join(_TYPESET_SUP[ch] for ch in layer.group(1)), text, i), i)
            i = layer.end()
            continue
        summed = _SUM.match(text, i, end) if c in "Σ∑\\" else None
        stop = _term_end(text, summed.end(), end) if summed else None
        if summed and _EXAMPLE.search(text[summed.end():stop]):
            # \sum_{i=1}^{m} x^{(i)} (Σᵢ x⁽ⁱ⁾), as derivax prints a bias's gradient: the sum over the examples
            out.put(" " if out.chars and (out.chars[-1].isalnum() or out.chars[-1] == "_") else "", i)
            begin, marks = len(out.chars), len(out.marks)
            was, out.example = out.example, True
            _write(text, len(text[:stop]) - len(text[summed.end():stop].lstrip()), stop, out, latex)
            out.example = was
            _examples_summed(text, i, out, begin, out.marks[marks:], stop)
            del out.marks[marks:]
            i = stop
            continue
        over = _TEXT_SUM.match(text, i, end) if c in "Σ∑" else None
        if over:   # Σₜ (sum_t), Σₖ (sum_k), Σᵢ,ₚ and Σᵢ,ₜ (sum_ip): each over its term
            key = over.group(1) or {"t": "ₜ", "k": "ₖ"}[over.group(2) or over.group(3)]   # Σ_t as Σₜ
            i = _summed(text, i, over.end(), end, out, latex, _TEXT_SUMS[re.sub(r"\s", "", key)])
            continue
        if c == "ₖ" and out.classes:   # Yₖ inside Σₖ: Y's entry at class k, summed over
            i += 1
            continue
        step = _STEP.match(text, i, end) if c == "⟨" else None
        if step and out.chars and (out.chars[-1].isalnum() or out.chars[-1] == "_"):
            # h₁⟨t−1⟩, δ₁⟨t+1⟩, ∂J/∂h₁⟨3⟩: the name at its step, h1_tm1, delta1_tp1, dh1_at3
            out.put("_" + _step_key(step.group(1)), i)
            i = step.end()
            continue
        if step and out.chars and out.chars[-1] == ")":   # (∂J/∂H₁)⟨t⟩: a sequence's entry at step t
            key = _step_key(step.group(1))
            if key != "t" and not key.startswith("at"):
                raise FormulaError(text, i, f"(…)⟨{step.group(1)}⟩: a bracketed sequence is read at step t, (…)⟨t⟩, "
                                            "or at a fixed step, (…)⟨3⟩; write its name at that step (h1_tm1)")
            out.put("[:, t]" if key == "t" else f"[:, {int(key[2:]) - 1}]", i)
            i = step.end()
            continue
        sigma = _NORM_SIGMA.match(text, i, end) if c == "σ" and out.names is not None else None
        if sigma and ("var" if sigma.group(1) else "sigma") + "".join(_SUBSCRIPTS[d] for d in sigma.group(2)) \
                in out.names:   # a normalization layer's σ₂ (its standard deviation) and σ²₂ (its variance)
            out.apart(i)
            out.put("var" if sigma.group(1) else "sigma", i)
            i += 1 + len(sigma.group(1) or "")
            continue
        if c == "X" and text.startswith("\u0304", i + 1):   # X̄₂: a normalization's centred input, xc2
            out.apart(i)
            out.put("xc", i)
            i += 2
            continue
        if c == "√" and text[i + 1:end].lstrip().startswith("("):   # √(2), as derivax prints a square root
            out.apart(i)
            out.put("sqrt", i)
            i += 1
            continue
        if c in "⋆∗" and out.convolutions:   # X ⋆ δ₁, δ₂ ∗ rot180(W₂), X ∗ W₁: by their operands (``_convolutions``)
            out.put(f" {_CORRELATED if c == '⋆' else _CONVOLVED} ", i)
            stride = _STRIDE.match(text, i + 1, end)   # ∗₂: the layer's stride, which conv takes from the layer
            i = stride.end() if stride else i + 1
            continue
        if c == "∗":   # the asterisk operator, where no convolution is meant: a product
            out.put("*", i)
            i += 1
            continue
        gradient = _NABLA.match(text, i, end) if c in "∇\\" else None
        if gradient:   # Nielsen's ∇_a C: ∂C/∂a^L, the output's adjoint
            out.put(" " if out.chars and (out.chars[-1].isalnum() or out.chars[-1] == "_") else "", i)
            out.put("dAL" if out.last is None else f"dA{out.last}", i)
            i = gradient.end()
            continue
        gradient = _nabla_of(text, i, end) if c in "∇\\" else None
        if gradient:   # ∇_{W^{[2]}} J, ∇_W J: the gradient of J with respect to W₂, the name dW2
            lo, hi, after = gradient
            out.put(" " if out.chars and (out.chars[-1].isalnum() or out.chars[-1] == "_") else "", i)
            out.put("d", i)
            out.glued = len(out.chars)
            _write(text, lo, hi, out, True)
            i = after
            continue
        norm = _SUM_NORM.match(text, i, end) if c in "Σ∑\\" else None
        if norm:   # Nielsen's Σ_x ‖y − a^L‖²: the squares summed over every entry
            close = text.find(norm.group(1), norm.end(), end)
            squared = _SQUARED.match(text, close + len(norm.group(1)), end) if close >= 0 else None
            if squared:
                out.put("np.sum((", i)
                _write(text, norm.end(), close, out, latex)
                out.put(")**2)", close)
                i = squared.end()
                continue
        if c == "\\":
            word = re.compile(r"\\([A-Za-z]+|.)").match(text, i, end)
            name = word.group(1) if word else ""
            if name in _SPACES:
                out.put(" ", i)
                i = word.end()
                continue
            if name in ("limits", "nolimits", "nonumber", "notag"):   # a sum's layout, an unnumbered line: nothing
                i = word.end()
                continue
            if name in ("tag", "label"):   # \tag{3}, \tag*{a}, \label{eq:dw}: the equation's number or name
                j = word.end() + (text[word.end():word.end() + 1] == "*")
                group = _group(text, j, end)
                i = group[1] + 1 if group else word.end()
                continue
            around = _ENVIRONMENT.match(text, i, end) if name in ("begin", "end") else None
            if around:   # \begin{align*} ... \end{align*}: the lines inside are the formula's
                out.put("\n", i)
                i = around.end()
                continue
            hatted = _HAT.match(text, i, end) if name in ("hat", "widehat") else None
            if hatted:   # \hat{y}: ŷ, the output as the books name it; \hat{X}: a normalization's x̂
                out.apart(i)
                out.put((hatted.group(1) or hatted.group(2)) + "hat", i)
                i = hatted.end()
                continue
            if name in ("frac", "dfrac", "tfrac"):
                i = _frac(text, i, end, out, latex, word.end())
                continue
            barred = _BAR.match(text, i, end) if name in ("bar", "overline") else None
            if barred:   # \bar{X}^{[2]}: a normalization's centred input, xc2
                out.apart(i)
                out.put("xc", i)
                i = barred.end()
                continue
            if name in ("star", "ast") and out.convolutions:   # X \star \delta^{[1]}, \delta \ast \mathrm{rot180}(W)
                out.put(f" {_CORRELATED if name == 'star' else _CONVOLVED} ", i)
                stride = _LATEX_STRIDE.match(text, word.end(), end)
                i = stride.end() if stride else word.end()
                continue
            if name == "star":
                raise FormulaError(text, i, f"\\star is {_REFUSED['⋆']}")
            if name in _LATEX:
                put = _LATEX[name]
                after = word.end()
                layer = _LAYER_AHEAD.match(text, after, end) if name == "sigma" and out.names is not None else None
                if layer and f"sigma{layer.group(1)}" in out.names:   # \sigma^{[2]}: a normalization's σ₂
                    put = "sigma"
                group = _group(text, after, end) if put == "" and name in _WRAPPERS else None
                if group is not None and name == "text" and re.search(r"[$\s=]", text[group[0]:group[1]]):
                    i = group[1] + 1   # \text{$\lambda = 0.1$}: a remark in words beside the equation
                    continue
                if group is not None:   # a wrapper: \mathbf{W} is W
                    _write(text, group[0], group[1], out, latex)
                    i = group[1] + 1
                    continue
                argument = _bare_argument(text, after, end) if name in _BARE_CALLS else None
                if argument is not None:   # \log A^{[2]}: TeX's function of the atom after it, log(A2)
                    out.apart(i)
                    out.put(put + "(", i)
                    _write(text, argument[0], argument[1], out, latex)
                    out.put(")", argument[1])
                    i = argument[1]
                    continue
                if put and put[0].isalpha():
                    out.apart(i)
                out.put(put, i)
                i = after
                while i < end and text[i] == " " and put == "":
                    i += 1
                if name in ("left", "right") and i < end and text[i] == ".":
                    i += 1   # \left. and \right.: no bracket (an equation broken inside one closes it so)
                elif put == "" and i < end and text[i] in "[{" and name not in _WRAPPERS:
                    out.put("(", i)
                    i += 1
                elif put == "" and i < end and text[i] in "]}" and name not in _WRAPPERS:
                    out.put(")", i)
                    i += 1
                continue
            shown = name if name and name.isprintable() else "\\"
            if name == "\\":   # an align's line break (Z^{[1]} &= ... \\): a new line, a line of its own
                going_on = _CONTINUED.match(text, word.end(), end)
                if going_on:   # ... \\ &\quad + ...: the same equation, broken over lines
                    out.put(" ", i)
                    i = going_on.end()
                    continue
                out.put("\n", i)
                i = word.end()
                continue
            after = word.end()
            if name == "sum":   # \sum\limits_{i=1}^{m}: laid out below and above, the same sum
                limits = _LIMITS.match(text, after, end)
                after = limits.end() if limits else after
            pair = _LATEX_PAIR_SUM.match(text, after, end) if name == "sum" else None
            if pair:   # \sum_{i,p}, \sum_{i,t}: over the examples and every position or step (sum_ip)
                i = _summed(text, i, pair.end(), end, out, latex, "sum_ip")
                continue
            over = _LATEX_SUM.match(text, after, end) if name == "sum" else None
            index = over.group("index") or over.group("index2") if over else None
            if over and index == "t":   # \sum_{t}: over the steps of a sequence, sum_t(...)
                i = _summed(text, i, over.end(), end, out, latex, "sum_t")
                continue
            if over and index in (None, "k"):
                # \sum x over every entry; \sum_{k} x over the class index k (its classes' axis, as derivax
                # prints a sum over the units): each over its term, to the next + or − outside brackets
                inner = over.end()
                stop = _term_end(text, inner, end)
                while stop > inner and text[stop - 1].isspace():
                    stop -= 1
                out.put(" " if out.chars and (out.chars[-1].isalnum() or out.chars[-1] == "_") else "", i)
                out.put("sum(" if index is None else "sum_k(", i)
                was, out.classes = out.classes, out.classes or index is not None
                _write(text, inner, stop, out, latex)
                out.classes = was
                out.put(")", stop)
                i = stop
                continue
            if name == "sum" and over:   # \sum_{j}: an index of no axis derivax can tell
                raise FormulaError(text, i, f"the LaTeX command \\sum is not part of a formula's grammar but as the sum "
                                            "over the examples, \\sum_{i=1}^{m} x^{(i)} (derivax's sum(x, "
                                            f"{out.batch})), over the classes, \\sum_{{k}} (k the index of the "
                                            "classes, a layer's units), over the steps of a sequence, \\sum_{t} "
                                            "(sum_t(...)), over the examples and every position or step, "
                                            "\\sum_{i,p} and \\sum_{i,t}, and over every entry, \\sum x: "
                                            f"{index} (position {text.find(index, word.end()) + 1}) is "
                                            "none of these indices; write another sum with NumPy's spelling, "
                                            "np.sum(x, axis=...)")
            if name == "sum":
                raise FormulaError(text, i, "the LaTeX command \\sum is not part of a formula's grammar but as the sum over "
                                            "the examples, \\sum_{i=1}^{m} x^{(i)} (derivax's sum(x, "
                                            f"{out.batch})): write another sum with NumPy's spelling, np.sum(x, axis=...)")
            raise FormulaError(text, i, f"the LaTeX command \\{shown} is not part of a formula's grammar: write it "
                                        "with NumPy's spelling (np.sum(x, axis=...), @ for a matrix product)")
        if c == "^":
            sup = _TRANSPOSED.match(text, i, end)
            if sup:
                out.put(".T", i)
                i = sup.end()
                continue
            stepped = _STEP_SUP.match(text, i, end)
            key = _step_key(stepped.group(2)) if stepped else None
            if stepped and out.chars and out.chars[-1] == ")" and not stepped.group(1) \
                    and (key == "t" or key.startswith("at")):   # \left(...\right)^{\langle t\rangle}: at step t
                out.put(("[:, t]" if key == "t" else f"[:, {int(key[2:]) - 1}]") + (".T" if stepped.group(3) else ""),
                        i)
                i = stepped.end()
                continue
            if stepped:   # h^{[1]\langle t-1\rangle}, x^{\langle t\rangle T}: the name at its step, h1_tm1, x_t.T
                out.put((stepped.group(1) or "") + "_" + _step_key(stepped.group(2))
                        + (".T" if stepped.group(3) else ""), i)
                i = stepped.end()
                continue
            primed = _PRIMED.match(text, i, end)
            if primed:   # f^\prime(z), f^{\prime}(z): the prime f'(z) is
                out.put("'", i)
                i = primed.end()
                continue
            layer = _LAYER.match(text, i, end)   # Ng's W^{[2]}
            if layer:
                mark, index = layer.group(3), "".join(layer.group(2).replace("−", "-").split())
                if index.startswith("L"):   # the output layer, as Ng's notes write dZ^{[L]} = A^{[L]} - Y
                    if out.last is None:
                        raise FormulaError(text, i, "[L] is the output layer: write its number, as [2]")
                    index = str(out.last - int(index[2:] or 0))
                    if int(index) < 1:
                        raise FormulaError(text, i, f"[{layer.group(2)}] is no layer of this network: its output "
                                                    f"layer is [{out.last}]")
                out.put("_prime" if mark in ("'", "\\prime") else
                        index + ("**2" if mark == "2" else ".T" if mark else ""), i)
                i = layer.end()
                continue
            layer = _ROUND_LAYER.match(text, i, end)
            if layer and _layer_name(out):   # UFLDL's and CS229's W^{(2)}, a^{(1)}, \delta^{(2)}: as Ng's W^{[2]}
                out.put(_round_index(out, layer.group(2), text, i) + (".T" if layer.group(3) else ""), i)
                i = layer.end()
                continue
            layer = _NIELSEN_SUP.match(text, i, end)
            if layer and _LAYER_SUP.fullmatch(_sup_text(layer)) and _nielsen_name(out) is not None:
                # Nielsen's w^2, δ^{L}, a^{l-1}
                i = _nielsen_layer(text, i, layer.end(), _sup_text(layer), out, end)
                continue
            if text.startswith("^{", i):   # a power written as LaTeX groups it
                group = _group(text, i + 1, end)
                if group is not None:
                    out.put("**(", i)
                    _write(text, group[0], group[1], out, latex)
                    out.put(")", group[1])
                    i = group[1] + 1
                    continue
            power = _POWER.match(text, i, end)
            if power and (latex or re.search(r"(?:_\{?\s*\d+\s*\}?|[₀-₉])\s*$", text[start:i])):
                # LaTeX's A_1^2, A₁^2: a superscript of one character is a power (^T and ^\top were read above)
                out.put("**" + power.group(1), i)
                i = power.end()
                continue
        if c == "_" and latex:
            part = _LATEX_SLICE.match(text, i, end)
            if part and out.chars and out.chars[-1] == ")":   # {...}_{[:, 2:4]}: a part of a tensor, NumPy's slice
                out.put(f"[{part.group(1)}]", i)
                i = part.end()
                continue
        if c == "_":
            letters = _SUB_LETTERS.match(text, i, end)
            if letters and out.chars and out.chars[-1].isalpha():   # W_{hh}^{[1]}, \delta_{n}^{[1]}: Whh1, deltan1
                out.put(letters.group(1), i)
                i = letters.end()
                continue
            sub = _INDEX.match(text, i, end)
            if sub and out.chars and out.chars[-1].isalpha():
                out.put(sub.group(1) or sub.group(2), i)
                i = sub.end()
                continue
            sub = _STEP_SUB.match(text, i, end) if out.names and any("_t" in n for n in out.names) else None
            if sub and out.chars and (out.chars[-1].isalnum() and not out.chars[-1].isdigit() or out.chars[-1] == "}"):
                # h_{t-1}, \delta_t, x_t: the books' step as a subscript, read as ⟨t−1⟩, ⟨t⟩ (h1_tm1 for one layer's h)
                out.put("_" + _step_key(sub.group(1) or sub.group(2)), i)
                i = sub.end()
                continue
        var = _LATEX_VAR.match(text, i, end) if c == "{" and latex and out.names is not None else None
        if var and f"var{var.group(1)}" in out.names:   # {\sigma^2}^{[2]}: a normalization's variance, var2
            out.apart(i)
            out.put("var", i)
            i = var.end()
            continue
        if c == "{" and latex and re.match(r"\{\s*\}", text[i:end]):
            i = text.index("}", i) + 1   # {} (an empty group, as a broken line starts {} + ...): nothing
            continue
        if c in "{}" and latex:
            out.put("(" if c == "{" else ")", i)   # LaTeX's grouping
            i += 1
            continue
        if c == "&" and latex:   # an align's column: J &= ... (the = it marks), && \text{...} (a remark after it)
            if text.startswith("&&", i):   # to the end of its line, where the next equation starts
                brk = [k for k in (text.find("\\\\", i, end), text.find("\n", i, end)) if k >= 0]
                i = min(brk) if brk else end
                continue
            if re.match(r"&\s*=(?!=)", text[i:end]):
                i += 1
                continue
        if c == "_" and out.classes:
            entry = _CLASS_ENTRY.match(text, i, end)
            if entry and out.chars and (out.chars[-1].isalnum() or out.chars[-1] in "_)"):
                i = entry.end()   # Y_k inside \sum_{k}: Y's entry at class k, summed over
                continue
        if c == "." and i + 1 < end and text[i + 1] in "*/^" and not (out.chars and out.chars[-1].isdigit()
                                                                     and text[i + 1] == "/"):
            out.put("**" if text[i + 1] == "^" else text[i + 1], i)   # Octave's elementwise .* ./ .^
            i += 2
            continue
        adjoint = _ADJOINT.match(text, i, end)   # ∂J/∂Z₂ and dJ/dZ2 in a formula: the name dZ2
        if adjoint and not (i > start and (text[i - 1].isalnum() or text[i - 1] == "_")):
            out.put("d", i)
            out.glued = len(out.chars)
            i = adjoint.end()
            continue
        typeset = _TYPESET_RUN.match(text, i, end) if c in _TYPESET_SUP else None
        if typeset and _LAYER_SUP.fullmatch("".join(_TYPESET_SUP[ch] for ch in typeset.group())) \
                and _nielsen_name(out) is not None:   # Nielsen's typeset w², δᴸ
            i = _nielsen_layer(text, i, typeset.end(), "".join(_TYPESET_SUP[ch] for ch in typeset.group()), out, end)
            continue
        if c in "Σ∑" and out.scalar and not text.startswith(_SUM_INDEXES, i + 1):
            # J = −(1/m) Σ Y ⊙ log(A₂), as derivax prints the loss: over every entry (a Σ with an index derivax does
            # not read, Σᵢ without x⁽ⁱ⁾, Σⱼ, is refused below, saying which sums it reads)
            i = _summed(text, i, i + 1, end, out, latex, "sum")
            continue
        if c in _REFUSED:
            raise FormulaError(text, i, f"{c} is {_REFUSED[c]}")
        if c in _PRODUCTS or c == "*" and out.octave and not text.startswith(("**", "*="), i) \
                and not (i > start and text[i - 1] == "*"):   # Octave's * (A1' * delta2): a product, by its operands
            out.put(_PRODUCT, i)
            i += 1
            continue
        if c in _UNICODE:
            put = _UNICODE[c]
            if put[0].isalpha() and c not in _SUBSCRIPTS and c != "\u0302":   # y + a combining hat is yhat
                out.apart(i)
            out.put(put, i)
            i += 1
            continue
        if c.isascii() and c.isalpha() and i > start and text[i - 1] in _SUBSCRIPTS:
            out.put(" ", i)   # a subscript digit ends a name: δ₂W₂ᵀ is δ₂ W₂ᵀ
        out.put(c, i)
        i += 1


# the lines around a block derivax prints (show --format latex, markdown, the text panels): LaTeX comments,
# an environment's \begin and \end, markdown's $$, headings, **Convention:** line and a note's own line in italics
# (*$t < 3$: what step t+1 sends back*), a panel's top and bottom
_ASIDE = re.compile(r"[ \t]*(?:%[^\n]*|\\(?:begin|end)\{(?:align|aligned|equation|gather|gathered|split)\*?\}[ \t]*"
                    r"|\$\$[ \t]*|#{1,6}[ \t][^\n]*|\*\*[^*\n]+\*\*[^\n]*|\*[^*\n]+\*[ \t]*|[╭╰][^\n]*[╮╯][ \t]*)(?=\n|$)")
_HAT = re.compile(r"\\(?:wide)?hat\s*(?:\{\s*(?:\\(?:boldsymbol|mathbf|bm|mathrm|mathit)\s*\{\s*)?([A-Za-z])\s*\}?\s*\}"
                  r"|([A-Za-z])(?![A-Za-z]))")   # \hat{y}, \hat y, \hat{\boldsymbol{y}}
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\s*\{(?:align|aligned|equation|gather|gathered|split)\*?\}")
_ADJOINT = re.compile(r"(?:∂[JC]\s*/\s*∂|d[JC]\s*/\s*d)(?=[A-Za-zδγβμσ])")
_TRANSPOSED = re.compile(r"\^\s*(\{\s*(?:\\top|\\intercal|T|\\mathsf\{T\}|\\mathrm\{T\}|[⊤⊺ᵀ])\s*\}|\\top\b|\\intercal\b"
                         r"|T(?![A-Za-z0-9_])|[⊤⊺ᵀ])")   # ^T, ^{\top}, and A₁^⊤ as plain text writes it
# Ng's layer in brackets, W^{[2]}, and what the bracket's superscript goes on with: a transpose (W^{[2]T}, \\top,
# \\intercal), a prime (g^{[1]\\prime}) or a square (A^{[1]2}); [L] the output layer, [L-1] the one before it
_LAYER = re.compile(r"\^\s*(\{)?\s*\[\s*(\d+|L(?:\s*[-−]\s*\d+)?)\s*\]\s*"
                    r"(T(?![A-Za-z])|\\top(?![A-Za-z])|\\intercal(?![A-Za-z])|\\mathsf\s*\{\s*T\s*\}|'|\\prime(?![A-Za-z])"
                    r"|(?(1)2))?\s*(?(1)\})")
# a layer's index as UFLDL's and CS229's notes write it, in round brackets (W^{(2)}, a^{(1)T}, δ⁽²⁾): only on a
# bare name of a layer (``_layer_name``), where (i) is one example's (``_EXAMPLE``, read before)
_ROUND_LAYER = re.compile(r"\^\s*(\{)?\s*\(\s*(\d+)\s*\)\s*"
                          r"(T(?![A-Za-z0-9_])|\\top(?![A-Za-z])|\\intercal(?![A-Za-z]))?\s*(?(1)\})")
_TYPESET_LAYER = re.compile(r"⁽([⁰¹²³⁴⁵⁶⁷⁸⁹]+)⁾")
_PRIMED = re.compile(r"\^\s*(?:\{\s*(?:\\prime(?![A-Za-z])|')\s*\}|\\prime(?![A-Za-z]))")
_LAYER_NAME = re.compile(r"(?<![A-Za-z0-9_.])d?(?:W|w|b|a|z|A|Z|delta)$")
_UFLDL_NAME = re.compile(r"(?<![A-Za-z0-9_.])(?:a|z|A|Z|delta)$")   # the names UFLDL's numbering shifts
_INDEX = re.compile(r"_\s*\{\s*(\d+)\s*\}|_(\d+)(?![A-Za-z_])")

# Nielsen's layers written as superscripts (w^2, δ^{L}, a^{l-1}, w²): his input is layer 1, so his layer l is derivax's
# l - 1 (w^2 is W1, a^1 is X) and L the output layer
_NIELSEN = {"w": "W", "b": "b", "z": "Z", "a": "A", "delta": "delta"}
_NIELSEN_SUP = re.compile(r"\^\s*(?:\{([^{}]*)\}|(\d+|[A-Za-z]))")
_LAYER_SUP = re.compile(r"\s*(?:\d+|[A-Za-z](?:\s*[-+−]\s*\d+)?)\s*")   # 2, L, l+1, L-1: a layer, not a power
_TYPESET_SUP = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7", "⁸": "8", "⁹": "9",
                "⁺": "+", "⁻": "-", "ᴸ": "L", "ˡ": "l"}
_TYPESET_RUN = re.compile(f"[{''.join(_TYPESET_SUP)}]+")
_NABLA = re.compile(r"(?:∇|\\nabla(?![A-Za-z]))\s*(?:_\s*(?:\{\s*a\s*\}|a)|ₐ)\s*C(?![A-Za-z0-9_])")
_NABLA_OF = re.compile(r"(?:∇|\\nabla(?![A-Za-z]))\s*_\s*")
_NABLA_ONE = re.compile(r"[A-Za-z](?:_?\d+)?(?![A-Za-z0-9])")   # ∇_W, ∇_W2, ∇_W_2
_COST = re.compile(r"\s*(?:[JCL]|\\mathcal\s*\{\s*[JCL]\s*\}|\\mathcal\s*[JCL])(?![A-Za-z0-9_])")


def _nabla_of(text, i, end):
    """(start, end, after) of the name a gradient ∇_{W^{[2]}} J (∇_W J, \\nabla_{W_2} \\mathcal{J}) takes: the
    subscript it is with respect to, the cost after it optional; None where ``text[i:]`` is no such gradient.
    Nielsen's ∇_a C, the output's ∂C/∂a, is read before this (``_NABLA``)."""
    head = _NABLA_OF.match(text, i, end)
    if not head:
        return None
    group = _group(text, head.end(), end)
    if group is not None:
        lo, hi, after = group[0], group[1], group[1] + 1
    else:
        one = _NABLA_ONE.match(text, head.end(), end)
        if not one:
            return None
        lo, hi, after = one.start(), one.end(), one.end()
    if not text[lo:hi].strip():
        return None
    cost = _COST.match(text, after, end)
    return lo, hi, cost.end() if cost else after


_SUM_NORM = re.compile(r"(?:Σ|∑|\\sum(?![A-Za-z]))\s*(?:_\s*(?:\{[^{}]*\}|[A-Za-z]))?\s*(‖|\|\||\\\|)")
_PARTIAL_TOP = re.compile(r"\s*(?:\\partial(?![A-Za-z])|∂)\s*(?:[JCL]|\\mathcal\s*\{\s*[JCL]\s*\}|\\mathcal\s*[JCL])\s*")
_PARTIAL = re.compile(r"\s*(?:\\partial(?![A-Za-z])|∂)\s*")
# \sum_{i=1}^{m} (Σᵢ) before a term whose examples carry (i): the sum over the examples
def _outside_brackets(text, i) -> bool:
    """Whether ``text[i]`` stands outside every bracket opened before it (a comma ending a line inside np.sum(...,
    is the call's)."""
    before = text[:i]
    return sum(before.count(o) - before.count(c) for o, c in ("()", "[]", "{}")) <= 0


# what may follow an equation to the end of its line: spaces, LaTeX's spacing, a closing $, the line's break
_LINE_END = re.compile(r"(?:[ \t]|\\q?quad(?![A-Za-z])|\\[,;!: ]|\$)*(?:\\\\|\n|$)")
_LIMITS = re.compile(r"\s*\\(?:no)?limits(?![A-Za-z])")
_SUM = re.compile(r"(?:\\sum(?![A-Za-z])(?:\s*\\(?:no)?limits(?![A-Za-z]))?|Σ|∑)\s*(?:_\s*(?:\{\s*i\s*(?:=\s*1\s*)?\}|i(?![A-Za-z0-9]))|ᵢ)"
                  r"(?:\s*\^\s*(?:\{\s*[mNn]\s*\}|[mNn](?![A-Za-z0-9])))?")
# what follows \sum: nothing (a sum over every entry) or a subscript, the index it runs over (\sum_{k}, \sum_k,
# \sum_{k=1}^{K}); the index k is the classes' (derivax's Σₖ), any other is named in the refusal
_LATEX_SUM = re.compile(r"(?![A-Za-z])\s*(?:_\s*(?:\{\s*(?P<index>[A-Za-z])\s*(?:=\s*\w+\s*)?\}|(?P<index2>[A-Za-z])"
                        r"(?![A-Za-z0-9]))(?:\s*\^\s*(?:\{[^{}]*\}|\w))?|(?![\s]*[_^]))\s*")
# an align's line that goes on with the equation before it: \\ then & not followed by = (&\quad + ...)
_CONTINUED = re.compile(r"\s*&(?!\s*=)(?!&)")
_CLASS_ENTRY = re.compile(r"_\s*(?:\{\s*k\s*\}|k(?![A-Za-z0-9]))")
_EXAMPLE = re.compile(r"\^\s*\{\s*(?:\[\s*(\d+)\s*\]\s*|\(\s*(\d+)\s*\)\s*)?"
                      r"(?:\\langle\s*(t\s*(?:[-+−]\s*\d+)?|\d+)\s*\\rangle\s*)?\(\s*i\s*\)\s*"
                      r"(T|\\top(?![A-Za-z])|\\intercal(?![A-Za-z]))?\s*\}"
                      r"|⁽ⁱ⁾")
_POWER = re.compile(r"\^\s*([0-9A-Za-z])(?![0-9A-Za-z])")

# the text panels: a line broken before a sign goes on with the line above it (past the panel's border), and a
# note in brackets beside an equation, [t < 3: what step t+1 sends back], is words
_GOES_ON = re.compile(r"[ \t]*(?:│[ \t]*)?(?=[+−⊙⊘])")
_NOTE = re.compile(r"[ \t]{2,}\[[^\[\]\n]*\][ \t]*(?=│|\n|$)")
# the sums derivax prints in text besides Σᵢ x⁽ⁱ⁾ (``_SUM``): Σₜ over the steps, Σₖ over the classes, Σᵢ,ₚ and Σᵢ,ₜ
# over the examples and every position or step (a convolution's bias, a dense layer's at every step), Σ_t and Σ_k as
# Σₜ and Σₖ; a bare Σ, which
# a formula typed for a bias's gradient means over the batch as often as over every entry, is refused (``_REFUSED``)
_TEXT_SUM = re.compile(r"[Σ∑](?:(ₜ|ₖ|ᵢ\s*,\s*[ₚₜ])|_\s*(?:\{\s*([tk])\s*\}|([tk])(?![A-Za-z0-9_])))")
_TEXT_SUMS = {"ₜ": "sum_t", "ₖ": "sum_k", "ᵢ,ₚ": "sum_ip", "ᵢ,ₜ": "sum_ip"}
# what makes a Σ one with an index (Σᵢ, Σⱼ, Σ_j, Σ^m): no bare Σ
_SUM_INDEXES = tuple("ᵢⱼₖₗₘₙₚₜₓ₀₁₂₃₄₅₆₇₈₉_^")
_LATEX_PAIR_SUM = re.compile(r"(?![A-Za-z])\s*_\s*\{\s*i\s*,\s*[pt]\s*\}")
# a step of a sequence: h₁⟨t−1⟩ (text), h^{[1]\langle t-1\rangle} and x^{\langle t\rangle T} (LaTeX)
_STEP = re.compile(r"⟨\s*(t\s*(?:[-+−]\s*\d+)?|\d+)\s*⟩")
_STEP_SUB = re.compile(r"_\s*(?:\{\s*(t\s*(?:[-+−]\s*\d+)?)\s*\}|(t)(?![A-Za-z0-9_]))")
_STEP_SUP = re.compile(r"\^\s*\{\s*(?:\[\s*(\d+)\s*\]\s*)?\\langle\s*(t\s*(?:[-+−]\s*\d+)?|\d+)\s*\\rangle\s*"
                       r"(T|\\top(?![A-Za-z]))?\s*\}")
# a normalization layer's σ₂ and σ²₂, \sigma^{[2]} and {\sigma^2}^{[2]}: its standard deviation and variance where
# layer 2 is one (sigma2, var2), the sigmoid elsewhere
_NORM_SIGMA = re.compile(r"σ(²)?([₀-₉]+)")
_LAYER_AHEAD = re.compile(r"\s*\^\s*\{\s*\[\s*(\d+)\s*\]")
_LATEX_VAR = re.compile(r"\{\s*\\sigma\s*\^\s*(?:2|\{\s*2\s*\})\s*\}(?=\s*\^\s*\{\s*\[\s*(\d+)\s*\])")
_BAR = re.compile(r"\\(?:bar|overline)\s*(?:\{\s*X\s*\}|X(?![A-Za-z]))")
# a name of several letters as LaTeX prints it, one letter and a subscript before its layer: W_{hh}^{[1]}
_LATEX_SLICE = re.compile(r"_\s*\{\s*\[([^\[\]{}]*)\]\s*\}")   # {s}_{[:, 2:4]}: a part of s, as show prints it
_SUB_LETTERS = re.compile(r"_\s*\{\s*([A-Za-z]+)\s*\}(?=\s*\^\s*\{\s*(?:\[|\\langle))")
# a convolution's stride written on its sign (∗₂, \ast_{2}), which conv takes from the network's layer
_STRIDE = re.compile(r"[₀-₉]+(?:,[₀-₉]+)*")
_LATEX_STRIDE = re.compile(r"\s*_\s*(?:\{[^{}]*\}|\d)")


_CONDITION = re.compile(r"(?:\[|\\text\s*\{\s*\$|^[ \t]*\*\$)\s*t\s*([<>])\s*(\d+)\s*\$?\s*:", re.MULTILINE)


def step_condition(text):
    """(sign, k) of the steps a recurrence's line holds at, as its note says (``[t < 3: what step t+1 sends back]``,
    LaTeX's ``&& \\text{$t < 3$: ...}``, Markdown's line ``*$t < 3$: ...*``): ("<", 3), (">", 1); None for a formula
    without such a note."""
    found = _CONDITION.search(text) if isinstance(text, str) else None
    return (found.group(1), int(found.group(2))) if found else None


def _step_key(step) -> str:
    """A step as a name's suffix: t, t−1, t+1 and the fixed step 3 as t, tm1, tp1 and at3 (h1_tm1, dh1_at3)."""
    step = "".join(step.split()).replace("−", "-")
    if step.isdigit():
        return f"at{int(step)}"
    return "t" if step == "t" else f"t{'p' if step[1] == '+' else 'm'}{int(step[2:])}"


def _summed(text, i, inner, end, out, latex, call) -> int:
    """The sum at ``i`` (its sign ending at ``inner``) over its term, to the next + or − outside brackets, written
    as ``call``(term) (sum_t, sum_k or sum_ip); the offset after the term."""
    stop = _term_end(text, inner, end)
    while stop > inner and text[stop - 1].isspace():
        stop -= 1
    while inner < stop and text[inner].isspace():
        inner += 1
    out.apart(i)
    out.put(call + "(", i)
    was, out.classes = out.classes, out.classes or call == "sum_k"
    _write(text, inner, stop, out, latex)
    out.classes = was
    out.put(")", stop)
    return stop
_SQUARED = re.compile(r"\s*(?:²|\^\s*2(?!\d)|\^\s*\{\s*2\s*\})")


_READS_NIELSEN = re.compile(r"(?<![A-Za-z0-9_])d?(?:w|b|z|a|δ|\\delta)\s*(?:\^\s*(?!\{?\s*\[)(?:\{\s*)?(?:\d|L)|[⁰¹²³⁴⁵⁶⁷⁸⁹ᴸ])")


_READS_ROUND = re.compile(r"(?<![A-Za-z0-9_])(?:a|z|A|Z|δ|\\delta)\s*"
                          r"(?:\^\s*\{?\s*\(\s*\d|⁽[⁰¹²³⁴⁵⁶⁷⁸⁹])")


def reads_round_layers(text) -> bool:
    """Whether a formula writes the layers of a, z or δ in round brackets (a^{(1)}, \\delta^{(2)}, δ⁽²⁾), which
    UFLDL's and CS229's notes number from the input as layer 1 (``respell(..., numbering="ufldl")``)."""
    return isinstance(text, str) and _READS_ROUND.search(text) is not None


_EX4_NAME = re.compile(r"(?<![A-Za-z0-9_])([adz])(\d+)(?![A-Za-z0-9_])")


def ex4_names(text) -> set:
    """The bare lower-case a<k>, z<k>, d<k> names a formula writes (a3, d2), which the Coursera ML course's ex4
    numbers from the input as layer 1 (``respell(..., numbering="ex4")``)."""
    return {m.group() for m in _EX4_NAME.finditer(text)} if isinstance(text, str) else set()


def reads_nielsen(text) -> bool:
    """Whether a formula writes layers as Nielsen's superscripts (w^2, δ^L, a¹), read in his numbering."""
    return isinstance(text, str) and _READS_NIELSEN.search(text) is not None


def _sup_text(found) -> str:
    return (found.group(1) if found.group(1) is not None else found.group(2)).strip()


def _layer_name(out) -> bool:
    """Whether ``out`` ends in a bare name a layer's index may follow (W, b, a, z, A, Z, delta, with a d before it:
    dW), not one of the derivation's own (a number's power follows that)."""
    tail = _LAYER_NAME.search("".join(out.chars[-8:]))
    return tail is not None and not (out.names is not None and tail.group() in out.names)


def _round_index(out, digits, text, i) -> str:
    """The index to write for a layer in round brackets (W^{(2)}, δ⁽²⁾) after the name ``out`` ends in: the number
    itself, as derivax and Ng number layers; in UFLDL's numbering (``out.numbering``), one less on a, z and δ, the
    input being layer 1 there (a^{(1)} is X, δ^{(3)} is δ2), where the input's z or δ is refused."""
    tail = _UFLDL_NAME.search("".join(out.chars[-8:])) if out.numbering == "ufldl" else None
    if tail is None:
        return digits
    if int(digits) <= 1 and tail.group() not in ("a", "A"):
        shown = "δ" if tail.group() == "delta" else tail.group()
        raise FormulaError(text, i, f"{shown}^{{({digits})}}: in UFLDL's numbering layer 1 is the input (a^{{(1)}} is "
                                    f"X), which has no z or δ; the first layer's are z^{{(2)}}, δ^{{(2)}} (derivax's "
                                    "Z1, δ1)")
    return str(int(digits) - 1)


def _nielsen_name(out):
    """(the name's start in ``out``, its letter, whether a d stands before it) where ``out`` ends in a name
    Nielsen writes with a layer superscript (w, b, z, a, δ; dW as his ∂C/∂w), or an upper-case one (W, Z, A)
    of no numbering of its own; None otherwise (A1², a power)."""
    tail = re.search(r"(?<![A-Za-z0-9_.])(d?)(w|b|z|a|delta|W|B|Z|A)$", "".join(out.chars[-8:]))
    if tail is None:
        return None
    word = tail.group(1) + tail.group(2)
    if out.names is not None and word in out.names:   # a name of the derivation itself: its power
        return None
    return len(out.chars) - len(word), tail.group(2), bool(tail.group(1))


def _nielsen_layer(text, i, after, sup, out, end) -> int:
    """Nielsen's superscripted name ending ``out`` (its superscript ``sup`` at text[i:after]) as derivax's name:
    w^2 as W1, a^1 as X, δ^L as the output layer's δ; the offset after it. A symbolic layer (w^{l+1}), a
    layer the network does not have, an upper-case name and an entry's subscripts (w^l_{jk}) are refused."""
    start, letter, adjoint = _nielsen_name(out)
    shown = "δ" if letter == "delta" else letter
    sup = " ".join(sup.replace("−", "-").split())
    if letter in ("W", "B", "Z", "A"):
        raise FormulaError(text, i, f"{letter}^{{{sup}}} writes a layer as a superscript on an upper-case name, which "
                                    "books number in different ways: derivax reads it on Nielsen's lower-case names "
                                    f"({letter.lower()}^{{{sup}}}, his input being layer 1: w^2 is derivax's W1), "
                                    f"Ng's {letter}^{{[{sup}]}}, or derivax's own {letter}{sup}")
    plain = sup.replace(" ", "")
    symbol = re.search(r"[A-KM-Za-z]", plain)
    if symbol is not None:
        k = text.find(symbol.group(), i, after)
        raise FormulaError(text, k if k >= 0 else i,
                           f"{shown}^{{{sup}}} names the layer by a symbol, {symbol.group()}: write the layer's number, as "
                           "Nielsen numbers them from the input, layer 1 (w^2 and δ^2 are the first layer's, derivax's W1 "
                           "and δ1; a^1 is the input X), or L for the output layer (a^L, δ^L, w^{L-1})")
    hit = re.fullmatch(r"(\d+)|L(?:-(\d+))?", plain)
    if hit is None:
        raise FormulaError(text, i, f"{shown}^{{{sup}}}: a layer's superscript is a number or L (the output), "
                                    "L-1 for the one before it")
    if hit.group(1) is not None:
        layer = int(hit.group(1)) - 1   # Nielsen's layer l: derivax's l - 1, his input being layer 1
    elif out.last is None:
        layer = None
    else:
        layer = out.last - int(hit.group(2) or 0)
    if layer is not None and out.last is not None and layer > out.last:
        raise FormulaError(text, i, f"{shown}^{{{sup}}}: Nielsen's layer {plain} is past the output, layer "
                                    f"{out.last + 1} in his numbering (his input is layer 1; derivax's layers are 1 to "
                                    f"{out.last})")
    if layer is not None and (layer < 0 or layer == 0 and letter != "a"):
        raise FormulaError(text, i, f"{shown}^{{{sup}}}: in Nielsen's numbering the input is layer 1 (a^1, derivax's "
                                    "X), which has no weights, biases, z or δ; the first layer's are w^2, b^2, z^2, δ^2 "
                                    "(derivax's W1, b1, Z1, δ1)")
    if layer is None:   # L without the network at hand: the output's name as the courses write it (AL)
        name = _NIELSEN[letter] + "L"
    elif layer == 0:
        name = "X"
    else:
        name = f"{_NIELSEN[letter]}{layer}"
    if out.names is not None and layer is not None and name not in out.names:
        raise FormulaError(text, i, f"{shown}^{{{sup}}} is Nielsen's layer {plain}, derivax's {name}, which this "
                                    "network does not have")
    if adjoint:   # ∂C/∂w^2 (dW1), ∂C/∂z^2 (dZ1)
        name = "d" + name
    entry = re.compile(r"\s*_\s*(?:\{\s*[a-z](?:\s*,?\s*[a-z])?\s*\}|[a-z](?![A-Za-z0-9_]))").match(text, after, end)
    if entry:
        raise FormulaError(text, after, f"{shown}^{{{sup}}}{text[after:entry.end()].strip()} is one entry of a "
                                        "matrix: write the whole matrix, as ∂C/∂w^l = δ^l (a^{l-1})^T, with the "
                                        "layers' numbers")
    at = out.at[start]
    del out.chars[start:], out.at[start:]
    out.put(name, at)
    if text[after:end].lstrip().startswith("("):   # δ^l (a^{l-1})^T: no function, so a product (BP4)
        out.put(f" {_PRODUCT}", after)
    return after


def _examples_summed(text, i, out, begin, marks, stop):
    """The term written into ``out`` from ``begin`` (its names marked (i) ending at ``marks``), summed over
    the examples as the sum at ``i`` in ``text`` says: a product of two examples' vectors as the matrix
    product over the batch (rows: Σᵢ x⁽ⁱ⁾ᵀ y⁽ⁱ⁾ = Xᵀ Y; columns: Σᵢ x⁽ⁱ⁾ y⁽ⁱ⁾ᵀ = X Yᵀ), an elementwise term
    as its sum over the batch's axis; any other term is refused with its position."""
    term, term_at = "".join(out.chars[begin:]), out.at[begin:]
    del out.chars[begin:], out.at[begin:]
    tokens = _tokens(term) or []
    marked = {e - begin for e in marks}
    row = out.batch == 0   # one example's x is a row of X in the rows convention, a column in columns

    def factor(k):
        """(name, transposed, the token after it) of a marked vector at token k (x, (x), x.T, (x).T), or None."""
        bracket = k < len(tokens) and tokens[k][1] == "("
        j = k + 1 if bracket else k
        if j >= len(tokens) or tokens[j][0] != "name" or tokens[j][3] not in marked:
            return None
        j += 1
        if bracket:
            if j >= len(tokens) or tokens[j][1] != ")":
                return None
            j += 1
        flips = 0
        while j + 1 < len(tokens) and tokens[j][1] == "." and tokens[j + 1][1] == "T":
            flips, j = flips + 1, j + 2
        return tokens[k + 1 if bracket else k][1], flips % 2 == 1, j

    first = factor(0)
    second = None
    if first is not None and first[2] < len(tokens):
        k = first[2] + (1 if tokens[first[2]][1] in (_PRODUCT, "@") else 0)
        second = factor(k)
    if second is not None and second[2] == len(tokens):
        # x y: a column (after its transposes) before a row makes each example's outer product, and their
        # sum is the product of the matrix whose columns are the examples' x and the one whose rows are y's
        column_first = first[1] == row
        row_second = second[1] != row
        if column_first and row_second:
            left = first[0] + (".T" if row else "")
            right = second[0] + ("" if row else ".T")
            out.put(f"({left} @ {right})", i)
            return
        raise FormulaError(text, i, f"Σᵢ of {shown(term)} with the examples' (i): one example's x is a "
                                    f"{'row' if row else 'column'} here ({'rows' if row else 'columns'} convention), so "
                                    "this product is no outer product of its vectors; derivax reads "
                                    + ("Σᵢ x⁽ⁱ⁾ᵀ y⁽ⁱ⁾ as Xᵀ Y" if row else "Σᵢ x⁽ⁱ⁾ y⁽ⁱ⁾ᵀ as X Yᵀ")
                                    + ": write that, or the whole matrices")
    if marked == {len(term.rstrip())} and _whole_operand(tokens):
        # one operand marked (i) as a whole, a call or a group (Σᵢ reshape(δ₃ W₃ᵀ, (m, 2, 2))⁽ⁱ⁾): its sum over the
        # examples, whatever it holds
        out.put("sum(", i)
        for c, a in zip(term, term_at):
            out.put(c, a)
        out.put(f", {out.batch})", stop)
        return
    # an elementwise term: no transpose, and no matrix product (a product sign or operands side by side
    # between two matrices)
    joined, joined_at = _juxtaposed(term, term_at + [stop], out.names or {})
    joined, _ = _products(joined, joined_at)
    bad = next((t for t in (_tokens(joined) or []) if t[1] == "@" or t[1] == "T"), None)
    if bad is not None or "'" in term and ".T" in _octave_primes(term, term_at + [stop])[0]:
        raise FormulaError(text, i, "Σᵢ sums one example's terms over the examples: derivax reads a product of two "
                                    "examples' vectors (" + ("Σᵢ x⁽ⁱ⁾ᵀ y⁽ⁱ⁾, Xᵀ Y" if row else "Σᵢ x⁽ⁱ⁾ y⁽ⁱ⁾ᵀ, X Yᵀ")
                                    + f") and an elementwise term (Σᵢ δ⁽ⁱ⁾, sum(δ, {out.batch})), and "
                                    f"{shown(term)!r} is neither: write it with the whole matrices")
    out.put("sum(", i)
    for c, a in zip(term, term_at):
        out.put(c, a)
    out.put(f", {out.batch})", stop)


def _whole_operand(tokens) -> bool:
    """Whether a term's tokens are one operand: a group in brackets, or a call of a function, that spans them all."""
    if not tokens:
        return False
    first = 1 if tokens[0][0] == "name" and len(tokens) > 1 and tokens[1][1] == "(" else 0
    if tokens[first][1] != "(":
        return False
    depth = 0
    for k in range(first, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[k][1], 0)
        if depth == 0:
            return k == len(tokens) - 1
    return False


def _term_end(text, i, end) -> int:
    """Where the term that starts at ``i`` ends: at a + or − outside brackets (a sum runs over its term), a
    closing bracket of one opened before it, the end of its line (a new line, LaTeX's \\\\, an align's &), or
    ``end``."""
    depth, k, begun = 0, i, False
    while k < end:
        c = text[k]
        if depth == 0 and text.startswith("\\\\", k) and _CONTINUED.match(text, k + 2, end):
            k = _CONTINUED.match(text, k + 2, end).end()   # the equation goes on on the next line
            continue
        if depth == 0 and (c in "\n&" or text.startswith("\\\\", k)):
            return k
        if c in "([{⟨":   # ⟨t−1⟩ too: a step's sign is no term's
            depth += 1
        elif c in ")]}⟩":
            depth -= 1
            if depth < 0:
                return k
        elif depth == 0 and begun and c in "+-−=,;":
            if not re.search(r"(\^|[*/(⊙·×∘⊘]|\\(?:odot|cdot|times|circ|ast|oslash|div))\s*$", text[i:k]):   # a sign, not of an operand
                return k
        if not c.isspace():
            begun = True
        k += 1
    return end


def _group(text, i, end):
    """(start, end) inside the braces that open at ``i`` (spaces skipped), or None."""
    while i < end and text[i] == " ":
        i += 1
    if i >= end or text[i] != "{":
        return None
    depth = 0
    for k in range(i, end):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return i + 1, k
    return None


# LaTeX's functions written before their argument without brackets, as slides write the cost: \log A^{[2]}
_BARE_CALLS = {"log", "ln", "exp", "tanh", "cosh", "sinh"}
_ATOM = re.compile(r"(?:\\[A-Za-z]+|[A-Za-z][A-Za-z0-9]*|[α-ωΑ-Ω])"
                   r"(?:\s*[_^]\s*(?:\{(?:[^{}]|\{[^{}]*\})*\}|[A-Za-z0-9])|[₀-₉ᵀ⁰-⁹⁽⁾ⁱ]|⟨[^⟩]*⟩)*")


def _bare_argument(text, i, end):
    """(start, end) of the atom a LaTeX function takes without brackets (\\log A^{[2]}, \\exp z): a name with its
    subscripts and superscripts; None where brackets follow (\\log(A), \\log\\left(...\\right)), a power
    (\\tanh^{2}(z)), or nothing an atom starts with."""
    j = i
    while j < end and text[j] == " ":
        j += 1
    if j == i and j < end and text[j].isalpha():   # \logA: no command TeX knows, refused as it is
        return None
    if j >= end or text[j] in "({[^_" or text.startswith("\\left", j) or text.startswith("\\big", j) \
            or text.startswith("\\Big", j):
        return None
    atom = _ATOM.match(text, j, end)
    if not atom or (text[j] == "\\" and atom.group().split("^")[0].split("_")[0][1:] in ("left", "right", "frac",
                                                                                        "sum", "cdot", "odot")):
        return None
    if text.startswith("(", atom.end()) or text.startswith("\\left", atom.end()):
        return None   # \log \sigma(Z): a call after it, which its own brackets do not make the log's argument
    return j, atom.end()


def _argument(text, i, end):
    """(start, end) of a command's argument at ``i`` (spaces skipped): a group in braces, or, as TeX reads \\frac12
    and \\frac1m, a single character; None where there is neither."""
    group = _group(text, i, end)
    if group is not None:
        return group
    while i < end and text[i] == " ":
        i += 1
    if i < end and (text[i].isalnum() and text[i].isascii()):
        return i, i + 1
    return None


def _frac(text, i, end, out, latex, after=None):
    """\frac{a}{b} as ((a)/(b)), and dfrac and tfrac alike (\\frac1m, TeX's arguments of one character, too);
    the offset after it."""
    first = _argument(text, i + 5 if after is None else after, end)
    second = _argument(text, first[1] + (text[first[1]:first[1] + 1] == "}"), end) if first else None
    if second is None:
        raise FormulaError(text, i, "\\frac takes two groups in braces, as \\frac{1}{m}")
    top, below = _PARTIAL_TOP.fullmatch(text, first[0], first[1]), _PARTIAL.match(text, second[0], second[1])
    if top and below:   # \frac{\partial J}{\partial W^{[1]}}: ∂J/∂W₁, the name dW1
        out.put(" " if out.chars and (out.chars[-1].isalnum() or out.chars[-1] == "_") else "", i)
        out.put("d", i)
        out.glued = len(out.chars)
        _write(text, below.end(), second[1], out, latex)
        return second[1] + (text[second[1]:second[1] + 1] == "}")
    out.put("((", i)
    for lo, hi, close in ((first[0], first[1], ")/("), (second[0], second[1], "))")):
        _write(text, lo, hi, out, latex)
        out.put(close, hi)
    return second[1] + (text[second[1]:second[1] + 1] == "}")


_TOKEN = re.compile(r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
                    r"|(?P<str>'[^']*'|\"[^\"]*\")|(?P<op>\*\*|//|[-+*/@%<>=!]=?|[()\[\],.:;'\x00\x01\x02^&|~]))")


def _tokens(text):
    """[(kind, text, start, end)] of a respelled formula; None where it holds something else."""
    out, i = [], 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        t = _TOKEN.match(text, i)
        if not t:
            return None
        kind = t.lastgroup
        out.append((kind, t.group(kind), t.start(kind), t.end(kind)))
        i = t.end()
    return out


def _primes(text) -> dict:
    """{offset: "call" or "transpose"} of each ' in ``text`` that is a prime, not a string's quote: one that
    follows an operand directly (A1', (A2-Y)', a prime after another), a function's derivative where a call
    follows (sigmoid'(Z1), f'(z)) and a transpose otherwise. A quote elsewhere opens a string (np.einsum('ij,jk->ik',
    ...)), whose text is skipped to its closing quote."""
    found, k = {}, 0
    while k < len(text):
        c = text[k]
        if c == "'" and k > 0 and (text[k - 1].isalnum() or text[k - 1] in "_)]'"):
            word = re.search(r"[A-Za-z_][A-Za-z_0-9]*$", text[:k])
            found[k] = "call" if word and text[k + 1:].lstrip().startswith("(") else "transpose"
        elif c in "'\"":
            close = text.find(c, k + 1)
            if close < 0:
                break
            k = close
        k += 1
    return found


def _octave(text) -> bool:
    """Whether a formula is written in Octave's syntax, where * is the matrix product (A1' * delta2, (delta2 * W2')
    .* A1): it holds Octave's .*, ./ or .^ (not after a number, as Python's 2./m), or a ' that transposes, and no @
    (NumPy's matrix product, beside which * multiplies entry by entry)."""
    if "@" in text:
        return False
    for found in re.finditer(r"\.[*/^]", text):
        if not re.search(r"(?<![A-Za-z_0-9.])\d+$", text[:found.start()]):
            return True
    return "transpose" in _primes(text).values()


def _octave_primes(text, at):
    """Octave's and the books' primes, where the text does not parse as Python: A1' as A1.T, (A2-Y)' as
    (A2-Y).T, sigmoid'(Z1) and σ'(Z1) as sigmoid_prime(Z1); a string's quotes are left as they are."""
    primes = _primes(text) if "'" in text else None
    if not primes:
        return text, at
    out = _Out()
    for k, c in enumerate(text):
        if k in primes:
            out.put("_prime" if primes[k] == "call" else ".T", at[k])
            continue
        out.put(c, at[k])
    out.at.append(at[-1])
    return out.text(), out.at


_POWERED = re.compile(r"\b([A-Za-z_][A-Za-z_0-9]*)\s*(?:\*\*|\^)\s*(\(?\d+\)?)\s*\(")


def _powered_calls(text, at):
    """A function's power written on its name, as the books do (tanh²(Z1), \\sigma^2(z)): tanh(Z1)**2."""
    found = _POWERED.search(text)
    while found:
        depth, close = 0, None
        for k in range(found.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[k], 0)
            if depth == 0:
                close = k
                break
        if close is None:
            return text, at
        out = _Out()
        for c in range(found.start()):
            out.put(text[c], at[c])
        out.put(found.group(1), at[found.start()])
        for c in range(found.end() - 1, close + 1):
            out.put(text[c], at[c])
        out.put("**" + found.group(2), at[found.start(2)])
        for c in range(close + 1, len(text)):
            out.put(text[c], at[c])
        out.at.append(at[-1])
        text, at = out.text(), out.at
        found = _POWERED.search(text)
    return text, at


def _juxtaposed(text, at, names):
    """A product written by juxtaposition, where the text does not parse as Python: a sign put between two
    operands that stand side by side ((1/m) delta2 A1.T, 2 (A2 - Y))."""
    tokens = _tokens(text)
    if not tokens:
        return text, at
    callable_ = {"np", "numpy", "jnp", "math"}
    inserts = []
    for k in range(1, len(tokens)):
        (pk, pt, _, pe), (nk, nt, ns, _) = tokens[k - 1], tokens[k]
        ends = pk in ("num", "name") and pt not in _KEYWORDS or pt == ")" or (pk == "name" and pt == "T" and k > 1
                                                                             and tokens[k - 2][1] == ".")
        starts = nk in ("num", "name") and nt not in _KEYWORDS or nt == "("
        if not (ends and starts) or "\n" in text[pe:ns]:   # a new line is a new statement, not a product
            continue
        transposed = pt == "T" and k > 1 and tokens[k - 2][1] == "."
        if nt == "(" and pk == "name" and not transposed and not (pt in names and not callable(names[pt])):
            continue   # a call: tanh(Z1), np.dot(...), f(...); not delta2 (A1.T) or W2.T (...), a product
        if pk == "num" and (nk == "num" or pt.endswith(".") and pe == ns):   # 1.T is no product
            continue
        if pk == "name" and k > 1 and tokens[k - 2][1] == "." and pt != "T":   # np.dot (a, b) is a call
            continue
        if pt in callable_:
            continue
        if pk == "num" and nk == "name" and pe == ns and k > 1 and tokens[k - 2][1] == "/":
            # 1/2m is 1/(2m), as the books mean it: the number and the name it touches one denominator
            inserts += [(tokens[k - 1][2], "("), (ns, f" {_PRODUCT} "), (tokens[k][3], ")")]
            continue
        inserts.append((ns, f" {_PRODUCT} "))
    return _edited(text, at, [(pos, pos, sign) for pos, sign in inserts])


def _square_brackets(text, at):
    """The books' square brackets as parentheses ([A₂ − Y]ᵀ): a [ that follows no operand (no index) and the ]
    that closes it."""
    chars, depth, opened = list(text), [], False
    for k, c in enumerate(text):
        if c == "[":
            before = text[:k].rstrip()
            grouping = not before or not (before[-1].isalnum() or before[-1] in "_)]") or text[k - 1].isspace()
            depth.append(grouping)
            if grouping:
                chars[k], opened = "(", True
        elif c == "]" and depth:
            if depth.pop():
                chars[k] = ")"
    return ("".join(chars), at) if opened else (text, at)


def _called_products(text, at, names, typeset):
    """Parentheses after an operand that is no function, as a product: in the books' notation after a closing
    bracket, a transpose or a matrix's name (A₁ᵀ (A₂ − Y), (1/m) (A₂ − Y)(A₁)ᵀ, δ₂ (A₁ᵀ)); in Python's
    spelling after a closing bracket or a transpose and a space ((A1).T (A2 - Y)), which code never calls.
    A name's call in Python's spelling (delta2(A1.T)) is left to the parser, which refuses it."""
    tokens = _tokens(text)
    if not tokens or "(" not in text:
        return text, at
    lowered = {}
    for n in names:   # the one name each lower-case spelling stands for (a2 for A2), where only one has it
        lowered[n.lower()] = None if n.lower() in lowered else n
    inserts = []
    for k in range(1, len(tokens)):
        (pk, pt, _, pe), (_, nt, ns, _) = tokens[k - 1], tokens[k]
        if nt != "(" or "\n" in text[pe:ns]:
            continue
        transposed = pt == "T" and k > 1 and tokens[k - 2][1] == "."
        known = pt if pt in names else lowered.get(pt.lower()) if typeset else None   # a₂(1 − a₂): A2's
        matrix = pk == "name" and not transposed and known is not None and not callable(names[known]) \
            and not (k > 1 and tokens[k - 2][1] == ".")
        if transposed or pt == ")":
            if typeset or pe < ns:
                inserts.append(ns)
        elif matrix and typeset:
            inserts.append(ns)
    if not inserts:
        return text, at
    out = _Out()
    prev = 0
    for pos in inserts:
        for c in range(prev, pos):
            out.put(text[c], at[c])
        out.put(f"{_PRODUCT} " if pos and text[pos - 1].isspace() else f" {_PRODUCT} ", at[pos])
        prev = pos
    for c in range(prev, len(text)):
        out.put(text[c], at[c])
    out.at.append(at[-1])
    return out.text(), out.at


def _products(text, at):
    """Each product sign as the product its operands make: * where one side is a number (1/m, 2, m, λ),
    @ between two matrices."""
    if _PRODUCT not in text:
        return text, at
    tokens = _tokens(text) or []
    chars = list(text)
    for k, (kind, t, s, _) in enumerate(tokens):
        if t != _PRODUCT:
            continue
        scalar = _scalar(_operand_left(tokens, k)) or _scalar(_operand_right(tokens, k))
        chars[s] = "*" if scalar else "@"
    return "".join(chars), at


def _operand_left(tokens, k):
    """The tokens of the operand that ends before token ``k``."""
    j = k - 1
    depth = 0
    while j >= 0:
        t = tokens[j][1]
        depth += {")": 1, "(": -1}.get(t, 0)
        if depth == 0 and (tokens[j][0] in ("num", "name") or t == "("):
            if j > 0 and tokens[j - 1][1] == "." or t == "T" and j > 0 and tokens[j - 1][1] == ".":
                j -= 1
                continue
            if t == "(" and j > 0 and tokens[j - 1][0] == "name":
                j -= 1
            break
        j -= 1
    return tokens[max(j, 0):k]


def _operand_right(tokens, k):
    """The tokens of the operand that starts after token ``k``: a name or number with what it is called or
    transposed with, or a group in parentheses."""
    j = k + 1
    if j >= len(tokens):
        return []
    if tokens[j][1] in ("-", "+"):   # a sign: -1/m
        j += 1
    depth = 0
    while j < len(tokens):
        t = tokens[j][1]
        depth += {"(": 1, ")": -1}.get(t, 0)
        if depth == 0 and t not in ("(", ".") and not (j + 1 < len(tokens) and tokens[j + 1][1] in (".", "(")):
            break
        if depth < 0:
            return []
        j += 1
    return tokens[k + 1:j + 1]


def _scalar(tokens) -> bool:
    """Whether an operand's tokens hold numbers, m and λ alone (1/m, (1/m), 2, lam)."""
    if not tokens:
        return False
    return all(kind == "num" or t in _SCALARS or t in ("(", ")", "+", "-", "*", "/", "**", _PRODUCT)
               or t in _SCALAR_CALLS and k + 1 < len(tokens) and tokens[k + 1][1] == "("
               for k, (kind, t, _, _) in enumerate(tokens))


_SCALAR_CALLS = {"sqrt", "exp", "log"}   # of numbers alone, a number: gelu's √(2)/√(π)


# the output as the courses name it: Ng's AL (and dAL, dZL), the books' ŷ, CS231n's probs and scores
_OUTPUT = {"yhat": "A", "y_hat": "A", "Yhat": "A", "Y_hat": "A", "ŷ": "A", "probs": "A", "scores": "Z"}


_STEPPED_NAME = re.compile(r"([A-Za-z]+)_(t|tm[0-9]+|tp[0-9]+|at[0-9]+)")


def _last_layer(t, known):
    """The name ``t`` means with L the last layer's index (AL, dZL, W_L, delta_L, ŷ), or None."""
    layers = [int(n[1:]) for n in known if re.fullmatch(r"A\d+", n)]
    if not layers:
        return None
    last = max(layers)
    if t in _OUTPUT:
        name = f"{_OUTPUT[t]}{last}"
        return name if name in known else None
    hit = re.fullmatch(r"(d?)(A|Z|W|b|delta)_?L", t)
    name = f"{hit.group(1)}{hit.group(2)}{last}" if hit else None
    return name if name in known else None


def _names(text, at, names, own=None, numbering=None):
    """Names the derivation does not know, read as the one each plainly means (see the module's doc); ``own``: a
    layer's names written without its index (``respell``); ``numbering`` "ex4": a1 as X, a<k+1>, z<k+1>, d<k+1> as
    A<k>, Z<k>, delta<k>."""
    tokens = _tokens(text)
    if not tokens:
        return text, at
    known = set(names)
    # names a line of the formula defines (dscores = ..., a1 = ...) are its own: never read as another
    defined = {t for k, (kind, t, _, _) in enumerate(tokens) if kind == "name" and k + 1 < len(tokens)
               and (tokens[k + 1][1] == "=" or tokens[k + 1][1] in ("+=", "-=", "*=", "/=")
                    or tokens[k + 1][1] in "+-*/@" and k + 2 < len(tokens) and tokens[k + 2][1] == "=")
               and (k == 0 or tokens[k - 1][1] in (";",) or "\n" in text[tokens[k - 1][3]:tokens[k][2]])}
    lower = {}
    for n in known:
        lower.setdefault(n.lower(), []).append(n)
    edits = []   # (start, end, replacement)
    for k, (kind, t, s, e) in enumerate(tokens):
        if kind != "name" or t in known or t in defined or t in _FUNCTION_WORDS or k > 0 and tokens[k - 1][1] == ".":
            continue
        following = tokens[k + 1][1] if k + 1 < len(tokens) else ""
        if following == "(" or following == "=":   # a call, or a keyword argument
            continue
        if t == "lambda":
            if following and (tokens[k + 1][0] == "name" or following == ":"):
                continue   # a lambda expression: refused as such by the parser
            edits.append((s, e, "lam"))
            continue
        found = None
        if following == "[" and k + 3 < len(tokens) and tokens[k + 2][0] == "num" and tokens[k + 3][1] == "]" \
                and t + tokens[k + 2][1] in known:   # delta[2], Ng's A[1]
            edits.append((s, tokens[k + 3][3], t + tokens[k + 2][1]))
            continue
        if t in (own or {}) and own[t] in known:   # a, z, δ of the layer whose gradient it is
            edits.append((s, e, own[t]))
            continue
        ex4 = _EX4_NAME.fullmatch(t) if numbering == "ex4" else None
        if ex4:   # the course's ex4: a1 is X, a3 is A2, z2 is Z1, d3 is δ2
            k = int(ex4.group(2)) - 1
            put = "X" if (ex4.group(1), k) == ("a", 0) else f"{dict(a='A', z='Z', d='delta')[ex4.group(1)]}{k}"
            if put in known:
                edits.append((s, e, put))
            continue
        flat = re.sub(r"_(?=\d)", "", t)
        candidates = [flat] + ([c for c in lower.get(flat.lower(), [])] if flat.lower() in lower else [])
        for c in candidates:
            if c in known and not (c == "m" and t != "m"):   # the batch's m is N (CS231n's) alone, below
                found = c
                break
        if found is None and re.fullmatch(r"[AaHh]_?0", t) and "X" in known:
            found = "X"
        if found is None and t in ("N", "n") and "m" in known:   # CS231n's N, Nielsen's n: the examples
            found = "m"
        if found is None:
            found = _last_layer(t, known)
        stepped = _STEPPED_NAME.fullmatch(t) if found is None else None
        if stepped:   # h_tm1, delta_t (h_{t-1}, δ_t as the books write one recurrent layer's): its layer's own
            mine = [n for n in known if re.fullmatch(f"{stepped.group(1)}[0-9]+_{stepped.group(2)}", n)]
            found = mine[0] if len(mine) == 1 else None
        if found is not None and (len(lower.get(flat.lower(), [])) <= 1 or flat in known):
            edits.append((s, e, found))
    if not edits:
        return text, at
    out = _Out()
    prev = 0
    for s, e, put in edits:
        for c in range(prev, s):
            out.put(text[c], at[c])
        out.put(put, at[s])
        prev = e
    for c in range(prev, len(text)):
        out.put(text[c], at[c])
    out.at.append(at[-1])
    return out.text(), out.at
