"""`derivax check`: is a formula you wrote the derived one? If not, what differs and where.

The formula (a string parsed by derive's whitelisted grammar, a graph node, or a SymPy matrix
expression) is compared with the derivation's node for the same target:

- ``W1``, ``b1``, ...: the gradient dJ/dW1; ``dZ1``, ``dA1``: dJ/dZ1, dJ/dA1; ``delta1``: the error
  signal; ``Z1``, ``A1``, ``J``: the forward definitions and the loss.

Verdict: shapes first; then exactly at explicit small sizes (``derive.formula.compare.symbolic_equal``, for
networks the scalar tier can expand) and numerically in float64 at random points with two batch sizes
(``compile.lowering.evaluate``, for every network). When they differ: the derived formula beside the user's,
a concrete counterexample, and what can be told of the difference (a missing 1/m, a wrong sign, a
constant factor, a missing transpose, a wrong or missing activation derivative).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from compile.lowering.evaluate import evaluate, leaf_values
from compile.checks.factor import factor, transposed
from compile.checks.points import random_point
from derive.formula.errors import ShapeMismatch
from derive.formula.parse import same_entries

BATCHES = (3, 5)   # two batch sizes: a factor that follows m (a missing 1/m) shows as such
# and a third, a larger prime picked by the seed and the formula (``batches``): an expression in m typed for m that
# equals m at the exact comparison's m = 2 and at 3 and 5 (m (m − 2)(m − 3)(m − 5) + m) is not m there
LARGER_BATCHES = (7, 11, 13)
RTOL, ATOL = 1e-9, 1e-12
EXACT_SECONDS = 30.0          # the exact comparison where the numbers agree (it confirms the verdict)
SWAP_SECONDS = 5.0           # the search for one slipped name (W1 for W2, c1_t for c1_tm1) where yours differs
SIGN_SECONDS = 5.0           # the search for one term or definition of the wrong sign
MAX_SIGN_VARIANTS = 40       # the variants of one flipped sign tried, at most
EXACT_WHEN_DIFFERENT = 5.0    # and where they differ already (it adds only detail)


class CheckError(ValueError):
    """A target the derivation has no formula for."""


@dataclass
class FormulaCheck:
    target: str
    label: str                 # ∂J/∂W₁, δ₁, Z₁, ...
    formula: str               # as the user wrote it
    yours: str                 # the user's formula as derivax reads it (text style)
    correct: str               # the derived formula (text style)
    correct_formula: str       # the derived formula in the syntax check accepts
    ok: bool
    how: list = field(default_factory=list)         # how equality was decided
    counterexample: str = ""
    diagnosis: list = field(default_factory=list)
    where: list = field(default_factory=list)       # the error signals the derived formula uses
    reading: str = ""          # the network, its loss and convention the formula was read against
    verdict: str = ""          # the reading of the formula's d-names the verdict rests on
    yours_note: str = ""       # what the d-names of "yours" were read as
    warnings: list = field(default_factory=list)    # what holds beside the verdict (equal, but overflows float64)
    assumes: str = ""          # what of the targets an equality rests on (each row of a one-hot Y sums to 1)

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "target": self.target, "yours": self.yours,
                           "correct": self.correct_formula, "how": self.how,
                           "counterexample": self.counterexample or None, "diagnosis": self.diagnosis,
                           "reading": self.reading or None, "d_names": self.verdict or None,
                           "warnings": self.warnings, "assumes": self.assumes or None},
                          ensure_ascii=False)

    def render(self) -> str:
        condition = self.assumes.split(" (")[0].replace("equal ", "", 1) if self.assumes and self.ok else ""
        lines = [f"{'EQUAL' if self.ok else 'NOT EQUAL'}{', ' + self.verdict if self.verdict else ''}"
                 f"{(',' if self.verdict else '') + ' ' + condition if condition else ''}: {self.label}",
                 f"  yours:   {self.label} = {self.yours}" + (f"   ({self.yours_note})" if self.yours_note else ""),
                 f"  derived: {self.label} = {self.correct}"]
        lines += [f"    where  {w}" for w in self.where]
        lines += [f"  checked: {h}" for h in self.how]
        if self.counterexample:
            lines.append(f"  counterexample: {self.counterexample}")
        lines += [f"  what differs: {d}" for d in self.diagnosis]
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.assumes:
            lines.append(f"  assumes: {self.assumes}")
        if not self.ok:
            lines.append(f"  as a formula: {self.correct_formula}")
        if self.reading:
            lines.append(f"  read against: {self.reading}")
        return "\n".join(lines) + "\n"


def target_node(derivation, target: str):
    """(node, printed label) of a target name."""
    from derive.printing.show import name as display
    model = derivation.model
    for spelled in ("dJ/d", "∂J/∂"):   # show's JSON names an adjoint dJ/dh1_t: the target dh1_t
        if target.startswith(spelled) and len(target) > len(spelled):
            target = "d" + target[len(spelled):]
    if target in derivation.grads:
        return derivation.grads[target], f"∂J/∂{display(target, 'text')}"
    named = {n.name: n for n in model.forward if n.name}
    if target.startswith("d") and target[1:] in derivation.grads and target not in named:
        # dW2, db2: the gradient of a parameter as the courses name it (check-code reads these keys too)
        return derivation.grads[target[1:]], f"∂J/∂{display(target[1:], 'text')}"
    if target.startswith("d") and target[1:] in named and target[1:] != "J":
        node = named[target[1:]]
        if node not in derivation.adjoints:
            raise CheckError(f"{target[1:]} does not lead to any parameter: it has no gradient")
        return derivation.adjoints[node], f"∂J/∂{display(target[1:], 'text')}"
    deltas = {d.name: d for d in derivation.deltas.values()}
    if target in deltas:
        return deltas[target], display(target, "text")
    if target in named:
        return named[target], display(target, "text")
    from derive.formula.matrix_names import step_names
    steps = {k: n for k, n in step_names(derivation).items() if "shift_of" not in n.attrs}
    fixed = _at_fixed_step(derivation, target)
    if fixed is not None:   # ∂J/∂h₁⟨40⟩: one step of backprop through time (show names it dJ/dh1_at40)
        return fixed
    if target in steps and steps[target].role == "adjoint" and str(steps[target].name).startswith("dJd"):
        # ∂J/∂h₁⟨t⟩ at every t: backprop through time itself
        from derive.formula.matrix_names import over_steps
        from derive.printing.show import printer_for
        node = steps[target]
        sigmas, _ = over_steps(derivation, node)
        if tuple(sigmas.shape[2:]) == tuple(node.shape[1:]):   # one state; an LSTM's (h, c) stack theirs
            return sigmas, printer_for("text").show(node)
        part = _state_part(sigmas.attrs["cell"], node)
        if part is not None:   # one part of a state of several: its units of every σ⟨t⟩
            from derive.ops import slice_
            width = sigmas.attrs["cell"].part_units
            return slice_(sigmas, 2, part * width, (part + 1) * width), printer_for("text").show(node)
    if target in steps and steps[target].op != "leaf":   # a recurrent layer's node at step t: δ₁⟨t⟩
        from derive.formula.matrix_names import over_steps
        from derive.ops.scan import time_map
        node = steps[target]
        label = show_step(node)
        return time_map(*over_steps(derivation, node), root=node), label
    known = list(derivation.grads) + [f"d{n}" for n in named if n != "J"] + list(deltas) + list(named) \
        + [k for k, n in steps.items() if n.op != "leaf" or (n.role == "adjoint" and str(n.name).startswith("dJd"))]
    raise CheckError(f"no formula named {target!r}; the targets are {', '.join(known)}")


def _state_part(cell, leaf):
    """The index of the part of ``cell``'s state whose ∂J/∂(part)⟨t⟩ the adjoint leaf ``leaf`` is, or None."""
    of = leaf.attrs.get("of")
    names = [str(n.name) for n in cell.new.args] if cell.parts else []
    return names.index(str(of)) if str(of) in names else None


def _is_bptt(node) -> bool:
    """∂J/∂h⟨t⟩ at every t (backprop through time's node), or one part of it (an LSTM's c)."""
    return node.op == "bptt" or node.op == "slice" and node.args[0].op == "bptt" and node.attrs["axis"] == 2


def _at_fixed_step(derivation, target):
    """(node, label) of ∂J/∂h⟨k⟩ at one fixed step k, a target written dh1_at40 (or one part of a state of
    several, dc1_at40); None for any other target."""
    from derive.formula.matrix_names import fixed_step
    from derive.graph.names import Name
    if not target.startswith("d"):
        return None
    try:
        found = fixed_step(derivation, target)
    except ValueError as exc:
        raise CheckError(f"no formula named {target!r}: {str(exc).split(': ', 1)[1]}") from None
    if found is None:
        return None
    import re
    base, layer, k = re.fullmatch(r"d([A-Za-z]+)(\d+)_at(\d+)", target).groups()
    from derive.printing.show import printer_for
    text = printer_for("text")
    return found[0], text.gradient_name(text.name(Name(base, int(layer), int(k), True)))


def show_step(node) -> str:
    from derive.printing.show import printer_for
    return printer_for("text").name(node.name)


def to_node(formula, derivation, at_step=None, notes=None, shapes=None, facts=None, respelled=False):
    """A user's formula as a graph node: a string (whitelisted parser), a Node, or a SymPy matrix expr.
    ``at_step``: the target is a recurrent layer's node at step t (a time_map node); the formula is one
    step's expression, read with the step's names and stacked over t as the target is. ``shapes`` (a list)
    receives the shape NumPy would give a string's value (np.sum(x) is a number, shape ()); ``facts`` (a list)
    the (rule, fact) pairs the graph's rewrites used while building it (one-hot Y's rows summed to 1).
    ``respelled``: a string already read in the grammar's spelling from the text typed (``_read_in``, which holds
    that text to MAX_LENGTH), held to the larger MAX_RESPELLED."""
    if facts is not None:
        from derive.graph.node import RECORDERS
        RECORDERS.append(facts)
        try:
            return to_node(formula, derivation, at_step, notes, shapes, respelled=respelled)
        finally:
            RECORDERS.pop()
    from derive.graph.build import Node
    if isinstance(formula, Node):
        return formula
    if isinstance(formula, str):
        from derive.formula.parse import parse_matrix
        if at_step is not None:
            from derive.formula.matrix_names import over_steps
            from derive.formula.steps import stack_steps, step_atoms
            from derive.ops.scan import time_map
            step = parse_matrix(formula, derivation, at_step=True, notes=notes, respelled=respelled)
            if _maxima(step):   # computed from its array at a point, not at each step
                from derive.formula.parse import FormulaError
                axis = _maxima(step)[0].attrs.get("axis")
                how = "without an axis" if axis is None else f"along axis {axis} (the batch)"
                raise FormulaError(formula, max(0, formula.find("max")), f"np.max {how} is not read in a formula "
                                   "of one step t: take it along a layer's units, as np.max(x, axis=-1, "
                                   "keepdims=True)")
            atoms = step_atoms(derivation, step)
            if atoms is not None:   # names at the step after t (a GRU's u1_tp1), or steps of other sequences
                return stack_steps(step, atoms)
            return time_map(*over_steps(derivation, step, "a formula of a step"), root=step)
        return parse_matrix(formula, derivation, notes=notes, shapes=shapes, respelled=respelled)
    from derive.formula.sympy_matrix import from_sympy
    return from_sympy(formula, derivation)


COURSE_NOTE = ("d-names (dZ2, dA1) read as the courses write them: without the constant factor {c} (dZ2 = δ2), as "
               "the deeplearning.ai notebooks compute dZ and dA")


