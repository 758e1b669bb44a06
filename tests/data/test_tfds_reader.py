"""TFDS (built offline from the original archives) and the TSV folder agree."""

import numpy as np
import pytest

import keras_bam
from tests.conftest import TFDS_MANUAL_DIR


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.mark.parametrize("task", ["cola", "mrpc", "rte", "stsb"])
def test_tfds_and_tsv_give_identical_examples(glue_dir, tfds_dir, task):
    for split in ("train", "dev"):
        tsv = keras_bam.load_glue(task, split, "tsv", glue_dir)
        tfds = keras_bam.load_glue(
            task, split, "tfds", tfds_dir, tfds_manual_dir=TFDS_MANUAL_DIR
        )
        assert len(tfds) == len(tsv)
        assert tfds.texts == tsv.texts
        np.testing.assert_array_equal(tfds.labels, tsv.labels)
        np.testing.assert_array_equal(tfds.fingerprints(), tsv.fingerprints())
        assert tfds.labels.dtype == tsv.labels.dtype


def test_tfds_test_split_is_unlabeled(tfds_dir):
    test = keras_bam.data.load_glue_tfds("rte", "test", tfds_dir, TFDS_MANUAL_DIR)
    assert len(test) == 3000 and not test.is_labeled


def test_unknown_source_and_split():
    with pytest.raises(ValueError, match="Unknown data source 'csv'"):
        keras_bam.load_glue("rte", "dev", "csv", "x")
    with pytest.raises(ValueError, match="no split 'dev' in TFDS"):
        keras_bam.data.load_glue_tfds("mnli", "dev")
