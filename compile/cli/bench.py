"""`derivax bench`: the derived trainer against a hand-written JAX step that uses `jax.grad`.

Three comparisons, each run as interleaved repeats (A then B, then B then A, ...) so that drift in the
machine's speed falls on both sides alike; each reports the median of the per-repeat ratios:

1. steady state: steps per second of the derived ``train_step`` against the hand-written step (SGD,
   float32, or float64 in a process of its own; same network, same batches);
2. time to first step: derive + lower + jit + first call, against ``jax.jit`` of the hand-written step,
   its tracing and compiling included;
3. on a small network: one epoch as one ``lax.scan`` (``Trainer.epoch``) against a Python loop of the
   same jitted ``train_step`` over the same batches.

JAX is imported inside functions: the command line imports this module at start-up.
"""
from __future__ import annotations

import json
import math
import statistics
import sys
import time

from compile.cli.ratios import median_ratio, ratio_quartiles, spread

DEFAULT_MODEL = "784-256:tanh-128:tanh-10:softmax"
DEFAULT_BATCH_SIZE = 256
DEFAULT_STEPS = 100
SMALL_MODEL = "64-64:tanh-10:softmax"
SMALL_BATCH_SIZE = 64
SMALL_STEPS = 200
LR = 0.1
MAX_REPEATS = 1000
MIN_REPEAT_SECONDS = 0.1   # the least time one timed repeat of the steady-state comparison takes
MAX_TIMED_STEPS = 100_000


class BenchError(ValueError):
    """A network the benchmark cannot compare (an activation or loss the hand-written peer lacks)."""


# ---- the hand-written peer: written from the textbook definitions, sharing nothing with derive/ ----

# Activations written as formulas in z that the peer knows by name (spaces and outer brackets dropped).
FORMULAS = {"z*sigmoid(z)": "swish", "sigmoid(z)*z": "swish"}


def _formula_name(act):
    if not isinstance(act, str):
        return act
    bare = act.replace(" ", "")
    while bare.startswith("(") and bare.endswith(")"):
        bare = bare[1:-1]
    return FORMULAS.get(bare, act)


def peer_spec(net):
    """(layer sizes, activation names, loss name, l2) of a sequential network, or BenchError."""
    known = ("identity", "tanh", "sigmoid", "relu", "softplus", "swish", *PEER_EXTRA, "softmax")
    acts = []
    for i, layer in enumerate(net.layers, 1):
        act = _formula_name(layer.activation)
        if not isinstance(act, str) or act not in known:
            raise BenchError(f"layer {i}: the hand-written peer knows the activations {', '.join(known)}, "
                             f"found {act!r}")
        if layer.dropout or layer.skip_from or not getattr(layer, "use_bias", True):
            found = "dropout" if layer.dropout else "a skip connection" if layer.skip_from else "no bias"
            raise BenchError(f"layer {i}: the benchmark compares plain dense layers, found {found}")
        acts.append(act)
    if not isinstance(net.loss, str) or net.loss not in ("ce", "bce", "mse"):
        raise BenchError(f"the hand-written peer knows the losses ce, bce, mse, found {net.loss!r}")
    if "softmax" in acts[:-1] or (net.loss == "ce") != (acts[-1] == "softmax"):
        raise BenchError("the hand-written peer pairs softmax (last layer only) with the ce loss, found "
                         f"activations {acts} with loss {net.loss!r}")
    return [net.n_inputs] + [layer.units for layer in net.layers], acts, net.loss, net.l2 or 0.0


def peer_init(key, sizes, dtype="float32"):
    """[(W, b)] with W (fan_in, fan_out) uniform Glorot and b zeros (1, fan_out)."""
    import jax
    import jax.numpy as jnp
    params = []
    for k, (n_in, n_out) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes, sizes[1:])):
        limit = (6.0 / (n_in + n_out)) ** 0.5
        params.append((jax.random.uniform(k, (n_in, n_out), dtype, -limit, limit),
                       jnp.zeros((1, n_out), dtype)))
    return params


# Named activations the peer computes with jax.nn's own functions.
PEER_EXTRA = ("elu", "selu", "silu", "gelu", "gelu_tanh")


