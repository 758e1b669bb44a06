import numpy as np

import keras_bam
from keras_bam.evaluation.submission import write_submission_file


def test_label_strings_and_scales():
    logits = np.array([[2.0, 0.0], [0.0, 1.0]])
    assert keras_bam.evaluation.format_predictions("rte", logits) == [
        "entailment",
        "not_entailment",
    ]
    assert keras_bam.evaluation.format_predictions("cola", logits) == ["0", "1"]
    assert keras_bam.evaluation.format_predictions("mnli", np.eye(3)) == [
        "entailment",
        "neutral",
        "contradiction",
    ]
    # STS-B heads output score / 5; files hold the 0-5 score, clipped.
    scaled = np.array([[0.5], [1.3], [-0.2], [0.123456]])
    assert keras_bam.evaluation.format_predictions("stsb", scaled) == [
        "2.500",
        "5.000",
        "0.000",
        "0.617",
    ]


class FakeModel:
    """Stands in for a trained MNLI + RTE student: fixed logits per head."""

    def __init__(self):
        self.tasks = [keras_bam.get_task("mnli"), keras_bam.get_task("rte")]


def test_writes_official_files_with_ax_through_mnli(tmp_path, glue_dir, tokenizer):
    """MNLI's test files are absent here; the folder holds a synthetic MNLI test
    pair in the real file layout, and AX is read from the real diagnostic file."""
    import os
    import shutil

    data = tmp_path / "glue"
    shutil.copytree(os.path.join(glue_dir, "RTE"), data / "RTE")
    shutil.copytree(os.path.join(glue_dir, "diagnostic"), data / "diagnostic")
    (data / "MNLI").mkdir()
    header = (
        "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\t"
        "sentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\n"
    )
    for name, n in [("test_matched.tsv", 3), ("test_mismatched.tsv", 2)]:
        rows = [
            f"{i}\t1\t1n\tfiction\t(a)\t(b)\t(A)\t(B)\tA man {i}.\tA person.\n"
            for i in range(n)
        ]
        (data / "MNLI" / name).write_text(header + "".join(rows))
    loader = keras_bam.data.SplitLoader(tokenizer, 64, data_dir=data)

    def predict(model, encoded):
        n = len(encoded)
        return {
            "mnli": np.tile([0.0, 0.0, 1.0], (n, 1)),
            "rte": np.tile([1.0, 0.0], (n, 1)),
        }

    written = keras_bam.evaluation.write_glue_submission(
        FakeModel(), loader, tmp_path / "out", predict
    )
    assert written == {
        "MNLI-m.tsv": 3,
        "MNLI-mm.tsv": 2,
        "RTE.tsv": 3000,
        "AX.tsv": 1104,
    }
    ax = (tmp_path / "out" / "AX.tsv").read_text().splitlines()
    assert ax[0] == "index\tprediction" and ax[1] == "0\tcontradiction"
    assert len(ax) == 1105
    # A smoke run's files: the first `limit` examples of each test split.
    written = keras_bam.evaluation.write_glue_submission(
        FakeModel(), loader, tmp_path / "smoke", predict, limit=2
    )
    assert written == {"MNLI-m.tsv": 2, "MNLI-mm.tsv": 2, "RTE.tsv": 2, "AX.tsv": 2}
    rte = (tmp_path / "smoke" / "RTE.tsv").read_text().splitlines()
    assert rte == ["index\tprediction", "0\tentailment", "1\tentailment"]


def test_submission_file_is_replaced_atomically(tmp_path):
    path = tmp_path / "RTE.tsv"
    write_submission_file(path, ["entailment"])
    write_submission_file(path, ["not_entailment", "entailment"])
    assert path.read_text() == "index\tprediction\n0\tnot_entailment\n1\tentailment\n"
    assert not (tmp_path / "RTE.tsv.partial").exists()
