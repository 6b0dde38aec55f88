"""fast.ai's "from the foundations" backward pass as the course writes it, in PyTorch: torch tensors w1, b1, w2,
b2 as module globals, mse_grad, relu_grad and lin_grad(inp, out, w, b) setting .g and returning nothing. Written for
the tests of derivax check-code."""
import torch

gen = torch.Generator().manual_seed(5)
w1 = torch.randn(3, 4, generator=gen, dtype=torch.float64) / 3 ** 0.5
b1 = torch.zeros(4, dtype=torch.float64)
w2 = torch.randn(4, 1, generator=gen, dtype=torch.float64) / 2
b2 = torch.zeros(1, dtype=torch.float64)


def lin(x, w, b):
    return x @ w + b


def relu(x):
    return x.clamp_min(0.)


def mse_grad(inp, targ):
    inp.g = 2. * (inp.squeeze(-1) - targ).unsqueeze(-1) / inp.shape[0]


def relu_grad(inp, out):
    inp.g = (inp > 0).double() * out.g


def lin_grad(inp, out, w, b):
    inp.g = out.g @ w.t()
    w.g = (inp.unsqueeze(-1) * out.g.unsqueeze(1)).sum(0)
    b.g = out.g.sum(0)


def forward_and_backward(inp, targ):
    l1 = lin(inp, w1, b1)
    l2 = relu(l1)
    out = lin(l2, w2, b2)
    mse_grad(out, targ)
    lin_grad(l2, out, w2, b2)
    relu_grad(l1, l2)
    lin_grad(inp, l1, w1, b1)


def mse_grad_flipped(inp, targ):
    inp.g = 2. * (targ - inp.squeeze(-1)).unsqueeze(-1) / inp.shape[0]


def forward_and_backward_flipped(inp, targ):
    """Slip: mse_grad's difference the wrong way round."""
    l1 = lin(inp, w1, b1)
    l2 = relu(l1)
    out = lin(l2, w2, b2)
    mse_grad_flipped(out, targ)
    lin_grad(l2, out, w2, b2)
    relu_grad(l1, l2)
    lin_grad(inp, l1, w1, b1)