def peer_loss(params, x, y, acts, loss, l2=0.0):
    """Mean over the batch of the loss summed over outputs (+ l2/(2m) sum ||W||^2), from logits."""
    import jax
    import jax.numpy as jnp
    fns = {"identity": lambda z: z, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid,
           "relu": jax.nn.relu, "softplus": jax.nn.softplus, "swish": lambda z: z * jax.nn.sigmoid(z),
           "elu": jax.nn.elu, "selu": jax.nn.selu, "silu": jax.nn.silu,
           "gelu": lambda z: jax.nn.gelu(z, approximate=False), "gelu_tanh": jax.nn.gelu}
    a = x
    for (W, b), act in zip(params[:-1], acts[:-1]):
        a = fns[act](a @ W + b)
    W, b = params[-1]
    z = a @ W + b
    m = x.shape[0]
    if loss == "ce":        # -sum y log softmax(z), through log-softmax so it cannot overflow
        total = -jnp.sum(y * jax.nn.log_softmax(z, axis=1))
    elif loss == "bce" and acts[-1] == "sigmoid":   # -[y log s + (1-y) log(1-s)] = softplus(z) - y z
        total = jnp.sum(jax.nn.softplus(z) - y * z)
    else:
        yhat = fns[acts[-1]](z)
        total = jnp.sum((yhat - y) ** 2) if loss == "mse" else \
            -jnp.sum(y * jnp.log(yhat) + (1 - y) * jnp.log(1 - yhat))
    if l2:
        total = total + l2 / 2 * sum(jnp.sum(W * W) for W, _ in params)
    return total / m


def peer_step(acts, loss, l2=0.0, lr=LR):
    """A jitted SGD step (params, x, y) -> (params, loss) whose gradient is `jax.grad`'s."""
    import jax
    value_and_grad = jax.value_and_grad(peer_loss)

    def step(params, x, y):
        value, grads = value_and_grad(params, x, y, acts, loss, l2)
        return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), value
    return jax.jit(step)


# ---- timing ----

def _block(tree):
    import jax
    return jax.block_until_ready(tree)


def interleaved(a, b, repeats):
    """Seconds of a() and b(), alternating which goes first: lists (times_a, times_b)."""
    ta, tb = [], []
    for r in range(repeats):
        for which in ((a, ta), (b, tb)) if r % 2 == 0 else ((b, tb), (a, ta)):
            t0 = time.perf_counter()
            which[0]()
            which[1].append(time.perf_counter() - t0)
    return ta, tb


def batches(seed, n, batch, n_in, n_out, classification=True, dtype="float32"):
    """n device batches (n, batch, n_in), (n, batch, n_out) of normal inputs and one-hot (or 0/1, or
    real) targets, in ``dtype`` (the same numbers, rounded, in float32 and float64). NumPy draws them:
    jax.random would compile a kernel per shape first."""
    import jax
    import numpy as np
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, batch, n_in), np.float32)
    if classification and n_out > 1:
        y = np.eye(n_out, dtype=np.float32)[rng.integers(0, n_out, (n, batch))]
    elif classification:
        y = rng.integers(0, 2, (n, batch, 1)).astype(np.float32)
    else:
        y = rng.standard_normal((n, batch, n_out), np.float32)
    return _block(jax.device_put((x.astype(dtype), y.astype(dtype))))


# ---- the machine's limit: the products a dense step cannot do without, each timed alone ----

def products(sizes, batch) -> list:
    """[(what, form, shape of a, shape of b)]: the matrix products of one dense train step in the rows
    convention, the ones no way of computing the gradient avoids: every layer's A W (its forward), the
    δ Wᵀ of every layer but the first (the backward into the layer below) and Aᵀ δ (its weight gradient)."""
    out = []
    for l, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), 1):
        out.append((f"A{l - 1} W{l}", "ab", (batch, n_in), (n_in, n_out)))
        if l > 1:
            out.append((f"δ{l} W{l}ᵀ", "abT", (batch, n_out), (n_in, n_out)))
        out.append((f"A{l - 1}ᵀ δ{l}", "aTb", (batch, n_in), (batch, n_out)))
    return out


def _product_forms(form):
    """The ways XLA can be asked for one product (the limit takes the fastest): a plain one, and for Aᵀ δ
    also through a stored copy of Aᵀ, turned as (δᵀ A)ᵀ (the ways compile.lowering.lower.TRANSPOSE_MATMUL
    chooses between), and turned through a stored copy of δᵀ."""
    import jax
    bar = jax.lax.optimization_barrier
    if form == "ab":
        return [lambda a, b: a @ b]
    if form == "abT":
        return [lambda a, b: a @ b.T]
    return [lambda a, b: a.T @ b, lambda a, b: bar(a.T) @ b, lambda a, b: bar(b.T @ a).T,
            lambda a, b: bar(bar(b.T) @ a).T]


def _seconds_per_call(f, args, budget=0.02, repeats=5) -> float:
    """Median seconds of one call of the jitted ``f``, from repeats of back-to-back calls (dispatched
    ahead, as a training loop dispatches its steps) filling about ``budget`` seconds each."""
    import jax
    g = jax.jit(f)
    _block(g(*args))
    t0 = time.perf_counter()
    _block(g(*args))
    calls = max(2, min(10_000, int(budget / max(time.perf_counter() - t0, 1e-7))))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            out = g(*args)
        _block(out)
        times.append((time.perf_counter() - t0) / calls)
    return statistics.median(times)


