"""CS231n's second assignment in its channels-first layout, x (N, C, H, W), w (F, C, HH, WW): the sandwich
layer conv_relu_pool_forward(x, w, b, conv_param, pool_param) / conv_relu_pool_backward(dout, cache),
spatial_batchnorm_forward(x, gamma, beta, bn_param) / spatial_batchnorm_backward(dout, cache), and
ThreeLayerConvNet (conv - relu - 2x2 max pool - affine - relu - affine - softmax) whose loss(X, y) reads
self.params and returns (loss, grads), on the naive layers of layer_functions.py (its layers.py). Written for
the tests; the bugs are edits of this text."""
import numpy as np

# the naive layers, as the assignment's layer_utils.py takes them from its layers.py
from layer_functions import (conv_backward_naive, conv_forward_naive, max_pool_backward_naive,
                             max_pool_forward_naive, softmax_loss)


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    a, conv_cache = conv_forward_naive(x, w, b, conv_param)
    r = np.maximum(a, 0)
    out, pool_cache = max_pool_forward_naive(r, pool_param)
    return out, (conv_cache, a, pool_cache)


def conv_relu_pool_backward(dout, cache):
    conv_cache, a, pool_cache = cache
    dr = max_pool_backward_naive(dout, pool_cache)
    da = dr * (a > 0)
    return conv_backward_naive(da, conv_cache)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch norm of each channel over the batch and every position: the maps as rows (N·H·W, C)."""
    N, C, H, W = x.shape
    eps = bn_param.get("eps", 1e-5)
    rows = x.transpose(0, 2, 3, 1).reshape(-1, C)
    var = rows.var(axis=0)
    xhat = (rows - rows.mean(axis=0)) / np.sqrt(var + eps)
    out = (gamma * xhat + beta).reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return out, (xhat, gamma, var, eps, x.shape)


def spatial_batchnorm_backward(dout, cache):
    xhat, gamma, var, eps, shape = cache
    N, C, H, W = shape
    rows = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    n = rows.shape[0]
    dxhat = rows * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * np.sqrt(var + eps))
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), (rows * xhat).sum(axis=0), rows.sum(axis=0)


class ThreeLayerConvNet:
    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0, dtype=np.float32):
        C, H, W = input_dim
        self.reg, self.dtype = reg, dtype
        self.params = {"W1": weight_scale * np.random.randn(num_filters, C, filter_size, filter_size),
                       "b1": np.zeros(num_filters),
                       "W2": weight_scale * np.random.randn(num_filters * (H // 2) * (W // 2), hidden_dim),
                       "b2": np.zeros(hidden_dim),
                       "W3": weight_scale * np.random.randn(hidden_dim, num_classes),
                       "b3": np.zeros(num_classes)}
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        W1, b1, W2, b2, W3, b3 = (self.params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
        conv_param = {"stride": 1, "pad": (W1.shape[2] - 1) // 2}
        pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        pooled, c1 = conv_relu_pool_forward(X, W1, b1, conv_param, pool_param)
        flat = pooled.reshape(len(X), -1)
        hidden_in = flat @ W2 + b2
        hidden = np.maximum(hidden_in, 0)
        scores = hidden @ W3 + b3
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        loss += 0.5 * self.reg * sum(np.sum(w * w) for w in (W1, W2, W3))
        grads = {"W3": hidden.T @ dscores + self.reg * W3, "b3": dscores.sum(axis=0)}
        dhidden = (dscores @ W3.T) * (hidden_in > 0)
        grads["W2"], grads["b2"] = flat.T @ dhidden + self.reg * W2, dhidden.sum(axis=0)
        dpooled = (dhidden @ W2.T).reshape(pooled.shape)
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward(dpooled, c1)
        grads["W1"] += self.reg * W1
        return loss, grads
