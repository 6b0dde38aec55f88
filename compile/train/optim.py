"""Optimizers as symbolic update rules: printed like the derivation, lowered into the train step.

A rule is a list of assignments in SymPy over one parameter θ, its gradient g, per-parameter state
(zero at the start) and the step count t, applied in order. The same equations print as text or LaTeX
and are printed as the jnp lines of ``train_step``; no optimizer library runs them. The three rules
follow optax's definitions so that a step can be checked against optax:

- SGD: θ ← θ − α g.
- Momentum: v ← β v + g, θ ← θ − α v (optax.sgd(momentum=β), i.e. optax.trace: the velocity sums raw
  gradients and α scales the step, rather than v ← β v + (1 − β) g).
- Adam (Kingma & Ba): μ ← β₁ μ + (1 − β₁) g, ν ← β₂ ν + (1 − β₂) g², μ̂ = μ / (1 − β₁ᵗ),
  ν̂ = ν / (1 − β₂ᵗ), θ ← θ − α μ̂ / (√ν̂ + ε), with t counted from 1 at the first step.

Any optax ``GradientTransformation`` (an object with ``init`` and ``update``) is accepted as well;
the trainer then applies it to the derived gradients.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.printing.str import StrPrinter

from compile.lowering.lower import ScalarJax
from compile.train.optimizer_names import OPTAX_OPTIMIZERS, OPTIMIZERS as NAMES

theta, g, t = sp.symbols("theta g t")
alpha, beta, beta1, beta2, epsilon = sp.symbols("alpha beta beta1 beta2 epsilon", positive=True)
v, mu, nu, mu_hat, nu_hat = sp.symbols("v mu nu mu_hat nu_hat")

TEXT = {"theta": "θ", "alpha": "α", "beta": "β", "beta1": "β₁", "beta2": "β₂", "epsilon": "ε",
        "mu": "μ", "nu": "ν", "mu_hat": "μ̂", "nu_hat": "ν̂"}
LATEX = {mu_hat: r"\hat{\mu}", nu_hat: r"\hat{\nu}", beta1: r"\beta_1", beta2: r"\beta_2"}
_BETA = beta  # the symbol, under a name momentum's own argument does not hide
CODE_NAMES = {alpha: "LR", beta: "BETA", beta1: "BETA1", beta2: "BETA2", epsilon: "OPT_EPSILON"}   # not EPSILON: a normalization's ε has that name


class OptimizerError(ValueError):
    """A bad optimizer name or hyperparameter; the message names the valid choices."""


@dataclass(frozen=True)
class UpdateRule:
    """One optimizer: hyperparameter values, per-parameter state and the update equations."""

    name: str
    hyper: dict            # Symbol -> value
    state: tuple           # per-parameter state Symbols, zero-initialised
    counts: bool           # keeps the step count t
    equations: tuple       # (target Symbol, SymPy expression), applied in order; the last is θ

    def __post_init__(self):
        for s, value in self.hyper.items():   # each is written into the trainer as a Python float
            if not _finite_number(value):
                raise OptimizerError(f"{self.name}: {TEXT.get(str(s), s)} must be a finite number, not {value!r}")

    def _arrow(self, lhs, update: str, define: str) -> str:
        """θ and the state are updated (←); the bias-corrected moments are defined (=)."""
        return update if lhs in self.state or lhs == theta else define

    def text(self) -> str:
        """One assignment a line, e.g. ``θ ← θ − α·g``."""
        p = _Text()
        lines = [f"{p.doprint(lhs)} {self._arrow(lhs, '←', '=')} {p.doprint(rhs)}" for lhs, rhs in self.equations]
        if self.counts:
            lines.insert(0, "t ← t + 1")
        values = ", ".join(f"{p.doprint(s)} = {v:g}" for s, v in self.hyper.items())
        return "\n".join(lines) + f"\n({values})"

    def latex(self) -> str:
        arrow = r"\leftarrow"
        rows = [f"{sp.latex(lhs, symbol_names=LATEX)} &{self._arrow(lhs, arrow, '=')} "
                f"{sp.latex(rhs, symbol_names=LATEX, order='none')}" for lhs, rhs in self.equations]
        if self.counts:
            rows.insert(0, r"t &\leftarrow t + 1")
        return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"

    def constants(self) -> list:
        """Module-level constant lines of the generated trainer."""
        return [f"{CODE_NAMES[s]} = {float(v)!r}  # {TEXT.get(s.name, s.name)}" for s, v in self.hyper.items()]

    def init_source(self) -> str:
        # Zeros from NumPy: jnp.zeros_like would compile once per parameter shape.
        zeros = "{k: jnp.asarray(np.zeros(p.shape, p.dtype)) for k, p in params.items()}"
        state = [f'"{s.name}": {zeros}' for s in self.state]
        if self.counts:
            state.insert(0, '"t": jnp.asarray(np.int32(0))')
        names = ", ".join(["t"] * self.counts + [s.name for s in self.state])
        body = "{" + "".join(f"\n        {item}," for item in state) + ("\n    }" if state else "}")
        doc = f"{self.name} state: {names}, zeros at the start." if state else f"{self.name} keeps no state."
        return f'def init_opt_state(params):\n    """{doc}"""\n    return {body}\n'

    def step_lines(self) -> list:
        """Lines of train_step after ``J, g = ...``: the update of every parameter, in dict form."""
        lines, fresh = [], set()
        if self.counts:
            lines += ["# t ← t + 1", 't = opt_state["t"] + 1']
        text = _Text()
        for lhs, rhs in self.equations:
            atoms = {theta: "params[k]", g: "g[k]"}
            for s in self.state:
                atoms[s] = f"{s.name}[k]" if s in fresh else f'opt_state["{s.name}"][k]'
            atoms.update({s: f"{s.name}[k]" for s in (mu_hat, nu_hat)})
            atoms.update({s: CODE_NAMES[s] for s in self.hyper})
            atoms[t] = "t.astype(DTYPE)"  # an int32 power would be float64 in JAX's 64-bit mode
            target = "new_params" if lhs == theta else lhs.name
            lines.append(f"# {text.doprint(lhs)} {self._arrow(lhs, '←', '=')} {text.doprint(rhs)}")
            lines.append(f"{target} = {{k: {ScalarJax(atoms, order='none').doprint(rhs)} for k in params}}")
            fresh.add(lhs)
        state = ([('"t"', "t")] if self.counts else []) + [(f'"{s.name}"', s.name) for s in self.state]
        lines.append("new_state = {" + ", ".join(f"{k}: {v}" for k, v in state) + "}")
        return lines


class _Text(StrPrinter):
    """Unicode one-line printing: θ − α·g."""

    def __init__(self):
        super().__init__({"order": "none"})

    def _print_Add(self, e, order=None):
        return super()._print_Add(e).replace(" - ", " − ")

    def _print_Symbol(self, s):
        return TEXT.get(s.name, s.name)

    def _print_Mul(self, e):
        return super()._print_Mul(e).replace("*", "·")

    def _print_Pow(self, e, rational=False):
        if e.exp == sp.Rational(1, 2):
            return "√" + self.parenthesize(e.base, 999)
        if e.exp == 2:
            return self.parenthesize(e.base, 999) + "²"
        return super()._print_Pow(e, rational).replace("**", "^")


# The equations are built unevaluated so that they print in the textbook's order (θ − α g, not
# −α g + θ); the printers below keep the order given.
def _add(*terms):
    return sp.Add(*terms, evaluate=False)


def _mul(*factors):
    return sp.Mul(*factors, evaluate=False)


def sgd(lr: float) -> UpdateRule:
    _check_lr(lr)
    return UpdateRule("SGD", {alpha: lr}, (), False, ((theta, _add(theta, -_mul(alpha, g))),))


def momentum(lr: float, beta: float = 0.9) -> UpdateRule:
    _check_lr(lr)
    _check_hyper("momentum", beta=beta)
    return UpdateRule("momentum", {alpha: lr, _BETA: beta}, (v,), False,
                      ((v, _add(_mul(_BETA, v), g)), (theta, _add(theta, -_mul(alpha, v)))))


def adam(lr: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> UpdateRule:
    _check_lr(lr)
    _check_hyper("adam", b1=b1, b2=b2, eps=eps)
    return UpdateRule("Adam", {alpha: lr, beta1: b1, beta2: b2, epsilon: eps}, (mu, nu), True, (
        (mu, _add(_mul(beta1, mu), _mul(_add(1, -beta1), g))),
        (nu, _add(_mul(beta2, nu), _mul(_add(1, -beta2), g**2))),
        (mu_hat, mu / _add(1, -beta1**t)),
        (nu_hat, nu / _add(1, -beta2**t)),
        (theta, _add(theta, -_mul(alpha, mu_hat, 1 / _add(sp.sqrt(nu_hat), epsilon))))))


def _check_lr(lr) -> None:
    """The rules' learning rate, whether the rule is made by name or directly: a finite number > 0 (a
    negative one climbs the loss; NaN or a string cannot be written into the trainer)."""
    if not _finite_number(lr) or not lr > 0:
        raise OptimizerError(f"the learning rate must be a finite number > 0, not {lr!r}")


def _check_hyper(optimizer: str, **values) -> None:
    """Each hyperparameter a finite number within its range (``RANGES``, by its name: the same for every
    optimizer that takes it)."""
    for key, value in values.items():  # a module holding `BETA1 = nan` would train on NaN
        if not _finite_number(value):
            raise OptimizerError(f"{optimizer}: {key} must be a finite number, not {value!r}")
        span = _range(optimizer, key)
        if span is not None and not _within(value, span):
            raise OptimizerError(f"{optimizer}: {key} must be {_interval(span)}, not {value!r}")


# Where each hyperparameter makes sense, by its name, for every optimizer that takes it (derivax's own rules
# and optax's): (low, high, low included, high included). Decay rates of averages in [0, 1) (1 never forgets,
# above it diverges): b1, b2, β, momentum, RMSprop's decay, Adadelta's rho; epsilon > 0 (it keeps a step
# finite where an average of squares is 0); amounts added or decayed are >= 0.
INF = float("inf")
_RATE, _POSITIVE, _NONNEGATIVE = (0, 1, True, False), (0, INF, False, False), (0, INF, True, False)
RANGES = {"beta": _RATE, "b1": _RATE, "b2": _RATE, "momentum": _RATE, "decay": _RATE, "rho": _RATE,
          "eps": (0, 1, False, True), "eps_root": (0, 1, True, True), "weight_decay": _NONNEGATIVE,
          "initial_accumulator_value": _NONNEGATIVE, "initial_scale": _NONNEGATIVE, "threshold": _NONNEGATIVE,
          "trust_coefficient": _POSITIVE, "min_norm": _POSITIVE, "eta": _NONNEGATIVE, "gamma": _NONNEGATIVE}
# Where one optimizer's own default lies outside its name's range: LARS adds no epsilon unless asked.
_OWN_RANGES = {("lars", "eps"): (0, 1, True, True)}
# optax keywords that are no number (masks, dtypes, a random key): an optax transformation built in Python
# takes them; neither the command line nor ``make`` passes them on.
NOT_NUMBERS = frozenset({"mask", "mu_dtype", "accumulator_dtype", "weight_decay_mask", "trust_ratio_mask", "key",
                         "seed"})


def _range(optimizer, key):
    return _OWN_RANGES.get((optimizer, key), RANGES.get(key))


def _within(value, span) -> bool:
    low, high, low_in, high_in = span
    return (low <= value if low_in else low < value) and (value <= high if high_in else value < high)


def _interval(span) -> str:
    """in [0, 1), in (0, 1], >= 0, > 0: a range as the messages write it."""
    low, high, low_in, high_in = span
    if high == INF:
        return f"{'>=' if low_in else '>'} {low}"
    return f"in {'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"


_MAKERS = {"sgd": (sgd, ()), "momentum": (momentum, ("beta",)), "adam": (adam, ("b1", "b2", "eps"))}
OPTIMIZERS = tuple(_MAKERS)  # the names the command line offers: a new maker is a new choice
assert OPTIMIZERS == NAMES, "compile.train.optimizer_names lists the makers, in this order"


def is_transformation(obj) -> bool:
    """An optax-style GradientTransformation: init(params) -> state, update(g, state, params)."""
    return callable(getattr(obj, "init", None)) and callable(getattr(obj, "update", None))


def _finite_number(x) -> bool:
    import math
    import numbers
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(float(x))


# optax optimizers the command line and ``make`` take by name (listed in compile.train.optimizer_names).
# Our symbolic rules take a constant learning rate: with a schedule, the same rule comes from optax.
_OPTAX_SAME = {"sgd": ("sgd", {}), "momentum": ("sgd", {"beta": "momentum"}), "adam": ("adam", {})}


def make(optimizer, lr=None, **kwargs):
    """An UpdateRule from a name (``sgd``, ``momentum``, ``adam``), an optax optimizer by name (``adamw``,
    ``rmsprop``, ...; needs optax), or the rule/transformation given. ``lr`` is a number, or an optax
    schedule (a function of the step): then the rule comes from optax, which applies it."""
    if isinstance(optimizer, UpdateRule) or is_transformation(optimizer):
        return optimizer
    if optimizer in OPTAX_OPTIMIZERS or (optimizer in _OPTAX_SAME and callable(lr)):
        return _optax(optimizer, lr, kwargs)
    if optimizer not in _MAKERS:
        raise OptimizerError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS + OPTAX_OPTIMIZERS)}, "
                             "or an optax GradientTransformation")
    _check_lr(lr)
    fn, allowed = _MAKERS[optimizer]
    extra = set(kwargs) - set(allowed)
    if extra:
        raise OptimizerError(f"{optimizer} takes {', '.join(allowed) or 'no options'} besides lr, "
                             f"not {', '.join(sorted(extra))}")
    return fn(lr, **kwargs)


def options(optimizer) -> dict:
    """The hyperparameters ``make`` passes on to the optimizer named ``optimizer``, besides the learning rate:
    name -> "number" or "flag" (a yes/no switch, given as 0 or 1). optax's are read from its signature (needs
    optax); {} for an unknown name."""
    if optimizer in _MAKERS:
        return {k: "number" for k in _MAKERS[optimizer][1]}
    if optimizer not in OPTAX_OPTIMIZERS:
        return {}
    import inspect
    import optax
    out = {}
    for p in inspect.signature(getattr(optax, optimizer)).parameters.values():
        if p.name == "learning_rate" or p.name in NOT_NUMBERS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[p.name] = "flag" if isinstance(p.default, bool) else "number"
    return out


def _optax(name, lr, kwargs):
    """optax's optimizer ``name`` with learning rate (or schedule) ``lr`` and keyword hyper-parameters, each
    checked as derivax's own rules check the hyperparameters of the same name (``RANGES``)."""
    try:
        import optax
    except ImportError:
        raise OptimizerError(f"{name} comes from optax, which is not installed: pip install optax (or pip install "
                             "'derivax[optax]')") from None
    if not (callable(lr) or _finite_number(lr) and lr > 0):
        raise OptimizerError(f"the learning rate must be a finite number > 0 or an optax schedule, not {lr!r}")
    target, renamed = _OPTAX_SAME.get(name, (name, {}))
    kinds = options(name) if name in OPTAX_OPTIMIZERS else {k: "number" for k in _MAKERS[name][1]}
    extra = sorted(set(kwargs) - set(kinds))
    if extra:
        takes = ", ".join(k + (" (0 or 1)" if kind == "flag" else "") for k, kind in kinds.items())
        objects = [k for k in extra if k in NOT_NUMBERS]
        why = (f"; {', '.join(objects)} {'is no number' if len(objects) == 1 else 'are no numbers'}: build the "
               f"optax transformation in Python and pass it as the optimizer" if objects else "")
        raise OptimizerError(f"{name} takes {takes or 'no options'} besides the learning rate, "
                             f"not {', '.join(extra)}{why}")
    passed = {}
    for key, value in kwargs.items():
        if kinds[key] == "flag":
            if isinstance(value, bool) or _finite_number(value) and value in (0, 1):
                passed[key] = bool(value)
                continue
            raise OptimizerError(f"{name}: {key} is a switch: 1 (on) or 0 (off), not {value!r}")
        _check_hyper(name, **{key: value})
        passed[key] = float(value)
    passed = {renamed.get(k, k): v for k, v in passed.items()}
    fn = getattr(optax, target)
    # noisy_sgd's noise: the transformation's own key is 0 (as optax drew it by default); fit folds the run's
    # seed into it (Trainer.init_opt_state), and the state splits it at every step
    if "key" in _keywords(fn):
        import jax
        passed["key"] = jax.random.key(0)
    try:
        return fn(learning_rate=lr, **passed)
    except (TypeError, ValueError) as exc:
        raise OptimizerError(f"{name}: {exc}") from None


def _keywords(fn) -> set:
    """The keyword names a function takes."""
    import inspect
    return set(inspect.signature(fn).parameters)