def machine_limit(sizes, batch, dtype="float32") -> float:
    """Seconds of a dense step's unavoidable products (``products``), each timed alone at its shape in
    the fastest way XLA offers, summed: no train step of this network can be faster on this machine
    with these products. Products of one shape are timed once."""
    import jax
    import numpy as np
    rng = np.random.default_rng(0)
    seen, total = {}, 0.0
    for _, form, sa, sb in products(sizes, batch):
        key = (form, sa, sb)
        if key not in seen:
            args = [jax.device_put(rng.standard_normal(s).astype(dtype)) for s in (sa, sb)]
            seen[key] = min(_seconds_per_call(f, args) for f in _product_forms(form))
        total += seen[key]
    return total


def run(net, name, batch_size=256, repeats=7, steps=100, first_repeats=3, small=None, small_name=None,
        small_batch_size=64, small_steps=200, seed=0, dtype="float32"):
    """All figures as one dict (seconds, steps per second, ratios); see the module docstring. float64
    needs JAX's 64-bit mode on in this process (``run_in_child`` turns it on in a process of its own)."""
    import jax
    from compile.train.train import compile_trainer
    sizes, acts, loss, l2 = peer_spec(net)
    key = jax.random.PRNGKey(seed)
    nb = 8  # a few distinct batches cycled through, so no step sees only cached data
    xs, ys = batches(seed, nb, batch_size, sizes[0], sizes[-1], loss != "mse", dtype)
    xs, ys = list(xs), list(ys)

    # Time to first step, each in a fresh process: in this one SymPy's and JAX's caches are warm.
    first_d, first_p = [], []
    for r in range(first_repeats):
        for side in ("derived", "peer") if r % 2 == 0 else ("peer", "derived"):
            (first_d if side == "derived" else first_p).append(first_step_in_child(side, name, batch_size, dtype=dtype))

    trainer = compile_trainer(net, optimizer="sgd", lr=LR, dtype=dtype)
    params = trainer.init_params(key)
    state = {"d": (params, trainer.init_opt_state(params)), "p": peer_init(key, sizes, dtype)}
    step = peer_step(acts, loss, l2)

    count = {"steps": steps}

    def run_derived():
        p, o = state["d"]
        for i in range(count["steps"]):
            p, o, _ = trainer.train_step(p, o, xs[i % nb], ys[i % nb])
        state["d"] = _block((p, o))

    def run_peer():
        p = state["p"]
        for i in range(count["steps"]):
            p, _ = step(p, xs[i % nb], ys[i % nb])
        state["p"] = _block(p)

    run_derived(), run_peer()  # compile and warm both before any timing
    # Each repeat runs at least MIN_REPEAT_SECONDS: 50 steps of a 64-wide network take 2 ms, short
    # enough for the machine's hiccups to move their ratio by 0.2.
    t0 = time.perf_counter()
    run_peer()
    per_step = (time.perf_counter() - t0) / steps
    steps = count["steps"] = max(steps, min(MAX_TIMED_STEPS, math.ceil(MIN_REPEAT_SECONDS / per_step)))
    t_d, t_p = interleaved(run_derived, run_peer, repeats)
    result = {
        "model": name, "batch_size": batch_size, "dtype": dtype, "repeats": repeats, "steps_per_repeat": steps,
        "derived_steps_per_s": steps / statistics.median(t_d),
        "jax_grad_steps_per_s": steps / statistics.median(t_p),
        # > 1: the derived step is faster (peer's time over derived time, per repeat).
        "step_speedup": median_ratio(t_p, t_d),
        "step_speedup_quartiles": ratio_quartiles(t_p, t_d),
        "derived_first_step_s": statistics.median(first_d),
        "jax_grad_first_step_s": statistics.median(first_p),
        # <= 1.2 is the target: derived time over the peer's, per repeat.
        "first_step_ratio": median_ratio(first_d, first_p),
    }
    # The machine's limit and each side's share of it: 1.0 is a step that does nothing but its products.
    limit = machine_limit(sizes, batch_size, dtype)
    result.update({"limit_s": limit, "derived_of_limit": limit * result["derived_steps_per_s"],
                   "jax_grad_of_limit": limit * result["jax_grad_steps_per_s"]})
    if small is not None:
        result.update(scan_vs_loop(small, small_name, small_batch_size, small_steps, repeats, key))
    result["device"] = device_name()
    return result


