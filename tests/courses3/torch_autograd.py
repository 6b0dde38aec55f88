"""d2l.ai 4.4's softmax regression in PyTorch: module globals W, b made with requires_grad=True, the gradient taken
by l.mean().backward() and read from W.grad, b.grad. Written for the tests of derivax check-code."""
import torch

W = torch.normal(0, 0.01, size=(4, 3), requires_grad=True)
b = torch.zeros(3, requires_grad=True)


def backward_autograd(X, y):
    W.grad = None
    b.grad = None
    y_hat = torch.softmax(X @ W + b, dim=1)
    l = -torch.log(y_hat[range(len(y_hat)), y])
    l.mean().backward()
    return {"W": W.grad, "b": b.grad}
