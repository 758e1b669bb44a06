import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_bam
from tests.conftest import ROOT


@pytest.mark.integration
def test_short_real_fine_tune_learns(glue_dir, tmp_path):
    """MiniLM on 384 SST-2 sentences, 2 epochs at twice BAM's learning rate
    (measured: dev accuracy 0.727 on TensorFlow, 0.74 on JAX; 640 sentences at
    BAM's rate took half as long again): the loss falls and held-out dev
    accuracy is well above chance."""
    recipe = keras_bam.FineTuningRecipe(epochs=2, seed=0, learning_rate=1e-4)
    run = keras_bam.train_teacher(
        "sst2",
        data_dir=glue_dir,
        recipe=recipe,
        cache_dir=tmp_path / "cache",
        train_limit=384,
        eval_limit=300,
        verbose=0,
    )
    # BAM sums the loss over each batch; per example it starts below ln 2 = 0.69.
    losses = run.history["loss"]
    assert losses[1] < losses[0] < 0.75 * recipe.batch_size
    accuracy = run.dev_metrics["dev"]["accuracy"]
    assert accuracy > 0.70, run.dev_metrics
    # BAM's random batches of 32 sentences are padded to their longest one.
    assert 0.0 <= run.padding_fraction < 0.8


def test_teacher_writes_predictions_and_model(glue_dir, tokenizer, tmp_path, caplog):
    from tests.conftest import make_tiny_backbone

    recipe = keras_bam.FineTuningRecipe(epochs=1, batch_size=16, seed=1)
    with caplog.at_level("INFO"):
        run = keras_bam.train_teacher(
            "stsb",
            data_dir=glue_dir,
            backbone=make_tiny_backbone(),
            tokenizer=tokenizer,
            recipe=recipe,
            output_dir=tmp_path,
            train_limit=48,
            eval_limit=40,
            verbose=0,
        )
    # STS-B trains on both sentence orders, as BAM does: 96 examples, 6 steps.
    assert "STS-B teacher: 96 examples, 6 steps/epoch" in caplog.text
    assert set(run.dev_metrics["dev"]) == {"pearson", "spearman", "score"}
    assert set(run.predictions_paths) == {"train", "train_swapped"}
    train = keras_bam.data.read_glue_tsv("stsb", "train", glue_dir).select(
        np.arange(48)
    )
    model = keras.saving.load_model(run.model_path)
    for examples in (train, train.swapped()):
        path = run.predictions_paths[examples.split]
        predictions = keras_bam.data.TeacherPredictions.load(path)
        predictions.check_matches(examples, source=path)
        assert predictions.outputs.shape == (48, 1)
        assert predictions.kind == "regression"
        assert predictions.metadata["recipe"]["seed"] == 1
        encoded = keras_bam.data.encode_examples(examples, tokenizer, 128)
        np.testing.assert_allclose(
            keras_bam.evaluation.predict_outputs(model, encoded),
            predictions.outputs,
            atol=1e-5,
        )
    with open(tmp_path / "stsb_teacher.json") as f:
        summary = json.load(f)
    assert summary["task"] == "stsb" and summary["backend"] == keras.backend.backend()


def test_single_order_option(glue_dir, tokenizer, tmp_path, caplog):
    from tests.conftest import make_tiny_backbone

    recipe = keras_bam.FineTuningRecipe(epochs=1, batch_size=16, double_unordered=False)
    with caplog.at_level("INFO"):
        run = keras_bam.train_teacher(
            "mrpc",
            data_dir=glue_dir,
            backbone=make_tiny_backbone(),
            tokenizer=tokenizer,
            recipe=recipe,
            output_dir=tmp_path,
            train_limit=32,
            eval_limit=16,
            save_model=False,
            verbose=0,
        )
    assert "MRPC teacher: 32 examples, 2 steps/epoch" in caplog.text
    assert set(run.predictions_paths) == {"train"} and run.model_path is None


def test_train_teacher_needs_a_tokenizer_with_a_model(tiny_backbone):
    with pytest.raises(ValueError, match="Pass the `tokenizer`"):
        keras_bam.train_teacher("rte", data_dir="x", backbone=tiny_backbone)


