"""The command line: parsing without a backend, options and their defaults."""

import argparse
import importlib.util
import inspect
import json
import logging
import os
import subprocess
import sys

import keras
import pytest

import keras_bam
from keras_bam_cli import arguments
from keras_bam_cli import main
from keras_bam_cli.commands import glue_settings
from keras_bam_cli.commands import prepare_run
from keras_bam_cli.commands import recipe_from_arguments
from keras_bam_cli.commands import registered_names
from tests.conftest import make_tiny_backbone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def glue_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    arguments.add_glue_arguments(parser)
    return parser


def test_help_and_argument_errors_import_no_backend():
    """`--help` and a bad option answer before Keras, TensorFlow or JAX load."""
    script = (
        "import sys\n"
        "from keras_bam_cli import main\n"
        "for argv in (['--help'], ['glue', '--help'], ['student', '--help'],\n"
        "             ['teacher', '--tasks'], ['glue', '--students']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "loaded = {'keras', 'tensorflow', 'jax', 'keras_bam'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "usage: keras-bam" in done.stdout
    # The help names where the modes are registered instead of a copied list.
    assert "register_distillation_mode" in done.stdout


def test_registered_names_are_read_from_the_library():
    assert registered_names() == {
        "distillation": keras_bam.distillation.distillation_mode_names(),
        "teacher_combination": keras_bam.distillation.teacher_combination_names(),
        "students": tuple(keras_bam.training.glue_run.STUDENTS),
    }
    assert registered_names()["distillation"][:3] == ("annealed", "fixed", "gold")
    assert arguments.WEIGHTINGS == keras_bam.training.task_weighting.WEIGHTINGS


@pytest.mark.parametrize(
    "argv, option",
    [
        (["student", "--tasks", "rte", "--distillation", "quarter"], "distillation"),
        (
            ["student", "--tasks", "rte", "--teacher-combination", "median"],
            "teacher_combination",
        ),
        (["glue", "--students", "bam", "teachers"], "students"),
    ],
)
def test_unregistered_names_are_refused_with_the_registered_ones(
    argv, option, glue_dir, capsys
):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--data-dir", glue_dir])
    assert info.value.code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    last = error.strip().splitlines()[-1]
    flag = "--" + option.replace("_", "-")
    assert last.startswith(f"keras-bam: error: argument {flag}: invalid choice: ")
    assert last.endswith(f"(choose from {', '.join(registered_names()[option])})")


def test_recipe_options_default_to_the_recipes():
    """Options left out are the library's recipe values, not copies of them."""
    parser = main_parser()
    teacher = parser.parse_args(["teacher", "--tasks", "rte"])
    assert (teacher.epochs, teacher.learning_rate, teacher.packing) == (None,) * 3
    assert recipe_from_arguments(teacher, 1) == (
        keras_bam.FineTuningRecipe.bam_single_task()
    )
    student = parser.parse_args(["student", "--tasks", "rte", "mrpc", "--seed", "3"])
    assert recipe_from_arguments(student, 2) == (
        keras_bam.FineTuningRecipe.bam_multi_task(seed=3)
    )
    # One task: a born-again student, on the single-task recipe as BAM switches.
    assert recipe_from_arguments(student, 1) == (
        keras_bam.FineTuningRecipe.bam_single_task(seed=3)
    )
    options = ["--no-packing", "--batch-size", "16", "--layerwise-decay", "1.0"]
    changed = parser.parse_args(["student", "--tasks", "rte", "mrpc", *options])
    assert recipe_from_arguments(changed, 2) == (
        keras_bam.FineTuningRecipe.bam_multi_task(
            packing=False, batch_size=16, layerwise_decay=1.0
        )
    )


def test_release_large_buffers_is_opt_in(monkeypatch):
    calls = []
    monkeypatch.setattr(keras_bam.backend, "release_large_buffers", calls.append)
    monkeypatch.setattr(keras_bam.backend, "limit_malloc_arenas", lambda count: None)
    parser = glue_parser()
    for options in ([], ["--paper"], ["--release-large-buffers", "0"]):
        prepare_run(parser.parse_args(["--compilation-cache", "none", *options]))
    prepare_run(
        parser.parse_args(
            ["--compilation-cache", "none", "--paper", "--release-large-buffers", "8"]
        )
    )
    assert calls == [8 * 2**20]


def test_malloc_arenas_one_per_core_unless_chosen(monkeypatch):
    calls = []
    monkeypatch.setattr(keras_bam.backend, "limit_malloc_arenas", calls.append)
    parser = glue_parser()
    for options in ([], ["--malloc-arenas", "3"], ["--malloc-arenas", "0"]):
        prepare_run(parser.parse_args(["--compilation-cache", "none", *options]))
    assert calls == [None, 3]  # None: one per core; 0: glibc's own, not called.
    with pytest.raises(SystemExit):
        parser.parse_args(["--malloc-arenas", "-1"])


def test_cpu_allocator_is_tensorflows_own_unless_chosen(monkeypatch):
    parser = glue_parser()
    monkeypatch.delenv("TF_CPU_ALLOCATOR_USE_BFC", raising=False)
    arguments.set_cpu_allocator(parser.parse_args([]))
    assert "TF_CPU_ALLOCATOR_USE_BFC" not in os.environ
    # A setting already in the environment stays, unless the option is given.
    monkeypatch.setenv("TF_CPU_ALLOCATOR_USE_BFC", "false")
    arguments.set_cpu_allocator(parser.parse_args([]))
    assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "false"
    arguments.set_cpu_allocator(parser.parse_args(["--cpu-allocator", "bfc"]))
    assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "true"
    arguments.set_cpu_allocator(parser.parse_args(["--cpu-allocator", "system"]))
    assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "false"
    with pytest.raises(SystemExit):
        parser.parse_args(["--cpu-allocator", "tcmalloc"])


def test_quick_and_paper_settings():
    parser = glue_parser()
    quick = glue_settings(parser.parse_args([]))
    assert quick["tasks"] == ["rte", "mrpc", "stsb", "cola"]
    assert quick["train_limit"] == 96
    # One epoch of each model: every phase, in minutes.
    assert quick["teacher_recipe"].epochs == quick["student_recipe"].epochs == 1
    # The dev table and the submission files on the first 200 examples.
    assert quick["eval_limit"] == 200
    # A seeded random sample, not the first rows of each file.
    assert quick["train_sample_seed"] == 0
    assert quick["student_recipe"].batching == "random"
    # The demo's student computes its steps in 4 slices (a laptop's memory).
    assert quick["student_recipe"].micro_batches == 4
    assert quick["teacher_recipe"].micro_batches == 1
    # On samples, BAM's formula over their sizes; its models without optimizer state.
    assert (quick["weighting"], quick["save_optimizer"]) == ("bam_trained", False)
    sliced = glue_settings(parser.parse_args(["--paper", "--micro-batches", "2"]))
    assert sliced["student_recipe"].micro_batches == 2
    grouped = glue_settings(parser.parse_args(["--batching", "length_grouped"]))
    assert grouped["student_recipe"].batching == "length_grouped"
    assert grouped["teacher_recipe"].batching == "length_grouped"
    paper = glue_settings(parser.parse_args(["--paper", "--tasks", "sts-b"]))
    assert paper["tasks"] == ["stsb"] and paper["train_limit"] is None
    assert paper["eval_limit"] is None
    assert "students" not in paper  # run_glue's own.
    chosen = glue_settings(parser.parse_args(["--students", "bam", "distilled"]))
    assert chosen["students"] == ("bam", "distilled")
    assert paper["train_sample_seed"] is None
    assert paper["teacher_recipe"] == keras_bam.FineTuningRecipe.bam_single_task()
    assert paper["student_recipe"] == keras_bam.FineTuningRecipe.bam_multi_task()
    assert (paper["weighting"], paper["save_optimizer"]) == ("bam", True)
    kept = glue_settings(parser.parse_args(["--optimizer-state", "--weighting", "bam"]))
    assert (kept["weighting"], kept["save_optimizer"]) == ("bam", True)
    mixed = glue_settings(parser.parse_args(["--precision", "mixed_bfloat16"]))
    assert mixed["teacher_recipe"].precision == "mixed_bfloat16"
    assert mixed["student_recipe"].precision == "mixed_bfloat16"
    with pytest.raises(ValueError, match="Unknown students"):
        keras_bam.run_glue(["rte"], students=["teachers"])
    with pytest.raises(ValueError, match="Unknown weighting"):
        keras_bam.run_glue(["rte"], weighting="even")


def test_command_line_refuses_unknown_tasks(capsys):
    with pytest.raises(SystemExit):
        main(["glue", "--tasks", "rte", "squad"])
    assert "squad" in capsys.readouterr().err


def test_command_line_says_where_it_looked_for_the_data(capsys, monkeypatch, tmp_path):
    missing = tmp_path / "no-glue-here"
    with pytest.raises(SystemExit):
        main(["teacher", "--tasks", "rte", "--data-dir", str(missing)])
    error = capsys.readouterr().err
    assert str(missing) in error and "KERAS_BAM_DATA_DIR" in error
    monkeypatch.setenv("KERAS_BAM_DATA_DIR", str(tmp_path))
    parser = glue_parser()
    assert parser.parse_args([]).data_dir == str(tmp_path)


def test_command_line_verbosity_version_and_defaults_in_help(capsys):
    parser = glue_parser()
    assert glue_settings(parser.parse_args(["-q"]))["verbose"] == 0
    assert glue_settings(parser.parse_args(["-v"]))["verbose"] == 1
    assert arguments.log_level(parser.parse_args(["-q"])) == logging.WARNING
    assert arguments.log_level(parser.parse_args(["-vv"])) == logging.DEBUG
    help_text = " ".join(parser.format_help().split())
    assert "(default: .cache/xla)" in help_text
    # A default left to the library says whose, not "None".
    assert "(default: None)" not in help_text
    assert "stay float32); default: the recipe's" in help_text
    assert "The recipe's values are BAM's" in help_text
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("keras-bam ")


def test_other_libraries_are_quiet_unless_verbose(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    parser = main_parser()
    from keras_bam_cli.main import configure_logging

    configure_logging(parser.parse_args(["tasks"]))
    assert logging.getLogger("jax").level == logging.WARNING
    assert logging.getLogger("keras_bam").getEffectiveLevel() == logging.INFO
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"


def main_parser():
    from keras_bam_cli.main import build_parser

    return build_parser()


def test_several_processes_need_data_parallel(capsys, glue_dir):
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["student", "--tasks", "rte", "mrpc", "--data-dir", glue_dir]
            + ["--workers", "localhost:1", "localhost:2", "--worker-index", "0"]
        )
    assert "--distribution data_parallel" in str(exit_info.value)


def test_a_cluster_needs_this_process_index():
    import keras_bam

    with pytest.raises(ValueError, match="position in the 2 workers"):
        keras_bam.backend.initialize_cluster(["localhost:1", "localhost:2"], 2)


def load_example():
    """`examples/glue.py` as a module (a script, outside the package)."""
    path = os.path.join(ROOT, "examples", "glue.py")
    spec = importlib.util.spec_from_file_location("glue_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_run_glue_defaults(settings: dict) -> dict:
    """`run_glue`'s arguments with what they leave out at `run_glue`'s defaults."""
    parameters = inspect.signature(keras_bam.run_glue).parameters.values()
    defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
    data = keras_bam.training.DataSettings().to_dict()
    return {**defaults, **data, **settings}


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--tasks", "rte", "mrpc", "--students", "multitask", "bam"],
        ["--paper"],
        ["--paper", "--student-epochs", "2", "--save-every", "50"],
        ["--students", "bam", "distilled", "--output-dir", "runs/jax"],
        ["--eval-limit", "50", "--train-limit", "64"],
        # benchmarks/memory.py's paper configuration.
        ["--paper", "--train-limit", "1024", "--train-sample-seed", "0"]
        + ["--teacher-epochs", "1", "--student-epochs", "1", "--cache-dir", "c"],
    ],
)
def test_the_example_runs_what_keras_bam_glue_runs(options, glue_dir):
    """`examples/glue.py` (over the public API) and `keras-bam glue` give
    `run_glue` the same arguments for the options they share."""
    example = load_example()
    options = [*options, "--data-dir", glue_dir]
    from_example = example.run_glue_arguments(example.parse_arguments(options))
    from_command_line = glue_settings(main_parser().parse_args(["glue", *options]))
    assert with_run_glue_defaults(from_example) == with_run_glue_defaults(
        from_command_line
    )


class QuarterGold(keras_bam.distillation.DistillationMode):
    """A mode from outside the package: λ = 1/4 throughout (a quarter gold
    labels, three quarters teachers)."""

    name = "quarter_gold"

    def __init__(self):
        self.calls = 0

    def training_gold_weight(self, model):
        self.calls += 1  # Once per trace of the training step.
        return keras.ops.convert_to_tensor(0.25, "float32")


@pytest.fixture
def quarter_gold():
    keras_bam.distillation.register_distillation_mode(QuarterGold)
    yield keras_bam.distillation.get_distillation_mode(QuarterGold.name)
    del keras_bam.distillation.modes.DISTILLATION_MODES[QuarterGold.name]


@pytest.fixture
def tiny_backbone_dir(tmp_path, tokenizer):
    """A KerasHub preset folder for `--backbone`: the tiny random BERT with
    MiniLM's tokenizer."""
    path = str(tmp_path / "tiny_bert")
    make_tiny_backbone().save_to_preset(path)
    tokenizer.save_to_preset(path)
    return path


def test_student_command_trains_with_a_registered_mode(
    quarter_gold, tiny_backbone_dir, glue_dir, tmp_path, monkeypatch
):
    """A mode registered with `register_distillation_mode` outside the package
    is a `--distillation` choice: `keras-bam student --distillation quarter_gold`
    trains a student end to end on λ = 1/4. (Uninformative teachers: the same
    blend of gold labels and teachers' targets without training teachers
    first; the student command's given teachers are test_glue_run's.)"""
    runs = []
    train_student = keras_bam.train_student

    def recorded_train_student(*args, **kwargs):
        runs.append(train_student(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(keras_bam, "train_student", recorded_train_student)
    output_dir = tmp_path / "student"
    student = ["student", "--tasks", "rte", "stsb", "--backbone", tiny_backbone_dir]
    student += ["--distillation", "quarter_gold", "--teachers", "uninformative"]
    student += ["--data-dir", glue_dir, "--cache-dir", str(tmp_path / "cache")]
    student += ["--compilation-cache", "none", "--epochs", "1", "--batch-size", "16"]
    student += ["--max-length", "64", "--train-limit", "8", "--eval-limit", "4"]
    assert main([*student, "--output-dir", str(output_dir)]) == 0
    (run,) = runs
    assert run.model.distillation == "quarter_gold"
    assert quarter_gold.calls > 0
    # λ as the model logged it: the mode's, not annealing's (0 to 1), fixed's
    # (0.5) or gold's (1).
    assert run.history["gold_weight"] == pytest.approx([0.25])
    with open(output_dir / "summary.json") as f:
        summary = json.load(f)
    assert summary["tasks"] == ["rte", "stsb"]
    assert set(summary["dev_metrics"]) == {"rte", "stsb"}
    assert os.path.exists(output_dir / "student.keras")


BAD_NUMBERS = [
    ["teacher", "--epochs", "0"],
    ["teacher", "--batch-size", "-3"],
    ["teacher", "--learning-rate", "0"],
    ["glue", "--train-limit", "-5"],
    ["glue", "--teacher-epochs", "0"],
    ["glue", "--student-batch-size", "0"],
    ["student", "--max-length", "0"],
    ["student", "--micro-batches", "0"],
    ["student", "--teacher-weight", "1.5"],
    ["student", "--distillation-temperature", "0"],
    ["student", "--weighting-temperature", "-1"],
    ["teacher", "--layerwise-decay", "0"],
    ["teacher", "--seed", "-1"],
    ["glue", "--train-sample-seed", "4294967296"],
    ["glue", "--worker-index", "-1"],
    ["glue", "--release-large-buffers", "-2"],
    ["predict", "--batch-size", "0"],
    ["predict", "--max-length", "0"],
    ["evaluate", "--limit", "0"],
]


def test_counts_and_rates_are_checked_when_parsed():
    """A count below 1, a rate of 0, a weight outside [0, 1] or a seed NumPy
    cannot take is one line, exit 2, before Keras loads (each command line
    parsed in one fresh process)."""
    script = (
        "import contextlib, io, json, sys\n"
        "from keras_bam_cli import main\n"
        "results = []\n"
        f"for argv in {BAD_NUMBERS!r}:\n"
        "    err = io.StringIO()\n"
        "    try:\n"
        "        with contextlib.redirect_stderr(err):\n"
        "            main(argv)\n"
        "        code = 0\n"
        "    except SystemExit as e:\n"
        "        code = e.code\n"
        "    results.append([code, err.getvalue()])\n"
        "loaded = {'keras', 'tensorflow', 'jax', 'keras_bam'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
        "print(json.dumps(results))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    for argv, (code, stderr) in zip(BAD_NUMBERS, json.loads(done.stdout)):
        assert code == 2, (argv, stderr)
        assert "Traceback" not in stderr, argv
        assert stderr.strip().splitlines()[-1].startswith("keras-bam"), argv
        assert "must be" in stderr, (argv, stderr)


def test_the_whole_run_takes_a_tasks_file(tmp_path):
    """`keras-bam glue --tasks-file F` runs the file's tasks (or those of
    `--tasks`, GLUE's and the file's) through `run_glue`."""
    path = tmp_path / "tasks.toml"
    path.write_text(
        '[tasks.intent_cli]\ntext_fields = ["text"]\nlabel_names = ["a", "b"]\n'
        'splits = { train = "train.csv" }\n'
    )
    parser = glue_parser()
    settings = glue_settings(parser.parse_args(["--tasks-file", str(path)]))
    assert settings["tasks"] == ["intent_cli"]
    both = ["--tasks-file", str(path), "--tasks", "intent_cli", "rte"]
    assert glue_settings(parser.parse_args(both))["tasks"] == ["intent_cli", "rte"]
    assert keras_bam.get_task("intent_cli").splits["train"] == str(
        tmp_path / "train.csv"
    )


def test_every_command_of_a_model_takes_a_tasks_file():
    from keras_bam_cli.main import build_parser

    parser = build_parser()
    for command in (["evaluate"], ["predict", "--task", "t", "--output", "o.tsv"]):
        args = parser.parse_args(
            [command[0], "m.keras", *command[1:], "--tasks-file", "f"]
        )
        assert args.tasks_file == "f"
    args = parser.parse_args(
        ["export", "m.keras", "--output-dir", "d", "--tasks-file", "f"]
    )
    assert args.tasks_file == "f"
