"""Training a model part of whose layers are frozen, under the JAX backend.

Keras's JAX train step is stateless: it hands the optimizer the values of the model's
*current* trainable variables (``Optimizer.stateless_apply``), which must be exactly the
variables the optimizer was built with. The fine-tuning strategies build the optimizer
over every weight (so unfreezing a stage needs no rebuild, and every backup has the same
layout) and then freeze stages, which that check refuses at the first step.
:func:`follow_trainable_variables` gives the optimizer a ``stateless_apply`` that updates
the model's trainable variables of the moment, as ``Optimizer.apply(grads, variables)``
does under TensorFlow: the frozen weights and their optimizer slots stay as they are.

Example:
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="a"),
    ...                           keras.layers.Dense(1, name="b")])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> model.optimizer.build(model.trainable_variables)
    >>> model.get_layer("a").trainable = False
    >>> follow_trainable_variables(model.optimizer, model)
    >>> frozen = model.get_layer("a").get_weights()[0].copy()
    >>> _ = model.fit(keras.ops.ones((4, 2)), keras.ops.ones((4, 1)), epochs=1, verbose=0)
    >>> bool((model.get_layer("a").get_weights()[0] == frozen).all())
    True
"""

from __future__ import annotations

import keras


def follow_trainable_variables(optimizer: keras.optimizers.Optimizer,
                               model: keras.Model) -> None:
    """Lets ``optimizer`` (built over all of ``model``'s weights) update whichever of them
    are trainable at each traced train step, under the JAX backend.

    A ``LossScaleOptimizer``'s inner optimizer is the one changed. Under the other
    backends the train step updates a subset already; nothing is changed there.

    Raises:
        ValueError: the optimizer keeps a moving average of the weights (``use_ema``),
            which Keras computes over every weight it was built with, frozen or not.
    """
    if keras.backend.backend() != "jax":
        return
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if inner.use_ema:
        raise ValueError(f"optimizer {type(inner).__name__} with use_ema cannot train a model "
                         "with frozen layers under KERAS_BACKEND=jax: drop use_ema, or "
                         "fine-tune with --finetune full")

    def stateless_apply(optimizer_values, grads, trainable_values):
        variables = model.trainable_variables
        if len(variables) != len(trainable_values):
            raise ValueError(f"the train step passed {len(trainable_values)} trainable values "
                             f"for the model's {len(variables)} trainable variables")
        mapping = [*zip(variables, trainable_values), *zip(inner.variables, optimizer_values)]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            inner.apply(grads, variables)
        return ([scope.get_current_value(v) for v in variables],
                [scope.get_current_value(v) for v in inner.variables])

    inner.stateless_apply = stateless_apply