def first_step(side, model, batch_size, seed=0, dtype="float32"):
    """Seconds from the network to the first finished train_step: derive + lower + jit + call for the
    derived trainer, trace + compile + call of `jax.jit` of the hand-written step for the peer.
    Imports come before the clock on both sides, and a trivial jit warms JAX's backend, so the
    figure is the model's own cost; so is the garbage collector's debt from the imports: a full
    collection of the ~150,000 objects SymPy's and JAX's imports leave (40-100 ms on a 2-core CPU)
    otherwise falls inside whichever side first allocates enough to set it off, on the derived side
    after its own imports, so both sides settle it before the clock. float64 turns on JAX's 64-bit mode
    (meant for a process of its own)."""
    import jax
    from derive.network.examples import resolve
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    if side == "derived":
        from compile.train.train import compile_trainer
    jax.block_until_ready(jax.jit(lambda v: v + 1)(1.0))
    _, net = resolve(model)
    sizes, acts, loss, l2 = peer_spec(net)
    key = jax.random.PRNGKey(seed)
    xs, ys = batches(seed, 1, batch_size, sizes[0], sizes[-1], loss != "mse", dtype)
    x, y = xs[0], ys[0]
    # Initialising parameters is left off the clock on both sides: jax.random compiles its own kernels
    # the first time, which is neither side's step.
    import gc
    gc.collect()
    if side == "derived":
        t0 = time.perf_counter()
        t = compile_trainer(net, optimizer="sgd", lr=LR, dtype=dtype)
        built = time.perf_counter() - t0
        params = _block(t.init_params(key))
        state = _block(t.init_opt_state(params))
        t0 = time.perf_counter()
        _block(t.train_step(params, state, x, y))
    else:
        params = _block(peer_init(key, sizes, dtype))
        t0, built = time.perf_counter(), 0.0
        _block(peer_step(acts, loss, l2)(params, x, y))
    return built + time.perf_counter() - t0


def first_step_in_child(side, model, batch_size, dtype="float32") -> float:
    """first_step run in a new Python process; its last output line is the seconds."""
    code = (f"from compile.cli.bench import first_step; "
            f"print(first_step({side!r}, {model!r}, {batch_size}, dtype={dtype!r}))")
    return float(_child(code, f"the time-to-first-step child ({side})"))


def run_in_child(model, batch_size, repeats, steps, dtype, first_repeats=None) -> dict:
    """``run`` (no scan comparison; the suite's first-step repeats unless given) in a new Python process, JAX's 64-bit mode
    on there for float64: the mode is process-wide, and the float32 rows must not run under it."""
    code = ("import json, jax\n"
            f"jax.config.update('jax_enable_x64', {dtype == 'float64'})\n"
            "from compile.cli.bench import run\n"
            "from derive.network.examples import resolve\n"
            f"print(json.dumps(run(resolve({model!r})[1], {model!r}, {batch_size}, {repeats}, {steps}, "
            f"first_repeats={first_repeats or SUITE_FIRST_REPEATS}, dtype={dtype!r})))")
    return json.loads(_child(code, f"the {dtype} benchmark child"))


def _child(code, what) -> str:
    """The last line ``code`` prints in a new Python process, or BenchError with its exception."""
    import subprocess
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]  # the exception, not the traceback
        raise BenchError(f"{what} failed: {last}")
    return done.stdout.strip().splitlines()[-1]


def scan_vs_loop(net, name, batch, steps, repeats, key):
    """Steps per second of one scanned epoch against a Python loop of the jitted train_step."""
    from compile.train.train import compile_trainer
    t = compile_trainer(net, optimizer="sgd", lr=LR, dtype="float32")
    sizes = [net.n_inputs, net.layers[-1].units]
    xs, ys = batches(1, steps, batch, *sizes, net.loss != "mse")
    x, y = xs.reshape(steps * batch, -1), ys.reshape(steps * batch, -1)
    loop_x, loop_y = list(xs), list(ys)
    # Separate parameter buffers for the two sides, in case train_step donates its arguments.
    state = {side: (lambda p: (p, t.init_opt_state(p)))(t.init_params(key)) for side in "sl"}

    def scanned():
        p, o = state["s"]
        out = t.epoch(p, o, x, y, batch_size=batch, key=key)
        state["s"] = _block(out[:2])

    def looped():
        p, o = state["l"]
        for xb, yb in zip(loop_x, loop_y):
            p, o, _ = t.train_step(p, o, xb, yb)
        state["l"] = _block((p, o))

    scanned(), looped()
    t_s, t_l = interleaved(scanned, looped, repeats)
    return {"small_model": name, "small_batch_size": batch, "small_steps": steps,
            "scan_steps_per_s": steps / statistics.median(t_s),
            "loop_steps_per_s": steps / statistics.median(t_l),
            "scan_speedup": median_ratio(t_l, t_s), "scan_speedup_quartiles": ratio_quartiles(t_l, t_s)}


