"""How each system of the quality protocol is trained, and the protocol's run:
every (system, seed) result trained once, on its seed's teachers."""

from __future__ import annotations

import json
import logging
import os
import shutil

import keras
import numpy as np
from provenance import code_version

import keras_bam
from keras_bam.data.io_utils import load_dev_outputs
from qualitybench.setting import ENSEMBLE_SEEDS
from qualitybench.setting import NEEDS_TEACHERS
from qualitybench.setting import SAMPLE_SEED
from qualitybench.setting import STUDENT_MODES
from qualitybench.setting import SYSTEMS
from qualitybench.setting import Setting
from qualitybench.store import check_setting
from qualitybench.store import load_result
from qualitybench.store import restore_teacher_predictions
from qualitybench.store import result_path
from qualitybench.store import setting_from
from qualitybench.store import store_teacher_predictions
from qualitybench.store import write_result


class GoldWeightRecorder(keras.callbacks.Callback):
    """Records λ (`gold_weight`) after every training step of this run, and the
    step it started at (a student resumed from a checkpoint starts late)."""

    def __init__(self):
        super().__init__()
        self.values = []
        self.first_step = None

    def on_train_batch_end(self, batch, logs=None):
        if logs and "gold_weight" in logs:
            if self.first_step is None:
                annealing = getattr(self.model, "annealing", None)
                step = 0 if annealing is None else int(annealing.step.numpy())
                self.first_step = max(step - 1, 0)
            self.values.append(float(logs["gold_weight"]))


def dev_predictions(task_name: str, outputs: dict) -> dict:
    """Split name to predictions in label space, as JSON-ready lists."""
    return {
        split: keras_bam.evaluation.predictions_from_outputs(task_name, values).tolist()
        for split, values in outputs.items()
    }


def common_arguments(setting: Setting, args) -> dict:
    return dict(
        data_dir=args.data_dir,
        cache_dir=os.path.join(args.work_dir, "cache"),
        train_limit=setting.train_limit,
        train_sample_seed=SAMPLE_SEED if setting.train_limit else None,
        verbose=args.verbose,
    )


def teacher_task_result(setting: Setting, seed: int, name: str, args, teacher_dir):
    """One task's teacher: trained, or read back from `teacher_dir/<task>` when a
    finished teacher of the same recipe is there (an earlier run stopped mid-seed)."""
    task_dir = os.path.join(teacher_dir, name)
    summary_path = os.path.join(task_dir, f"{name}_teacher.json")
    recipe = setting.teacher_recipe(seed)
    summary = load_result(summary_path) if os.path.exists(summary_path) else None
    if summary is None or summary.get("recipe") != recipe.to_dict():
        # Seeded before the backbone is built: its dropout layers draw their
        # seeds when made, so the run is reproducible from its seed.
        keras.utils.set_random_seed(recipe.seed)
        backbone, tokenizer = keras_bam.models.new_backbone_and_tokenizer(
            setting.backbone
        )
        run = keras_bam.train_teacher(
            name,
            backbone=backbone,
            tokenizer=tokenizer,
            recipe=recipe,
            output_dir=task_dir,
            save_model=False,
            **common_arguments(setting, args),
        )
        del run
        keras.backend.clear_session()
        summary = load_result(summary_path)
    else:
        print(f"seed {seed}: reusing the {name} teacher in {task_dir}", flush=True)
    dev_outputs = load_dev_outputs(os.path.join(task_dir, f"{name}_dev_outputs.npz"))[
        name
    ]
    train = keras_bam.data.TeacherPredictions.load(
        summary["predictions_paths"]["train"]
    )
    _, tokenizer = keras_bam.models.new_backbone_and_tokenizer(setting.backbone)
    loader = keras_bam.data.SplitLoader(
        tokenizer,
        setting.max_length,
        data_dir=args.data_dir,
        cache_dir=common_arguments(setting, args)["cache_dir"],
    )
    examples, _ = loader.load(
        name, "train", setting.train_limit, sample_seed=SAMPLE_SEED
    )
    keras.backend.clear_session()
    return {
        "dev_metrics": summary["dev_metrics"],
        "dev_predictions": dev_predictions(name, dev_outputs),
        "train_seconds": summary["train_seconds"],
        "train_prediction_statistics": keras_bam.training.prediction_statistics(
            name, train.outputs, examples.labels
        ),
        "padding_fraction": summary["padding_fraction"],
    }


def run_teachers(setting: Setting, seed: int, args, teacher_dir: str) -> dict:
    merged = {}
    for name in setting.tasks:
        result = teacher_task_result(setting, seed, name, args, teacher_dir)
        for key, value in result.items():
            merged.setdefault(key, {})[name] = value
    merged["recipe"] = setting.teacher_recipe(seed).to_dict()
    return merged


