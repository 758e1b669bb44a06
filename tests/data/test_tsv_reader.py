import os

import numpy as np
import pytest

import keras_bam
from keras_bam.data import GlueDataError

# Data rows per file, from ../shared/glue/MANIFEST.md.
OFFICIAL_ROWS = {
    ("cola", "train"): 8551,
    ("cola", "dev"): 1043,
    ("cola", "test"): 1063,
    ("sst2", "train"): 67349,
    ("sst2", "dev"): 872,
    ("sst2", "test"): 1821,
    ("mrpc", "train"): 3668,
    ("mrpc", "dev"): 408,
    ("mrpc", "test"): 1725,
    ("stsb", "train"): 5749,
    ("stsb", "dev"): 1500,
    ("stsb", "test"): 1379,
    ("qnli", "dev"): 5463,
    ("qnli", "test"): 5463,
    ("rte", "train"): 2490,
    ("rte", "dev"): 277,
    ("rte", "test"): 3000,
    ("wnli", "train"): 635,
    ("wnli", "dev"): 71,
    ("wnli", "test"): 146,
    ("ax", "test"): 1104,
}
LABEL_COUNTS = {
    ("cola", "train"): [2528, 6023],
    ("cola", "dev"): [322, 721],
    ("mrpc", "train"): [1194, 2474],
    ("mrpc", "dev"): [129, 279],
    ("rte", "train"): [1249, 1241],
    ("rte", "dev"): [146, 131],
    ("qnli", "dev"): [2702, 2761],
    ("wnli", "dev"): [40, 31],
}


@pytest.mark.parametrize("task, split", sorted(OFFICIAL_ROWS))
def test_real_files_read_completely(glue_dir, task, split):
    examples = keras_bam.data.read_glue_tsv(task, split, glue_dir)
    assert len(examples) == OFFICIAL_ROWS[(task, split)]
    assert all(t.strip() for column in examples.texts for t in column)
    labeled = examples.task.split(split).label_column is not None
    assert examples.is_labeled == labeled
    if (task, split) in LABEL_COUNTS:
        counts = np.bincount(examples.labels, minlength=2).tolist()
        assert counts == LABEL_COUNTS[(task, split)]


def test_quirks_of_the_real_files(glue_dir):
    # MRPC starts with a byte-order mark; ids come from the sentence-id columns.
    mrpc = keras_bam.data.read_glue_tsv("mrpc", "train", glue_dir)
    assert mrpc.texts[0][0].startswith("Amrozi accused his brother")
    assert mrpc.ids[0] == "702876/702977"
    # CoLA train/dev have no header; dev has no final newline but a full last row.
    cola = keras_bam.data.read_glue_tsv("cola", "dev", glue_dir)
    assert cola.lines[0] == 1 and cola.lines[-1] == 1043
    assert cola.texts[0][-1] == "John talked to Bill about himself."
    # STS-B scores stay exact floats on their 0-5 scale.
    stsb = keras_bam.data.read_glue_tsv("stsb", "dev", glue_dir)
    assert stsb.labels.dtype == np.float32
    assert stsb.labels.min() == 0.0 and stsb.labels.max() == 5.0
    assert abs(stsb.labels.mean() - 2.364) < 1e-3
    # Quote characters are text, not CSV quoting.
    sst = keras_bam.data.read_glue_tsv("sst2", "dev", glue_dir)
    assert any('"' in t or "'" in t for t in sst.texts[0])


def test_reports_rows_read(glue_dir, caplog):
    with caplog.at_level("INFO"):
        keras_bam.data.read_glue_tsv("rte", "dev", glue_dir)
    assert "read 277 rows" in caplog.text and "kept 277" in caplog.text


def write(tmp_path, folder, name, text):
    os.makedirs(tmp_path / folder, exist_ok=True)
    path = tmp_path / folder / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


RTE_HEADER = "index\tsentence1\tsentence2\tlabel\n"


@pytest.mark.parametrize(
    "body, line, field, message",
    [
        (
            "0\ta\tb\tentailment\n1\ta\tb\n",
            3,
            None,
            "has 3 tab-separated fields, expected 4",
        ),
        ("0\ta\tb\tentailment\n1\ta\tb\tmaybe\n", 3, "label", "unknown label 'maybe'"),
        ("0\ta\t \tentailment\n", 2, "sentence2", "is empty"),
        ("0\ta\tb\tentailment\n\n", 3, None, "has 1 tab-separated fields"),
    ],
)
def test_bad_rte_rows(tmp_path, body, line, field, message):
    path = write(tmp_path, "RTE", "train.tsv", RTE_HEADER + body)
    with pytest.raises(GlueDataError) as info:
        keras_bam.data.read_glue_tsv("rte", "train", tmp_path)
    error = info.value
    assert error.path == path and error.line == line and error.field == field
    assert message in str(error)
    location = f"{path}:{line}" + (f": field '{field}'" if field else "")
    assert str(error).startswith(location)


