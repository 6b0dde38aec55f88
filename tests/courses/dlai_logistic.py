"""deeplearning.ai's first notebook, logistic regression as a neural network: propagate(w, b, X, Y) with w a column
(n_x, 1), b a number, X (n_x, m), Y (1, m), returning ({"dw", "db"}, cost). Written for the tests; the bug is an
edit of this text."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def propagate(w, b, X, Y):
    m = X.shape[1]
    A = sigmoid(np.dot(w.T, X) + b)
    cost = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
    dw = np.dot(X, (A - Y).T) / m
    db = np.sum(A - Y) / m
    return {"dw": dw, "db": db}, np.squeeze(cost)