def check_formula(net, target: str, formula, convention="rows", seed=0, derivation=None, dz="auto") -> FormulaCheck:
    """Compare ``formula`` with the derived formula for ``target`` (see the module docstring).

    ``dz`` says how d-names (dZ2, dA1, as a target or inside the formula) are read: "adjoint" as ∂J/∂N,
    "delta" as the courses write them (dZ2 = δ2, without the 1/m; ``course_reading``), "auto" by the
    convention: in columns (Ng's course, where dZ2 = A2 − Y) a d-name in the formula is the course's; in
    rows (where CS231n's dscores carries the 1/N and Ng's does not) as ∂J/∂N and, where only that
    agrees, as the courses'; the verdict line says which reading made it pass. A target named dZ2 with
    no d-name in the formula is accepted in either reading (the report says which).

    A string is read as the books and courses write formulas too (``derive.formula.spelling``: δ₂ A₁ᵀ, LaTeX,
    Octave's A1', a notebook's lines of definitions), and a target as they name it (∂J/∂W₂, dW₂, δ₂).

    A formula that reads but whose operands' shapes do not fit one of its operations (NumPy would refuse it there)
    raises ``ShapeMismatch``, a FormulaError naming the position, whose ``result`` is the NOT EQUAL verdict the
    command line gives (exit 1), as for a formula of the wrong shape.

    Two other numberings of the layers are tried where derivax's does not read a formula EQUAL
    (``OTHER_NUMBERINGS``): UFLDL's and CS229's, where a, z or δ carry a layer in round brackets (a^{(1)} is X
    there), and the Coursera ML course's ex4, where a bare a3, z2 or d3 is a name derivax's numbering does not know
    (a1 is X there); a verdict reached in one says so (a NOT EQUAL one only where derivax's numbering does not read
    the formula at all), and one tried in vain is mentioned beside derivax's."""
    if dz not in ("auto", "adjoint", "delta"):
        raise ValueError(f"dz must be 'auto', 'adjoint' or 'delta', not {dz!r}")
    import numbers
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"check_formula: seed must be a whole number from 0 to {2**32 - 1}, not {seed!r}")
    if not 0 <= seed <= 2**32 - 1:
        raise ValueError(f"check_formula: seed must be from 0 to {2**32 - 1}, not {seed}")
    seed = int(seed)
    if derivation is not None and (not hasattr(derivation, "grads")
                                   or not hasattr(getattr(derivation, "model", None), "params")):
        raise TypeError(f"check_formula: derivation must be a derive.Derivation (what net.derive() returns), "
                        f"not {derivation!r:.60} ({type(derivation).__name__})")
    if derivation is None and not callable(getattr(net, "derive", None)):
        from derive.network.network import MODEL_ROUTE, Model
        if isinstance(net, Model):
            raise TypeError(f"check_formula: net must be a derive.Network, not a Model: {MODEL_ROUTE}")
        hint = " (derive.network.examples.resolve(name)[1] is a built-in example's network)" \
            if isinstance(net, str) else ""
        raise TypeError(f"net must be a derive.Network, not {type(net).__name__} {net!r}{hint}"[:300])
    if not isinstance(target, str):
        raise TypeError(f"target names what the formula is for, as text ('W1', 'dZ2', 'delta1'), not "
                        f"{type(target).__name__} {target!r}"[:200])
    if not isinstance(formula, (str, sp.Basic)):
        raise TypeError(f"formula is text ('A1.T @ delta2 / m') or a SymPy matrix expression, not "
                        f"{type(formula).__name__} {formula!r}"[:200])
    d = derivation if derivation is not None else net.derive(convention)
    target = _target_spelled(d, target)
    if not isinstance(formula, str):
        return _check_formula(d, target, formula, seed, dz)
    # a formula as the books print it (δ₂ A₁ᵀ, \frac{1}{m}, dW2 = ...;) is read in the grammar's spelling; an
    # error points back into the text as typed
    from derive.formula.matrix_names import matrix_names
    from derive.formula.spelling import ex4_names, reads_round_layers
    names = matrix_names(d)
    own = _layer_own(d, target, names)
    result, error = _read_in(d, target, formula, seed, dz, names, own)
    if error is not None and "syntax error" in str(getattr(error, "message", "")) and _dedented(formula) != formula:
        # lines copied from a function's body, indented: read without their indent, where they do not read with it
        # (a text panel's note or broken line is indented and reads as it is)
        flat, flat_error = _read_in(d, target, _dedented(formula), seed, dz, names, own)
        if flat_error is None or "syntax error" not in str(getattr(flat_error, "message", "")):
            formula, result, error = _dedented(formula), flat, flat_error
    if error is None and result.ok:
        return result
    for numbering in OTHER_NUMBERINGS:
        if numbering == "ufldl" and not reads_round_layers(formula):
            continue
        unknown = re.match(r"unknown name '([^']*)'", getattr(error, "message", ""))
        if numbering == "ex4" and not (unknown and unknown.group(1) in ex4_names(formula)):
            continue   # the course's a3, d2 only where derivax's numbering has no such name
        other, other_error = _read_in(d, target, formula, seed, dz, names, own, numbering)
        if other_error is None and other.ok:
            return _in_numbering(other, numbering)
        verdict = other if other_error is None else getattr(other_error, "result", None)
        if verdict is not None and error is not None and not isinstance(error, ShapeMismatch):
            # derivax's numbering does not read it, this one does: its verdict, NOT EQUAL
            _in_numbering(verdict, numbering).diagnosis.append(f"in derivax's numbering it does not read: "
                                                               f"{_said(error)}")
            if other_error is not None:
                raise other_error from None
            return other
        result, error = _tried(result, error, numbering, verdict, other_error)
    if error is not None:
        raise error from None
    return result


# the other numberings a formula is read in where derivax's does not read it EQUAL, each with the note a verdict
# reached in it carries (``check_formula``); the words say what it reads, where one was tried in vain
OTHER_NUMBERINGS = {
    "ufldl": ("layers in round brackets read as UFLDL's and CS229's notes number them, from the input as layer 1: "
              "their a^{(l)}, z^{(l)}, δ^{(l)} are derivax's layer l − 1 (a^{(1)} is X, a^{(2)} is A1, δ^{(2)} is "
              "δ1), their W^{(l)}, b^{(l)} derivax's W_l, b_l",
              "in UFLDL's numbering (the input as layer 1, a^{(1)} = X)"),
    "ex4": ("names read as the Coursera ML course's ex4 numbers them, from the input as layer 1: a1 is X, and "
            "a<k+1>, z<k+1>, d<k+1> are derivax's A<k>, Z<k>, δ<k> (a2 is A1, d3 is δ2), each without the course's "
            "bias column; y is Y",
            "in the Coursera ML course's ex4 numbering (the input as layer 1, a1 = X)"),
}


def _in_numbering(result, numbering) -> FormulaCheck:
    """A verdict reached with the layers read in another numbering (``OTHER_NUMBERINGS``), which says so."""
    note, short = OTHER_NUMBERINGS[numbering]
    result.yours_note = "; ".join(filter(None, [result.yours_note, f"read {short}"]))
    result.reading = "; ".join(filter(None, [result.reading, note]))
    return result


def _tried(result, error, numbering, verdict, other_error):
    """(result, error) of derivax's numbering, saying that the formula was read in ``numbering`` too, in vain: its
    ``verdict`` NOT EQUAL, or ``other_error`` refusing it there."""
    _, short = OTHER_NUMBERINGS[numbering]
    if verdict is not None:
        said = f"read {short} too, it is not equal either" + \
            (f": {verdict.diagnosis[0].split(' (read as ')[0]}" if verdict.diagnosis else "")
    elif error is not None and _said(other_error) == _said(error):   # refused there for the same reason
        return result, error
    else:
        said = f"read {short} too, it does not read: {_said(other_error)}"
    if error is None:
        result.diagnosis.append(said)
        return result, None
    if isinstance(error, CheckError):
        return result, type(error)(f"{error}; {said}")
    again = type(error)(error.text, error.col, f"{error.message}; {said}")
    if isinstance(error, ShapeMismatch) and error.result is not None:
        error.result.diagnosis.append(said)
        again.result = error.result
    return result, again


def _said(error) -> str:
    """What an error that refuses a formula says, without the position, the text it was read as or the names known."""
    return (error.message if hasattr(error, "message") else str(error)).split(" (read as ")[0].split("; known: ")[0]


class _OtherTarget(CheckError):
    """A formula whose left side or last line names another target than the one checked (``_lines_of_target``)."""


def _of_the_cost(d, target) -> bool:
    """Whether ``target`` names the cost J (a number), whose formula may sum with a bare Σ."""
    try:
        return target_node(d, target)[0] is d.model.J
    except Exception:   # noqa: BLE001 - a target of no node: its own error is said where the formula is checked
        return False


def _read_in(d, target, formula, seed, dz, names, own, numbering=None):
    """(verdict, None) on a formula string read with the layers in ``numbering`` (None: derivax's;
    ``OTHER_NUMBERINGS``), or (None, the FormulaError or _OtherTarget that refuses it); a ShapeMismatch carries its
    verdict as ``result``."""
    from derive.formula.errors import MAX_LENGTH
    from derive.formula.parse import FormulaError
    from derive.formula.spelling import map_error, reads_nielsen, respell, shown, step_condition, unread
    if len(formula) > MAX_LENGTH:   # what was typed; its respelling is held to MAX_RESPELLED (``respell``)
        return None, FormulaError(formula, 0, f"formula longer than {MAX_LENGTH} characters (it has {len(formula)})")
    try:
        respelled, offsets = respell(formula, names, own, numbering, scalar=_of_the_cost(d, target))
        respelled, kept = _lines_of_target(d, target, formula, respelled, numbering)
    except (FormulaError, _OtherTarget) as exc:
        return None, exc
    constants = []
    if respelled != formula.strip():   # the books' notation, derivax's text or LaTeX view: its constants as printed
        respelled, offsets, constants = _printed_constants(d, target, respelled, offsets)
    if dz == "auto" and _explicit_adjoints(formula) and set(_adjoint_names_in(d, respelled)) <= \
            _explicit_adjoints(formula):   # ∂J/∂Z₂ written out is ∂J/∂Z₂, whatever a course calls dZ2
        dz = "adjoint"
    columns_hint = d.model.convention == "rows" and (
        NIELSEN_COLUMNS if reads_nielsen(formula) else NG_COLUMNS if _NG_LAYER.search(formula) else None)
    side_by_side = []
    if respelled != formula.strip() and "@" in respelled:   # the books' notation: a product may be written A₁(1 − A₁)
        respelled = _side_by_side(d, target, formula, respelled, offsets, side_by_side)
    try:
        result = _check_formula(d, target, respelled, seed, dz, step_condition(formula))
    except FormulaError as exc:
        if columns_hint and any(w in exc.message for w in ("cannot multiply", "broadcast")) and (
                columns_hint == NIELSEN_COLUMNS or "the factors in the wrong order?" in exc.message):
            # Ng's bracketed layers say less of the convention than Nielsen's: said where the product turned fits
            exc = type(exc)(exc.text, exc.col, exc.message + f" ({columns_hint})")
        message, exc = unread(exc.message), map_error(exc, formula, respelled, offsets)
        if isinstance(exc, ShapeMismatch):
            exc.result = _unfit_verdict(d, target, formula, respelled, exc, message)
        return None, exc
    if columns_hint and not result.ok and (columns_hint == NIELSEN_COLUMNS
                                           or any("transpose" in line for line in result.diagnosis)):
        result.diagnosis.append(columns_hint)
    if respelled != formula.strip():
        result.formula = formula
        result.yours_note = "; ".join(filter(None, [f"read as {shown(respelled)}", *_greek_read(d, formula, respelled),
                                                    *constants, *side_by_side, result.yours_note]))
    if reads_nielsen(formula):
        result.reading = "; ".join(filter(None, [result.reading, NIELSEN_NOTE]))
    if kept:
        result.yours_note = "; ".join(filter(None, [result.yours_note, kept]))
    return result, None


def _dedented(formula: str) -> str:
    """Lines copied from a function's body (each indented alike, the first one's indent lost in the copying or not)
    without their common indent: a formula's lines are definitions, of which none is inside another."""
    import textwrap
    lines = formula.strip("\n").split("\n")
    if len(lines) < 2 or not any(line[:1] in (" ", "\t") for line in lines[1:]):
        return formula
    rest = textwrap.dedent("\n".join(lines[1:]))
    return lines[0].strip() + "\n" + rest


SIDE_BY_SIDE_TRIES = 12   # products side by side tried as entrywise ones, at most, for one formula


