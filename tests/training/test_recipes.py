import numpy as np

import keras_bam
from keras_bam.training.recipes import BORN_AGAIN_SEED_OFFSET


def test_bam_recipes():
    single = keras_bam.FineTuningRecipe.bam_single_task()
    assert (single.learning_rate, single.batch_size, single.epochs) == (5e-5, 32, 3)
    multi = keras_bam.FineTuningRecipe.bam_multi_task()
    assert (multi.learning_rate, multi.batch_size, multi.epochs) == (1e-4, 128, 6)
    assert single.batching == multi.batching == "random"


def test_born_again_student_has_a_seed_of_its_own(glue_dir, tokenizer):
    """A born-again student trains with its teacher's (single-task) recipe but not
    its seed: otherwise its head, dropout masks and data order would be the
    teacher's."""
    teacher = keras_bam.FineTuningRecipe.bam_single_task(seed=3, epochs=2)
    student = keras_bam.FineTuningRecipe.born_again(teacher)
    assert student.seed == 3 + BORN_AGAIN_SEED_OFFSET
    assert {**student.to_dict(), "seed": 3} == teacher.to_dict()
    examples = keras_bam.data.read_glue_tsv("rte", "train", glue_dir)
    encoded = keras_bam.data.encode_examples(examples.select(np.arange(64)), tokenizer)
    orders = [
        keras_bam.data.RandomBatches(encoded, seed=r.seed).example_order
        for r in (teacher, student)
    ]
    assert not np.array_equal(*orders)


def test_unknown_batching_is_refused():
    import pytest

    with pytest.raises(ValueError, match="batching must be one of"):
        keras_bam.FineTuningRecipe(batching="sorted")


def test_micro_batches_are_a_students_setting_left_out_of_descriptions_by_default():
    import pytest

    # Descriptions written before the field existed (finished teachers, quality
    # results) still match a default recipe's.
    assert "micro_batches" not in keras_bam.FineTuningRecipe().to_dict()
    recipe = keras_bam.FineTuningRecipe.bam_multi_task(micro_batches=4)
    assert recipe.to_dict()["micro_batches"] == 4
    with pytest.raises(ValueError, match="micro_batches must be a positive integer"):
        keras_bam.FineTuningRecipe(micro_batches=0)
    with pytest.raises(ValueError, match="a student's setting"):
        keras_bam.train_teacher(
            "rte", recipe=keras_bam.FineTuningRecipe(micro_batches=2)
        )
