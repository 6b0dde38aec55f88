"""A network no rule table knows: swish and arctan activations, a skip connection, a log-cosh loss.

Every gradient is derived by the same reverse mode as tanh's, then checked exactly against
sympy.diff of the network expanded one weight at a time.

Run: python examples/custom_layer.py      (or: derivax show examples/custom_layer.py --scalar)
"""
from derive import Dense, Network, scalar_check

net = Network(2, [Dense(3, "z*sigmoid(z)"),
                  Dense(3, "atan(z)", skip_from=(1,)),   # Z2 = A1 W2 + b2 + A1
                  Dense(1)],
              loss="log(cosh(yhat - y))", name="custom")

if __name__ == "__main__":
    d = net.derive()
    print(d.text(steps=True))
    for result in scalar_check(d):
        print(f"{result.name}: {'equal' if result.ok else 'DIFFERENT'} ({result.method}, {result.weights} weights)")
