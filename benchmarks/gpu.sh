#!/usr/bin/env bash
# The benchmark suite and the numeric tests on a GPU machine, each under a time limit, each writing its
# own file into OUTDIR as it goes (a run cut short keeps what finished).
#   bash benchmarks/gpu.sh OUTDIR [SUITE_SECONDS] [TEST_SECONDS]
# Needs derivax installed (pip install -e .) with a CUDA build of jaxlib, and torch with CUDA for the
# PyTorch rows. JAX's GPU memory is taken as needed, not preallocated, so the test workers share the card.
set -u
out=${1:?OUTDIR}; suite_s=${2:-330}; test_s=${3:-180}
mkdir -p "$out"
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{
  nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 -c "import jax, jaxlib, platform; print('python', platform.python_version(), 'jax', jax.__version__, jaxlib.__version__, jax.devices())"
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())" || true
} > "$out/machine.txt" 2>&1
# The suite: every row against jax.grad on the GPU, PyTorch's peers on the GPU too.
timeout "$suite_s" python3 -m compile.cli.main bench --suite --first-repeats 1 --json > "$out/suite.txt" 2>&1
echo "suite exit $?" >> "$out/suite.txt"
# A row the GPU is for: a wide network at a large batch, where the step is arithmetic, not launches.
timeout 60 python3 -m compile.cli.main bench 784-2048:relu-10:softmax --batch-size 8192 --small none --first-repeats 1 --repeats 9 --json \
  > "$out/wide.txt" 2>&1
echo "wide exit $?" >> "$out/wide.txt"
# The numeric tests (lowering, trainers, verify, layers, devices) on the GPU.
timeout -s INT "$test_s" python3 -m pytest -n 12 -v -rfE -p no:cacheprovider -p no:benchmark tests/test_lower.py tests/test_train.py \
  tests/test_verify.py tests/test_conv.py tests/test_rnn.py tests/test_norm.py tests/test_attention.py \
  tests/test_codegen.py tests/test_devices.py tests/test_per_example.py tests/test_optimizers.py \
  tests/test_checkpoint.py tests/test_check_code.py tests/test_decay.py > "$out/tests.txt" 2>&1
echo "tests exit $?" >> "$out/tests.txt"