def _side_by_side(d, target, formula, respelled, offsets, said) -> str:
    """``respelled`` with the products written side by side that cannot be matrix products, of two operands of the same
    shape, as entrywise ones: the books write σ(z)(1 − σ(z)) and a(1 − a) for σ(z) ⊙ (1 − σ(z)). Only where the
    formula does not read as matrix products (its shapes do not fit there) and does once they are entrywise; a product
    typed as @ stays one. What was read so is said in ``said``."""
    import ast
    from derive.formula.parse import FormulaError
    from derive.graph.build import fmt_shape
    correct, _ = target_node(d, target)
    at_step = correct if (correct.op == "time_map" and "root" in correct.attrs) or _is_bptt(correct) else None

    def reads(text):   # None where it reads, else the error
        try:
            to_node(text, d, at_step=at_step, respelled=True)
        except FormulaError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - what the check itself will say
            return exc
        return None

    def shape(text):
        try:
            return tuple(to_node(text, d, at_step=at_step, respelled=True).shape)
        except Exception:  # noqa: BLE001 - an operand that does not read alone (a name a line defines)
            return None

    def side_by_side(text):   # (offset of the @, left text, right text) of each product the user wrote side by side
        try:
            tree = ast.parse(text)
        except SyntaxError:
            return []
        found = []
        for node in ast.walk(tree):
            if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult)):
                continue
            lo, hi = _at_end(text, node.left), _at_start(text, node.right)
            k = text.find("@", lo, hi)
            typed = offsets[k] if offsets is not None and 0 <= k < len(offsets) - 1 else None
            if k < 0 or typed is None or formula[typed:typed + 1] == "@":
                continue
            found.append((k, ast.get_source_segment(text, node.left), ast.get_source_segment(text, node.right),
                          node.left, node.right))
        return sorted(found, key=lambda f: f[0])

    error = reads(respelled)
    text, tries = respelled, 0
    while isinstance(error, ShapeMismatch) and str(getattr(error, "message", "")).startswith("cannot multiply"):
        for k, left, right, lnode, rnode in side_by_side(text):
            if tries >= SIDE_BY_SIDE_TRIES:
                return respelled
            tries += 1
            a, b = shape(left), shape(right)
            if a is None or a != b or len(a) < 2 or a[-1] == b[-2]:   # the same shape, and no matrix product
                continue
            changed = text[:k] + "*" + text[k + 1:]
            after = reads(changed)
            if after is None or isinstance(after, ShapeMismatch) and str(after.message) != str(error.message):
                while isinstance(lnode, ast.BinOp) and isinstance(lnode.op, (ast.Mult, ast.MatMult)):
                    lnode = lnode.right   # (δ₂ W₂ᵀ) ⊙ σ(Z₁)(1 − σ(Z₁)): σ(Z₁) beside (1 − σ(Z₁))
                lo = offsets[_at_start(text, lnode)] if offsets else 0
                hi = offsets[_at_end(text, rnode) - 1] + 1 if offsets else len(formula)
                while formula[lo:hi].count("(") > formula[lo:hi].count(")") and ")" in formula[hi:]:
                    hi = formula.index(")", hi) + 1   # the operand's closing bracket, where respelling moved it
                said.append(f"{' '.join(formula[lo:hi].split())} read as an entrywise product (⊙): two arrays "
                            f"{fmt_shape(a)} side by side, which a matrix product does not fit")
                text, error = changed, after
                break
        else:
            return respelled
    return text if error is None else respelled


def _line_starts(text):
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    return starts


def _at_start(text, node) -> int:
    """The offset in ``text`` of an ast node's first character (ast counts a line's bytes)."""
    line = text.split("\n")[node.lineno - 1]
    return _line_starts(text)[node.lineno - 1] + len(line.encode("utf-8")[:node.col_offset].decode("utf-8", "ignore"))


def _at_end(text, node) -> int:
    """The offset in ``text`` just after an ast node's last character."""
    line = text.split("\n")[node.end_lineno - 1]
    return _line_starts(text)[node.end_lineno - 1] + len(line.encode("utf-8")[:node.end_col_offset]
                                                         .decode("utf-8", "ignore"))


_NORM_GREEK = re.compile(r"σ²?[₀-₉]+|\{\s*\\sigma\s*\^\s*\{?\s*2\s*\}?\s*\}\s*\^\s*\{\s*\[|\\sigma\s*\^\s*\{\s*\[")


def _greek_read(d, formula, respelled) -> list:
    """What a normalization layer's σ₂ and σ²₂ (\\sigma^{[2]}, {\\sigma^2}^{[2]}) were read as: its standard deviation
    and variance where layer 2 is a batch or layer norm (``derive.formula.spelling``), as a note for each layer; the
    sigmoid is σ alone, σ(…) and σ′."""
    if not _NORM_GREEK.search(formula):
        return []
    kinds = {layer.index: layer.kind.replace("_", " ") for layer in d.model.layers}
    said = []
    for base, k in dict.fromkeys(re.findall(r"(?<![A-Za-z0-9_])(sigma|var)(\d+)(?![A-Za-z0-9_])", respelled)):
        what = "standard deviation" if base == "sigma" else "variance"
        typed = "σ" if base == "sigma" else "σ²"
        said.append(f"{typed}{k.translate(str.maketrans('0123456789', '₀₁₂₃₄₅₆₇₈₉'))} read as {base}{k}, layer {k}'s "
                    f"{what} ({kinds.get(int(k), 'normalization')}), not the sigmoid")
    return said


def _printed_constants(d, target, respelled, offsets):
    """(text, offsets, notes): a constant of the derived formula typed as derivax's text and LaTeX views print it, to
    six significant digits (SELU's 1.0507 for 1.0507009873554805), read as that constant, and a note for each; a formula
    in the books' notation copied from those views holds no other digits of it."""
    from derive.formula.spelling import _edited
    from derive.graph.build import topo_order
    from derive.printing.show import printer_for
    try:
        correct, _ = target_node(d, target)
    except (CheckError, ValueError, KeyError):
        return respelled, offsets, []
    printer, full = printer_for("text"), {}
    for node in topo_order(correct):
        expr = node.attrs.get("expr") if node.op == "ew" else None
        for f in (expr.atoms(sp.Float) if isinstance(expr, sp.Basic) else ()):
            shown = printer._print_Float(abs(f))
            if shown != repr(float(abs(f))):
                full.setdefault(shown, repr(float(abs(f))))
    if not full or offsets is None:
        return respelled, offsets, []
    edits = [(hit.start(), hit.end(), full[hit.group()])
             for hit in re.finditer(r"(?<![\w.])\d+\.\d+(?![\w.])", respelled) if hit.group() in full]
    notes = [f"{typed} read as {put}, the constant derivax prints to six digits" for typed, put in
             dict.fromkeys((respelled[a:b], put) for a, b, put in edits)]
    text, at = _edited(respelled, offsets, edits)
    return text, at, notes


def _layer_own(d, target, names) -> dict:
    """The names a formula for a dense layer's gradient (W2, b2, dW2) may write without the layer's index, as the books
    write one layer's (∂J/∂W = Σᵢ a⁽ⁱ⁾ᵀ δ⁽ⁱ⁾): a, the layer's input (A1, or X for the first layer), z its Z and δ its
    error signal; {} for any other target. ``names``: the derivation's (``matrix_names``)."""
    name = target[1:] if target.startswith("d") and target[1:] in d.grads else target
    layer = next((l for l in d.model.layers if l.kind == "dense" and name in (getattr(l.W, "name", None),
                                                                              getattr(l.b, "name", None))), None)
    delta = d.deltas.get(layer.index) if layer is not None else None
    if layer is None or delta is None or layer.Z is None or layer.W is None:
        return {}
    product = next((a for a in layer.Z.args if a.op == "matmul" and any(x is layer.W for x in a.args)), None)
    given = next((a for a in product.args if a is not layer.W), None) if product is not None else None
    own = {"a": str(getattr(given, "name", None)), "z": str(layer.Z.name), "delta": str(delta.name)}
    return {k: v for k, v in own.items() if names.get(v) is not None and names.get(v) is (
        given if k == "a" else layer.Z if k == "z" else delta)}


def _unfit_verdict(d, target, formula, respelled, exc, message) -> FormulaCheck:
    """NOT EQUAL for a formula that reads but whose operands' shapes do not fit one of its operations (``exc``, a
    ShapeMismatch in the text as typed; ``message``, what does not fit): NumPy would refuse to compute it, at the
    position said."""
    from derive.formula.spelling import shown
    correct, label = target_node(d, target)
    per_step = (correct.op == "time_map" and "root" in correct.attrs) or _is_bptt(correct)
    typed = shown(formula)
    result = _verdict_of(d, target, correct, label, per_step, formula, typed)
    if shown(respelled) != typed:
        result.yours_note = f"read as {shown(respelled)}"
    where = f"line {exc.line}, column {exc.column}" if "\n" in exc.text else f"position {exc.col + 1}"
    result.how.append("shapes")
    result.counterexample = f"your formula cannot be computed: its shapes do not fit at {where}, where NumPy " \
                            f"would raise"
    result.diagnosis.append(f"shapes that do not fit: {message}")
    return result


def _verdict_of(d, target, correct, label, per_step, text, yours) -> FormulaCheck:
    """A verdict on ``text`` for ``target`` (its node ``correct``, printed ``label``), not yet decided: the derived
    formula printed beside ``yours``, with the error signals it uses."""
    from derive.graph.build import topo_order
    from derive.printing.show import name as display, show

    def shown(node, style):  # a formula of a step prints as the step's expression, not its stack over t
        if node.op == "bptt":   # ∂J/∂h⟨t⟩: the recurrence as the derivation prints it
            return _recurrence(d, node, style)
        return show(node.attrs["root"], style) if per_step and "root" in node.attrs else show(node, style)
    result = FormulaCheck(target, label, text, yours, shown(correct, "text"), shown(correct, "formula"), ok=False,
                          reading=_reading(d))
    deltas = sorted((n for n in topo_order(correct) if n.role == "delta" and n is not correct),
                    key=lambda n: -n.name.layer)
    result.where = [f"{display(n.name, 'text')} = {show(n, 'text')}" for n in deltas]
    if correct.op == "time_sum":  # a recurrent layer's gradient: its step's error signals, at step t
        from derive.ops.scan import cell_backward
        result.where = [f"{display(dn.name, 'text')} = {show(dn, 'text')}"
                        for _, dn in cell_backward(correct.attrs["cell"]).deltas] + result.where
    return result


def _name_key(d, name):
    """What a name written on a formula's left side stands for, as (kind, name): ("grad", "W2") for W2's
    gradient (dW2, dw2, ∂J/∂W₂), ("adjoint", "Z2") for ∂J/∂Z₂ or δ₂ (dZ2, delta2), ("forward", "A1") for a
    forward node; None for a name of the user's own (dscores, grad)."""
    try:
        name = _target_spelled(d, name)
    except CheckError:
        return None
    named = {str(n.name) for n in d.model.forward if n.name}
    z_of = {layer.index: str(layer.Z.name) for layer in d.model.layers
            if getattr(layer, "Z", None) is not None and getattr(layer.Z, "name", None) is not None}
    deltas = {str(delta.name): z_of[k] for k, delta in d.deltas.items()
              if getattr(delta, "name", None) is not None and k in z_of}
    for spelled in ("dJ/d", "∂J/∂"):
        if name.startswith(spelled) and len(name) > len(spelled):
            name = "d" + name[len(spelled):]
    if name in d.grads:
        return "grad", name
    if name.startswith("d") and name[1:] in d.grads and name not in named:
        return "grad", name[1:]
    if name in deltas:
        return "adjoint", deltas[name]
    if name.startswith("d") and name[1:] in named:
        return "adjoint", name[1:]
    if name in named:
        return "forward", name
    return None


def _lines_of_target(d, target, formula, respelled, numbering=None):
    """(text, note): a formula whose left side (``dW1 = ...``) or last line names another target than the one
    checked is refused (``--param W2`` on lines ending with ``dW1 = ...`` would compare ∂J/∂W₁'s formula with
    ∂J/∂W₂); lines that define the target before others (dW2, then dW1) are read up to the target's last
    definition, and the note says so. ``numbering``: the layers' (``respell``), a left side read in it too."""
    import ast
    from derive.formula.spelling import _strip_around, respell
    want = _name_key(d, target)
    if want is None:
        return respelled, ""

    def refuse(name, said):
        theta = re.search(rf"(?<![A-Za-z0-9_])[Tt]heta_?{name[2:]}_grad(?![A-Za-z0-9_])", formula) \
            if re.fullmatch(r"dW\d+", name) else None
        if theta is not None:   # ex4's Theta1_grad = ..., read as dW1 (``derive.formula.spelling._theta_grad``)
            name = f"{theta.group()} (read as {name}: the course's {theta.group()} without its first column, " \
                   f"b{name[2:]}'s gradient)"
        raise _OtherTarget(f"the formula is for {target}, but {said} {name}, which names "
                           f"{_key_words(got)}: check it with --param {_key_target(got)}, or end the formula with "
                           f"the line that defines {'d' + want[1] if want[0] != 'forward' else want[1]}")
    try:
        body = ast.parse(respelled, mode="exec").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        body = None
    if body is not None and len(body) >= 2:
        def assigned(line):   # the name a line defines or changes (dZ1 = ..., dZ1[Z1 <= 0] = 0, dW2 += ...)
            target = line.targets[0] if isinstance(line, ast.Assign) and len(line.targets) == 1 else \
                line.target if isinstance(line, ast.AugAssign) else None
            if isinstance(target, ast.Subscript):
                target = target.value
            return target.id if isinstance(target, ast.Name) else None
        names = [assigned(line) for line in body]
        mine = [k for k, n in enumerate(names) if n is not None and _name_key(d, n) == want]
        if mine and mine[-1] < len(body) - 1:
            last = body[mine[-1]]
            lines = respelled.split("\n")
            end = sum(len(l) + 1 for l in lines[:last.end_lineno - 1]) + len(
                lines[last.end_lineno - 1].encode("utf-8")[:last.end_col_offset].decode("utf-8", "ignore"))
            after = list(dict.fromkeys(n for n in names[mine[-1] + 1:] if n is not None))
            note = (f"read up to the line that defines {names[mine[-1]]}" +
                    (f"; the lines after it define {', '.join(after)}" if after else ""))
            return respelled[:end], note
        if not mine and names[-1] is not None:
            got = _name_key(d, names[-1])
            if got is not None and got != want:
                refuse(names[-1], "its last line defines")
        return respelled, ""
    if body is not None and len(body) == 1 and isinstance(body[0], (ast.Assign, ast.AugAssign)):
        line = body[0]   # one definition whose left side respell kept (LaTeX's A^{[2]} &= ...): its name
        lhs = line.targets[0] if isinstance(line, ast.Assign) and len(line.targets) == 1 else \
            line.target if isinstance(line, ast.AugAssign) else None
        got = _name_key(d, lhs.id) if isinstance(lhs, ast.Name) else None
        if got is not None and got != want:
            refuse(lhs.id, "its left side is")
        return respelled, ""
    start, _ = _strip_around(formula)   # one line: its left side, dW1 = ..., stripped by respell
    lhs = formula[:start].strip().rstrip("=").strip().strip("`$").strip()
    if lhs and "\n" not in lhs and numbering is not None:   # δ⁽²⁾ = ...: δ1 in UFLDL's numbering
        from derive.formula.matrix_names import matrix_names
        from derive.formula.parse import FormulaError
        try:
            lhs = "".join(respell(lhs, matrix_names(d), numbering=numbering)[0].split()) or lhs
        except FormulaError:
            pass
    if lhs and "\n" not in lhs:
        got = _name_key(d, lhs)
        if got is not None and got != want:
            refuse(lhs, "its left side is")
    return respelled, ""


