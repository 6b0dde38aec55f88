"""Backward passes that clip their gradients by the global norm, as training loops do before the update
(g ← g · c / ‖g‖ where ‖g‖ > c), in the courses' own layouts. Written for the tests; the slips are edits of this
text.

- ``Network.backprop(x, y)``: Nielsen's network.py (one example as a column, (nabla_b, nabla_w), quadratic cost
  ½‖a − y‖², sigmoid at every layer), clipping each example's gradients by their global norm at CLIP.
- ``backward_propagation(parameters, cache, X, Y)``: deeplearning.ai's planar network (columns, tanh hidden layer,
  sigmoid output, cross-entropy), whose norm also counts dZ1: every array it returns is scaled by one factor.
- ``backward(params, x, y)``: the makemore MLP (an embedding of the context, tanh hidden layer, softmax cross-entropy),
  returning beside dC, dW1, db1, dW2, db2 the gradients of h and emb under the tensors' names; its norm counts them
  all, and all are scaled.
"""
import numpy as np

CLIP = 0.05


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def clip_by_global_norm(grads, max_norm):
    norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    if norm > max_norm:
        grads = [g * (max_norm / norm) for g in grads]
    return grads


class Network:
    def __init__(self, sizes):
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.biases = [np.zeros((n, 1)) for n in sizes[1:]]
        self.weights = [np.zeros((n, k)) for k, n in zip(sizes[:-1], sizes[1:])]

    def backprop(self, x, y):
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        nabla_b[-1], nabla_w[-1] = delta, np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sigmoid_prime(zs[-l])
            nabla_b[-l], nabla_w[-l] = delta, np.dot(delta, activations[-l - 1].transpose())
        clipped = clip_by_global_norm(nabla_b + nabla_w, CLIP)
        return clipped[:len(nabla_b)], clipped[len(nabla_b):]


def backward_propagation(parameters, cache, X, Y):
    m = X.shape[1]
    W2 = parameters["W2"]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2 = 1 / m * np.dot(dZ2, A1.T)
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))
    dW1 = 1 / m * np.dot(dZ1, X.T)
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    grads = {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dZ1": dZ1}
    norm = np.sqrt(sum(np.sum(g * g) for g in grads.values()))
    if norm > CLIP:
        grads = {k: g * CLIP / norm for k, g in grads.items()}
    return grads


def backward(params, x, y):
    C, W1, b1, W2, b2 = params["C"], params["W1"], params["b1"], params["W2"], params["b2"]
    n = x.shape[0]
    emb = C[x]
    embcat = emb.reshape(n, -1)
    hpreact = embcat @ W1 + b1
    h = np.tanh(hpreact)
    logits = h @ W2 + b2
    counts = np.exp(logits - logits.max(1, keepdims=True))
    probs = counts / counts.sum(1, keepdims=True)
    dlogits = probs.copy()
    dlogits[np.arange(n), y] -= 1
    dlogits /= n
    dh = dlogits @ W2.T
    dhpreact = (1.0 - h ** 2) * dh
    demb = (dhpreact @ W1.T).reshape(emb.shape)
    dC = np.zeros_like(C)
    np.add.at(dC, x, demb)
    grads = {"C": dC, "W1": embcat.T @ dhpreact, "b1": dhpreact.sum(0), "W2": h.T @ dlogits, "b2": dlogits.sum(0),
             "h": dh, "emb": demb}
    norm = np.sqrt(sum((g ** 2).sum() for g in grads.values()))
    if norm > CLIP:
        grads = {k: g * (CLIP / norm) for k, g in grads.items()}
    return grads
