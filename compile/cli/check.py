"""`derivax check MODEL --param P --formula F`: a gradient formula a user wrote, against the derivation."""
from __future__ import annotations

import sys

from compile.cli import args as _args


def add_arguments(parser) -> None:
    _args.model_arguments(parser)
    parser.add_argument("--param", required=True,
                        help="what the formula computes: W1, b1 (gradients), dZ1, dA1, delta1, Z1, A1 or J (also as "
                             "the books write them: dW2, ∂J/∂W₂, δ₂, W^{[2]}, nabla_w2, \\nabla_{W^{[2]}} J; and as "
                             "derivax show prints the left side: ∂J/∂γ₂, \\gamma^{[2]}, δ₁⟨t⟩, ∂J/∂h₁⟨3⟩)")
    parser.add_argument("--formula", required=True,
                        help="e.g. 'A1.T @ (A2 - Y) / m'; names as derivax show prints them, operators "
                             "@ * + - / **, .T, sum(x, axis), softmax(x, axis) (softmax(x): over the classes), "
                             "the activations, NumPy's spellings (np.einsum('ij,jk->ik', a, b), np.max(Z2) over every "
                             "entry); also as the books print it ('(1/m) δ₂ A₁ᵀ', "
                             "'\\frac{1}{m} \\delta_2 A_1^T', \"A1'\", every line derivax show prints in text or "
                             "LaTeX (Σₜ, h₁⟨t−1⟩, X ⋆ δ₁, σ₂ of a batch norm); "
                             "a^{(1)}, \\delta^{(2)} in derivax's numbering or, where that is not EQUAL, UFLDL's, "
                             "whose input is layer 1; ex4's a1 = X, a3, d3 where derivax has no a3) and as a "
                             "notebook's lines ('dZ2 = A2 - Y; dW2 = 1/m * np.dot(dZ2, A1.T)'), each line's name read "
                             "by the lines after it")
    parser.add_argument("--dz", choices=["auto", "adjoint", "delta"], default="auto",
                        help="how d-names (dZ2, dA1) are read: adjoint (∂J/∂Z2), delta (as the deeplearning.ai "
                             "notebooks write them: dZ2 = δ2 = A2 − Y without the 1/m, dA1 = W2ᵀ dZ2), or auto "
                             "(default: adjoint, and delta where only that reading agrees; the report says which)")
    parser.add_argument("--seed", type=_args.seed, default=0, help="seed of the random points, and with the formula of the third batch size they are drawn at "
                             "(7, 11 or 13; default 0)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the verdict")


def main(args) -> int:
    try:
        return _main(args)
    except Exception as exc:   # refused: the error goes to stderr (derivax's main), and with --json a line too
        if args.json:
            import json
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            if isinstance(exc, RecursionError):
                message = RECURSION
            print(json.dumps({"ok": False, "error": str(message).splitlines()[0] if str(message) else
                              type(exc).__name__, "target": args.param, "formula": args.formula},
                             ensure_ascii=False))
        if isinstance(exc, RecursionError):
            from derive.formula.parse import FormulaError
            raise FormulaError(args.formula, 0, RECURSION) from None
        raise


RECURSION = "the formula is nested too deeply to be compared (Python's recursion limit was reached)"


def _main(args) -> int:
    from compile.checks.formula import CheckError, check_formula
    from derive.formula.errors import ShapeMismatch
    from derive.network.examples import resolve
    _, net = resolve(args.model, args.loss, getattr(args, "input", None), getattr(args, "l2", None), getattr(args, "l2_form", None),
                     getattr(args, "reduction", None))
    try:
        result = check_formula(net, args.param, args.formula, args.convention, args.seed, dz=args.dz)
    except ShapeMismatch as exc:   # a formula that reads, whose shapes do not fit: wrong, a verdict as a wrong shape is
        if exc.result is None:
            raise
        result = exc.result
    except CheckError as exc:
        print(f"derivax: {exc}", file=sys.stderr)
        if args.json:
            import json
            print(json.dumps({"ok": False, "error": str(exc), "target": args.param, "formula": args.formula},
                             ensure_ascii=False))
        return 2
    sys.stdout.write(result.render())
    if args.json:
        print(result.to_json())
    return 0 if result.ok else 1
