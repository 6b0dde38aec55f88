"""derivax's numeric side: lowering derivations to JAX, trainers, code generation, checks, benchmarks.

Names are imported on first use (PEP 562), so `derivax show` never pays for importing JAX.
"""
from importlib import import_module

_EXPORTS = {
    "lower": "_lower", "Lowered": "_lower", "lower_nodes": "_lower",
    "compile_trainer": "_train", "fit": "_train", "Trainer": "_train", "History": "_train",
    "generate": "_codegen",
    "load": "_data", "Dataset": "_data", "DataError": "_data",
    "sgd": "_optim", "momentum": "_optim", "adam": "_optim", "UpdateRule": "_optim",
    "verify": "_verify", "check_formula": "_check", "check_update": "_check", "check_code": "_check_code",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
