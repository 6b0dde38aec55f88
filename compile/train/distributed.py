"""Training across several processes (hosts) with JAX's own multi-controller runtime.

Each process runs the same command on the same data; ``jax.distributed.initialize`` joins them, after which
``jax.devices()`` lists every process's devices and ``fit(..., devices="all")`` shards each batch over all of
them: parameters and optimizer state replicated, the gradients summed across hosts by XLA's collectives
(NCCL between GPUs, gloo between CPUs). Nothing here moves data itself: that is JAX's engine.

    # host 0 (10.0.0.1) and host 1, the same command but the process id:
    derivax train mlp --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 0
    derivax train mlp --coordinator 10.0.0.1:1234 --num-processes 2 --process-id 1
    # under SLURM or Open MPI, where JAX finds the cluster by itself:
    srun derivax train mlp --distributed
"""
from __future__ import annotations

from compile.train.data import DataError


def start(coordinator=None, num_processes=None, process_id=None, auto=False) -> int:
    """Join the cluster before JAX starts its backend; the process's index (0 for the one that writes files).
    ``auto`` lets JAX read the cluster from its environment (SLURM, Open MPI, Cloud TPU)."""
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        missing = [f for f, g in zip(("--coordinator", "--num-processes", "--process-id"), given) if not g]
        raise DataError(f"a run over several processes needs --coordinator, --num-processes and --process-id together; "
                        f"missing {', '.join(missing)}")
    if not any(given) and not auto:
        return 0
    if all(given):
        host, sep, port = str(coordinator).rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise DataError(f"--coordinator: expected HOST:PORT (10.0.0.1:1234), not {coordinator!r}")
        if num_processes < 1:
            raise DataError(f"--num-processes must be 1 or more, not {num_processes}")
        if not 0 <= process_id < num_processes:
            raise DataError(f"--process-id must be from 0 to {num_processes - 1} (one per process), not {process_id}")
    import jax
    # Between CPU processes the collectives need an implementation; GPUs use NCCL whatever this says.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        if all(given):
            jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                       process_id=process_id)
        else:
            jax.distributed.initialize()
    except (RuntimeError, ValueError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = ("" if all(given) else "; --distributed finds a cluster only under SLURM, Open MPI or Cloud TPU: "
                "elsewhere give --coordinator, --num-processes and --process-id")
        raise DataError(f"joining the cluster failed: {why}{hint}") from None
    return jax.process_index()
