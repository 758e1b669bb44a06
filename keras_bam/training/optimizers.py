"""BAM's optimizer: Adam with decoupled weight decay and layer-wise learning rates."""

from __future__ import annotations

import re

import keras
from keras import ops

from keras_bam.backend.distribution import all_reduce_sum
from keras_bam.backend.distribution import loss_replicas
from keras_bam.backend.kernels import dense
from keras_bam.models.backbone_families import BACKBONE_FAMILIES
from keras_bam.models.backbone_families import layerwise_decay_names

# BAM (and BERT) exclude these from weight decay, matched against variable paths.
DEFAULT_WEIGHT_DECAY_EXCLUSIONS = ("LayerNorm", "layer_norm", "bias")
# The variable-path part of keras-bam's task heads (`TaskHead(name="<task>_head")`).
HEAD_SUFFIX = "_head/"


def bert_layerwise_lr_multipliers(num_layers: int, decay: float = 0.9) -> list:
    """BAM's layer-wise learning-rate factors for a KerasHub BERT-family backbone
    (BERT, RoBERTa, DistilBERT, ELECTRA, DeBERTa-v3).

    Depth 0 is the embeddings, depth `i + 1` the encoder layer of index `i`
    (0-based), `num_layers + 1` the pooler and `num_layers + 2` the task heads;
    a variable's rate is `learning_rate * decay ** (num_layers + 2 - depth)`. So the
    heads get factor 1, the pooler `decay`, encoder layer `i` (0-based)
    `decay ** (num_layers + 1 - i)` and the embeddings `decay ** (num_layers + 2)`.

    Args:
        num_layers: the number of encoder layers.
        decay: the per-layer factor; 1.0 turns layer-wise decay off.

    Returns:
        A list of `(substring, factor)` rules; the first rule whose substring
        occurs in a variable's path applies. The heads are keras-bam's
        `TaskHead`s (`<task>_head/`); `check_lr_multipliers` finds the
        variables no rule places.
    """
    prefixes, embedding_layers = layerwise_decay_names()
    top = num_layers + 2
    rules = [
        (HEAD_SUFFIX, 1.0),
        ("pooled_dense/", decay ** (top - (num_layers + 1))),
    ]
    for i in range(num_layers):
        for prefix in prefixes:
            rules.append((f"{prefix}{i}/", decay ** (top - (i + 1))))
    for name in embedding_layers:
        rules.append((name, decay**top))
    return rules


def check_lr_multipliers(rules, variables):
    """Raises if layer-wise decay cannot place some of `variables`.

    BAM's optimizer raises for a variable that no layer rule names rather than
    train it at the full rate; a backbone whose layers are named otherwise
    (another encoder family) would otherwise get no layer-wise decay at all,
    silently.

    Args:
        rules: `(substring, factor)` rules, as `bert_layerwise_lr_multipliers`
            makes them.
        variables: the trainable Keras variables.

    Raises:
        ValueError: naming every variable that matches no rule.

    Example:
    ```python
    rules = keras_bam.training.bert_layerwise_lr_multipliers(6, 0.9)
    keras_bam.training.check_lr_multipliers(rules, model.trainable_variables)
    ```
    """
    unplaced = [v.path for v in variables if not any(sub in v.path for sub, _ in rules)]
    if unplaced:
        shared = any("inner_layer_" in path for path in unplaced)
        families = [
            f.backbone_class for f in BACKBONE_FAMILIES.values() if not f.shared_layers
        ]
        raise ValueError(
            f"Layer-wise learning-rate decay has no layer for {len(unplaced)} "
            f"variable(s): {unplaced[:10]}{' ...' if len(unplaced) > 10 else ''}. "
            + (
                "ALBERT shares one layer's weights across its depth, so its "
                "layers have no depth to decay by; "
                if shared
                else "It knows the layer names of KerasHub's "
                f"{', '.join(families)} (token_embedding, transformer_layer_<i>, "
                "pooled_dense, ...; keras_bam.models.BackboneFamily) and keras-bam's "
                "task heads; "
            )
            + "use layerwise_decay=1.0 to train every variable at the full rate."
        )


