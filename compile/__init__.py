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
    "verify": "checks.verify", "check_formula": "checks.formula", "check_update": "checks.formula", "check_code": "checks.code",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
