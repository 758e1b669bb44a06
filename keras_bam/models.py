"""Task models built on a shared KerasHub backbone."""

from __future__ import annotations

import keras

from keras_bam.backbones import set_exact_gelu
from keras_bam.layers import TaskHead
from keras_bam.tasks import get_task


@keras.saving.register_keras_serializable(package="keras_bam")
class SingleTaskModel(keras.Model):
    """A BERT encoder with one GLUE task head: a BAM single-task teacher.

    A Keras functional model: the backbone's pooled `[CLS]` output goes through
    `TaskHead` (dropout 0.1, then dense). Classification heads output logits;
    the STS-B head outputs the score divided by the task's `target_scale` (5).

    Args:
        backbone: a KerasHub BERT-family backbone.
        task: the GLUE task name or `GlueTask`.
        dropout: head dropout rate.
        exact_gelu: use exact GELU in the backbone (what BERT checkpoints were
            trained with); stored in the config so `.keras` files keep it.
        **kwargs: standard `keras.Model` arguments.

    Example:
    ```python
    backbone = keras_bam.load_backbone()
    model = keras_bam.SingleTaskModel(backbone, "rte")
    logits = model.predict(encoded.pad_batch([0, 1]))
    ```
    """

    def __init__(
        self, backbone, task, dropout: float = 0.1, exact_gelu: bool = True, **kwargs
    ):
        task = get_task(task)
        set_exact_gelu(backbone, exact_gelu)
        inputs = backbone.input
        pooled = backbone(inputs)["pooled_output"]
        head = TaskHead(task.num_outputs, dropout=dropout, name=f"{task.name}_head")
        outputs = head(pooled)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.backbone = backbone
        self.task = task
        self.head = head
        self.dropout = dropout
        self.exact_gelu = exact_gelu

    def get_config(self):
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "task": self.task.name,
            "dropout": self.dropout,
            "exact_gelu": self.exact_gelu,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        return cls(**config)