@keras.saving.register_keras_serializable(package="keras_bam")
class AdamWeightDecay(keras.optimizers.Optimizer):
    """BAM's Adam with decoupled weight decay and per-variable learning rates.

    For a variable with learning-rate factor `f` (from `lr_multipliers`) the update
    is `variable -= f * lr * (m / (sqrt(v) + epsilon) + weight_decay * variable)`,
    exactly BAM's `AdamWeightDecayOptimizer`: the factor scales the update, not the
    gradient (Adam would cancel a gradient scale), and weight decay is skipped for
    LayerNorm and bias variables. BAM applies no bias correction to `m` and `v`;
    `bias_correction=True` adds it (as `torch.optim.AdamW` does).

    Args:
        learning_rate: a float or a `LearningRateSchedule`.
        weight_decay: the decoupled weight-decay rate.
        beta_1: first-moment decay.
        beta_2: second-moment decay.
        epsilon: added to `sqrt(v)`; BAM uses 1e-6.
        bias_correction: apply Adam's bias correction.
        exclude_from_weight_decay: substrings of variable paths that get no decay.
        lr_multipliers: `(substring, factor)` rules, first match wins; see
            `bert_layerwise_lr_multipliers`.
        **kwargs: base optimizer arguments, e.g. `global_clipnorm=1.0`.

    Example:
    ```python
    optimizer = keras_bam.training.AdamWeightDecay(
        learning_rate=keras_bam.training.WarmupLinearDecay(5e-5, 1000, 100),
        lr_multipliers=keras_bam.training.bert_layerwise_lr_multipliers(6, 0.9),
        global_clipnorm=1.0,
    )
    ```
    """

    def __init__(
        self,
        learning_rate=5e-5,
        weight_decay: float = 0.01,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-6,
        bias_correction: bool = False,
        exclude_from_weight_decay=DEFAULT_WEIGHT_DECAY_EXCLUSIONS,
        lr_multipliers=None,
        name: str = "adam_weight_decay",
        **kwargs,
    ):
        kwargs.pop("weight_decay_rate", None)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.decay_rate = float(weight_decay)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.bias_correction = bool(bias_correction)
        self.decay_exclusions = tuple(exclude_from_weight_decay or ())
        self.lr_multipliers = [(str(k), float(v)) for k, v in (lr_multipliers or [])]

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        # Resolved once from the Keras variables' paths: inside the update step
        # TensorFlow hands over raw `tf.Variable`s, which have no Keras path.
        self._factors = [self.lr_multiplier(v) for v in var_list]
        self._decayed = [self.uses_weight_decay(v) for v in var_list]

    def lr_multiplier(self, variable) -> float:
        """The learning-rate factor of a Keras variable (first matching rule, or 1)."""
        for substring, factor in self.lr_multipliers:
            if substring in variable.path:
                return factor
        return 1.0

    def uses_weight_decay(self, variable) -> bool:
        """Whether a Keras variable is decayed (not LayerNorm or bias, by default)."""
        if not self.decay_rate:
            return False
        return not any(
            re.search(pattern, variable.path) for pattern in self.decay_exclusions
        )

    def apply(self, grads, trainable_variables=None):
        """Applies `grads`; on TensorFlow with clipping, densified first.

        TensorFlow gives an embedding a sparse gradient (one row per token
        occurrence), whose norm is not the gradient's when a token repeats;
        densified, the global norm Keras clips by is the gradient's, as on JAX.
        """
        if self.global_clipnorm is not None and keras.backend.backend() == (
            "tensorflow"
        ):
            variables = trainable_variables or self._trainable_variables
            grads = [
                None if g is None else ops.reshape(dense(g), v.shape)
                for g, v in zip(grads, variables)
            ]
        return super().apply(grads, trainable_variables)

    def _clip_gradients(self, grads):
        """Keras's clipping, except under `tf.distribute`: Keras would clip each
        replica's share; here the shares are summed and clipped by Keras by the
        whole batch's norm, and each replica gets its share of the result."""
        replicas = loss_replicas()
        if self.global_clipnorm is None or replicas == 1:
            return super()._clip_gradients(grads)
        clipped = super()._clip_gradients(all_reduce_sum(grads))
        # Each replica's share of the clipped sum; Keras sums the shares.
        return [None if g is None else g / replicas for g in clipped]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        lr = ops.cast(learning_rate, dtype) * self._factors[index]
        # Dense: TensorFlow gives embeddings sparse (IndexedSlices) gradients
        # when no clipping has densified them.
        gradient = ops.cast(dense(gradient), dtype)
        m = self._momentums[index]
        v = self._velocities[index]
        self.assign(m, self.beta_1 * m + (1.0 - self.beta_1) * gradient)
        self.assign(v, self.beta_2 * v + (1.0 - self.beta_2) * ops.square(gradient))
        m_hat, v_hat = m, v
        if self.bias_correction:
            step = ops.cast(self.iterations + 1, dtype)
            m_hat = m / (1.0 - ops.power(ops.cast(self.beta_1, dtype), step))
            v_hat = v / (1.0 - ops.power(ops.cast(self.beta_2, dtype), step))
        update = m_hat / (ops.sqrt(v_hat) + self.epsilon)
        if self._decayed[index]:
            update = update + self.decay_rate * variable
        self.assign_sub(variable, lr * update)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "weight_decay": self.decay_rate,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "bias_correction": self.bias_correction,
                "exclude_from_weight_decay": list(self.decay_exclusions),
                "lr_multipliers": [list(rule) for rule in self.lr_multipliers],
            }
        )
        return config