@pytest.mark.integration
def test_command_line(glue_dir, encoded_cache, tmp_path, capsys):
    # The encoded splits come from the session's cache: the command does not
    # tokenize.
    cache_dir = encoded_cache(["rte"], 128)
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_bam",
            "teacher",
            "--tasks",
            "RTE",
            "--data-dir",
            glue_dir,
            "--output-dir",
            str(tmp_path),
            "--cache-dir",
            cache_dir,
            "--compilation-cache",
            str(tmp_path / "xla"),
            "--epochs",
            "1",
            "--train-limit",
            "32",
            "--eval-limit",
            "32",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rte      dev" in result.stdout
    assert os.path.exists(tmp_path / "rte" / "rte_train_teacher.npz")
    # JAX keeps the compiled programs for the next run; TensorFlow has none to keep.
    kept = os.listdir(tmp_path / "xla") if os.path.isdir(tmp_path / "xla") else []
    assert bool(kept) == (keras.backend.backend() == "jax")
    # A bad task exits with status 2 and names it (here in this process: what
    # `python -m keras_bam` exits with is `main`'s, as above).
    from keras_bam_cli import main

    with pytest.raises(SystemExit) as bad:
        main(["teacher", "--tasks", "rtee"])
    assert bad.value.code == 2 and "Unknown task 'rtee'" in capsys.readouterr().err


def test_the_runs_seed_decides_dropout_wherever_the_backbone_was_built(
    glue_dir, tokenizer
):
    """Two backbones with the same weights, built under different global seeds
    (so their dropout layers drew different seeds), train to the same teacher
    under the same recipe seed."""
    from tests.conftest import make_tiny_backbone

    first = make_tiny_backbone(seed=0)
    weights = first.get_weights()
    keras.utils.set_random_seed(99)
    second = keras.layers.deserialize(keras.layers.serialize(first))
    second.set_weights(weights)
    states = [
        [
            keras.ops.convert_to_numpy(layer.seed_generator.state)
            for layer in b._flatten_layers()
            if hasattr(layer, "seed_generator")
        ]
        for b in (first, second)
    ]
    assert any(not np.array_equal(a, b) for a, b in zip(*states))
    recipe = keras_bam.FineTuningRecipe(epochs=1, batch_size=8, seed=4)
    runs = [
        keras_bam.train_teacher(
            "rte",
            data_dir=glue_dir,
            backbone=backbone,
            tokenizer=tokenizer,
            recipe=recipe,
            train_limit=16,
            eval_limit=8,
            verbose=0,
        )
        for backbone in (first, second)
    ]
    for a, b in zip(*(run.model.get_weights() for run in runs)):
        np.testing.assert_array_equal(a, b)


def _resident_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status")


def test_a_sequence_of_teachers_does_not_grow_memory(glue_dir, tokenizer, tmp_path):
    """Five tiny teachers in one process: after the first, resident memory grows
    by under 15 MiB per teacher. (On TensorFlow each `fit` used to keep its
    traced train step, about 50 MiB per tiny teacher, through TensorFlow's global
    gradient registry; that registry must not grow either, nor the number of
    live Keras layers.)"""
    import gc

    from tests.conftest import make_tiny_backbone

    registry = None
    if keras.backend.backend() == "tensorflow":
        from tensorflow.python.framework import ops as tf_ops

        registry = tf_ops._gradient_registry._registry
    resident, registered, layers = [], [], []
    for i in range(5):
        run = keras_bam.train_teacher(
            "rte",
            data_dir=glue_dir,
            backbone=make_tiny_backbone(),
            tokenizer=tokenizer,
            recipe=keras_bam.FineTuningRecipe(epochs=1, batch_size=8),
            output_dir=tmp_path / str(i),
            save_model=False,
            train_limit=16,
            eval_limit=8,
            verbose=0,
        )
        del run
        gc.collect()
        resident.append(_resident_mib())
        registered.append(None if registry is None else len(registry))
        layers.append(sum(isinstance(o, keras.layers.Layer) for o in gc.get_objects()))
    per_teacher = (resident[-1] - resident[1]) / (len(resident) - 2)
    assert per_teacher < 15, resident
    assert layers[-1] == layers[0], layers  # No finished teacher's layer lives on.
    if registry is not None:
        assert registered[-1] == registered[0], registered
