"""Data-parallel training: fit(devices=4) on four CPU devices (XLA's host platform split in four, in a
child process, since the device count is fixed when JAX starts) gives the parameters one device gives, to
float rounding, for a scanned epoch (mlp) and a looped one (cnn1d); each batch is really split (the
compiled step all-reduces, on a quarter of the batch per device); bad device counts are named."""
import json
import os
import subprocess
import sys

import pytest

from conftest import TEST_XLA_FLAGS as TEST_FLAGS

SCRIPT = r"""
import json
import numpy as np, jax
from compile import compile_trainer, fit
from compile.train.data import load
from compile.train.train import _mesh, _sharded_epoch
from derive.network.examples import resolve
out = {"devices": len(jax.devices())}
for ex, n in (("mlp", 448), ("cnn1d", 256)):
    net = resolve(ex)[1]
    data = load(ex, n_inputs=net.n_inputs)
    tr = compile_trainer(net, "adam", 0.01)
    one = fit(tr, data.x_train[:n], data.y_train[:n], 2, 32, progress=False)
    four = fit(tr, data.x_train[:n], data.y_train[:n], 2, 32, progress=False, devices=4)
    out[ex] = {"diff": max(float(np.abs(np.asarray(one.params[k]) - np.asarray(four.params[k])).max()) for k in one.params),
               "scale": max(float(np.abs(np.asarray(one.params[k])).max()) for k in one.params),
               "replicated": all(v.sharding.is_fully_replicated for v in four.params.values()),
               "loss": [one.train_loss[-1], four.train_loss[-1]]}
tr = compile_trainer(resolve("mlp")[1], "adam", 0.01)
mesh = _mesh(4)
run = [c.cell_contents for c in _sharded_epoch(tr, mesh).__closure__ if hasattr(c.cell_contents, "lower")][0]
p = tr.init_params(0)
s = tr.init_opt_state(p)
hlo = run.lower(p, s, np.zeros((64, 64), np.float32), np.zeros((64, 10), np.float32), np.arange(64, dtype=np.int32),
                jax.random.key(0), batch_size=32).compile().as_text()
out["all_reduce"] = "all-reduce" in hlo
out["quarter_batch"] = "f32[8,64]" in hlo
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def four_devices():
    env = {**os.environ, "XLA_FLAGS": f"{TEST_FLAGS} --xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_four_devices_give_one_devices_parameters(four_devices):
    assert four_devices["devices"] == 4
    for ex in ("mlp", "cnn1d"):
        r = four_devices[ex]
        assert r["replicated"] and r["diff"] <= 1e-5 * max(1.0, r["scale"]), (ex, r)
        assert abs(r["loss"][0] - r["loss"][1]) <= 1e-5 * abs(r["loss"][0])


def test_each_batch_is_split_and_the_gradients_summed(four_devices):
    assert four_devices["all_reduce"] and four_devices["quarter_batch"]


@pytest.mark.parametrize("argv, words", [
    (["train", "xor", "--devices", "64"], "devices: 64 asked for, "),
    (["train", "xor", "--devices", "0"], "expected a number of devices (1 or more) or 'all'"),
    (["train", "xor", "--devices", "lots"], "expected a number of devices"),
])
def test_bad_device_counts_are_named(capsys, argv, words):
    from compile.cli.main import main
    assert main(argv) == 2
    assert words in capsys.readouterr().err


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_to_one_process_s_parameters(tmp_path):
    """derivax train over two processes (jax.distributed on localhost, two CPU devices each, gloo between
    them) saves, from process 0 alone, the parameters one process with four devices saves: the same batches,
    split over the same number of devices, the gradients summed across the processes."""
    import numpy as np
    port = _free_port()
    base = [sys.executable, "-m", "compile.cli.main", "train", "mlp", "--epochs", "1", "--seed", "3"]
    env = {**os.environ, "XLA_FLAGS": f"{TEST_FLAGS} --xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen(base + ["--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                                      "--process-id", str(i), "--save", str(tmp_path / f"p{i}.npz")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:   # one process stuck waiting for the other is not left behind
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    assert "on 2 processes (this is process 1)" in outs[1][0]
    assert not (tmp_path / "p1.npz").exists()          # process 0 writes the files
    one = subprocess.run(base + ["--devices", "4", "--save", str(tmp_path / "one.npz")], capture_output=True, text=True,
                         env={**env, "XLA_FLAGS": f"{TEST_FLAGS} --xla_force_host_platform_device_count=4"}, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    a, b = np.load(tmp_path / "p0.npz"), np.load(tmp_path / "one.npz")
    for k in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("argv, says", [
    (["--coordinator", "127.0.0.1:1"], "needs --coordinator, --num-processes and --process-id together"),
    (["--coordinator", "nohost", "--num-processes", "2", "--process-id", "0"], "expected HOST:PORT"),
    (["--coordinator", "127.0.0.1:9", "--num-processes", "2", "--process-id", "2"], "must be from 0 to 1"),
])
def test_a_run_over_several_processes_names_what_is_missing(capsys, argv, says):
    from compile.cli.main import main
    assert main(["train", "xor", *argv]) == 2
    assert says in capsys.readouterr().err


GENERATED = r"""
import importlib.util, json, sys
import numpy as np, jax
spec = importlib.util.spec_from_file_location("m", sys.argv[1]); m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
p = m.init_params(jax.random.PRNGKey(0)); o = m.init_opt_state(p)
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 64)).astype("float32"); y = np.eye(10, dtype="float32")[rng.integers(0, 10, 32)]
p1, o1 = p, o
for _ in range(3):
    p1, o1, J1 = m.train_step(p1, o1, x, y)
p4, o4, split = m.data_parallel(p, o)
xs, ys = split(x, y)
for _ in range(3):
    p4, o4, J4 = m.train_step(p4, o4, xs, ys)
hlo = m.train_step.lower(p4, o4, xs, ys).compile().as_text()
print(json.dumps({"devices": len(jax.devices()), "all_reduce": "all-reduce" in hlo, "quarter": "f32[8,64]" in hlo,
                  "diff": max(float(np.abs(np.asarray(p1[k]) - np.asarray(p4[k])).max()) for k in p1)}))
"""


def test_a_generated_module_trains_data_parallel_with_its_own_helper(tmp_path):
    """codegen's module carries data_parallel(params, opt_state): replicated parameters and a batch split
    over four devices give, after three Adam steps, one device's parameters; the step all-reduces."""
    from compile.lowering.codegen import generate
    from derive.network.examples import resolve
    path = tmp_path / "mlp_trainer.py"
    path.write_text(generate(resolve("mlp")[1], "adam", 1e-3))
    env = {**os.environ, "XLA_FLAGS": f"{TEST_FLAGS} --xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", GENERATED, str(path)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4 and out["all_reduce"] and out["quarter"]
    assert out["diff"] <= 1e-6, out


def test_distributed_outside_a_cluster_says_what_to_give_instead():
    """--distributed where JAX finds no cluster (no SLURM, MPI or TPU here): exit 2, one line naming the flags
    to give. In a child process: joining a cluster sets process-wide JAX state."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM", "OMPI", "PMI"))}
    done = subprocess.run([sys.executable, "-m", "compile.cli.main", "train", "xor", "--distributed"],
                          capture_output=True, text=True, env={**env, "JAX_PLATFORMS": "cpu"}, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "joining the cluster failed" in done.stderr and "give --coordinator, --num-processes and --process-id" \
        in done.stderr
    assert "Traceback" not in done.stderr
