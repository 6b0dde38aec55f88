"""The MNIST-1D paper's PyTorch training loop, shared by the benchmark scripts that compare a derivax
example with the paper's model: Adam, cross-entropy, batches taken through the training set in order,
test accuracy at the end. PyTorch is optional and never a dependency (``pip install torch==2.13.0``)."""
import time


def train(model, data, steps, batch=100, lr=1e-2):
    """(seconds, test accuracy) of ``steps`` Adam steps of ``model`` on ``data`` (a derivax Dataset)."""
    import torch
    import torch.nn as nn
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x = torch.tensor(data.x_train.reshape(len(data.x_train), -1))
    y = torch.tensor(data.y_train.argmax(1))
    xt = torch.tensor(data.x_test.reshape(len(data.x_test), -1))
    yt = torch.tensor(data.y_test.argmax(1))
    t0 = time.perf_counter()
    for step in range(steps):
        i = (step * batch) % len(x)
        loss = nn.functional.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    return seconds, acc
