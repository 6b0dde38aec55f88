"""CS231n's affine - batch norm - relu sandwich (layer_utils.py) with its layers: the forward returns (out, cache),
the backward (dx, dw, db, dgamma, dbeta). The slip is a function of its own beside the right one. Written for the
tests."""
import numpy as np


def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    mu, var = x.mean(axis=0), x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps)


def batchnorm_backward(dout, cache):
    xhat, gamma, var, eps = cache
    n = dout.shape[0]
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * np.sqrt(var + eps))
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def affine_bn_relu_forward(x, w, b, gamma, beta, bn_param):
    a = x @ w + b
    bn, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out = np.maximum(bn, 0)
    return out, (x, w, bn_cache, bn)


def affine_bn_relu_backward(dout, cache, db_of_dout=False):
    x, w, bn_cache, bn = cache
    dbn = dout * (bn > 0)
    da, dgamma, dbeta = batchnorm_backward(dbn, bn_cache)
    db = dout.sum(axis=0) if db_of_dout else da.sum(axis=0)
    return da @ w.T, x.T @ da, db, dgamma, dbeta


def affine_bn_relu_backward_db(dout, cache):
    """Slip: the affine layer's db summed from the sandwich's dout, skipping the relu and the batch norm."""
    return affine_bn_relu_backward(dout, cache, db_of_dout=True)
