"""deeplearning.ai Course 1, week 4's layer functions as the notebook writes them, in the columns convention:
A (units, batch), W (out, in), b (out, 1); dA carries no 1/m, linear_backward applies it; the activation is
handed by name to linear_activation_forward/backward. A CS231n-style layer with a defaulted argument beside."""
import numpy as np
def sigmoid(Z):
    A = 1/(1+np.exp(-Z)); return A, Z
def relu(Z):
    A = np.maximum(0,Z); return A, Z
def relu_backward(dA, cache):
    Z = cache; dZ = np.array(dA, copy=True); dZ[Z <= 0] = 0; return dZ
def sigmoid_backward(dA, cache):
    Z = cache; s = 1/(1+np.exp(-Z)); return dA * s * (1-s)
def linear_forward(A, W, b):
    Z = np.dot(W, A) + b
    return Z, (A, W, b)
def linear_backward(dZ, cache):
    A_prev, W, b = cache; m = A_prev.shape[1]
    dW = 1. / m * np.dot(dZ, A_prev.T); db = 1. / m * np.sum(dZ, axis=1, keepdims=True)
    return np.dot(W.T, dZ), dW, db
def linear_activation_forward(A_prev, W, b, activation):
    Z, linear_cache = linear_forward(A_prev, W, b)
    A, activation_cache = sigmoid(Z) if activation == "sigmoid" else relu(Z)
    return A, (linear_cache, activation_cache)
def linear_activation_backward(dA, cache, activation):
    linear_cache, activation_cache = cache
    dZ = relu_backward(dA, activation_cache) if activation == "relu" else sigmoid_backward(dA, activation_cache)
    return linear_backward(dZ, linear_cache)


def leaky_relu_forward(x, alpha=0.01):
    return np.where(x > 0, x, alpha * x), x


def leaky_relu_backward(dout, cache, alpha=0.01):
    return dout * np.where(cache > 0, 1.0, alpha)