def _key_words(key):
    kind, name = key
    return {"grad": f"the gradient of {name}", "adjoint": f"∂J/∂{name}"}.get(kind, f"the forward node {name}")


def _key_target(key):
    kind, name = key
    return {"grad": name, "adjoint": f"d{name}"}.get(kind, name)


NIELSEN_COLUMNS = "Nielsen's formulas are written in the columns convention (a^l a column per example): --convention columns"
NG_COLUMNS = ("Ng's course writes its formulas in the columns convention (Z^{[l]} = W^{[l]} A^{[l-1]} + b^{[l]}, an "
              "example per column): --convention columns")
_NG_LAYER = re.compile(r"\^\s*\{?\s*\[\s*(?:\d+|L)")   # W^{[2]}, A^{[L]}: Ng's bracketed layers
NIELSEN_NOTE = ("superscript layers read as Nielsen numbers them, from the input as layer 1: his w^l, b^l, z^l, a^l, δ^l "
                "are derivax's layer l − 1 (w^2 is W1, a^1 is X), L the output layer")


def _explicit_adjoints(formula) -> set:
    """The d-names a formula writes out as derivatives (∂J/∂Z₂, dJ/dZ2, ∇_{Z₂} J): {"dZ2"}."""
    import re
    from derive.formula.spelling import _nabla_of, respell
    found = set()
    for hit in re.finditer(r"(?:∂J\s*/\s*∂|dJ\s*/\s*d)([A-Za-z_δ][A-Za-z_0-9₀-₉]*)", formula):
        try:
            found.add("d" + "".join(respell(hit.group(1))[0].split()))
        except ValueError:
            continue
    for hit in re.finditer(r"∇|\\nabla(?![A-Za-z])", formula):   # ∇_{Z^{[2]}} J: ∂J/∂Z₂ written as a gradient
        of = _nabla_of(formula, hit.start(), len(formula))
        if of is None:
            continue
        try:
            found.add("d" + "".join(respell(formula[of[0]:of[1]])[0].split()))
        except ValueError:
            continue
    return found


def _target_spelled(d, target):
    """A target as the books and courses name it, read as derivax's name where exactly one fits: ∂J/∂W₂,
    dW₂, δ₂, W^{[2]}, delta_2, dw2 (a book's lower case), Nielsen's nabla_w2; the target as given otherwise
    (and an unknown one is refused by ``target_node`` with the list of targets)."""
    import re
    if not isinstance(target, str):
        return target
    try:
        target_node(d, target)
        return target
    except (CheckError, ValueError, KeyError):
        pass
    from derive.formula.matrix_names import matrix_names
    from derive.formula.parse import FormulaError
    from derive.formula.spelling import respell
    try:
        spelled = "".join(respell(target, matrix_names(d))[0].split())
    except FormulaError as exc:   # Nielsen's w^{l}: what the superscript should be
        if re.search(r"\^|[⁰¹²³⁴⁵⁶⁷⁸⁹ᴸˡ]", target):
            raise CheckError(f"--param {target!r}: {exc.message}") from None
        return target
    except ValueError:
        return target
    for spelled_as in ("∂J/∂", "dJ/d"):
        if spelled.startswith(spelled_as):
            spelled = "d" + spelled[len(spelled_as):]
    spelled = re.sub(r"^(nabla|grad|grads)_?", "", spelled, flags=re.I)
    spelled = re.sub(r"_(?=\d)", "", spelled)
    try:   # a name as show prints it: δ₁⟨t⟩ (delta1_t), ∂J/∂h₁⟨3⟩ (dh1_at3), \gamma^{[2]} (gamma2)
        target_node(d, spelled)
        return spelled
    except (CheckError, ValueError, KeyError):
        pass
    model = d.model
    named = [str(n.name) for n in model.forward if n.name]
    known = list(d.grads) + [f"d{n}" for n in named if n != "J"] + [f"d{g}" for g in d.grads] \
        + [str(x.name) for x in d.deltas.values()] + named
    if spelled in known:
        return spelled
    fits = {k for k in known if k.lower() == spelled.lower()}
    return fits.pop() if len(fits) == 1 else target


def _check_formula(d, target, formula, seed, dz, steps=None):
    """The verdict on a formula string already in the grammar's spelling, its d-names read as ``dz`` says
    (``check_formula``); ``steps``: the steps a recurrence's line holds at, as its note says (``_at_steps``)."""
    import functools
    import sympy as sp
    check = functools.partial(_check, steps=steps)
    from derive.formula.matrix_names import course_reading
    course, c = course_reading(d) if dz != "adjoint" else (None, None)
    if dz == "delta" and course is None:
        raise CheckError("this network's error signals carry no constant factor: dZ is δ already (use dz adjoint)")
    used = _adjoint_names_in(d, formula)
    if dz == "delta" or course is not None and used and d.model.convention == "columns":
        result = _note_course(check(course, target, formula, seed), c)
        if used:
            _say_reading(result, course, used, c, "delta", "" if dz == "delta" else
                         ", as Ng's course defines dZ in the columns convention (--dz adjoint reads "
                         + (f"it as ∂J/∂{used[0][1:]})" if len(used) == 1 else
                            f"them as {', '.join('∂J/∂' + u[1:] for u in used)})"))
        if not result.ok and used and dz == "auto":   # the other reading: ∂J/∂Z itself, as Goodfellow's g
            try:
                other = check(d, target, formula, seed)
            except Exception:   # noqa: BLE001 - the course reading's verdict stands
                other = None
            if other is not None and other.ok:
                result.diagnosis.append(
                    f"with {', '.join(used)} read as {', '.join('∂J/∂' + u[1:] for u in used)} (carrying the "
                    f"{sp.sstr(c)}, as Goodfellow's g and d2l's ∂J/∂o are) yours agrees: --dz adjoint reads "
                    f"{'them' if len(used) > 1 else 'it'} so")
        return result
    first = check(d, target, formula, seed)
    if course is None or not (used or _names_an_adjoint(d, target, formula)):
        return first
    try:
        second = check(course, target, formula, seed)
    except Exception:   # noqa: BLE001 - the first reading's verdict stands
        return first
    if first.ok and not second.ok:   # the verdict hangs on what dZ means: say so
        first.reading += (f"; d-names read as ∂J/∂N (with the factor {sp.sstr(c)}); if yours are the courses' "
                          f"(dZ2 = A2 − Y, without it), this formula is wrong: {'; '.join(second.diagnosis[:1]) or 'NOT EQUAL'}"
                          " (--dz delta)")
        if used:
            _say_reading(first, d, used, c, "adjoint")
        return first
    if first.ok:   # both readings agree (dA1 = dZ2 W2ᵀ holds with or without the factor on both sides)
        if used:
            _say_reading(first, d, used, c, "adjoint", ", and the courses' reading, without it, agrees too")
        return first
    if second.ok or (second.diagnosis and not first.diagnosis):
        if used:   # (where neither agrees, the reading whose diagnosis says more is given, not said to agree)
            _say_reading(second, course, used, c, "delta", ", the only reading that agrees" if second.ok else
                         ", the reading whose difference can be named")
        return _note_course(second, c)
    if used:
        _say_reading(first, d, used, c, "adjoint")
    return first


def _adjoint_names_in(d, formula) -> list:
    """The d-names of forward nodes (dZ2, dA1) a formula string reads, in the order first written."""
    if not isinstance(formula, str):
        return []
    forward = set(d.model.forward)
    names = {"d" + str(n.name) for n in d.adjoints if n.name and n in forward}
    return list(dict.fromkeys(w for w, _ in _words(formula) if w in names))


def _words(formula) -> list:
    """[(name, offset)] of the names a formula string reads from the derivation, in the order written: its
    lines' own definitions (dZ2 = A2 - Y; ...) left out where a line reads them after defining them."""
    import re
    from derive.formula.parse import free_names
    found = free_names(formula)
    if found is not None:
        return found
    text = formula.strip()
    return [(w.group(), w.start()) for w in re.finditer(r"[A-Za-z_][A-Za-z_0-9]*", text)]


def _say_reading(result, d, used, c, how, why=""):
    """The reading of the d-names a verdict rests on, in the verdict line and beside "yours"."""
    import sympy as sp
    from derive.formula.matrix_names import matrix_names
    from derive.printing.show import name as display, show
    names = matrix_names(d)
    words = ", ".join(used)
    factor = sp.sstr(c)
    plural = len(used) > 1
    if how == "adjoint":
        what = ", ".join(f"∂J/∂{u[1:]}" for u in used)
        result.verdict = f"reading {words} as {what}, which carr{'y' if plural else 'ies'} the {factor}{why}"
    else:
        what = ", ".join(f"the courses' {u}" for u in used)
        result.verdict = f"reading {words} as {what}, without the {factor}{why}"

    def shown(node):
        return display(node.name, "text") if node.name is not None and node.role == "delta" else show(node, "text")
    result.yours_note = "; ".join(f"{u} read as {shown(names[u])}" for u in used if u in names) \
        + (f": the {factor} shown comes from this reading" if how == "adjoint" else "")


def _note_course(result, c):
    import sympy as sp
    result.reading = (result.reading + "; " if result.reading else "") + COURSE_NOTE.format(c=sp.sstr(c))
    if result.target.startswith("d") and result.label.startswith("∂J/∂"):
        result.label = f"{result.target} as the courses write it ({result.label} without its {sp.sstr(c)})"
    return result


def _names_an_adjoint(d, target, formula) -> bool:
    """Whether the target or the formula names a d-adjoint of a forward node (dZ2, dA1)."""
    forward = set(d.model.forward)
    names = {"d" + str(n.name) for n in d.adjoints if n.name and n in forward}
    words = {w for w, _ in _words(formula)} if isinstance(formula, str) else set()
    return target in names or bool(words & names)


def _at_steps(user, correct, steps, result):
    """``user`` and ``correct`` (a recurrent layer's node at every step t, (m, T, ...)) at the steps a line holds at
    alone, as its note says: ("<", 3) for t < 3, (">", 1) for t > 1 (what step t+1, or t−1, sends back, written
    without what the layers above send at the last step). The verdict says so."""
    from derive.ops import slice_
    sign, k = steps
    T = int(correct.shape[1]) if correct.rank >= 3 and correct.shape[1].is_Integer else None
    if T is None or user.shape != correct.shape or not 1 <= k <= T:
        return user, correct
    lo, hi = (0, k - 1) if sign == "<" else (k, T)
    if lo >= hi:
        return user, correct
    result.how.append(f"at the steps t {sign} {k} alone (t = {lo + 1}, …, {hi}), as the formula's note says")
    return slice_(user, 1, lo, hi), slice_(correct, 1, lo, hi)


