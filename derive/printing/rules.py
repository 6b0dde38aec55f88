"""The words of every rule a derivation step names, one table for all notations.

A template's ``{value}`` is filled by the notation's printer (``NotationPrinter.rule``): a node is
printed as an equation prints it, a name as the notation writes names in words (δ2 in text, δ^{[2]} in
LaTeX), ``Math`` in the notation's own form, words as they are (escaped for LaTeX). A rule kind with no
row here (an op added without words) reads "chain rule through <kind>".
"""
RULE_WORDS = {
    "chain": "chain rule",
    "start": "",
    "product": "chain rule through the product {product}",
    "transpose": "transpose",
    "sum": "a sum passes its adjoint to every entry",
    "softmax": "chain rule through softmax (layer {layer}): {identity}",
    "reshape": "a reshape passes its adjoint back in its operand's shape",
    "permute": "a permutation of axes passes its adjoint back, inversely permuted",
    "activation": "chain rule through {function} (layer {layer})",
    "loss_derivative": "derivative of the loss ({loss})",
    "bias_sum": "{param} is added to every example: its gradient sums over the batch",
    "bias_sum_positions": "{param} is added at every example and position: its gradient sums over both",
    "convolution": "chain rule through the convolution {conv}",
    "max_pool": "max-pooling passes each window's gradient to the window's maximum",
    "avg_pool": "average-pooling spreads each window's gradient evenly over the window",
    "through": "chain rule through {name}",
    "decay": "derivative of the weight decay {decay}",
    "dJ": "derivative of J",
    "written_through": "derivative of {function} written through {name}",
    "derivative_of": "derivative of {function}",
    "simplify": "simplify",
    "cancellation": "{activation}–{loss} cancellation",
    "name_delta": "name the error signal {delta} ({gradient} without the constant factor)",
    "name_step_delta": "name the error signal {delta} = {gradient}",
    "centred": "{name} is centred: it sums to 0 over the axes its mean was taken over",
    "written_as": "write {definition} as {name}",
    "scale_sum": "{param} scales every example: its gradient sums over the batch",
    "partial_through": "written through {name}",
    "one_hot": "one-hot targets: each example's {target} sums to 1 over the classes",
    "scan": "backprop through time (layer {layer}): each step's share, summed over t; the error signals are "
            "the recurrence above",
    "slice": "a part passes its adjoint back in place, zeros elsewhere",
    "pad": "padding passes back the adjoint of the entries it kept",
    "concat": "each part of a concatenation takes its part of the adjoint",
    "take": "a lookup's adjoint adds each row back into the table row it was read from (repeated indices "
            "accumulate)",
    "scatter_add": "the adjoint of adding rows into a table is reading them back",
    "masked_weights": "the weights are 0 wherever the mask would put 0",
    "causal": "a causal mask passes back the adjoint of the scores it kept (a later key gets 0)",
}
FALLBACK = "chain rule through {kind}"