def fits_batch(model, batch_size, itemsize=4) -> None:
    """``compile.checks.points.fits`` for a step on ``batch_size`` examples of ``model`` (two sets of parameters
    and gradients, a batch's activations: the 8 batches of data are smaller), dense or not: the activations per
    example are those of every named node of the forward pass, at the shapes the model knows (a convolution's
    h·w·c). Where the batch does not fit, the TooLarge names --batch-size and the largest batch that does, by
    the same estimate: XLA's own refusal comes only after the compile, and names no option."""
    from compile.checks.points import TooLarge, fits

    def refusal(m):
        try:
            fits(model, m, "the benchmark", itemsize=itemsize, copies=6)
        except TooLarge as exc:
            return exc
        return None
    refused = refusal(batch_size)
    if refused is None:
        return
    low, high = 0, batch_size   # low fits (or is 0), high does not
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if refusal(mid) else (mid, high)
    said = f"; --batch-size {low} is the largest batch that fits" if low else "; even --batch-size 1 does not fit"
    raise TooLarge(f"{refused}{said}") from None


def check_sizes(net, batch_size, small, small_batch_size, small_steps) -> None:
    """Both networks are ones the peer can compare, and their data fit in memory, before anything is
    timed: a refusal after minutes of timing the first comparison would waste them."""
    from compile.checks.points import fits
    peer_spec(net)
    fits_batch(net.build("rows"), batch_size)
    if small is not None:
        try:
            peer_spec(small)
        except BenchError as exc:
            raise BenchError(f"--small: {exc}") from None
        fits(small.build("rows"), small_batch_size * small_steps, "the benchmark's scan epoch",
             itemsize=4, copies=6)


def render(r) -> None:
    from rich.console import Console
    from rich.table import Table
    tab = Table(title=f"derivax bench: {r['model']}, batch {r['batch_size']}, {r.get('dtype', 'float32')} SGD, {r['device']}",
                caption="ratios are medians of interleaved repeats, the middle half of them in brackets; "
                        "a speed ratio above 1: derivax is faster")
    for col in ("comparison", "derived", "jax.grad / loop", "ratio", "target"):
        tab.add_column(col, justify="left" if col == "comparison" else "right")
    tab.add_row("train_step, steps/s", f"{r['derived_steps_per_s']:,.0f}", f"{r['jax_grad_steps_per_s']:,.0f}",
                spread(r["step_speedup"], r["step_speedup_quartiles"], "\n"), ">= 1")
    tab.add_row("first step, s", f"{r['derived_first_step_s']:.2f}", f"{r['jax_grad_first_step_s']:.2f}",
                f"{r['first_step_ratio']:.2f}x time", "<= 1.2")
    if "limit_s" in r:
        tab.add_row(f"of the machine's limit\n(its products alone: {r['limit_s'] * 1e3:.2f} ms)",
                    f"{r['derived_of_limit']:.0%}", f"{r['jax_grad_of_limit']:.0%}", "", "")
    if "scan_speedup" in r:
        tab.add_row(f"scan epoch vs loop, steps/s\n{r['small_model']}, batch {r['small_batch_size']}",
                    f"{r['scan_steps_per_s']:,.0f}", f"{r['loop_steps_per_s']:,.0f}",
                    spread(r["scan_speedup"], r["scan_speedup_quartiles"], "\n"), ">= 2")
    Console(file=sys.stdout).print(tab)


def add_arguments(p) -> None:
    from compile.cli.args import SIZE_MAX, count, input_shape, unmark
    p.add_argument("model", nargs="?", default=None, type=unmark,
                   help=f"network to time (default {DEFAULT_MODEL}, the 784-256-128-10 tanh/softmax MLP)")
    p.add_argument("--batch-size", type=count(1, SIZE_MAX, "--batch-size"), default=None,
                   help=f"examples per step, 1 to {SIZE_MAX} (default 256; with --suite, every row at this batch "
                        "in place of its own)")
    p.add_argument("--repeats", type=count(1, MAX_REPEATS, "--repeats"), default=None,
                   help=f"interleaved repeats, 1 to {MAX_REPEATS} (default 7; {SUITE_REPEATS} with --suite)")
    p.add_argument("--steps", type=count(1, SIZE_MAX, "--steps"), default=None,
                   help=f"steps timed per repeat, 1 to {SIZE_MAX} (default 100; at most {SUITE_MAX_STEPS} with "
                        "--suite)")
    p.add_argument("--first-repeats", type=count(1, MAX_REPEATS, "--first-repeats"), default=None,
                   help=f"repeats of the time-to-first-step comparison of a dense network, 1 to {MAX_REPEATS} "
                        f"(default 3; {SUITE_FIRST_REPEATS} with --suite)")
    p.add_argument("--small", default=None, metavar="MODEL", type=unmark,
                   help=f"network of the scan-versus-loop comparison (default {SMALL_MODEL}); 'none' skips it "
                        "(not with --suite, which has no such comparison)")
    p.add_argument("--small-batch-size", type=count(1, SIZE_MAX, "--small-batch-size"), default=None,
                   help=f"its batch size (default {SMALL_BATCH_SIZE})")
    p.add_argument("--small-steps", type=count(1, SIZE_MAX, "--small-steps"), default=None,
                   help=f"steps in its epoch (default {SMALL_STEPS})")
    p.add_argument("--input", type=input_shape, metavar="HxWxC",
                   help="the input shape of a built-in CNN (cnn): 28x28x1 times the seed's MNIST network "
                        "(with --suite, the CNN row's)")
    p.add_argument("--suite", action="store_true",
                   help="the whole benchmark suite (dense networks, fit against hand-written loops, the CNN and "
                        "RNN examples) as one Markdown table; PyTorch joins where it is installed (minutes)")
    p.add_argument("--no-torch", action="store_true",
                   help="leave PyTorch's peer out even where torch is installed")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the figures")