def _check(d, target: str, formula, seed, steps=None) -> FormulaCheck:
    """The verdict on ``formula`` for ``target`` in the derivation ``d``; ``steps`` as ``_at_steps`` takes them."""
    from derive.formula.compare import DIAGNOSIS_SECONDS, diagnose_in_time, symbolic_equal
    from derive.formula.parse import FormulaError
    from derive.graph.build import fmt_shape
    from derive.printing.show import show

    correct, label = target_node(d, target)
    per_step = (correct.op == "time_map" and "root" in correct.attrs) or _is_bptt(correct)
    _refuse_own_target(d, target, correct, formula, label)
    notes, shapes, facts = [], [], []
    try:
        user = to_node(formula, d, at_step=correct if per_step else None, notes=notes, shapes=shapes, facts=facts,
                       respelled=True)
    except FormulaError as exc:   # shapes that do not fit: a slipped name (W3 for W2) is said with the error
        if not any(w in exc.message for w in ("cannot multiply", "broadcast", "cannot add", "cannot subtract")):
            raise
        swapped = _swapped_name(d, formula, correct, per_step, seed)
        if not swapped:
            raise
        raise type(exc)(exc.text, exc.col, f"{exc.message} ({swapped[0]})") from None
    text = formula if isinstance(formula, str) else show(user, "formula")
    sizes = batches(seed, text)
    yours = _recurrence(d, user, "text") if user.op == "bptt" else \
        show(user.attrs["root"], "text") if per_step and "root" in user.attrs else show(user, "text")
    if "pad(" in yours and "pad" not in text:   # a step after t (h1_tp1) read as the sequence shifted: as read
        yours = " ".join(text.split())
    result = _verdict_of(d, target, correct, label, per_step, text, yours)
    from derive.printing.show import name as display
    if user.shape != correct.shape and same_entries(user.shape, correct.shape):
        # the same array under NumPy's broadcasting: leading axes of length 1 kept or dropped (a bias's
        # (n,) for (1, n) in rows; a conv bias's (1, 1, 1, c) for (c,)): compared entry by entry
        from derive.graph.build import reshape
        user = reshape(user, correct.shape)
    if user.shape != correct.shape and user.op == "ew" and not user.args:
        # a number (show's 0 for what an LSTM's c⟨T⟩ gets from above): that number in every entry
        from derive.graph.build import ew
        user = ew(user.attrs["expr"], [], shape=correct.shape)
    if user.shape != correct.shape:
        # the shape a NumPy formula has as NumPy computes it (np.sum(x) is a number, not derivax's 1 x 1)
        mine = shapes[0] if shapes and tuple(shapes[0]) != tuple(user.shape) else user.shape
        result.how.append("shapes")
        result.counterexample = f"your formula has shape {_shape_said(mine)}, {label} has shape " \
                                f"{fmt_shape(correct.shape)}"
        if result.yours == result.correct:   # printed alike: say what the print hides
            result.yours_note = _hidden_difference(user, correct)
        result.diagnosis.extend(notes)   # a column broadcast against a row explains the shape itself
        result.diagnosis.append(f"wrong shape: {_shape_said(mine)} instead of {fmt_shape(correct.shape)}"
                                if notes else _shape_note(mine, correct.shape, label, d.model.convention))
        result.diagnosis = _swapped_name(d, formula, correct, per_step, seed) + result.diagnosis
        return result
    if steps is not None and per_step:
        user, correct = _at_steps(user, correct, steps, result)
    maxima = _maxima(user)
    if maxima:   # np.max(Z2) without an axis, or over the batch: what its name in "yours" stands for
        from derive.formula.matrix_names import maximum_said

        def of(n):
            x = n.attrs["of"]
            return display(x.name, "text") if x.name else show(x, "text")
        result.yours_note = "; ".join(filter(None, [result.yours_note] + [
            f"{show(n, 'text')} = {maximum_said(n, of(n))}" for n in maxima]))
    numeric = _numeric(d, user, correct, seed, sizes)
    if numeric["undefined"]:
        # Yours has no value at the check points: no verdict of equality can stand beside that.
        result.how.append(f"numerically: float64 at random points (batch sizes {', '.join(map(str, sizes))})")
        why = numeric.get("why") or ("yours is inf or nan at the check points (a value beyond float64's range, a log "
                                     "or square root of a negative number, or a division by zero), where the derived "
                                     "formula is finite")
        # the numbers cannot decide; exact arithmetic still can (log(exp(1000 Z2)) is 1000 Z2 there)
        exact, detail = symbolic_equal(d, user, correct, seed=seed, seconds=EXACT_WHEN_DIFFERENT)
        result.how.insert(0, f"exactly: {detail}" if exact is not None else f"exactly: skipped ({detail})")
        overflows = why.startswith("yours overflows")
        if exact is True and overflows:   # right as mathematics, yet float64 cannot compute it as written
            result.ok = True
            result.warnings.append("equal in exact arithmetic, but it overflows float64 at the check points: "
                                   + why[len("yours overflows float64 at the check points: "):]
                                   if why.startswith("yours overflows float64 at the check points: ") else
                                   "equal in exact arithmetic, but it overflows float64 at the check points")
            result.warnings[-1] += " (the counterexample shows where)"
            result.counterexample = numeric["undefined"]
            return result
        result.counterexample = numeric["undefined"]
        if exact is True:
            result.diagnosis.append("equal in exact arithmetic, but " + why[len("yours "):] if why.startswith("yours ")
                                    else why)
        elif exact is False:
            result.diagnosis.append(why + "; and it differs from the derived formula in exact arithmetic too")
        else:
            result.diagnosis.append(why)
        return result
    # Where the numbers already differ, the exact comparison only adds detail: a short limit.
    exact, detail = symbolic_equal(d, user, correct, seed=seed,
                                   seconds=EXACT_SECONDS if numeric["ok"] else EXACT_WHEN_DIFFERENT)
    if exact is False and numeric["ok"] and maxima:   # equal only at the maximum's own value: the numbers decide
        exact, detail = None, ("the largest entry np.max takes without an axis stands free there, and the formulas "
                               "differ for some value of it")
    result.how.append(f"exactly: {detail}" if exact is not None else f"exactly: skipped ({detail})")
    result.how.append(f"numerically: float64 at {len(numeric['points'])} random points (batch sizes "
                      f"{', '.join(map(str, sizes))}), rtol {RTOL:g}")
    result.ok = bool(numeric["ok"] and exact is not False)
    if result.ok:
        result.warnings += _kink_notes(formula, result.correct)
        from derive.ops.reduce_sum import ClassesSumToOne
        summed = any(isinstance(fact, ClassesSumToOne) for _, fact in facts)
        result.assumes = _targets_assumed(d, user, correct, seed, summed=summed)
        if summed:   # "yours" shows the sum as the 1 it was read as
            result.yours_note = "; ".join(filter(None, [result.yours_note, "Y summed over the classes read as 1: "
                                                                           "each example's one-hot Y sums to 1"]))
        return result
    result.counterexample = numeric["counterexample"] or detail
    if result.yours == result.correct and not result.yours_note:   # printed alike: say what the print hides
        result.yours_note = _hidden_difference(user, correct)
    # a forward node's formula (A1 = gelu(Z1) written out), or the cost's, holds no derivative to diagnose
    derivatives = diagnose_in_time(user, correct, d.model) \
        if correct.role not in ("act", "pre") and correct is not d.model.J else []
    if not numeric["ok"] and not any(line.startswith("wrong layer") for line in derivatives or []):
        swapped = _swapped_name(d, formula, correct, per_step, seed)
        if swapped:   # one name put right makes it right: said alone, before any reading of factors
            result.diagnosis = notes + swapped
            return result
    whole = target in d.grads and not any(layer.kind == "recurrent" for layer in d.model.layers)
    result.diagnosis = notes + _batch_maxima(d, user, seed, sizes[0]) \
        + _constant_factor(numeric["points"], d.model.loss_name if whole else None,
                           cost=correct is d.model.J and d.model.loss_name == "mse") \
        + _transpose(numeric["points"])
    if derivatives is None:
        result.how.append(f"the diagnosis of activation derivatives was skipped: it took longer than "
                          f"{DIAGNOSIS_SECONDS:g} s")
    result.diagnosis += derivatives or []
    if not result.diagnosis and not numeric["ok"]:   # one term, or one line's definition, of the wrong sign
        result.diagnosis = _sign_slip(d, formula, correct, per_step, seed)
    if not result.diagnosis:   # what the formula's symbols do not show, its numbers may (a path left out)
        result.diagnosis = _known_mistake(d, target, numeric)
    if not result.diagnosis:
        result.diagnosis = _nearly(numeric["points"])
    if exact is True and not result.diagnosis:   # (a factor 2/m is 1 at m = 2: said above where it is known)
        result.diagnosis.append(_batch_sizes_apart(numeric["points"]))
    return result


def _targets_assumed(d, user, correct, seed, summed=False) -> str:
    """What of the targets an equality rests on, under a loss whose targets are one-hot (categorical
    cross-entropy): the exact comparison and the random points both take one-hot Y (``one_hot_targets``,
    ``draw_targets``), and the graph reads a sum of Y over the classes as 1 where it is built (``reduce_sum``;
    ``summed``: yours holds such a sum, A2 * np.sum(Y, 1, keepdims=True) - Y), so a formula equal there may rest
    on one-hot targets. Yours and the derived formula are compared again with targets whose rows sum to 1 but
    are not one-hot, and with targets whose rows do not sum to 1: '' where they agree with any targets, else
    the condition they agree under."""
    from compile.checks.points import target_kind
    from derive.graph.build import topo_order
    model = d.model
    if target_kind(model) != "one-hot" or user is correct and not summed \
            or not any(n is model.Y for node in (user, correct) for n in topo_order(node)):
        return ""
    m = batches(seed)[0]
    point = random_point(model, seed, m)
    rng = np.random.default_rng(seed)
    soft = rng.uniform(0.1, 1.0, point.y.shape)
    soft /= soft.sum(axis=-1, keepdims=True)   # the classes are the last axis of a batch-first target
    other = rng.uniform(0.1, 0.9, point.y.shape)

    def agree(y):   # None where the values cannot be had: then nothing is said
        from compile.checks.points import Point
        at = Point(point.params, point.x, y, point.masks)
        try:
            with np.errstate(all="ignore"):
                u, = evaluate([user], _leaves(model, at, m, user), m, model.constants)
                c, = evaluate([correct], _leaves(model, at, m, correct), m, model.constants)
        except Exception:   # noqa: BLE001 - the verdict stands without the note
            return None
        u, c = np.asarray(u, dtype=float), np.asarray(c, dtype=float)
        return u.shape == c.shape and bool(np.allclose(u, c, rtol=RTOL, atol=ATOL * max(1.0, float(np.max(np.abs(c))))))
    if not summed and agree(other) is not False:
        return ""
    unit = "row" if model.convention == "rows" else "column"
    on_soft = agree(soft)
    if on_soft is None:
        return ""
    if on_soft:
        return (f"equal when each {unit} of Y sums to 1 (one-hot labels, as this loss's targets are): where one does "
                "not, yours and the derived formula differ")
    return (f"equal when Y is one-hot (each {unit} a single 1, the rest 0), as this loss's targets are: with soft "
            f"labels (each {unit} of probabilities summing to 1) yours and the derived formula differ")


def _batch_sizes_apart(points) -> str:
    """What an exact agreement at m = 2 beside numbers that differ says: the batch sizes where the two agree and
    where they do not (a divisor typed for m that equals m at a few sizes only)."""
    agree, differ = [2], []
    for m, u, c in points:
        close = np.allclose(u, c, rtol=RTOL, atol=ATOL * max(1.0, float(np.max(np.abs(c)))))
        (agree if close else differ).append(m)

    def said(sizes):
        return ", ".join(map(str, sizes[:-1])) + (" and " if len(sizes) > 1 else "") + str(sizes[-1])
    return (f"the two agree at m = {said(agree)} but not at m = {said(differ)}: yours depends on the batch size m "
            "in another way than the derived formula")


_AT_KINK = re.compile(r"\(\s*([^()<>=≥≤]+?)\s*(>=|<=|≥|≤)\s*([^()<>=≥≤]+?)\s*\)")


def _kink_notes(formula, correct) -> list:
    """What an indicator that holds at its boundary ((Z1 >= 0)) does where the derived formula has step:
    derivax's step(0) is 0 (relu′(0) = 0), the indicator's 1, so the two differ where its sides are equal."""
    if not isinstance(formula, str) or "step" not in correct:
        return []
    notes = []
    for found in _AT_KINK.finditer(formula):
        left, op, right = found.group(1).strip(), found.group(2), found.group(3).strip()
        notes.append(f"({left} {op} {right}) is 1 where {left} = {right}, and derivax's step is 0 at its kink "
                     "(relu′(0) = step(0) = 0): the two are equal everywhere but there")
    return notes


def _hidden_difference(user, correct) -> str:
    """What tells two formulas apart that print alike: the axes their sums run over."""
    from derive.graph.build import fmt_shape, topo_order
    from derive.ops.reduce_sum import summed_axes

    def sums(node):
        return [(n.args[0], summed_axes(n.attrs["axis"], n.args[0].rank)) for n in topo_order(node)
                if n.op == "sum"]
    mine, theirs = sums(user), sums(correct)
    if [a for _, a in mine] == [a for _, a in theirs]:
        return "printed alike, but not the same formula"
    def said(found):
        return "; ".join(f"axes {', '.join(map(str, a))} of {fmt_shape(x.shape)}" for x, a in found) or "nothing"
    return f"printed alike, but yours sums over {said(mine)}, the derived over {said(theirs)}"


