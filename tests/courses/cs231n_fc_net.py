"""CS231n's FullyConnectedNet as its second assignment declares it: the constructor takes hidden_dims, input_dim,
num_classes, dropout_keep_ratio, normalization ("batchnorm", "layernorm" or None), reg, weight_scale, dtype and
seed, and names the parameters W1, b1, gamma1, beta1, W2, ... by the hidden layer they belong to; loss(X, y)
runs {affine - [norm] - relu - [dropout]} x (L - 1) - affine - softmax and returns (loss, grads), with the decay
reg/2 ΣW². The dropout mask is drawn after np.random.seed(seed) at every layer, p the keep probability.
Written for the tests; the bugs are edits of this text."""
import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    var = x.var(axis=0)
    xhat = (x - x.mean(axis=0)) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps, 0)


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    var = x.var(axis=1, keepdims=True)
    xhat = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps, 1)


def norm_backward(dout, cache):
    """Batch norm's backward over the batch (axis 0), layer norm's over the features (axis 1)."""
    xhat, gamma, var, eps, axis = cache
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=axis, keepdims=True)
          - xhat * (dxhat * xhat).mean(axis=axis, keepdims=True)) / np.sqrt(var + eps)
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def dropout_forward(x, dropout_param):
    p = dropout_param["p"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if dropout_param["mode"] != "train":
        return x, None
    mask = (np.random.rand(*x.shape) < p) / p
    return x * mask, mask


class FullyConnectedNet:
    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        self.normalization, self.reg, self.dtype = normalization, reg, dtype
        self.use_dropout = dropout_keep_ratio != 1
        self.num_layers = 1 + len(hidden_dims)
        dims = [input_dim] + list(hidden_dims) + [num_classes]
        self.params = {}
        for i in range(1, self.num_layers + 1):
            self.params[f"W{i}"] = weight_scale * np.random.randn(dims[i - 1], dims[i])
            self.params[f"b{i}"] = np.zeros(dims[i])
            if normalization and i < self.num_layers:
                self.params[f"gamma{i}"], self.params[f"beta{i}"] = np.ones(dims[i]), np.zeros(dims[i])
        self.dropout_param = {"mode": "train", "p": dropout_keep_ratio} if self.use_dropout else {}
        if self.use_dropout and seed is not None:
            self.dropout_param["seed"] = seed
        self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        P, h, caches = self.params, X.astype(self.dtype), []
        for i in range(1, self.num_layers):
            a_in = h
            a = h @ P[f"W{i}"] + P[f"b{i}"]
            norm = None
            if self.normalization == "batchnorm":
                a, norm = batchnorm_forward(a, P[f"gamma{i}"], P[f"beta{i}"], self.bn_params[i - 1])
            elif self.normalization == "layernorm":
                a, norm = layernorm_forward(a, P[f"gamma{i}"], P[f"beta{i}"], self.bn_params[i - 1])
            h = np.maximum(a, 0)
            mask = None
            if self.use_dropout:
                h, mask = dropout_forward(h, self.dropout_param)
            caches.append((a_in, a, norm, mask))
        L = self.num_layers
        scores = h @ P[f"W{L}"] + P[f"b{L}"]
        if y is None:
            return scores
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        n = len(y)
        loss = -np.log(p[np.arange(n), y]).mean() + 0.5 * self.reg * sum(
            np.sum(P[f"W{i}"] ** 2) for i in range(1, L + 1))
        p[np.arange(n), y] -= 1
        dout = p / n
        grads = {f"W{L}": h.T @ dout + self.reg * P[f"W{L}"], f"b{L}": dout.sum(axis=0)}
        dh = dout @ P[f"W{L}"].T
        for i in range(L - 1, 0, -1):
            a_in, a, norm, mask = caches[i - 1]
            if mask is not None:
                dh = dh * mask
            da = dh * (a > 0)
            if norm is not None:
                da, grads[f"gamma{i}"], grads[f"beta{i}"] = norm_backward(da, norm)
            grads[f"W{i}"] = a_in.T @ da + self.reg * P[f"W{i}"]
            grads[f"b{i}"] = da.sum(axis=0)
            dh = da @ P[f"W{i}"].T
        return loss, grads
