"""derivax's numeric side: lowering derivations to JAX, trainers, code generation, checks, benchmarks.

Names are imported on first use (PEP 562), so `derivax show` never pays for importing JAX.
"""
from importlib import import_module

_EXPORTS = {
    "lower": "lowering.lower", "Lowered": "lowering.lower", "lower_nodes": "lowering.lower",
    "compile_trainer": "train.train", "fit": "train.train", "Trainer": "train.train", "History": "train.train",
    "generate": "lowering.codegen",
    "load": "train.data", "Dataset": "train.data", "DataError": "train.data",
    "sgd": "train.optim", "momentum": "train.optim", "adam": "train.optim", "UpdateRule": "train.optim",
    "explore": "explore.launch",
    "verify": "checks.verify", "check_formula": "checks.formula", "check_code": "checks.code",
}
__all__ = sorted([*_EXPORTS, "check_update"])


def check_update(optimizer: str, formula: str, lr=0.1, **hyper) -> bool:
    """Is ``formula`` the optimizer's update of θ, as derivax lowers it into its trainers? ``optimizer`` is
    one of the rules derivax derives (sgd, momentum, adam); see ``compile.checks.formula.check_update``."""
    from compile.train.optim import OPTIMIZERS, OptimizerError
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise OptimizerError(f"check_update: optimizer must be one of {', '.join(OPTIMIZERS)} (the update rules "
                             f"derivax derives), not {optimizer!r}")
    if not isinstance(formula, str):
        raise OptimizerError(f"check_update: formula must be a string, not {formula!r}")
    from compile.checks.formula import check_update as _check_update
    return _check_update(optimizer, formula, lr, **hyper)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
