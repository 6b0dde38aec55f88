"""fast.ai's "from the foundations" backward pass in NumPy: mse_grad, relu_grad and lin_grad(inp, out, w, b) set
the .g of their arguments and return nothing, forward_and_backward(inp, targ) calls them on the module globals w1,
b1, w2, b2; J is the mean squared error of one output, its targets of shape (batch,). NumPy's arrays take no
attributes: the globals are of a subclass, Tensor, that does. Written for the tests of derivax check-code."""
import numpy as np


class Tensor(np.ndarray):
    """NumPy's array, taking attributes (.g) as torch's tensors do."""


def tensor(a):
    return np.asarray(a, dtype=float).view(Tensor)


rng = np.random.default_rng(5)
w1 = tensor(rng.normal(size=(3, 4)) / np.sqrt(3))
b1 = tensor(np.zeros(4))
w2 = tensor(rng.normal(size=(4, 1)) / 2)
b2 = tensor(np.zeros(1))


def lin(x, w, b):
    return x @ w + b


def relu(x):
    return np.maximum(x, 0.)


def mse(output, targ):
    return ((output.squeeze(-1) - targ) ** 2).mean()


def mse_grad(inp, targ):
    inp.g = 2. * (inp.squeeze(-1) - targ)[:, None] / inp.shape[0]


def relu_grad(inp, out):
    inp.g = (inp > 0) * out.g


def lin_grad(inp, out, w, b):
    inp.g = out.g @ w.T
    w.g = inp.T @ out.g
    b.g = out.g.sum(0)


def forward_and_backward(inp, targ):
    l1 = lin(inp, w1, b1)
    l2 = relu(l1)
    out = lin(l2, w2, b2)
    mse(out, targ)
    mse_grad(out, targ)
    lin_grad(l2, out, w2, b2)
    relu_grad(l1, l2)
    lin_grad(inp, l1, w1, b1)


def relu_grad_passed(inp, out):
    inp.g = out.g


def forward_and_backward_no_relu_grad(inp, targ):
    """Slip: relu's derivative left out, out.g passed straight through."""
    l1 = lin(inp, w1, b1)
    l2 = relu(l1)
    out = lin(l2, w2, b2)
    mse_grad(out, targ)
    lin_grad(l2, out, w2, b2)
    relu_grad_passed(l1, l2)
    lin_grad(inp, l1, w1, b1)


def lin_grad_transposed(inp, out, w, b):
    inp.g = out.g @ w.T
    w.g = out.g.T @ inp
    b.g = out.g.sum(0)


def forward_and_backward_transposed(inp, targ):
    """Slip: the first layer's w.g the transposed product."""
    l1 = lin(inp, w1, b1)
    l2 = relu(l1)
    out = lin(l2, w2, b2)
    mse_grad(out, targ)
    lin_grad(l2, out, w2, b2)
    relu_grad(l1, l2)
    lin_grad_transposed(inp, l1, w1, b1)