# The suite's dense rows: (what, spec, batch size, dtype); each against the hand-written jax.grad step.
# A float64 row runs in a process of its own (JAX's 64-bit mode is process-wide).
SUITE = [("784-256-128-10 tanh", DEFAULT_MODEL, 256, "float32"), ("64-64-10 tanh", SMALL_MODEL, 64, "float32"),
         ("64-64-1 sigmoid + bce", "64-64:sigmoid-1:sigmoid", 64, "float32"),
         ("64-64-10 swish", "64-64:(z*sigmoid(z))-10:softmax", 64, "float32"),
         ("784-2048-10 relu", "784-2048:relu-10:softmax", 512, "float32"),
         ("20 tanh layers of 256", "256" + "-256:tanh" * 20 + "-10:softmax", 128, "float32"),
         ("784-256-128-10 tanh, float64", DEFAULT_MODEL, 256, "float64")]
# Fresh processes per side and row for the time to first step: a median of three, where one pair alone
# moved by 0.3 from run to run on a shared 2-core machine.
SUITE_FIRST_REPEATS = 3
SUITE_EXAMPLES = [("cnn: the digits CNN", "cnn", 32), ("gru: the MNIST-1D GRU", "gru", 100)]
SUITE_MAX_STEPS = 50        # steps a repeat of a suite row times, at most
SUITE_EXAMPLE_STEPS = 30    # and of its CNN and RNN rows
# Options of one network's comparison that have no place in the suite: it runs no scan-versus-loop comparison.
SUITE_REFUSES = (("small", "--small"), ("small_batch_size", "--small-batch-size"), ("small_steps", "--small-steps"))


# Interleaved repeats of each suite row: on a shared 2-core machine one repeat's ratio moves by ±0.15 from the
# next (two jits of one jax.grad step read 0.98-1.03x, quartiles within 0.92-1.16: benchmarks/bench_noise.py);
# the median of 9 moves less than that of 5.
SUITE_REPEATS = 9