def run_student(
    setting: Setting,
    seed: int,
    args,
    tasks,
    teacher_dir,
    recipe,
    checkpoint_name: str,
    **modes,
) -> dict:
    """Trains one student, checkpointed in the work folder (every epoch and every
    `--save-every` steps), so a run stopped midway resumes there."""
    keras.utils.set_random_seed(recipe.seed)  # Before the backbone's dropout seeds.
    backbone, tokenizer = keras_bam.models.new_backbone_and_tokenizer(setting.backbone)
    recorder = GoldWeightRecorder()
    checkpoint_dir = os.path.join(
        args.work_dir, setting.name, f"seed{seed}", "students", checkpoint_name
    )
    run = keras_bam.train_student(
        list(tasks),
        teacher_dir=teacher_dir,
        backbone=backbone,
        tokenizer=tokenizer,
        recipe=recipe,
        callbacks=[recorder],
        checkpoint_dir=checkpoint_dir,
        save_every=args.save_every,
        **modes,
        **common_arguments(setting, args),
    )
    result = {
        "dev_metrics": run.dev_metrics,
        "dev_predictions": {
            t: dev_predictions(t, outputs) for t, outputs in run.dev_outputs.items()
        },
        "train_seconds": run.train_seconds,
        "gold_weight_per_step": recorder.values,
        "gold_weight_first_step": recorder.first_step or 0,
        "multiples": run.multiples,
        "task_weights": run.task_weights,
        "padding_fraction": run.padding_fraction,
        "schedule": run.schedule,
        "recipe": recipe.to_dict(),
        "modes": modes,
    }
    del run
    keras.backend.clear_session()
    return result


def seed_teacher_dir(setting: Setting, seed: int, args) -> str:
    return os.path.join(args.work_dir, setting.name, f"seed{seed}", "teachers")


def student_system(setting: Setting, system: str, seed: int, args) -> dict:
    """A multi-task student of `STUDENT_MODES`, on this seed's teachers (or the
    ensemble's)."""
    modes = dict(STUDENT_MODES[system])
    recipe = setting.student_recipe(seed, **modes.pop("recipe", {}))
    teacher_dir = None
    if modes.pop("ensemble", False):
        for other in ENSEMBLE_SEEDS:
            ensure_teachers(setting, other, args)
        teacher_dir = [seed_teacher_dir(setting, s, args) for s in ENSEMBLE_SEEDS]
    elif modes["teachers"] == "given":
        teacher_dir = seed_teacher_dir(setting, seed, args)
    result = run_student(
        setting, seed, args, setting.tasks, teacher_dir, recipe, system, **modes
    )
    if isinstance(teacher_dir, list):
        result["ensemble_seeds"] = list(ENSEMBLE_SEEDS)
    return result


def run_system(setting: Setting, system: str, seed: int, args) -> dict:
    seed_dir = os.path.join(args.work_dir, setting.name, f"seed{seed}")
    teacher_dir = seed_teacher_dir(setting, seed, args)
    if system == "teachers":
        result = run_teachers(setting, seed, args, teacher_dir)
        store_teacher_predictions(setting, seed, teacher_dir)
        return result
    if system in STUDENT_MODES:
        return student_system(setting, system, seed, args)
    if system == "born_again":
        merged = {}
        for name in setting.tasks:
            part = run_student(
                setting,
                seed,
                args,
                [name],
                teacher_dir,
                keras_bam.FineTuningRecipe.born_again(setting.teacher_recipe(seed)),
                f"born_again_{name}",
                distillation="annealed",
                teachers="given",
            )
            for key, value in part.items():
                if key in ("dev_metrics", "dev_predictions"):
                    merged.setdefault(key, {}).update(value)
                else:
                    merged.setdefault(key, {})[name] = value
        return merged
    if system == "oof_bam":
        oof_dir = os.path.join(seed_dir, f"oof{setting.folds}_teachers")
        cross_fit = {}
        for name in setting.tasks:
            done = os.path.join(oof_dir, name, f"{name}_cross_fit.json")
            if os.path.exists(done):
                cross_fit[name] = load_result(done)
                continue
            run = keras_bam.cross_fit_teacher(
                name,
                os.path.join(oof_dir, name),
                folds=setting.folds,
                fold_seed=seed,
                backbone=setting.backbone,
                recipe=setting.teacher_recipe(seed),
                **common_arguments(setting, args),
            )
            cross_fit[name] = run.summary()
        result = run_student(
            setting,
            seed,
            args,
            setting.tasks,
            oof_dir,
            setting.student_recipe(seed),
            "oof_bam",
            **STUDENT_MODES["bam"],
        )
        result["cross_fit"] = {
            name: {k: v[k] for k in ("in_sample", "out_of_fold", "fold_dev_metrics")}
            for name, v in cross_fit.items()
        }
        return result
    raise ValueError(f"Unknown system {system!r}; use some of {SYSTEMS}.")


