"""The data-parallel runs, each once per session (see `distributed_runs`)."""

import pytest

from tests.backend.distributed_runs import run_layout


@pytest.fixture(scope="session")
def layout_cache(encoded_cache):
    """The encoded splits every layout reads (`distributed_runs`)."""
    encoded_cache(["mrpc", "stsb"], 128, 30)  # The micro-batched steps'.
    return encoded_cache(["rte", "stsb"], 64, 36)


@pytest.fixture(scope="session")
def one_device_run(glue_dir, tokenizer, tmp_path_factory, layout_cache):
    """One process on one device: the teachers, and the student to match."""
    out = tmp_path_factory.mktemp("one_device")
    result = run_layout(
        glue_dir, out, "one", cache_dir=layout_cache, tokenizer=tokenizer
    )
    return {"dir": out, "result": result[0]}


@pytest.fixture(scope="session")
def two_device_run(glue_dir, tmp_path_factory, one_device_run, layout_cache):
    """One process on two devices, its student on the one-device teachers."""
    out = tmp_path_factory.mktemp("two_devices")
    teachers = one_device_run["dir"] / "teachers"
    result = run_layout(glue_dir, out, "devices", teachers, layout_cache)
    return {"dir": out, "result": result[0]}


@pytest.fixture(scope="session")
def two_process_run(glue_dir, tmp_path_factory, one_device_run, layout_cache):
    """Two processes joined over loopback, the student on the one-device teachers."""
    out = tmp_path_factory.mktemp("two_processes")
    teachers = one_device_run["dir"] / "teachers"
    results = run_layout(glue_dir, out, "cluster", teachers, layout_cache)
    return {"dir": out, "results": results}