def suite(repeats=SUITE_REPEATS, steps=SUITE_MAX_STEPS, first_repeats=SUITE_FIRST_REPEATS, torch=True,
          batch_size=None, input_shape=None) -> dict:
    """Every row of the suite: step and first-step ratios of the dense networks, fit against a loop of
    jax.grad steps (and PyTorch's, where installed and ``torch``), and the CNN and RNN examples' steps.
    On a GPU, PyTorch's peer runs there too (``compile.cli.torch_peer``). ``batch_size``, where given, is
    every row's batch in place of its own (the fit row's at most its training examples, as fit takes them);
    ``input_shape`` the CNN row's input. Every row's step is checked to fit in memory (``fits_batch``) before
    the first is timed."""
    import importlib.util
    import platform
    import os
    from derive.network.examples import resolve
    from compile.cli import bench_cnn, bench_fit, bench_rnn
    dense = [(what, spec, resolve(spec)[1], batch_size or batch, dtype) for what, spec, batch, dtype in SUITE]
    examples = []
    for what, name, batch in SUITE_EXAMPLES:
        shape = input_shape if name == "cnn" else None
        examples.append((what + (f" at {'x'.join(map(str, shape))}" if shape else ""), name,
                         resolve(name, None, shape)[1], batch_size or batch))
    for _, _, net, batch, dtype in dense:   # the fit row's network is the first row's, at no larger a batch
        fits_batch(net.build("rows"), batch, itemsize=8 if dtype == "float64" else 4)
    for _, _, net, batch in examples:
        fits_batch(net.build("rows"), batch)

    class Rows(list):  # each row said on stderr as it is measured: the suite takes minutes
        def append(self, row):
            super().append(row)
            print(f"derivax bench --suite: {row['row']} against {row['peer']}: "
                  f"{spread(row['ratio'], row['quartiles'])}", file=sys.stderr, flush=True)
    rows = Rows()
    for what, spec, net, batch, dtype in dense:
        if dtype == "float32":
            r = run(net, spec, batch, repeats, steps, first_repeats=first_repeats)
        else:
            r = run_in_child(spec, batch, repeats, steps, dtype, first_repeats)
        rows.append({"row": what, "batch": batch, "derived_steps_per_s": r["derived_steps_per_s"],
                     "peer_steps_per_s": r["jax_grad_steps_per_s"], "ratio": r["step_speedup"],
                     "quartiles": r["step_speedup_quartiles"],
                     "first_step_ratio": r["first_step_ratio"], "peer": "jax.grad step",
                     "of_limit": (r["derived_of_limit"], r["jax_grad_of_limit"])})
    has_torch = torch and importlib.util.find_spec("torch") is not None
    f = bench_fit.measure(epochs=3, repeats=max(3, repeats), torch=has_torch,
                          **({"batch": batch_size} if batch_size else {}))
    rows.append({"row": f"fit, {f['train_examples']:,} examples, {f['epochs']} epochs ({f['net']})",
                 "batch": min(f["batch"], f["train_examples"]),
                 "derived_steps_per_s": None, "peer_steps_per_s": None, "ratio": f["fit_vs_jax_loop"], "quartiles": f["fit_vs_jax_loop_quartiles"],
                 "first_step_ratio": None, "peer": "loop of jitted jax.grad steps"})
    if has_torch:
        rows.append({**rows[-1], "ratio": f["fit_vs_torch_loop"], "quartiles": f["fit_vs_torch_loop_quartiles"],
                     "peer": f"PyTorch eager loop ({f['torch_on']})"})
    for what, name, net, batch in examples:
        r = bench_cnn.run(net, name, batch, repeats, min(steps, SUITE_EXAMPLE_STEPS),
                          peers=bench_rnn if name == "gru" else None, torch=has_torch)
        rows.append({"row": what, "batch": batch, "derived_steps_per_s": r["derived_steps_per_s"],
                     "peer_steps_per_s": r["jax.grad_steps_per_s"], "ratio": r["speedup_vs_jax.grad"],
                     "quartiles": r["speedup_vs_jax.grad_quartiles"],
                     "first_step_ratio": None, "peer": "jax.grad step"})
        if "speedup_vs_pytorch" in r:
            rows.append({**rows[-1], "peer_steps_per_s": r["pytorch_steps_per_s"], "ratio": r["speedup_vs_pytorch"],
                         "quartiles": r["speedup_vs_pytorch_quartiles"],
                         "peer": f"PyTorch eager step ({r['torch_on']})"})
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {device_name()}, "
                       f"Python {platform.python_version()}, JAX {__import__('jax').__version__}", "rows": list(rows)}


def device_name() -> str:
    """JAX's backend and its devices: 'cpu x1', 'gpu x1 (NVIDIA H200)'."""
    import jax
    devices = jax.devices()
    kind = devices[0].device_kind if jax.default_backend() != "cpu" else ""
    return f"{jax.default_backend()} x{len(devices)}" + (f" ({kind})" if kind else "")


