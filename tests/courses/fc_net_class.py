"""A fully connected net as a class in the interface of CS231n's second assignment: its constructor takes
hidden_dims, input_dim, num_classes, reg and dtype and sets self.num_layers, self.reg, self.dtype and
self.params; loss(X, y) loops over self.num_layers and returns (loss, grads) with the decay reg/2 ΣW².
Written for the tests; the bug is an edit of this text (see tests/test_courses.py)."""
import numpy as np


class DeepNet:
    def __init__(self, hidden_dims, input_dim=3072, num_classes=10, reg=0.0, weight_scale=1e-2, dtype=np.float32):
        self.reg, self.dtype = reg, dtype
        self.num_layers = len(hidden_dims) + 1
        sizes = [input_dim] + list(hidden_dims) + [num_classes]
        self.params = {}
        for k in range(self.num_layers):
            self.params[f"W{k + 1}"] = (weight_scale * np.random.randn(sizes[k], sizes[k + 1])).astype(dtype)
            self.params[f"b{k + 1}"] = np.zeros(sizes[k + 1], dtype)

    def loss(self, X, y):
        h, kept = X.astype(self.dtype), []
        for k in range(1, self.num_layers + 1):
            z = h @ self.params[f"W{k}"] + self.params[f"b{k}"]
            kept.append((h, z))
            h = np.maximum(z, 0) if k < self.num_layers else z
        shifted = h - h.max(axis=1, keepdims=True)
        p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        n = X.shape[0]
        loss = -np.log(p[np.arange(n), y]).mean()
        dz = p.copy()
        dz[np.arange(n), y] -= 1
        dz /= n
        grads = {}
        for k in range(self.num_layers, 0, -1):
            h_in, z = kept[k - 1]
            if k < self.num_layers:
                dz = dz * (z > 0)
            W = self.params[f"W{k}"]
            loss += 0.5 * self.reg * np.sum(W * W)
            grads[f"W{k}"] = h_in.T @ dz + self.reg * W
            grads[f"b{k}"] = dz.sum(axis=0)
            dz = dz @ W.T
        return loss, grads