def _own_group(d, correct) -> set:
    """The ids of the nodes that are the target under another name: δ_l and ∂J/∂Z_l (up to the 1/m)."""
    group = {id(correct)}
    if "root" in correct.attrs:
        group.add(id(correct.attrs["root"]))
    for layer in d.model.layers:   # δ_l and ∂J/∂Z_l are one quantity under two names (up to the 1/m)
        pair = [d.deltas.get(layer.index), d.adjoints.get(layer.Z) if layer.Z is not None else None]
        if any(p is not None and id(p) in group for p in pair):
            group.update(id(p) for p in pair if p is not None)
    return group


def _refuse_own_target(d, target, correct, formula, label):
    """A formula that reads the very quantity it is checked against (delta1 for delta1, or dZ1, its other
    name) is equal to it whatever it says: such a check cannot fail, so the formula is refused."""
    from derive.formula.matrix_names import matrix_names
    from derive.formula.parse import FormulaError
    if not isinstance(formula, str):
        return
    group = _own_group(d, correct)
    names = matrix_names(d)
    text = formula.strip()
    for word, at in _words(text):
        if word in names and id(names[word]) in group:
            other = "" if word == target else f" ({word} is {target} under another name)"
            raise FormulaError(text, at, f"the formula reads {word}, the very quantity it is checked "
                               f"against ({label}){other}: such a check cannot fail; write it from other "
                               "quantities")


def _recurrence(d, sigmas, style) -> str:
    """∂J/∂h⟨t⟩'s recurrence as the derivation states it (``derive.ops.scan.recurrence``), or, for a cell
    whose step t+1 sends back more than its error signals, its stack over t."""
    from derive.ops.scan import recurrence
    from derive.printing.show import show
    step = recurrence(sigmas.attrs["cell"])
    return show(step if step is not None else sigmas, style)


def _shape_said(shape) -> str:
    """A shape as a message quotes it; NumPy's () is a number."""
    from derive.graph.build import fmt_shape
    return fmt_shape(shape) if len(shape) else "() (a number)"


def _shape_note(user, correct, label, convention) -> str:
    """What a wrong shape says: a transpose, a sum that dropped its axis, a sum missing or over another
    axis. ``user`` is the shape NumPy gives the formula."""
    from derive.graph.build import fmt_shape
    u, c = fmt_shape(user), fmt_shape(correct)
    if not len(user):   # np.sum(x) over every axis: NumPy's number
        return (f"wrong shape: yours is a number, shape (), where {label} is {c} ({convention} convention): a sum "
                "over every axis (np.sum(x) without its axis?)")
    if tuple(user) == tuple(correct)[::-1] or [n for n in user if n != 1] == [n for n in correct if n != 1] \
            and len(user) == len(correct) == 2:
        return (f"wrong shape: yours is {u}, the shape of its transpose ({label} is {c}): transposed? (a "
                f"transpose missing or misplaced, or the product in the wrong order)")
    if len(user) < len(correct) and [n for n in user if n != 1] == [n for n in correct if n != 1]:
        return (f"wrong shape: yours is {u} where {label} is {c} ({convention} convention): the sum dropped "
                f"its axis (keepdims=True missing?)")
    return _unsummed(user, correct, convention) or f"wrong shape: {u} instead of {c}"


def _unsummed(user, correct, convention=None) -> str:
    """What a shape with the batch m where the derived one has 1 says: the sum over the batch missing, or
    taken over another axis. '' when the shapes say nothing of the kind, or (with the ``convention``) when
    the axis of m is not the batch's (axis 0 in rows, the last in columns): an m there comes from elsewhere
    (a vector (m,) broadcast as a row)."""
    from derive.graph.symbols import m
    if len(user) != len(correct):
        return ""
    batch = [k for k, (u, c) in enumerate(zip(user, correct)) if u == m and c == 1]
    if convention is not None and user:
        batch = [k for k in batch if k == (0 if convention == "rows" else len(user) - 1)]
    if not batch:
        return ""
    other = [k for k, (u, c) in enumerate(zip(user, correct)) if u == 1 and c != 1]
    if other:
        return (f"wrong shape: summed over axis {other[0]} instead of axis {batch[0]}, the batch (sum(..., "
                f"{batch[0]}))")
    return f"wrong shape: the sum over the batch is missing (sum over axis {batch[0]}, the batch's)"


def _near(a: str, b: str) -> bool:
    """Two names one slip apart: one character changed, added or dropped (W1 and W2, A1 and Z1, deltaf1_t
    and deltai1_t), two in names longer than three (c1_t and c1_tm1), or X and an activation A_k."""
    if {a[:1], b[:1]} == {"X", "A"} and len(a) + len(b) <= 4:
        return True
    n, k = len(a), len(b)
    if abs(n - k) > 2:
        return False
    row = list(range(k + 1))
    for i in range(1, n + 1):   # Levenshtein distance, row by row
        prev, row[0] = row[0], i
        for j in range(1, k + 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
    return row[k] <= (2 if min(n, k) > 3 else 1)


def _swapped_name(d, formula, correct, per_step, seed) -> list:
    """The slip of one name: yours with one name (each place it stands, or one of them) replaced by a near
    one of the derivation's (``_near``, or a forward node of the same layer and shape: xc4 for xhat4) that makes
    it agree with the derived formula numerically: a layer's index (W1 for W2, with shapes that fit), A for Z
    inside a derivative, a step (c1_t for c1_tm1) or a gate (deltaf1_t for deltai1_t); a sum, mean, max or
    softmax over the other axis. A notebook's lines are searched too, at the names they read from the
    derivation and the axes they take. [] where no single name explains it, or past SWAP_SECONDS: the search
    runs in a child process (``derive.run.worker``), as a variant's graph can be SymPy work of any length."""
    if not isinstance(formula, str) or not formula.isascii():
        return []
    return _search(_swap_search, d, formula, correct, per_step, seed, SWAP_SECONDS, "the search for a slipped name")


def _search(search, d, formula, correct, per_step, seed, seconds, what) -> list:
    """A slip search run in a child process under ``seconds``: its findings, or [] where it fails or runs out of
    time (a diagnosis never stands in the verdict's way)."""
    from derive.run.worker import run
    try:
        return run(search, d, formula, correct, per_step, seed, seconds=seconds, what=what)
    except Exception:   # noqa: BLE001 - TimeLimitExceeded among them
        return []


def _swap_search(d, formula, correct, per_step, seed) -> list:
    import ast
    import time
    from derive.formula.matrix_names import matrix_names
    from derive.graph.build import Node
    text = formula.strip()
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        try:   # a notebook's lines (expZ = np.exp(Z2); A = expZ / np.sum(expZ, axis=0); ...)
            tree = ast.parse(text, mode="exec")
        except (SyntaxError, ValueError, RecursionError):
            return []
    at, where = _places(text, "\n" in text)
    names = matrix_names(d)
    own = _own_group(d, correct)   # the target under its own names: putting it in proves nothing
    # a name a line defines is the formula's own: neither it nor what reads it is swapped
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    known = {k for k, v in names.items() if not (isinstance(v, Node) and id(v) in own)}
    params = {p.name for p in d.model.params if len(p.shape) == 2 and p.shape[0] == p.shape[1]}
    # a name written transposed (W2.T): the span of the whole attribute, by the name's node
    transposed = {id(n.value): at(n) for n in ast.walk(tree)
                  if isinstance(n, ast.Attribute) and n.attr == "T" and isinstance(n.value, ast.Name)}
    found = sorted(((n.id, *at(n), id(n)) for n in ast.walk(tree)
                    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in known
                    and n.id not in bound), key=lambda f: f[1])
    candidates = []   # (the name, [(start, end, replacement)], what is said)
    for name in dict.fromkeys(f[0] for f in found):   # in the order written
        places = [f for f in found if f[0] == name]
        for alt in sorted(k for k in known if k != name and (_near(name, k) or _same_layer(names, name, k))):
            for chosen in [places] + ([[one] for one in places] if len(places) > 1 else []):
                said = "" if len(chosen) == len(places) else f" at {where(chosen[0][1])}"
                candidates.append(([(start, end, alt) for _, start, end, _ in chosen],
                                   f"yours has {name} where the derived formula has {alt}{said}: with {alt} "
                                   "there, yours agrees"))
        if name in params:   # a square weight: its transpose fits the shapes as well as it does
            for _, start, end, key in places:
                said = f" at {where(start)}" if len(places) > 1 else ""
                if key in transposed:
                    lo, hi = transposed[key]
                    candidates.append(([(lo, hi, name)], f"yours transposes {name}{said} where the derived "
                                       f"formula does not: with {name} there, yours agrees"))
                else:
                    candidates.append(([(start, end, name + ".T")], f"yours has {name}{said} where the derived "
                                       f"formula has its transpose {name}.T: with {name}.T there, yours agrees"))
    candidates += _axis_candidates(tree, at, where, 0 if d.model.convention == "rows" else 1)
    deadline = time.monotonic() + SWAP_SECONDS
    sizes = batches(seed, formula)   # the batch sizes yours was checked at
    tried = {text}
    for edits, said in candidates:
        new = text
        for start, end, put in sorted(edits, key=lambda e: -e[0]):
            new = new[:start] + put + new[end:]
        if new in tried:
            continue
        tried.add(new)
        if time.monotonic() > deadline:
            return []
        if not _variant_agrees(d, new, correct, per_step, seed, sizes):
            continue
        return [said]
    return []


def _places(text, lines):
    """(at, where) for a formula's parsed nodes: ``at(node)`` its (start, end) offsets in ``text`` (ast counts
    bytes, by line), ``where(offset)`` how a message names a place: "position 12", or in a formula of several
    ``lines`` "line 2"."""
    rows = text.split("\n")

    def offset(lineno, col):
        here = rows[lineno - 1]
        return sum(len(r) + 1 for r in rows[:lineno - 1]) + len(here.encode("utf-8")[:col].decode("utf-8", "ignore"))

    def at(node):
        return offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)

    def where(k):
        return f"line {text.count(chr(10), 0, k) + 1}" if lines else f"position {k + 1}"
    return at, where


def _same_layer(names, a, b) -> bool:
    """Whether two names are forward nodes of one layer of the same shape (a normalization's xc4 and xhat4, its
    input centred and that divided by σ): one written for the other fits every shape."""
    from derive.graph.build import Node
    u, v = names.get(a), names.get(b)
    if not (isinstance(u, Node) and isinstance(v, Node)) or u.op == "leaf" or v.op == "leaf":
        return False
    layer = getattr(u.name, "layer", None)
    return layer is not None and layer == getattr(v.name, "layer", None) and u.shape == v.shape \
        and u.role not in ("adjoint", "delta") and v.role not in ("adjoint", "delta")


def _variant_agrees(d, text, correct, per_step, seed, sizes) -> bool:
    """Whether the formula ``text`` (a variant of the user's) reads and agrees numerically with ``correct`` at the
    batch sizes ``sizes`` (the user's formula's)."""
    try:
        user = to_node(text, d, at_step=correct if per_step else None, respelled=True)
        if user.shape != correct.shape and same_entries(user.shape, correct.shape):   # NumPy's (n,) for (1, n)
            from derive.graph.build import reshape
            user = reshape(user, correct.shape)
        return user.shape == correct.shape and bool(_numeric(d, user, correct, seed, sizes)["ok"])
    except Exception:   # noqa: BLE001 - a variant that does not read or compute is no diagnosis
        return False


def _sign_slip(d, formula, correct, per_step, seed) -> list:
    """The slip of one sign: yours with one additive term negated (a + b for a − b, a term's minus dropped), or
    one line's definition negated (dAL = Y/AL − ... for −(Y/AL − ...)), that agrees with the derived formula
    numerically; named with the term or the line. [] where no one sign explains it, or past SIGN_SECONDS (in a
    child process, as ``_swapped_name``'s search; at most MAX_SIGN_VARIANTS variants). A sign of the whole
    formula is the constant factor −1, said before this is tried."""
    if not isinstance(formula, str):
        return []
    return _search(_sign_search, d, formula, correct, per_step, seed, SIGN_SECONDS, "the search for a sign slipped")


