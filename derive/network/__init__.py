"""Declaring a network: layers, parameters and the builder (``network``), the activation and loss
tables (``functions``, ``scalar_functions``) and the built-in examples."""