def suite_markdown(result) -> str:
    lines = [f"Measured by `derivax bench --suite` on {result['machine']}: SGD in float32 (float64 where "
             "a row says so), interleaved repeats, "
             "medians; a ratio above 1 means derivax is faster, and in brackets the middle half of the "
             "repeats' ratios (quartiles straddling 1 are parity on this machine).", "",
             "| network | batch | against | derivax steps/s | peer steps/s | speed ratio | first step, time ratio "
             "| of the machine's limit, derivax / peer |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        num = (lambda v: f"{v:,.0f}" if v is not None else "")
        share = r.get("of_limit")
        lines.append(f"| {r['row']} | {r['batch']} | {r['peer']} | {num(r['derived_steps_per_s'])} | "
                     f"{num(r['peer_steps_per_s'])} | {spread(r['ratio'], r['quartiles'])} | "
                     + (f"{r['first_step_ratio']:.2f}x |" if r["first_step_ratio"] is not None else "|")
                     + (f" {share[0]:.0%} / {share[1]:.0%} |" if share else " |"))
    lines += ["", "The machine's limit: the step's unavoidable matrix products (each layer's A W, δ Wᵀ and "
              "Aᵀ δ), each timed alone at its shape, summed; a share near 100% is a step that spends its time "
              "in them and nothing else. Products run side by side can pass it."]
    return "\n".join(lines) + "\n"


def main(args) -> int:
    from derive.network.examples import ModelError, resolve
    if getattr(args, "suite", False):
        return main_suite(args)
    if getattr(args, "model", None) is None:
        args.model = DEFAULT_MODEL
    if args.repeats is None:
        args.repeats = 7
    if args.batch_size is None:
        args.batch_size = DEFAULT_BATCH_SIZE
    steps_given = args.steps is not None
    if args.steps is None:
        args.steps = DEFAULT_STEPS
    _, net = resolve(args.model, None, args.input, getattr(args, "l2", None), getattr(args, "l2_form", None))
    if not net.build().is_dense:  # convolution, pooling or recurrence: peers written for those layers
        from compile.cli import bench_cnn, bench_lm, bench_rnn
        kinds = {layer.kind for layer in net.build().layers}
        peers = bench_rnn if "recurrent" in kinds else bench_lm if kinds & {"embedding", "batch_norm", "layer_norm",
                                                                             "attention"} else None
        if unused(args, f"a network with {', '.join(sorted(kinds))} layers does not run", "time a dense network"):
            return 2
        if args.first_repeats is not None:   # its timing has no time-to-first-step comparison
            print(f"derivax: --first-repeats: a network with {', '.join(sorted(kinds))} layers is timed in its steady "
                  "state only, with no time-to-first-step comparison: drop it, or time a dense network",
                  file=sys.stderr)
            return 2
        # its step's memory before anything is compiled, as a dense network's (check_sizes)
        fits_batch(net.build("rows"), args.batch_size)
        if args.steps > 50 and steps_given:   # (the default, 100, is a dense network's: said only where given)
            print(f"derivax: --steps {args.steps}: a network with {', '.join(sorted(kinds))} layers is timed over at "
                  "most 50 steps a repeat", file=sys.stderr)
        try:
            result = bench_cnn.run(net, args.model, args.batch_size, args.repeats, min(args.steps, 50),
                                   peers=peers, torch=not args.no_torch)
        except bench_cnn.CnnBenchError as exc:
            print(f"derivax: {exc}", file=sys.stderr)
            return 2
        bench_cnn.render(result)
        if args.json:
            print(json.dumps(result))
        return 0
    small_model = SMALL_MODEL if args.small is None else args.small
    small_batch = args.small_batch_size or SMALL_BATCH_SIZE
    small_steps = args.small_steps or SMALL_STEPS
    try:
        try:
            small = None if small_model == "none" else resolve(small_model)[1]
        except ModelError as exc:
            raise BenchError(f"--small {small_model}: {exc}") from None
        check_sizes(net, args.batch_size, small, small_batch, small_steps)
        result = run(net, args.model, args.batch_size, args.repeats, args.steps, args.first_repeats or 3,
                     small, small_model, small_batch, small_steps)
    except BenchError as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        return 2
    render(result)
    if args.json:
        print(json.dumps(result))
    return 0


def unused(args, which: str, instead: str) -> bool:
    """Says (on stderr) which options of the scan-versus-loop comparison were given where ``which`` runs none,
    and True; False where none was given."""
    given = [option for dest, option in SUITE_REFUSES if getattr(args, dest, None) is not None]
    if given:
        print(f"derivax: {', '.join(given)}: {'sets' if len(given) == 1 else 'set'} the scan-versus-loop comparison "
              f"of a dense network, which {which}: drop {'it' if len(given) == 1 else 'them'}, or {instead}",
              file=sys.stderr)
    return bool(given)


def main_suite(args) -> int:
    """``derivax bench --suite``: every option given is honoured or refused, none left unread. --batch-size
    sets every row's batch and --input the CNN row's input; --steps past the suite's caps is said; the options
    of the scan-versus-loop comparison, which the suite does not run, and a model are refused."""
    if getattr(args, "model", None) is not None:
        print(f"derivax: --suite runs the whole benchmark suite, its own networks: give it no model (not "
              f"{args.model!r}), or drop --suite to time {args.model}", file=sys.stderr)
        return 2
    if unused(args, "--suite does not run", "drop --suite to time one dense network"):
        return 2
    steps = SUITE_MAX_STEPS if args.steps is None else args.steps
    if args.steps is not None and args.steps > SUITE_EXAMPLE_STEPS:
        print(f"derivax: --steps {args.steps}: the suite times at most {SUITE_MAX_STEPS} steps a repeat, "
              f"{SUITE_EXAMPLE_STEPS} on its CNN and RNN rows", file=sys.stderr)
    result = suite(args.repeats or SUITE_REPEATS, min(steps, SUITE_MAX_STEPS),
                   args.first_repeats or SUITE_FIRST_REPEATS, torch=not args.no_torch, batch_size=args.batch_size,
                   input_shape=args.input)
    sys.stdout.write(suite_markdown(result))
    if args.json:
        print(json.dumps(result))
    return 0