def test_bad_stsb_scores(tmp_path):
    header = (
        "\t".join(
            [
                "index",
                "genre",
                "filename",
                "year",
                "old_index",
                "source1",
                "source2",
                "sentence1",
                "sentence2",
                "score",
            ]
        )
        + "\n"
    )
    rows = [
        "0\tg\tf\t2012\t1\ts\ts\tA man.\tA woman.\t3.2",
        "1\tg\tf\t2012\t1\ts\ts\tA man.\tA woman.\thigh",
        "2\tg\tf\t2012\t1\ts\ts\tA man.\tA woman.\t5.5",
        "3\tg\tf\t2012\t1\ts\ts\tA man.\tA woman.\tnan",
    ]
    write(tmp_path, "STS-B", "dev.tsv", header + "\n".join(rows))
    with pytest.raises(GlueDataError) as info:
        keras_bam.data.read_glue_tsv("stsb", "dev", tmp_path)
    errors = info.value.errors
    assert [(e[1], e[2]) for e in errors] == [(3, "score"), (4, "score"), (5, "score")]
    assert "is not a number: 'high'" in errors[0][3]
    assert "outside [0, 5]" in errors[1][3]
    assert "3 bad row(s)" in str(info.value) and "nothing was loaded" in str(info.value)


def test_invalid_utf8_names_the_line(tmp_path):
    write(
        tmp_path, "RTE", "dev.tsv", RTE_HEADER.encode() + b"0\ta\xff\tb\tentailment\n"
    )
    with pytest.raises(GlueDataError, match=r"dev.tsv:2: is not valid UTF-8"):
        keras_bam.data.read_glue_tsv("rte", "dev", tmp_path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"RTE/train.tsv: no such file"):
        keras_bam.data.read_glue_tsv("rte", "train", tmp_path)
    write(tmp_path, "RTE", "train.tsv", "")
    with pytest.raises(GlueDataError, match="the file is empty"):
        keras_bam.data.read_glue_tsv("rte", "train", tmp_path)
    write(tmp_path, "RTE", "train.tsv", RTE_HEADER)
    with pytest.raises(GlueDataError, match="no data rows"):
        keras_bam.data.read_glue_tsv("rte", "train", tmp_path)


def test_missing_column_in_header(tmp_path):
    write(
        tmp_path,
        "RTE",
        "train.tsv",
        "index\tsentence1\tsentence_2\tlabel\n0\ta\tb\tentailment\n",
    )
    with pytest.raises(GlueDataError, match="header has no 'sentence2' column"):
        keras_bam.data.read_glue_tsv("rte", "train", tmp_path)


def test_windows_line_ends_and_bom(tmp_path):
    write(
        tmp_path,
        "RTE",
        "train.tsv",
        b"\xef\xbb\xbf"
        + RTE_HEADER.encode()
        + b"0\ta\tb\tnot_entailment\r\n1\tc\td\tentailment",
    )
    examples = keras_bam.data.read_glue_tsv("rte", "train", tmp_path)
    assert examples.texts == (["a", "c"], ["b", "d"])
    assert examples.labels.tolist() == [1, 0]


MNLI_TRAIN = [
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
    "label1",
    "gold_label",
]
MNLI_DEV = MNLI_TRAIN[:-1] + ["label2", "label3", "label4", "label5", "gold_label"]
MNLI_TEST = MNLI_TRAIN[:10]


def _mnli_row(columns, i, label):
    values = {
        "index": str(i),
        "sentence1": f"Premise {i}.",
        "sentence2": f"Hypothesis {i}.",
        "gold_label": label,
        "label1": label,
    }
    return "\t".join(values.get(c, "( x )") for c in columns)


def test_mnli_shaped_files(tmp_path):
    """MNLI's splits have 12, 16 and 10 columns; columns are found by header name."""
    labels = ["entailment", "neutral", "contradiction", "neutral"]
    for name, columns in [
        ("train.tsv", MNLI_TRAIN),
        ("dev_matched.tsv", MNLI_DEV),
        ("dev_mismatched.tsv", MNLI_DEV),
    ]:
        rows = [_mnli_row(columns, i, label) for i, label in enumerate(labels)]
        write(
            tmp_path, "MNLI", name, "\t".join(columns) + "\n" + "\n".join(rows) + "\n"
        )
    write(
        tmp_path,
        "MNLI",
        "test_matched.tsv",
        "\t".join(MNLI_TEST) + "\n" + _mnli_row(MNLI_TEST, 0, "") + "\n",
    )
    for split in ("train", "dev_matched", "dev_mismatched"):
        examples = keras_bam.data.read_glue_tsv("mnli", split, tmp_path)
        assert examples.labels.tolist() == [0, 1, 2, 1]
        assert examples.texts[1][2] == "Hypothesis 2."
    test = keras_bam.data.read_glue_tsv("mnli", "test_matched", tmp_path)
    assert test.labels.tolist() == [-1] and not test.is_labeled


def test_qqp_and_qnli_shaped_files(tmp_path):
    write(
        tmp_path,
        "QQP",
        "train.tsv",
        "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
        "7\t1\t2\tHow?\tWhy?\t0\n8\t3\t4\tWho?\tWho is?\t1\n",
    )
    write(tmp_path, "QQP", "test.tsv", "id\tquestion1\tquestion2\n0\tA?\tB?\n")
    qqp = keras_bam.data.read_glue_tsv("qqp", "train", tmp_path)
    assert qqp.labels.tolist() == [0, 1] and qqp.ids == ["7", "8"]
    assert keras_bam.data.read_glue_tsv("qqp", "test", tmp_path).texts == (
        ["A?"],
        ["B?"],
    )
    write(
        tmp_path,
        "QNLI",
        "train.tsv",
        "index\tquestion\tsentence\tlabel\n0\tWhat?\tThis.\tnot_entailment\n",
    )
    assert keras_bam.data.read_glue_tsv("qnli", "train", tmp_path).labels.tolist() == [
        1
    ]
