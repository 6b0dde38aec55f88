"""A convolution's forward and backward in the interface of the deeplearning.ai CNN notebook: channels last,
A_prev (m, n_H, n_W, n_C), W (f, f, n_C_prev, n_C), b (1, 1, 1, n_C), hparameters {"stride", "pad"};
conv_backward(dZ, cache) returns dA_prev, dW, db. Written for the tests; the bug is an edit of this text."""
import numpy as np


def conv_forward(A_prev, W, b, hparameters):
    s, p = hparameters["stride"], hparameters["pad"]
    m, H, Wd, _ = A_prev.shape
    f, _, _, C = W.shape
    out_h, out_w = (H + 2 * p - f) // s + 1, (Wd + 2 * p - f) // s + 1
    padded = np.pad(A_prev, ((0, 0), (p, p), (p, p), (0, 0)))
    Z = np.zeros((m, out_h, out_w, C))
    for i in range(out_h):
        for j in range(out_w):
            window = padded[:, i * s:i * s + f, j * s:j * s + f, :]
            Z[:, i, j, :] = np.tensordot(window, W, axes=([1, 2, 3], [0, 1, 2])) + b.reshape(-1)
    return Z, (A_prev, W, b, hparameters)


def conv_backward(dZ, cache):
    A_prev, W, b, hparameters = cache
    s, p = hparameters["stride"], hparameters["pad"]
    f = W.shape[0]
    padded = np.pad(A_prev, ((0, 0), (p, p), (p, p), (0, 0)))
    dpadded, dW = np.zeros_like(padded), np.zeros_like(W)
    for i in range(dZ.shape[1]):
        for j in range(dZ.shape[2]):
            window = padded[:, i * s:i * s + f, j * s:j * s + f, :]
            dW += np.tensordot(window, dZ[:, i, j, :], axes=([0], [0]))
            dpadded[:, i * s:i * s + f, j * s:j * s + f, :] += np.tensordot(dZ[:, i, j, :], W, axes=([1], [3]))
    db = dZ.sum(axis=(0, 1, 2)).reshape(1, 1, 1, -1)
    return dpadded[:, p:dpadded.shape[1] - p, p:dpadded.shape[2] - p, :], dW, db
