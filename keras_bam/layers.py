"""Task heads."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_bam")
class TaskHead(keras.layers.Layer):
    """BAM's task head: dropout on the pooled output, then a dense layer.

    The head computes in float32 whatever the model's precision policy, so
    logits and losses stay accurate under mixed precision.

    Args:
        num_outputs: classes for classification, 1 for regression.
        dropout: dropout rate on the pooled output.
        kernel_initializer: initializer of the dense kernel (BERT's truncated
            normal with stddev 0.02 by default).
        **kwargs: standard layer arguments (`name`, ...).

    Example:
    ```python
    head = keras_bam.TaskHead(num_outputs=3)
    logits = head(keras.random.normal((2, 384)))
    ```
    """

    def __init__(
        self,
        num_outputs: int,
        dropout: float = 0.1,
        kernel_initializer="truncated_normal_002",
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_outputs = int(num_outputs)
        self.dropout = float(dropout)
        if kernel_initializer == "truncated_normal_002":
            kernel_initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self._dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self._dense = keras.layers.Dense(
            self.num_outputs,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, input_shape):
        self._dense.build(input_shape)
        self.built = True

    def call(self, pooled, training=None):
        pooled = keras.ops.cast(pooled, self.compute_dtype)
        return self._dense(self._dropout(pooled, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_outputs,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_outputs": self.num_outputs,
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
            }
        )
        return config
