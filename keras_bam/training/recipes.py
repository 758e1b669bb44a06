"""Training recipes: BAM's hyperparameters in one place."""

from __future__ import annotations

import dataclasses

from keras_bam.backend.distribution import DISTRIBUTIONS
from keras_bam.data.batching import BATCHING

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# A born-again student's seed is its teacher's plus this (`born_again`).
BORN_AGAIN_SEED_OFFSET = 1000


@dataclasses.dataclass
class FineTuningRecipe:
    """The hyperparameters of a fine-tuning run.

    The defaults are BAM's single-task recipe (`bam/configure.py`): AdamW with
    weight decay 0.01 (not on LayerNorm or bias), peak learning rate 5e-5 with 10%
    linear warm-up then linear decay to 0, 3 epochs of batch 32, gradient clipping
    at global norm 1.0, layer-wise learning-rate decay 0.9, Adam epsilon 1e-6
    without bias correction, head dropout 0.1, sequences of at most 128 tokens,
    MRPC and STS-B trained on both sentence orders (BAM's `double_unordered`),
    per-example losses summed over the batch (BAM's `reduce_sum`), which is
    what the gradient clipping at 1.0 applies to, and batches of examples in a
    random order (BAM's shuffled input; instead of padding each example to 128
    tokens, a batch's examples are packed into rows of 128 tokens, which the
    attention mask makes equivalent).

    Args:
        learning_rate: the peak learning rate.
        epochs: passes over the training data.
        batch_size: examples per step.
        warmup_fraction: share of all steps spent warming up.
        weight_decay: decoupled weight-decay rate.
        layerwise_decay: per-layer learning-rate factor (1.0: off).
        clipnorm: global gradient-norm clip (`None`: off).
        adam_epsilon: Adam's epsilon.
        bias_correction: Adam bias correction (BAM: off).
        decay_from_warmup: decay from the warm-up end (Hugging Face) instead of
            from step 0 (BAM).
        dropout: head dropout.
        max_length: the packed sequence length limit.
        double_unordered: train the tasks whose label ignores text order (MRPC,
            STS-B) on both orders, doubling their training data, as BAM does.
        loss_reduction: `"sum"` over the batch (BAM) or `"mean"` (most
            frameworks, Hugging Face included).
        batching: `"random"` (BAM: which examples share a batch is random;
            `RandomBatches`) or `"length_grouped"` (a speed option: batches of
            similar lengths, so less padding, but not BAM's batches and, for a
            multi-task student, fewer tasks per batch; `BucketedBatches`).
        packing: pack each training batch's examples into rows of
            `max_length` tokens, each example attending only to itself
            (`PlannedBatches(packing=...)`): the same batches and, up to float
            rounding, the same losses and gradients, with almost no padding
            computed. Needs a KerasHub `BertBackbone` (other backbones train
            on padded batches).
        seed: seeds initialization, dropout and data order.
        precision: `"float32"`, or mixed precision: `"mixed_bfloat16"` or
            `"mixed_float16"` (with dynamic loss scaling). The backbone computes
            in the lower precision with float32 weights; the task heads, λ and
            the losses stay in float32.
        distribution: `"none"` (one device) or `"data_parallel"` (each batch
            split over every device: `keras.distribution.DataParallel` on JAX,
            `tf.distribute.MirroredStrategy` on TensorFlow; see
            `distribution_scope`).
        micro_batches: a student computes each step's gradient in this many
            slices of its batch, added up (`MultiTaskModel.compile`): the
            same steps with about `1 / micro_batches` of the activation
            memory, dropout drawing its masks per slice. Students only.

    Example:
    ```python
    recipe = keras_bam.FineTuningRecipe(epochs=1, seed=3)
    multi = keras_bam.FineTuningRecipe.bam_multi_task()
    ```
    """

    learning_rate: float = 5e-5
    epochs: int = 3
    batch_size: int = 32
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    layerwise_decay: float = 0.9
    clipnorm: float | None = 1.0
    adam_epsilon: float = 1e-6
    bias_correction: bool = False
    decay_from_warmup: bool = False
    dropout: float = 0.1
    max_length: int = 128
    double_unordered: bool = True
    loss_reduction: str = "sum"
    batching: str = "random"
    packing: bool = True
    seed: int = 0
    precision: str = "float32"
    distribution: str = "none"
    micro_batches: int = 1

    def __post_init__(self):
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be one of {DISTRIBUTIONS}, "
                f"got {self.distribution!r}."
            )
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {PRECISIONS}, got {self.precision!r}."
            )
        if self.batching not in BATCHING:
            raise ValueError(
                f"batching must be one of {BATCHING}, got {self.batching!r}."
            )
        if int(self.micro_batches) != self.micro_batches or self.micro_batches < 1:
            raise ValueError(
                f"micro_batches must be a positive integer, got {self.micro_batches!r}."
            )
        if self.loss_reduction not in ("sum", "mean"):
            raise ValueError(
                f"loss_reduction must be 'sum' or 'mean', got {self.loss_reduction!r}."
            )

    @classmethod
    def bam_single_task(cls, **overrides) -> FineTuningRecipe:
        """BAM's single-task teacher recipe (the defaults)."""
        return cls(**overrides)

    @classmethod
    def bam_multi_task(cls, **overrides) -> FineTuningRecipe:
        """BAM's multi-task recipe: lr 1e-4, batch 128, 6 epochs."""
        values = dict(learning_rate=1e-4, batch_size=128, epochs=6)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def bam_for_tasks(cls, task_count: int, **overrides) -> FineTuningRecipe:
        """BAM's recipe for a model of `task_count` tasks: the single-task
        recipe for one task (a teacher, or a born-again single-task student,
        as BAM switches), else the multi-task recipe.

        Args:
            task_count: how many tasks the model learns.
            **overrides: fields that replace the recipe's.

        Returns:
            A `FineTuningRecipe`.

        Example:
        ```python
        keras_bam.FineTuningRecipe.bam_for_tasks(1).batch_size  # 32
        keras_bam.FineTuningRecipe.bam_for_tasks(4, epochs=2).batch_size  # 128
        ```
        """
        if task_count == 1:
            return cls.bam_single_task(**overrides)
        return cls.bam_multi_task(**overrides)

    @classmethod
    def born_again(cls, teacher: FineTuningRecipe) -> FineTuningRecipe:
        """A single-task born-again student's recipe, given its teacher's.

        BAM trains a born-again student as any single-task model (its
        single-task recipe, from the pretrained encoder). The student gets a
        seed of its own, `teacher.seed + BORN_AGAIN_SEED_OFFSET`, so that its
        head initialization, dropout masks and data order are not its
        teacher's: otherwise it would retrace the teacher's run.
        """
        values = teacher.to_dict()
        values["seed"] = teacher.seed + BORN_AGAIN_SEED_OFFSET
        return cls(**values)

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        # How a step is computed, not what: left out at its default, so that
        # descriptions written before it existed still match.
        if values["micro_batches"] == 1:
            del values["micro_batches"]
        return values
