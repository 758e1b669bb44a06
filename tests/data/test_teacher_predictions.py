import os

import numpy as np
import pytest

import keras_bam
from keras_bam.data import GlueDataError


@pytest.fixture(scope="module")
def dev(glue_dir):
    return keras_bam.data.read_glue_tsv("rte", "dev", glue_dir)


def test_round_trip(dev, tmp_path, rng):
    logits = rng.normal(size=(len(dev), 2)).astype("float32")
    saved = keras_bam.data.TeacherPredictions.from_outputs(
        dev, logits, backbone="minilm", seed=3
    )
    path = saved.save(tmp_path / "rte.npz")
    loaded = keras_bam.data.TeacherPredictions.load(path)
    np.testing.assert_array_equal(loaded.outputs, logits)
    assert loaded.metadata == {"backbone": "minilm", "seed": 3}
    assert loaded.kind == "logits" and loaded.split == "dev"
    loaded.check_matches(dev, source=path)  # No error.
    with np.load(path, allow_pickle=False) as data:  # Plain arrays, no pickles.
        assert set(data.files) == {"outputs", "fingerprints", "metadata"}


def test_refuses_other_data(dev, tmp_path, rng):
    predictions = keras_bam.data.TeacherPredictions.from_outputs(
        dev, rng.normal(size=(len(dev), 2))
    )
    path = str(tmp_path / "rte.npz")
    predictions.save(path)
    loaded = keras_bam.data.TeacherPredictions.load(path)

    changed = dev.select(np.arange(len(dev)))
    changed.texts[1][10] = changed.texts[1][10] + " Really."
    with pytest.raises(
        GlueDataError,
        match=r"fingerprints' does not match .* 1 of 277.*"
        r"first: example 10, .*dev.tsv:12",
    ):
        loaded.check_matches(changed, source=path)

    reordered = dev.select(np.r_[1, 0, np.arange(2, len(dev))])
    with pytest.raises(GlueDataError, match="2 of 277"):
        loaded.check_matches(reordered, source=path)

    with pytest.raises(GlueDataError, match="277 predictions for 100 RTE dev examples"):
        loaded.check_matches(dev.select(np.arange(100)), source=path)


def test_refuses_wrong_task_and_width(glue_dir, dev, rng):
    wnli = keras_bam.data.read_glue_tsv("wnli", "dev", glue_dir)
    predictions = keras_bam.data.TeacherPredictions.from_outputs(
        dev, rng.normal(size=(len(dev), 2))
    )
    with pytest.raises(GlueDataError, match="field 'task' is 'rte'.*WNLI"):
        predictions.check_matches(wnli)
    three = keras_bam.data.TeacherPredictions(
        "rte", "dev", rng.normal(size=(len(dev), 3)), dev.fingerprints()
    )
    with pytest.raises(GlueDataError, match="3 values per example; RTE needs 2"):
        three.check_matches(dev)


def test_refuses_unreadable_or_foreign_files(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(
        GlueDataError, match="not a readable keras-bam teacher-predictions"
    ):
        keras_bam.data.TeacherPredictions.load(broken)
    pickled = tmp_path / "pickled.npz"
    np.savez(
        pickled,
        outputs=np.zeros((1, 2)),
        fingerprints=np.zeros(1, "S16"),
        metadata=np.array([{"format": "x"}], dtype=object),
    )
    with pytest.raises(GlueDataError, match="not a readable"):
        keras_bam.data.TeacherPredictions.load(pickled)
    foreign = tmp_path / "foreign.npz"
    np.savez(
        foreign,
        outputs=np.zeros((1, 2)),
        fingerprints=np.zeros(1, "S16"),
        metadata=np.array('{"format": "something-else"}'),
    )
    with pytest.raises(GlueDataError, match="field 'format' is 'something-else'"):
        keras_bam.data.TeacherPredictions.load(foreign)
    with pytest.raises(FileNotFoundError, match="no such teacher-predictions file"):
        keras_bam.data.TeacherPredictions.load(tmp_path / "missing.npz")


def test_any_flipped_byte_is_refused_or_harmless(dev, tmp_path, rng):
    """Flip each of many bytes in turn: the file is refused with a GlueDataError, or
    (a byte the zip format ignores, such as a timestamp) loads unchanged."""
    original = keras_bam.data.TeacherPredictions.from_outputs(
        dev, rng.normal(size=(len(dev), 2)), seed=1
    )
    path = tmp_path / "rte.npz"
    original.save(path)
    data = path.read_bytes()
    refused = 0
    for position in range(0, len(data), max(1, len(data) // 150)):
        damaged = bytearray(data)
        damaged[position] ^= 0x55
        path.write_bytes(bytes(damaged))
        try:
            loaded = keras_bam.data.TeacherPredictions.load(path)
        except GlueDataError as e:
            assert str(e).startswith(str(path))
            refused += 1
            continue
        np.testing.assert_array_equal(loaded.outputs, original.outputs)
        np.testing.assert_array_equal(loaded.fingerprints, original.fingerprints)
        assert (loaded.task, loaded.split, loaded.metadata) == (
            "rte",
            "dev",
            {"seed": 1},
        )
    assert refused > 100


def test_reads_version_1_files_without_a_checksum(dev, tmp_path, rng):
    """Files written before the checksum (format version 1) are still read."""
    import json

    logits = rng.normal(size=(len(dev), 2)).astype("float32")
    metadata = {
        "format": "keras-bam/teacher-predictions",
        "format_version": 1,
        "task": "rte",
        "split": "dev",
        "num_examples": len(dev),
        "num_outputs": 2,
        "kind": "logits",
    }
    path = tmp_path / "v1.npz"
    np.savez(
        path,
        outputs=logits,
        fingerprints=dev.fingerprints(),
        metadata=np.array(json.dumps(metadata)),
    )
    loaded = keras_bam.data.TeacherPredictions.load(path)
    np.testing.assert_array_equal(loaded.outputs, logits)
    metadata["format_version"] = 2  # A version-2 file must carry its checksum.
    np.savez(
        path,
        outputs=logits,
        fingerprints=dev.fingerprints(),
        metadata=np.array(json.dumps(metadata)),
    )
    with pytest.raises(GlueDataError, match="field 'sha256' is missing"):
        keras_bam.data.TeacherPredictions.load(path)


def test_teacher_prediction_file_names():
    from keras_bam.data.teacher_predictions import teacher_predictions_file

    assert teacher_predictions_file("RTE") == "rte_train_teacher.npz"
    assert teacher_predictions_file("sts-b", "train_swapped") == (
        "stsb_train_swapped_teacher.npz"
    )
    assert keras_bam.data.teacher_predictions_path(
        "runs", "mrpc", "dev"
    ) == os.path.join("runs", "mrpc", "mrpc_dev_teacher.npz")
