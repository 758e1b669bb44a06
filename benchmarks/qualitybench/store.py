"""Where the quality protocol's results are stored, one JSON per (system, seed),
and the committed copies of each seed's teachers' training-set predictions."""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import sys

import keras
from provenance import code_version
from provenance import portable

import keras_bam
from qualitybench.setting import LABELS
from qualitybench.setting import Setting

BENCHMARKS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(BENCHMARKS, "results", "quality")


def result_path(setting: Setting, system: str, seed: int) -> str:
    return os.path.join(RESULTS, setting.name, f"{system}_seed{seed}.json")


def set_results_dir(path: str):
    """Where results are read and written (`--results-dir`)."""
    global RESULTS
    RESULTS = path


def load_result(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


# Setting fields added later, with the value results stored before them used.
LEGACY_SETTING = {"packing": False}


def stored_setting(path: str) -> dict:
    return {**LEGACY_SETTING, **load_result(path)["setting"]}


def check_setting(setting: Setting, path: str):
    stored = stored_setting(path)
    if stored != setting.to_dict():
        raise SystemExit(
            f"{path} was made with another setting:\n  {stored}\nnot\n  "
            f"{setting.to_dict()}\nUse another --setting name."
        )


def write_result(setting: Setting, system: str, seed: int, payload: dict) -> str:
    path = result_path(setting, system, seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    payload = {
        "system": system,
        "label": LABELS[system],
        "seed": seed,
        "setting": setting.to_dict(),
        "code_version": code_version(),
        "machine": f"cpu:{os.cpu_count()} cores ({platform.machine()})",
        # Whether a rerun with this seed repeats the numbers bit for bit.
        "determinism": keras_bam.backend.op_determinism(),
        "command": portable(" ".join(sys.argv)),
        **payload,
    }
    payload["scores"] = keras_bam.evaluation.glue_scores(payload["dev_metrics"])
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)
    return path


def stored_predictions_dir(setting: Setting, seed: int) -> str:
    """The committed copy of a seed's teachers' training-set predictions (a few
    hundred KB at most): students trained later, on a fresh machine whose work
    folder is empty, learn from the very teachers of the stored result."""
    return os.path.join(RESULTS, setting.name, f"teachers_seed{seed}_predictions")


def teacher_prediction_files(teacher_dir: str, task: str) -> list:
    """A task's training-set prediction files in `teacher_dir` (both orders)."""
    return sorted(
        glob.glob(os.path.join(teacher_dir, task, f"{task}_train*_teacher.npz"))
    )


def store_teacher_predictions(setting: Setting, seed: int, teacher_dir: str):
    """Copies the seed's teachers' training-set predictions beside its result."""
    for task in setting.tasks:
        target = os.path.join(stored_predictions_dir(setting, seed), task)
        os.makedirs(target, exist_ok=True)
        for path in teacher_prediction_files(teacher_dir, task):
            shutil.copy2(path, target)


def restore_teacher_predictions(setting: Setting, seed: int, teacher_dir: str, tasks):
    """Copies committed predictions of `tasks` into the work folder; returns the
    tasks that have none committed."""
    missing = []
    for task in tasks:
        files = teacher_prediction_files(stored_predictions_dir(setting, seed), task)
        if not files:
            missing.append(task)
            continue
        os.makedirs(os.path.join(teacher_dir, task), exist_ok=True)
        for path in files:
            keras_bam.data.TeacherPredictions.load(path)  # Refuses a corrupt copy.
            shutil.copy2(path, os.path.join(teacher_dir, task))
        print(
            f"seed {seed}: {task} teacher predictions restored from {path}", flush=True
        )
    return missing


def setting_from(args) -> Setting:
    return Setting(
        name=args.setting,
        tasks=tuple(args.tasks),
        backbone=args.backbone,
        train_limit=args.train_limit,
        teacher_epochs=args.teacher_epochs,
        student_epochs=args.student_epochs,
        student_batch_size=args.student_batch_size,
        student_learning_rate=args.student_learning_rate,
        max_length=args.max_length,
        folds=args.folds,
        backend=keras.backend.backend(),
        batching=args.batching,
        packing=setting_packing(args),
    )


def setting_packing(args) -> bool:
    """`--packing`/`--no-packing`, else what the setting's stored results used
    (a setting is one protocol), else packing (the library's default)."""
    if args.packing is not None:
        return args.packing
    folder = os.path.join(RESULTS, args.setting)
    stored = sorted(glob.glob(os.path.join(folder, "*_seed*.json")))
    return stored_setting(stored[0])["packing"] if stored else True
