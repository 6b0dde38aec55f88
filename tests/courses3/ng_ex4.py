"""Andrew Ng's ex4 nnCostFunction as the Python ports write it: nn_params the two Theta matrices (units, inputs + 1),
the bias in column 0, unrolled row-major; a column of ones before X and a2; y integer labels 0..K-1; J the
cross-entropy summed over the K sigmoid outputs, averaged over m, plus lambda/(2m) times the squares of Theta without
its bias column; (J, grad) returned, grad unrolled the same way. Written for the tests of derivax check-code."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_=0.0, bias_reg=False):
    cut = hidden_layer_size * (input_layer_size + 1)
    Theta1 = np.reshape(nn_params[:cut], (hidden_layer_size, input_layer_size + 1))
    Theta2 = np.reshape(nn_params[cut:], (num_labels, hidden_layer_size + 1))
    m = y.size
    a1 = np.concatenate([np.ones((m, 1)), X], axis=1)
    a2 = sigmoid(a1 @ Theta1.T)
    a2 = np.concatenate([np.ones((m, 1)), a2], axis=1)
    a3 = sigmoid(a2 @ Theta2.T)
    Y = np.eye(num_labels)[y.astype(int)]
    J = -np.sum(Y * np.log(a3) + (1 - Y) * np.log(1 - a3)) / m \
        + lambda_ / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))
    d3 = a3 - Y
    d2 = (d3 @ Theta2)[:, 1:] * a2[:, 1:] * (1 - a2[:, 1:])
    T1g = d2.T @ a1 / m
    T2g = d3.T @ a2 / m
    if bias_reg:   # slip: the bias column regularized too
        T1g += lambda_ / m * Theta1
        T2g += lambda_ / m * Theta2
    else:
        T1g[:, 1:] += lambda_ / m * Theta1[:, 1:]
        T2g[:, 1:] += lambda_ / m * Theta2[:, 1:]
    return J, np.concatenate([T1g.ravel(), T2g.ravel()])


def nnCostFunction_bias_reg(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_=0.0):
    return nnCostFunction(nn_params, input_layer_size, hidden_layer_size, num_labels, X, y, lambda_, bias_reg=True)
