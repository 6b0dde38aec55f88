"""derivax's numeric side: lowering derivations to JAX, trainers, code generation, checks, benchmarks.

Submodules are imported on use, so `derivax show` never pays for importing JAX.
"""
