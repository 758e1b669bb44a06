import json

import numpy as np
import pytest

import keras_bam
from keras_bam.evaluation import prediction
from tests.conftest import make_tiny_backbone


@pytest.fixture
def teacher_and_data(glue_dir, tokenizer):
    examples = keras_bam.data.read_glue_tsv("rte", "dev", glue_dir).select(
        np.arange(30)
    )
    encoded = keras_bam.data.encode_examples(examples, tokenizer, 32)
    model = keras_bam.SingleTaskModel(make_tiny_backbone(), "rte")
    return model, examples, encoded


def test_predictions_written_in_chunks_match_one_pass(teacher_and_data, tmp_path):
    model, examples, encoded = teacher_and_data
    path = keras_bam.evaluation.write_teacher_predictions(
        model, examples, encoded, tmp_path / "rte.npz", chunk_size=7, backbone="tiny"
    )
    written = keras_bam.data.TeacherPredictions.load(path)
    written.check_matches(examples)
    np.testing.assert_allclose(
        written.outputs, keras_bam.evaluation.predict_outputs(model, encoded), atol=1e-6
    )
    assert written.metadata["backbone"] == "tiny"
    assert not (tmp_path / "rte.npz.partial").exists()


def test_an_interrupted_run_resumes_at_its_last_chunk(
    teacher_and_data, tmp_path, monkeypatch
):
    model, examples, encoded = teacher_and_data
    path = tmp_path / "rte.npz"
    calls = []
    real = prediction.predict_outputs

    def failing_after_two(model, encoded, batch_size):
        if len(calls) == 2:
            raise KeyboardInterrupt  # As a killed run stops.
        calls.append(len(encoded))
        return real(model, encoded, batch_size)

    monkeypatch.setattr(prediction, "predict_outputs", failing_after_two)
    with pytest.raises(KeyboardInterrupt):
        keras_bam.evaluation.write_teacher_predictions(
            model, examples, encoded, path, chunk_size=7
        )
    progress = json.loads((tmp_path / "rte.npz.partial" / "progress.json").read_text())
    assert progress["chunks_done"] == 2 and not path.exists()

    resumed = []

    def counting(model, encoded, batch_size):
        resumed.append(len(encoded))
        return real(model, encoded, batch_size)

    monkeypatch.setattr(prediction, "predict_outputs", counting)
    keras_bam.evaluation.write_teacher_predictions(
        model, examples, encoded, path, chunk_size=7
    )
    assert resumed == [7, 7, 2]  # Chunks 3 to 5 of 30 examples; 1 and 2 kept.
    np.testing.assert_allclose(
        keras_bam.data.TeacherPredictions.load(path).outputs,
        real(model, encoded, 128),
        atol=1e-6,
    )


def test_a_partial_run_of_another_model_is_not_reused(
    teacher_and_data, tmp_path, monkeypatch
):
    model, examples, encoded = teacher_and_data
    path = tmp_path / "rte.npz"
    real = prediction.predict_outputs
    calls = []

    def failing_after_one(model, encoded, batch_size):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(model, encoded, batch_size)

    monkeypatch.setattr(prediction, "predict_outputs", failing_after_one)
    with pytest.raises(KeyboardInterrupt):
        keras_bam.evaluation.write_teacher_predictions(
            model, examples, encoded, path, chunk_size=10
        )
    monkeypatch.setattr(prediction, "predict_outputs", real)
    other = keras_bam.SingleTaskModel(make_tiny_backbone(seed=5), "rte")
    keras_bam.evaluation.write_teacher_predictions(
        other, examples, encoded, path, chunk_size=10
    )
    np.testing.assert_allclose(
        keras_bam.data.TeacherPredictions.load(path).outputs,
        real(other, encoded, 128),
        atol=1e-6,
    )