def _sign_variants(text) -> list:
    """[(variant text, what it says)] of a formula (or lines of one) with one sign flipped: each line's definition
    but the last, then each additive term of each line and each unary minus, in the order written."""
    import ast
    src = text.strip()
    lines = src.split("\n")
    try:
        body = [ast.parse(src, mode="eval").body]
        statements = None
    except SyntaxError:
        statements = ast.parse(src, mode="exec").body
        body = statements

    def at(lineno, col):   # an absolute offset (ast counts bytes)
        here = lines[lineno - 1]
        return sum(len(l) + 1 for l in lines[:lineno - 1]) + len(here.encode("utf-8")[:col].decode("utf-8", "ignore"))

    def span(node):
        return at(node.lineno, node.col_offset), at(node.end_lineno, node.end_col_offset)

    def said(node):
        return " ".join(ast.get_source_segment(src, node).split())

    def where(node):
        return f" (line {node.lineno})" if statements is not None and len(statements) > 1 else ""

    def negated(node):
        lo, hi = span(node)
        return src[:lo] + "(-(" + src[lo:hi] + "))" + src[hi:]

    out = []
    for k, line in enumerate(body):   # a definition before the last line, negated as a whole
        if statements is not None and k < len(body) - 1 and isinstance(line, ast.Assign) and len(line.targets) == 1 \
                and isinstance(line.targets[0], ast.Name):
            name = line.targets[0].id
            out.append((negated(line.value), f"wrong sign of {name}{where(line)}: with {name} = -({said(line.value)}), "
                                             "yours agrees"))
    for line in body:
        value = line.value if isinstance(line, (ast.Assign, ast.AugAssign, ast.Expr)) else line
        if not isinstance(value, ast.AST):
            continue
        if isinstance(line, ast.AugAssign) and isinstance(line.op, (ast.Add, ast.Sub)):   # dW2 += 2 * reg * W2
            verb, other = ("adds", "subtracts") if isinstance(line.op, ast.Add) else ("subtracts", "adds")
            out.append((negated(line.value), f"wrong sign of one term: yours {verb} {said(line.value)}{where(line)} "
                                             f"where the derived formula {other} it: with that sign flipped, yours "
                                             "agrees"))
        for node in ast.walk(value):
            if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
                verb, other = ("adds", "subtracts") if isinstance(node.op, ast.Add) else ("subtracts", "adds")
                out.append((negated(node.right), f"wrong sign of one term: yours {verb} {said(node.right)}"
                                                  f"{where(line)} where the derived formula {other} it: with that "
                                                  "sign flipped, yours agrees"))
                if not (isinstance(node.left, ast.BinOp) and isinstance(node.left.op, (ast.Add, ast.Sub))):
                    first = node.left   # the first term of a sum: its own sign
                    if isinstance(first, ast.UnaryOp) and isinstance(first.op, ast.USub):
                        lo, hi = span(first)
                        inner = span(first.operand)
                        variant = src[:lo] + "(" + src[inner[0]:inner[1]] + ")" + src[hi:]
                        out.append((variant, f"wrong sign of one term: yours has {said(first)}{where(line)} where the "
                                             f"derived formula has {said(first.operand)}: without that minus, yours "
                                             "agrees"))
                    else:
                        out.append((negated(first), f"wrong sign of one term: the first, {said(first)}{where(line)}, "
                                                    "has the wrong sign: negated, yours agrees"))
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and not isinstance(node.operand,
                                                                                                   ast.Constant):
                lo, hi = span(node)
                inner = span(node.operand)
                out.append((src[:lo] + "(" + src[inner[0]:inner[1]] + ")" + src[hi:],
                            f"wrong sign: the minus of {said(node)}{where(line)} is not in the derived formula: "
                            "without it, yours agrees"))
    return out


def _sign_search(d, formula, correct, per_step, seed) -> list:
    import time
    deadline = time.monotonic() + SIGN_SECONDS
    sizes = batches(seed, formula)   # the batch sizes yours was checked at
    tried = {formula.strip()}
    count = 0
    for new, words in _sign_variants(formula):
        if new in tried:
            continue
        tried.add(new)
        count += 1
        if count > MAX_SIGN_VARIANTS or time.monotonic() > deadline:
            return []
        if not _variant_agrees(d, new, correct, per_step, seed, sizes):
            continue
        return [words]
    return []


_AXIS_CALLS = {"sum": "sums", "mean": "averages", "softmax": "normalizes", "max": "takes the max"}


def _axis_candidates(tree, at=None, where=None, batch=0) -> list:
    """[(edits, words)]: each sum, mean or softmax of a formula over its other axis (0 for 1, 1 for 0 or
    -1), and each size x.shape[k] of the other axis: the batch's axis and the units' mixed up. ``at`` and
    ``where`` place a node and name its place (``_places``; by default in a formula of one line); ``batch`` is
    the examples' axis, which a softmax taken over is said to be over the batch."""
    import ast
    if at is None:
        at, where = (lambda node: (node.col_offset, node.end_col_offset)), (lambda k: f"position {k + 1}")
    out = []
    for size in ast.walk(tree):   # X.shape[1] for X.shape[0]: the batch's size taken from the other axis
        if isinstance(size, ast.Subscript) and isinstance(size.value, ast.Attribute) and size.value.attr == "shape" \
                and isinstance(size.slice, ast.Constant) and size.slice.value in (0, 1) \
                and not isinstance(size.slice.value, bool):
            k = size.slice.value
            of = ast.unparse(size.value.value)
            out.append(([(*at(size.slice), str(1 - k))],
                        f"yours has {of}.shape[{k}] ({where(at(size)[0])}) where the size the derived "
                        f"formula has is {of}.shape[{1 - k}]: with {of}.shape[{1 - k}] there, yours agrees (the batch "
                        "is axis 0 in the rows convention, axis 1 in the columns convention)"))
    # names a line binds to an exponential (expZ = np.exp(Z2)): a sum of one is a softmax's denominator
    lines = tree.body if isinstance(tree, ast.Module) else []
    exps = {line.targets[0].id for line in lines if isinstance(line, ast.Assign) and len(line.targets) == 1
            and isinstance(line.targets[0], ast.Name) and _is_exp(line.value)}
    over_batch = []   # the axes of np.max taken over the batch, each changed in one variant
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name == "amax" and isinstance(func, ast.Attribute):
            name = "max"
        if name not in _AXIS_CALLS:
            continue
        method = isinstance(func, ast.Attribute) and not (isinstance(func.value, ast.Name)
                                                           and func.value.id in ("np", "numpy", "jnp"))
        axis = next((kw.value for kw in call.keywords if kw.arg == "axis"), None)
        if axis is None:
            positional = 0 if method else 1
            axis = call.args[positional] if len(call.args) > positional else None
        if isinstance(axis, ast.UnaryOp) and isinstance(axis.op, ast.USub) and isinstance(axis.operand, ast.Constant):
            value = -axis.operand.value
        elif isinstance(axis, ast.Constant) and isinstance(axis.value, int) and not isinstance(axis.value, bool):
            value = axis.value
        else:
            continue
        if value not in (0, 1, -1):
            continue
        if name == "max" and isinstance(func, ast.Attribute) and value % 2 == batch:
            # np.max over the batch (not max(a, b), whose second operand is no axis): said once, below
            over_batch.append((axis, call))
            continue
        other = 0 if value in (1, -1) else 1
        summed = func.value if method else call.args[0] if call.args else None
        softmax = name == "softmax" or name == "sum" and summed is not None and (
            _is_exp(summed) or isinstance(summed, ast.Name) and summed.id in exps)
        why = (f" (a softmax taken over axis {value}{', the batch' if value % 2 == batch else ''}: the derived one is "
               f"over the classes, axis {other})" if softmax else "")
        out.append(([(*at(axis), str(other))],
                    f"yours {_AXIS_CALLS[name]} over axis {value} ({where(at(axis)[0])}) where the derived "
                    f"formula {_AXIS_CALLS[name]} over axis {other}: with axis {other} there, yours agrees{why}"))
    if over_batch:   # each np.max over the batch taken over the classes instead, keeping its axis as a column's
        other = 1 - batch
        values = sorted({ast.unparse(a) for a, _ in over_batch})
        places = ", ".join(where(at(a)[0]) for a, _ in over_batch)
        edits = [(*at(a), str(other)) for a, _ in over_batch]
        kept = [call for _, call in over_batch if not any(kw.arg == "keepdims" for kw in call.keywords)]
        edits += [(at(call)[1] - 1, at(call)[1] - 1, ", keepdims=True") for call in kept]
        out.append((edits, f"yours takes the max over axis {' and '.join(values)} ({places}), the batch, where a "
                           f"softmax's stabilization takes each example's own max over the classes, axis {other}: with "
                           f"axis {other}{' and keepdims=True' if kept else ''} there, yours agrees ({BATCH_MAX_WHY})"))
    return out


BATCH_MAX_WHY = ("a max over the batch is one constant for each class, which does not cancel in a softmax over the "
                 "classes as each example's own max does")


def _is_exp(node) -> bool:
    """Whether a parsed expression is an exponential, exp(...) or np.exp(...)."""
    import ast
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None) == "exp"


def _known_mistake(d, target, numeric) -> list:
    """The mistake that explains yours, for a gradient or an adjoint: a path left out, a Bessel factor
    mixed up, an op's known wrong rule (the engine check-code uses, ``compile.checks.intermediates``)."""
    from compile.checks import intermediates as I
    model = d.model
    node = next((p for p in model.params if p.name == target), None)
    if node is None and target.startswith("d"):
        node = next((n for n in model.forward if n.name == target[1:]), None)
    delta = None
    if node is None:   # an error signal δ_l: the adjoint of Z_l without the loss's constant
        delta = next((layer for layer, dl in d.deltas.items() if str(dl.name) == target), None)
        node = next((n for n in model.forward if n.role == "pre" and getattr(n.name, "layer", None) == delta), None) \
            if delta is not None else None
    if node is None or not d.paths.get(node):
        return []
    from compile.lowering.evaluate import evaluate as run
    scale = max(1.0, max(float(np.max(np.abs(c))) for _, _, c in numeric["points"]))
    pairs = []
    for (m, u, c), v in zip(numeric["points"], numeric["values"]):
        k = 1.0
        if delta is not None:   # yours at the adjoint's scale: δ times the constant the adjoint carries
            adj = np.asarray(run([d.adjoints[node]], v, m, model.constants)[0], float)
            big = np.abs(c) > 1e-9 * max(1.0, float(np.max(np.abs(c))))
            if not big.any():
                return []
            k = float(np.median(adj[big] / np.asarray(c, float)[big]))
        pairs.append((u * k, v, m, RTOL, ATOL * scale * abs(k)))
    found = I.diagnose(d, node, pairs)
    return [found] if found else []


def _reading(d) -> str:
    """The network, loss and convention a formula is read against: a spec ending in sigmoid means
    binary cross-entropy, and the report says so."""
    from derive.network.functions import LOSS_TITLES
    from derive.printing.show import show
    model = d.model
    title = LOSS_TITLES.get(model.loss_name, model.loss_name)
    kinds = [f"layer {i} {layer.kind.replace('_', ' ')}" for i, layer in enumerate(model.layers, 1)
             if layer.kind != "dense"]
    sizes = model.size_text + (f" ({', '.join(kinds)})" if kinds else "")
    return (f"{sizes}, loss {title} (J = {show(model.J, 'text')}), {model.convention} convention"
            + (f", λ = {model.l2:g}" if model.l2 else ""))


def batches(seed, formula: str = "") -> tuple:
    """The batch sizes a formula is compared at numerically: 3, 5, and 7, 11 or 13 by the seed and the formula's
    text (its CRC-32, the same in every run, unlike Python's hash of a string), so that one seed does not check
    every formula at the same third size, and a formula checked under consecutive seeds meets each of them."""
    import zlib
    key = zlib.crc32(formula.strip().encode("utf-8", "surrogatepass"))
    return BATCHES + (LARGER_BATCHES[(seed + key) % len(LARGER_BATCHES)],)


def _numeric(d, user, correct, seed, sizes=None):
    """Yours and the derived formula at random points of the batch sizes ``sizes`` (``batches``; by the seed alone
    where not given): whether they agree, the points' values, and where they do not."""
    from compile.lowering.evaluate import UndefinedValue
    model = d.model
    points, bad, values = [], "", []
    for k, m in enumerate(sizes or batches(seed)):
        point = random_point(model, seed + k, m)
        try:
            with np.errstate(all="ignore"):  # a NaN is reported below, as the user's formula's
                leaves = _leaves(model, point, m, user)
                u, = evaluate([user], leaves, m, model.constants)
        except UndefinedValue as exc:
            return {"ok": False, "points": points, "counterexample": f"yours: {exc}", "undefined": f"yours: {exc}"}
        except OverflowError:   # an exact power too large for a float (m**4096 at m = 3)
            where = f"at a random point (seed {seed + k}, batch of {m}): yours is beyond float64's range"
            return {"ok": False, "points": points, "counterexample": where, "undefined": where,
                    "why": "yours overflows float64 at the check points (a power too large?), where the derived "
                           "formula is finite"}
        c, = evaluate([correct], leaf_values(model, point), m, model.constants)
        if not np.isfinite(u).all() and np.isfinite(c).all():
            at = tuple(int(v) for v in np.argwhere(~np.isfinite(u))[0])
            where = (f"at a random point (seed {seed + k}, batch of {m}), entry {_entry(at)}: yours is "
                     f"{u[at]}, derived {c[at]:.6g}")
            return {"ok": False, "points": points, "counterexample": where, "undefined": where,
                    "why": _not_finite(model, user, leaves, m, u)}
        points.append((m, u, c))
        values.append(leaf_values(model, point))
        close = np.isclose(u, c, rtol=RTOL, atol=ATOL * max(1.0, float(np.max(np.abs(c)))))
        if not bad and not close.all():
            at = tuple(int(v) for v in np.argwhere(~close)[0])
            digits = next(g for g in (6, 10, 14, 17) if f"{u[at]:.{g}g}" != f"{c[at]:.{g}g}" or g == 17)
            bad = (f"at a random point (seed {seed + k}, batch of {m}), entry {_entry(at)}: "
                   f"yours {u[at]:.{digits}g}, derived {c[at]:.{digits}g}")
    return {"ok": not bad, "points": points, "counterexample": bad, "undefined": "", "values": values}


