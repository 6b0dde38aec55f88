"""The `derivax` command line: one module per command (each with ``add_arguments`` and ``main``),
the parser in ``main``, the arguments every command shares in ``args``."""