def prediction_agreement(stored: dict, retrained: dict) -> dict:
    """How far retrained teachers' dev predictions are from the stored ones:
    the share of equal labels (classification) or the largest absolute
    difference (regression), per split."""
    agreement = {}
    for split, values in stored.items():
        a, b = np.asarray(values), np.asarray(retrained[split])
        if np.issubdtype(a.dtype, np.floating):
            agreement[split] = {"max_abs_difference": float(np.max(np.abs(a - b)))}
        else:
            agreement[split] = {"equal_share": float(np.mean(a == b))}
    return agreement


def retrain_stored_teachers(setting, seed, args, tasks, path, teacher_dir):
    """Trains a stored result's teachers again (their predictions were lost with
    an earlier work folder) and refuses to go on unless they reproduce the
    stored dev predictions: students compared across runs must learn from
    the same teachers. The check is appended to `teacher_reproductions.json`."""
    stored = load_result(path)
    checks = {}
    for name in tasks:
        print(f"seed {seed}: training the {name} teacher again", flush=True)
        result = teacher_task_result(setting, seed, name, args, teacher_dir)
        checks[name] = prediction_agreement(
            stored["dev_predictions"][name], result["dev_predictions"]
        )
    log_path = os.path.join(os.path.dirname(path), "teacher_reproductions.json")
    log = load_result(log_path) if os.path.exists(log_path) else []
    log.append({"seed": seed, "code_version": code_version(), "agreement": checks})
    with open(log_path, "w") as f:
        json.dump(log, f, indent=1)
    reproduced = all(
        split.get("equal_share", 1.0) == 1.0
        and split.get("max_abs_difference", 0.0) <= 1e-4
        for task in checks.values()
        for split in task.values()
    )
    print(f"seed {seed}: retrained teachers against {path}: {checks}", flush=True)
    if not reproduced:
        raise SystemExit(
            f"seed {seed}: the retrained teachers do not reproduce {path} "
            f"({checks}); students trained on them would not be comparable with "
            "the stored ones."
        )


def ensure_teachers(setting: Setting, seed: int, args):
    """Trains (or finishes) the seed's teachers and stores their result."""
    path = result_path(setting, "teachers", seed)
    if os.path.exists(path):
        check_setting(setting, path)
        teacher_dir = seed_teacher_dir(setting, seed, args)
        missing = [
            t
            for t in setting.tasks
            if not os.path.exists(
                os.path.join(teacher_dir, t, f"{t}_train_teacher.npz")
            )
        ]
        missing = restore_teacher_predictions(setting, seed, teacher_dir, missing)
        if missing and not args.retrain_teachers:
            raise SystemExit(
                f"{path} is stored, but the predictions of its {missing} teachers "
                f"are not in {teacher_dir}: pass --work-dir where they are, "
                "--retrain-teachers to train them again and check them against "
                "the stored result, or remove the result to train (and report) "
                "new teachers."
            )
        if missing:
            retrain_stored_teachers(setting, seed, args, missing, path, teacher_dir)
            store_teacher_predictions(setting, seed, teacher_dir)
        return
    print(f"seed {seed}: training the teachers", flush=True)
    payload = run_system(setting, "teachers", seed, args)
    print(f"wrote {write_result(setting, 'teachers', seed, payload)}", flush=True)


def run(args):
    setting = setting_from(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for seed in args.seeds:
        for system in args.systems:
            path = result_path(setting, system, seed)
            if os.path.exists(path):
                check_setting(setting, path)
                print(f"done already: {path}", flush=True)
                continue
            if system in NEEDS_TEACHERS:
                ensure_teachers(setting, seed, args)
            print(f"running {system}, seed {seed}", flush=True)
            payload = run_system(setting, system, seed, args)
            print(f"wrote {write_result(setting, system, seed, payload)}", flush=True)
            # Finished students' checkpoints are no longer needed (hundreds of MB).
            students = os.path.join(
                args.work_dir, setting.name, f"seed{seed}", "students"
            )
            for name in os.listdir(students) if os.path.isdir(students) else []:
                per_task = system == "born_again" and name.startswith("born_again_")
                if name == system or per_task:
                    shutil.rmtree(os.path.join(students, name), ignore_errors=True)
            keras.backend.clear_session()
