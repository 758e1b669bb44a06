"""The quality protocol's systems and what defines a setting."""

from __future__ import annotations

import dataclasses

import keras_bam

SYSTEMS = (
    "teachers",
    "multitask",
    "bam",
    "distilled",
    "uninformative",
    "born_again",
    "oof_bam",
    "bam_length_grouped",
    "bam_trained_multiples",
    "bam_ensemble",
    "bam_ensemble_logits",
    "bam_packed",
    "bam_padded",
)
LABELS = {
    "teachers": "single-task teachers",
    "multitask": "multi-task (gold labels only)",
    "bam": "BAM (teacher annealing)",
    "distilled": "distillation, fixed teacher weight 0.5",
    "uninformative": "annealing, uninformative teacher",
    "born_again": "single-task born-again",
    "oof_bam": "BAM, out-of-fold teachers",
    "bam_length_grouped": "BAM, length-grouped batches",
    "bam_trained_multiples": "BAM, multiples among the trained tasks",
    "bam_ensemble": "BAM, 3-teacher ensemble (probabilities averaged)",
    "bam_ensemble_logits": "BAM, 3-teacher ensemble (logits averaged)",
    "bam_packed": "BAM, packed batches",
    "bam_padded": "BAM, padded batches",
}
# The students' `train_student` arguments: `run_glue`'s students, and variants
# of BAM's.
BAM = keras_bam.training.glue_run.STUDENTS["bam"]
STUDENT_MODES = {
    **keras_bam.training.glue_run.STUDENTS,
    "bam_length_grouped": {**BAM, "recipe": {"batching": "length_grouped"}},
    "bam_trained_multiples": {**BAM, "weighting": "bam_trained"},
    "bam_packed": {**BAM, "recipe": {"packing": True}},
    "bam_padded": {**BAM, "recipe": {"packing": False}},
    "bam_ensemble": {
        **BAM,
        "teacher_combination": "probabilities",
        "ensemble": True,
    },
    "bam_ensemble_logits": {**BAM, "teacher_combination": "logits", "ensemble": True},
}
# Systems that need the seed's teachers (run first when missing).
NEEDS_TEACHERS = (
    "bam",
    "distilled",
    "born_again",
    "bam_length_grouped",
    "bam_trained_multiples",
    "bam_packed",
    "bam_padded",
)
# The ensemble systems distill, for every seed, from the teachers of these seeds.
ENSEMBLE_SEEDS = (0, 1, 2)
# The training sample is the same for every seed: seeds vary initialization,
# dropout and data order, the paired comparisons' unit.
SAMPLE_SEED = 0


@dataclasses.dataclass
class Setting:
    """What defines a protocol; results of different settings are never mixed."""

    name: str
    tasks: tuple
    backbone: str | None
    train_limit: int | None
    teacher_epochs: int
    student_epochs: int
    student_batch_size: int
    student_learning_rate: float
    max_length: int
    folds: int
    backend: str
    batching: str = "random"
    packing: bool = True

    def to_dict(self) -> dict:
        """As stored with every result (JSON: the tasks as a list)."""
        return dataclasses.asdict(self) | {"tasks": list(self.tasks)}

    def teacher_recipe(self, seed: int, **overrides):
        values = dict(
            epochs=self.teacher_epochs,
            max_length=self.max_length,
            seed=seed,
            batching=self.batching,
            packing=self.packing,
        )
        return keras_bam.FineTuningRecipe.bam_single_task(**{**values, **overrides})

    def student_recipe(self, seed: int, **overrides):
        values = dict(
            epochs=self.student_epochs,
            batch_size=self.student_batch_size,
            learning_rate=self.student_learning_rate,
            max_length=self.max_length,
            seed=seed,
            batching=self.batching,
            packing=self.packing,
        )
        return keras_bam.FineTuningRecipe.bam_multi_task(**{**values, **overrides})
