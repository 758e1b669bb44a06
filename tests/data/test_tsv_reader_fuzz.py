"""Fuzzing `read_glue_tsv`: whatever the file holds, the reader either returns rows
that are exactly in the file (every data row, none invented or altered) or raises a
`GlueDataError`; never another exception."""

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import keras_bam
from keras_bam.data import GlueDataError

BOM = b"\xef\xbb\xbf"
STSB_HEADER = [
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
# task: (header, or the column count of a file without one; the label column).
FORMATS = {
    "rte": (["index", "sentence1", "sentence2", "label"], 3),
    "mrpc": (["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"], 0),
    "stsb": (STSB_HEADER, 9),
    "cola": (4, 1),
}
LABELS = {
    "rte": ["entailment", "not_entailment"],
    "mrpc": ["0", "1"],
    "stsb": ["0", "3.2", "5.000", "1e0", "-0.5", "5.5", "nan", "inf", " 2 "],
    "cola": ["0", "1"],
}
FIELD_TEXT = st.one_of(
    st.text(
        st.characters(blacklist_characters="\t\n", blacklist_categories=("Cs",)),
        max_size=10,
    ),
    st.sampled_from(
        [
            '"',
            '""',
            "'",
            '"a "quoted" text"',
            "",
            " ",
            "\r",
            "\ufeff",
            "a\u2028b",
            "\x85",
        ]
    ),
    st.just("A sentence."),
)
CLEAN_TEXT = st.one_of(
    st.text(
        st.characters(blacklist_characters="\t\n", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=10,
    ).filter(str.strip),
    st.sampled_from(['"', "'", '"a "quoted" text', "a\u2028b", "\ufeffx"]),
)
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def tsv_files(draw):
    """`(task, bytes)`: a GLUE-shaped file, often valid, often subtly not."""
    task = draw(st.sampled_from(sorted(FORMATS)))
    clean = draw(st.booleans())  # Only valid rows (quotes, BOMs, CRLF and all).
    header, label_column = FORMATS[task]
    width = len(header) if isinstance(header, list) else header
    lines = []
    if isinstance(header, list):
        columns = list(header)
        if not clean and draw(st.integers(0, 5)) == 0:  # A column renamed...
            columns[draw(st.integers(0, width - 1))] = draw(FIELD_TEXT)
        if not clean and draw(st.integers(0, 7)) == 0:  # ...or gone.
            columns = columns[:-1]
        lines.append("\t".join(columns))
    for _ in range(draw(st.integers(0, 5))):
        if clean:
            fields = [draw(CLEAN_TEXT) for _ in range(width)]
            fields[label_column] = draw(st.sampled_from(LABELS[task][:4]))
        else:
            count = width + draw(st.sampled_from([0, 0, 0, 0, 0, -1, 1, -width]))
            fields = [draw(FIELD_TEXT) for _ in range(max(count, 0))]
            if label_column < len(fields) and draw(st.integers(0, 4)) > 0:
                fields[label_column] = draw(st.sampled_from(LABELS[task]))
        lines.append("\t".join(fields))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(lines) + (end if draw(st.booleans()) else "")
    data = text.encode("utf-8")
    if draw(st.booleans()):
        data = BOM + data
    if not clean and draw(st.integers(0, 4)) == 0:  # A stray byte or two.
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=2)) + data[at:]
    return task, data


def random_files():
    return st.tuples(st.sampled_from(sorted(FORMATS)), st.binary(max_size=300))


def file_lines(data: bytes) -> list:
    """The file's lines as the GLUE files define them: `\\n` ends a line."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def check_read(task_name, data, directory):
    task = keras_bam.get_task(task_name)
    layout = task.split("train")
    path = directory / task.tsv_folder / layout.file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    try:
        examples = keras_bam.data.read_glue_tsv(task, "train", directory)
    except GlueDataError as e:
        assert str(e).startswith(str(path)), str(e)
        return None
    lines = file_lines(data)
    header = None
    if layout.has_header:
        header = lines[0].decode("utf-8", errors="replace").split("\t")
    first_data_line = 2 if layout.has_header else 1
    # Nothing lost: one example per data line, in order.
    assert examples.lines.tolist() == list(range(first_data_line, len(lines) + 1))

    def index(column):
        return column if isinstance(column, int) else header.index(column)

    for i, line_number in enumerate(examples.lines):
        fields = lines[line_number - 1].decode("utf-8").split("\t")
        assert "\t".join(fields).encode("utf-8") == lines[line_number - 1]
        assert "\x00" not in "".join(fields)  # A NUL byte: a damaged file, refused.
        for column, texts in zip(layout.text_columns, examples.texts):
            assert texts[i] == fields[index(column)]
        value = fields[index(layout.label_column)]
        if task.is_regression:
            assert examples.labels[i] == np.float32(float(value))
        else:
            assert task.tsv_labels[examples.labels[i]] == value
    return examples


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@SETTINGS
@given(tsv_files())
def test_glue_shaped_files(directory, case):
    check_read(*case, directory)


@SETTINGS
@given(random_files())
def test_random_bytes(directory, case):
    check_read(*case, directory)


def test_the_generator_makes_valid_files_too(directory):
    """The property is only worth something if some files are read successfully."""
    read = []

    @settings(max_examples=100, deadline=None, database=None)
    @given(tsv_files())
    def count(case):
        read.append(check_read(*case, directory) is not None)

    count()
    assert sum(read) >= 5, f"only {sum(read)} of {len(read)} files were valid"
