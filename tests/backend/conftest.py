"""The data-parallel runs, each once per session (see `distributed_runs`)."""

import pytest

from tests.backend.distributed_runs import run_layout


@pytest.fixture(scope="session")
def one_device_run(glue_dir, tmp_path_factory):
    """One process on one device: the teachers, and the student to match."""
    out = tmp_path_factory.mktemp("one_device")
    return {"dir": out, "result": run_layout(glue_dir, out, "one")[0]}


@pytest.fixture(scope="session")
def two_device_run(glue_dir, tmp_path_factory, one_device_run):
    """One process on two devices, its student on the one-device teachers."""
    out = tmp_path_factory.mktemp("two_devices")
    teachers = one_device_run["dir"] / "teachers"
    return {"dir": out, "result": run_layout(glue_dir, out, "devices", teachers)[0]}


@pytest.fixture(scope="session")
def two_process_run(glue_dir, tmp_path_factory, one_device_run):
    """Two processes joined over loopback, the student on the one-device teachers."""
    out = tmp_path_factory.mktemp("two_processes")
    teachers = one_device_run["dir"] / "teachers"
    return {"dir": out, "results": run_layout(glue_dir, out, "cluster", teachers)}
