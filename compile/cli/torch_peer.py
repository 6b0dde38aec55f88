"""Where PyTorch's peer runs in derivax's benchmarks (torch is never a dependency; these take its module).

On a GPU the peer runs there too, or the comparison would set a GPU against a CPU. Its float32 products
then use TensorFloat-32, as JAX's do by default on NVIDIA GPUs (PyTorch's own default is full float32
for products): both sides round the same way, and neither is timed doing more arithmetic than the other."""
from __future__ import annotations


def place(torch) -> str:
    """Make PyTorch create its tensors where JAX runs ("cuda" on a GPU that torch sees, else "cpu");
    the device's name."""
    import jax
    if jax.default_backend() == "gpu" and torch.cuda.is_available():
        torch.set_default_device("cuda")
        torch.set_float32_matmul_precision("high")  # TensorFloat-32, as JAX's default on the GPU
        return "cuda"
    torch.set_default_device("cpu")
    return "cpu"


def sync(torch) -> None:
    """Wait for the GPU's queued work (PyTorch's eager calls return before a GPU finishes them)."""
    if torch.get_default_device().type == "cuda":
        torch.cuda.synchronize()


def describe(torch) -> str:
    """'cuda' or 'N threads': what the peer ran on, for a table's row."""
    return "cuda" if torch.get_default_device().type == "cuda" else f"{torch.get_num_threads()} threads"