def _batch_maxima(d, user, seed, m) -> list:
    """What a max over the batch does in yours (np.max(Z2, axis=0) in rows, ``max_of_all`` with an axis): where
    yours changes when each of its entries moves by a different amount (a constant for each class), the line
    that says it does not cancel, as each example's own max in a softmax does; [] otherwise."""
    from derive.printing.show import show
    model = d.model
    leaves = [n for n in _maxima(user) if n.attrs.get("axis") is not None]
    if not leaves:
        return []
    try:
        point = random_point(model, seed, m)
        with np.errstate(all="ignore"):
            values = _leaves(model, point, m, user)
            before, = evaluate([user], values, m, model.constants)
            for n in leaves:   # a different shift for each entry: a shift the same everywhere cancels anyway
                values[n] = values[n] + np.linspace(0.5, 1.5, values[n].size).reshape(values[n].shape)
            after, = evaluate([user], values, m, model.constants)
    except Exception:   # noqa: BLE001 - the verdict stands without the line
        return []
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if not (np.isfinite(before).all() and np.isfinite(after).all()) \
            or np.allclose(before, after, rtol=RTOL, atol=ATOL * max(1.0, float(np.max(np.abs(before))))):
        return []
    batch = 0 if model.convention == "rows" else 1
    classes = 1 - batch if all(n.attrs["of"].rank == 2 for n in leaves) else -1
    names = ", ".join(dict.fromkeys(show(n, "text") for n in leaves))
    axes = " and ".join(dict.fromkeys(str(n.attrs["axis"]) for n in leaves))
    return [f"yours takes np.max over axis {axes}, the batch ({names}), where a softmax's stabilization takes each "
            f"example's own max over the classes (axis {classes}, keepdims=True): {BATCH_MAX_WHY}, and yours "
            "changes with it"]


def _maxima(node) -> list:
    """The maxima a formula takes over every entry (np.max(Z2) without an axis) or along the batch (np.max(Z2,
    axis=0) in rows), as ``max_of_all`` stands for them."""
    from derive.graph.build import topo_order
    return [n for n in topo_order(node) if n.op == "leaf" and n.role == "maximum"]


def _leaves(model, point, m, node) -> dict:
    """The leaves' values at a point (``leaf_values``), with those of the maxima ``node`` takes over every entry
    (np.max(Z2) without an axis) or along the batch's axis (np.max(Z2, axis=0) in rows), as
    ``derive.formula.matrix_names.max_of_all`` stands for them, each computed there from its array."""
    from derive.graph.build import topo_order
    values = leaf_values(model, point)

    def fill(root):
        for n in topo_order(root):
            if n.op == "leaf" and n.role == "maximum" and n not in values:
                fill(n.attrs["of"])
                of, = evaluate([n.attrs["of"]], values, m, model.constants)
                of = np.asarray(of, dtype=float)
                axis = n.attrs.get("axis")
                values[n] = np.full((1, 1), np.max(of)) if axis is None else np.max(of, axis=axis, keepdims=True)
    fill(node)
    return values


def _not_finite(model, user, leaves, m, value) -> str:
    """Why yours is inf or nan at a point where the derived formula is finite, naming the smallest part of it
    that is: a value beyond float64's range (np.exp(1000 * Z2): it overflows), a division by zero or a log of
    0, or no number at all (a log or square root of a negative number, 0/0). NumPy's own floating-point flags
    say which; a part that is inf without one is taken to overflow (a product of large numbers)."""
    from derive.graph.build import topo_order
    from derive.graph.stable import stable
    from derive.printing.show import show
    try:
        root = stable([user])[0][0]
        nodes = topo_order(root)
        with np.errstate(all="ignore"):
            values = evaluate(nodes, leaves, m, model.constants)
        found = next(((n, np.asarray(v)) for n, v in zip(nodes, values)
                      if not np.isfinite(np.asarray(v, dtype=float)).all()), None)
        if found is None:
            return ""
        node, part = found
        of = {id(n): v for n, v in zip(nodes, values)}
        text, kind = show(node, "text"), _flag(lambda: evaluate([node], {a: of[id(a)] for a in node.args}, m,
                                                                 model.constants))
        if node.op == "ew":   # an elementwise formula: the smallest part of its expression that is not finite
            sub = _smallest_not_finite(node, [of[id(a)] for a in node.args], m, model.constants)
            if sub is not None:
                text, part, kind = sub
    except Exception:   # noqa: BLE001 - the verdict stands without the explanation
        return ""
    part = np.asarray(part, dtype=float)
    at = tuple(int(v) for v in np.argwhere(~np.isfinite(part))[0])
    shown_at = f" at entry {_entry(at)}" if part.ndim else ""
    text = text if len(text) <= 80 else text[:77] + "..."
    after = ("; what yours computes from it is then nan (inf − inf, 0 ⊙ inf, inf / inf)"
             if np.isnan(np.asarray(value, dtype=float)).any() and not np.isnan(part).any() else "")
    if kind == "overflow" or kind is None and np.isinf(part).any():
        return (f"yours overflows float64 at the check points: {text} is beyond float64's range (about 1.8e308) there, "
                f"{part[at]}{shown_at}{after}, where the derived formula is finite")
    if kind == "divide":
        return (f"yours is undefined at the check points: {text} divides by zero or takes the log of 0 there "
                f"({part[at]}{shown_at}){after}, where the derived formula is finite")
    return (f"yours is undefined at the check points: {text} is no number there (nan{shown_at}: a log or square root "
            "of a negative number, or 0/0), where the derived formula is finite")


def _flag(compute):
    """The floating-point trouble NumPy flags while ``compute()`` runs: "overflow", "divide" (by zero, or a log
    of 0), "invalid" (nan made), or None."""
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            compute()
    except FloatingPointError as exc:
        said = str(exc)
        return "overflow" if "overflow" in said else "divide" if "divide" in said else "invalid"
    except Exception:   # noqa: BLE001 - no flag to read
        return None
    return None


MAX_PARTS = 400   # the parts of an elementwise expression evaluated one by one to find the one not finite


def _smallest_not_finite(node, args, m, constants):
    """(text, value, flag) of the smallest part of an elementwise node's expression that is inf or nan with
    its operands' values ``args`` (exp(1000 Z₂) inside A₂ ⊙ exp(1000 Z₂) − ...), or None."""
    from derive.graph.build import ew
    from derive.graph.node import placeholder
    from derive.graph.symbols import m as m_sym
    from derive.ops.elementwise import numpy_function
    from derive.printing.show import show
    subs = {m_sym: sp.Integer(m), **{k: sp.Float(v) for k, v in (constants or {}).items()}}
    expr = node.attrs["expr"]
    slots = {placeholder(i) for i in range(len(args))}
    for k, part in enumerate(sp.postorder_traversal(expr)):
        if k > MAX_PARTS:   # an expression too long to take apart: the node is named whole
            return None
        if part.is_Atom or not (part.free_symbols & slots):
            continue
        f = numpy_function(part.xreplace(subs), len(args))
        with np.errstate(all="ignore"):
            value = np.asarray(f(*args), dtype=float)
        if np.isfinite(value).all():
            continue
        return show(ew(part, list(node.args)), "text"), value, _flag(lambda: f(*args))
    return None


def _entry(at) -> str:
    """An entry's position, counted from 1: (2, 3), or (1, 2, 2, 1) for a rank-4 tensor."""
    return "(" + ", ".join(str(i + 1) for i in at) + ")"


def _constant_factor(points, loss_name=None, cost=False) -> list:
    """Yours = c times the derived at every point: say c (and if c is m, 1/m or -1, say that). Under a
    cross-entropy, minus the gradient is the log-likelihood's, as CS229 climbs it: said so. ``cost``: the
    formula is a mean squared error's J, where half of it is Nielsen's quadratic cost."""
    found = factor([(u, c, m, 1e-7, 1e-12 * max(1.0, float(np.max(np.abs(c))))) for m, u, c in points])
    if found is None:
        return []
    if found[0] == "c":
        c = found[1]
        if abs(c) < 1e-12:
            return ["yours is zero where the derived formula is not"]
        if c == 1:   # the same numbers at every float64 point: what differs is where none of them fell
            return ["yours agrees with the derived formula at every float64 point it was evaluated at, and differs "
                    "where the exact comparison above shows"]
        if abs(c - 1) < 1e-6:   # shown to 6 digits it would read "1 times": say how small the difference is
            return [f"yours is {c:.15g} times the derived formula, a relative difference of {abs(c - 1):.1e} "
                    "(a tiny constant written into it?)"]
        if cost and abs(c - 0.5) < 1e-9:   # Nielsen's C = (1/2n) Σ ‖y − a^L‖² for a mean squared error
            return [f"off by a constant factor: yours is {c:.6g} times the derived J: this network's mean squared "
                    "error is J = (1/m) Σ (A − Y)²; yours is the quadratic cost with a 1/2, C = (1/2n) Σ ‖y − a^L‖² "
                    "(Nielsen's), which --loss '(yhat-y)**2/2' declares"]
        if loss_name == "mse" and abs(c - 0.5) < 1e-9:   # the 1/2 of a quadratic cost, as Nielsen writes it
            return [f"off by a constant factor: yours is {c:.6g} times the derived formula: this network's mean "
                    "squared error is J = (1/m) Σ (A − Y)², whose gradient carries a 2; yours is the gradient of the "
                    "quadratic cost with a 1/2, C = (1/2m) Σ (A − Y)² (Nielsen's), which --loss '(yhat-y)**2/2' "
                    "declares"]
        return [f"off by a constant factor: yours is {c:.6g} times the derived formula"]
    return [{"m": "missing 1/m: yours is m times the derived formula",
             "1/m": "an extra 1/m: yours is the derived formula divided by m",
             "-m": "wrong sign and missing 1/m: yours is -m times the derived formula",
             "-1": "wrong sign: yours is minus the derived formula"}[found[0]]
            + (" (the gradient of the log-likelihood ℓ = −J, which gradient ascent climbs, as CS229 writes it; "
               "derivax's J is the loss, minimized)" if found[0] in ("-1", "-m") and loss_name in ("ce", "bce")
               else "")]


def _nearly(points) -> list:
    """Yours within a thousandth of the derived formula everywhere: a constant rounded, or a digit off."""
    worst = 0.0
    for _, u, c in points:
        scale = max(float(np.max(np.abs(c))), 1e-300)
        worst = max(worst, float(np.max(np.abs(np.asarray(u, float) - np.asarray(c, float)))) / scale)
    if 0 < worst < 1e-3:
        return [f"yours is within {worst:.1e} of the derived formula (relative to its largest entry), not equal: "
                "a constant rounded or a digit off?"]
    return []


def _transpose(points) -> list:
    if transposed([(u, c, m, 1e-7, 1e-12) for m, u, c in points]):
        return ["missing transpose: yours equals the transpose of the derived formula"]
    return []


def check_update(optimizer: str, formula: str, lr=0.1, **hyper) -> bool:
    """Is ``formula`` the optimizer's update of θ, as derivax lowers it into its trainers?

    Names: theta, g, alpha and the rule's hyperparameters and state (v; mu, nu, mu_hat, nu_hat, t).
    Accepted in either reading: the last line of the printed rule (θ ← θ − α v, v being the updated
    velocity), or written out in the state before the step (θ − α (β v + g)). Compared exactly."""
    import sympy as sp
    from derive.formula.parse import Evaluator
    from compile.train.optim import OPTIMIZERS, OptimizerError, make, theta
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise OptimizerError(f"check_update: optimizer must be one of {', '.join(OPTIMIZERS)} (the update rules "
                             f"derivax derives), not {optimizer!r}")
    if not isinstance(formula, str):
        raise OptimizerError(f"check_update: formula must be a string, not {formula!r}")
    rule = make(optimizer, lr, **hyper)
    subs, printed, expanded = {}, None, None
    for lhs, expr in rule.equations:
        if lhs == theta:
            printed, expanded = expr, expr.xreplace(subs)
        else:
            subs[lhs] = expr.xreplace(subs)
    names = {s.name: s for eq in rule.equations for s in eq[1].free_symbols | {eq[0]}}
    user = sp.sympify(Evaluator(formula, names, {"sqrt": sp.sqrt}).run())
    from derive.run.worker import run
    return run(_same_update, user, printed, expanded, seconds=30, what="simplifying the update rule")


def _same_update(user, printed, expanded) -> bool:
    import sympy as sp
    return sp.simplify(user - printed) == 0 or sp.simplify(user - expanded) == 0
