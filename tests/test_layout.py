"""The package's layout: a small top level, namespaces that define their names,
layers that import only downwards, and Keras's private API in one module."""

import ast
import importlib
import inspect
import os
import re

import pytest

import keras_bam
from keras_bam.utils import keras_private

PACKAGE = os.path.dirname(os.path.abspath(keras_bam.__file__))

# The namespaces from the bottom layer up: a module may import its own
# namespace's modules and those of the namespaces below it, never above.
LAYERS = (
    "utils",
    "backend",
    "tasks",
    "metrics",
    "distillation",
    "data",
    "models",
    "evaluation",
    "training",
)
NAMESPACES = LAYERS[1:]

TOP_LEVEL = {
    "CrossFitRun",
    "FineTuningRecipe",
    "GLUE_TASKS",
    "GlueRun",
    "MultiTaskModel",
    "SingleTaskModel",
    "StudentRun",
    "TeacherAnnealing",
    "TeacherRun",
    "cross_fit_teacher",
    "export_saved_model",
    "get_task",
    "load_backbone",
    "load_glue",
    "load_tokenizer",
    "run_glue",
    "train_student",
    "train_teacher",
}

KERAS_PRIVATE = re.compile(
    r"keras\.src|_getframe|_maybe_symbolic_build|_loss_tracker|_compile_config"
    r"|_flatten_layers|_inbound_nodes|_tf_trackable|\._direction\b"
    r"|_update_metrics_variables|\._self_attention_|\._feedforward_"
)


def modules() -> dict:
    """Module name -> source path, for every module of the package."""
    found = {}
    for root, _, files in os.walk(PACKAGE):
        for file in files:
            if file.endswith(".py"):
                path = os.path.join(root, file)
                relative = os.path.relpath(path, os.path.dirname(PACKAGE))
                name = relative[:-3].replace(os.sep, ".")
                found[name.removesuffix(".__init__")] = path
    return found


def imports(path: str) -> set:
    """The keras_bam modules a file imports, at any depth (in functions too)."""
    found = set()
    known = modules()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "keras_bam"
        ):
            if node.module != "keras_bam":
                found.add(node.module)
            found.update(
                f"{node.module}.{a.name}"
                for a in node.names
                if f"{node.module}.{a.name}" in known
            )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("keras_bam"))
    return found


def layer_of(module: str):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_the_top_level_keeps_what_a_run_starts_from():
    public = {
        name
        for name, value in vars(keras_bam).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == TOP_LEVEL
    for name in TOP_LEVEL:
        assert getattr(keras_bam, name).__doc__, name
    with open(os.path.join(PACKAGE, "__init__.py")) as f:
        assert len(f.read().splitlines()) <= 40


@pytest.mark.parametrize("space", NAMESPACES)
def test_each_namespace_defines_the_names_it_exports(space):
    namespace = importlib.import_module(f"keras_bam.{space}")
    assert namespace.__all__ == sorted(namespace.__all__)
    for name in namespace.__all__:
        value = getattr(namespace, name)
        home = getattr(value, "__module__", None)
        if home is not None and (inspect.isclass(value) or inspect.isfunction(value)):
            assert home.startswith(f"keras_bam.{space}."), f"{space}.{name}: {home}"
            assert value.__doc__, f"keras_bam.{space}.{name} has no docstring"


def test_no_module_imports_a_higher_layer():
    upward = []
    for module, path in modules().items():
        here = layer_of(module)
        if here is None:
            continue  # The top level and `__main__` may import anything.
        for imported in imports(path):
            there = layer_of(imported)
            if there is None or LAYERS.index(there) > LAYERS.index(here):
                upward.append(f"{module} -> {imported}")
    assert not upward, upward


def test_no_import_circle():
    known = modules()
    graph = {m: {i for i in imports(p) if i in known} for m, p in known.items()}
    circles, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                circles.append(path[path.index(imported) :] + [imported])
            elif imported not in state:
                visit(imported, path + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, circles


def test_keras_private_api_is_used_in_one_module_only():
    users = sorted(
        os.path.relpath(path, PACKAGE)
        for path in modules().values()
        if KERAS_PRIVATE.search(open(path).read())
    )
    assert users == [os.path.join("utils", "keras_private.py")]


def test_keras_still_offers_every_private_seam():
    missing = keras_private.missing_seams()
    assert not missing, "\n".join(missing)


def test_the_readme_api_table_reads_off_the_namespaces():
    with open(os.path.join(os.path.dirname(PACKAGE), "README.md")) as f:
        readme = f.read()
    rows = re.findall(r"^\| `(keras_bam|\.\w+)` \| (.*) \|$", readme, re.MULTILINE)
    assert {space for space, _ in rows} == {"keras_bam"} | {f".{n}" for n in NAMESPACES}
    for space, cell in rows:
        module = keras_bam if space == "keras_bam" else getattr(keras_bam, space[1:])
        for name in re.findall(r"`([A-Za-z_]\w*)`", cell):
            assert name in getattr(module, "__all__", vars(module)), f"{space}.{name}"
