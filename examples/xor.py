"""XOR (seed 000): declare the network, print its derivation, train it with the derived gradients.

Run: python examples/xor.py
"""
import numpy as np

from compile import compile_trainer, fit
from derive import Dense, Network

net = Network(2, [Dense(2, "tanh"), Dense(2, "softmax")], loss="ce", name="xor")

# The derivation: forward pass, loss, error signals, gradients, and the chain rule step by step.
d = net.derive()
print(d.text(steps=True))

# The same formulas, lowered to JAX and jit-compiled into an SGD trainer (no jax.grad inside).
trainer = compile_trainer(net, optimizer="sgd", lr=0.1)
x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
y = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], np.float32)  # one-hot: class 1 is "x1 xor x2"
hist = fit(trainer, x, y, epochs=1000, batch_size=4, seed=3, progress=False)
print(f"loss {hist.train_loss[-1]:.4f}, accuracy {hist.train_accuracy[-1]:.0%}")
print(trainer.forward(hist.params, x).round(3))
