"""The command line: parsing without a backend, options and their defaults."""

import argparse
import logging
import os
import subprocess
import sys

import pytest

import keras_bam
from keras_bam_cli import arguments
from keras_bam_cli import main
from keras_bam_cli.commands import glue_settings
from keras_bam_cli.commands import prepare_run

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
        "for argv in (['--help'], ['glue', '--help'], ['teacher', '--tasks']):\n"
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


def test_student_names_match_the_library():
    assert arguments.STUDENTS == tuple(keras_bam.pipeline.STUDENTS)
    assert arguments.DISTILLATION_MODES == tuple(
        keras_bam.distillation.DISTILLATION_MODES
    )
    assert arguments.TEACHER_COMBINATIONS == tuple(
        keras_bam.distillation.TEACHER_COMBINATIONS
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
    assert quick["train_limit"] == 400 and quick["student_recipe"].epochs == 2
    # A seeded random sample, not the first rows of each file.
    assert quick["train_sample_seed"] == 0
    assert quick["student_recipe"].batching == "random"
    # The demo's student computes its steps in 4 slices (a laptop's memory).
    assert quick["student_recipe"].micro_batches == 4
    assert quick["teacher_recipe"].micro_batches == 1
    sliced = glue_settings(parser.parse_args(["--paper", "--micro-batches", "2"]))
    assert sliced["student_recipe"].micro_batches == 2
    grouped = glue_settings(parser.parse_args(["--batching", "length_grouped"]))
    assert grouped["student_recipe"].batching == "length_grouped"
    assert grouped["teacher_recipe"].batching == "length_grouped"
    paper = glue_settings(parser.parse_args(["--paper", "--tasks", "sts-b"]))
    assert paper["tasks"] == ["stsb"] and paper["train_limit"] is None
    assert paper["train_sample_seed"] is None
    assert paper["teacher_recipe"] == keras_bam.FineTuningRecipe.bam_single_task()
    assert paper["student_recipe"] == keras_bam.FineTuningRecipe.bam_multi_task()
    mixed = glue_settings(parser.parse_args(["--precision", "mixed_bfloat16"]))
    assert mixed["teacher_recipe"].precision == "mixed_bfloat16"
    assert mixed["student_recipe"].precision == "mixed_bfloat16"
    with pytest.raises(ValueError, match="Unknown students"):
        keras_bam.run_glue(["rte"], students=["teachers"])


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
    assert "(default: random)" in " ".join(parser.format_help().split())
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
