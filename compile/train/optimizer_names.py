"""The optimizers' names, for the command line's choices: a module with no imports, so that `derivax --help`
and argument parsing do not pay for SymPy and JAX. ``compile.train.optim`` makes what they name."""

# Update rules derivax derives and prints itself (compile.train.optim's makers, in this order).
OPTIMIZERS = ("sgd", "momentum", "adam")
# optax optimizers taken by name, with their hyper-parameters as keywords (pip install optax).
OPTAX_OPTIMIZERS = ("adamw", "nadam", "adamax", "rmsprop", "adagrad", "adadelta", "lamb", "lion", "lars", "novograd",
                    "radam", "sm3", "yogi", "amsgrad", "adabelief", "fromage", "noisy_sgd")
