"""Does the BAM student beat its teachers? The paper's comparison, over seeds.

Runs, for each seed, the systems of BAM's Table 1 and its ablations on the same
training sample, and stores each (system, seed) result on its own in
`benchmarks/results/quality/<setting>/<system>_seed<n>.json`, so the protocol can
run across several sittings (or machines) and a second run skips what is done:

- `teachers`: one single-task teacher per task (BAM's single-task recipe);
- `multitask`: the multi-task student on gold labels only;
- `bam`: the multi-task student with teacher annealing (λ from 0 to 1);
- `distilled`: distillation with a fixed teacher weight (0.5), no annealing;
- `uninformative`: the control, annealing towards a uniform (or mean) teacher;
- `born_again`: single-task born-again students (one per task, annealed
  towards its own teacher, with the teacher's recipe and another seed, so that
  initialization, dropout and data order are not the teacher's);
- `oof_bam`: BAM with out-of-fold teacher predictions (k-fold cross-fitting:
  no teacher predicts an example it trained on);

and the ablations of keras-bam's own options against BAM's defaults:

- `bam_length_grouped`: BAM with length-grouped batches (a speed option);
- `bam_trained_multiples`: BAM with multiples and weights computed among the
  trained tasks only (`weighting="bam_trained"`) instead of BAM's table;
- `bam_ensemble`: BAM distilling from the teachers of every seed of
  `ENSEMBLE_SEEDS` per task, their probabilities averaged (MT-DNN's);
- `bam_ensemble_logits`: the same with the teachers' logits averaged.

`report` aggregates what is there: per task and GLUE-average mean ± sd over
seeds; paired comparisons of BAM with every other system (paired t-test over
seeds, paired bootstrap over dev examples pooling the seeds); the teachers'
confidence on their training examples, in sample and out of fold; a plot (per
task bars with error bars, λ over training); and the table in benchmarks/README.md.

    python benchmarks/quality.py run --seeds 0 1 2 --systems teachers multitask bam
    python benchmarks/quality.py report --readme benchmarks/README.md

Everything runs through the library (`train_teacher`, `train_student`,
`cross_fit_teacher`); the setting's parameters are stored with every result and
a result of another setting is never mixed in.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import logging
import os
import platform
import shutil
import sys

import keras
import numpy as np
from provenance import code_version

import keras_bam
from keras_bam.io_utils import load_dev_outputs
from keras_bam_cli.arguments import add_batching_argument

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results", "quality")
WORK_DIR = os.environ.get(
    "KERAS_BAM_QUALITY_WORK_DIR",
    os.path.join(os.path.expanduser("~"), ".cache", "keras-bam", "quality"),
)
SYSTEMS = (
    "teachers",
    "multitask",
    "bam",
    "distilled",
    "uninformative",
    "born_again",
    "oof_bam",
    "bam_length_grouped",
    "bam_trained_multiples",
    "bam_ensemble",
    "bam_ensemble_logits",
    "bam_packed",
    "bam_padded",
)
LABELS = {
    "teachers": "single-task teachers",
    "multitask": "multi-task (gold labels only)",
    "bam": "BAM (teacher annealing)",
    "distilled": "distillation, fixed teacher weight 0.5",
    "uninformative": "annealing, uninformative teacher",
    "born_again": "single-task born-again",
    "oof_bam": "BAM, out-of-fold teachers",
    "bam_length_grouped": "BAM, length-grouped batches",
    "bam_trained_multiples": "BAM, multiples among the trained tasks",
    "bam_ensemble": "BAM, 3-teacher ensemble (probabilities averaged)",
    "bam_ensemble_logits": "BAM, 3-teacher ensemble (logits averaged)",
    "bam_packed": "BAM, packed batches",
    "bam_padded": "BAM, padded batches",
}
# The students' `train_student` arguments: `run_glue`'s students, and variants
# of BAM's.
BAM = keras_bam.pipeline.STUDENTS["bam"]
STUDENT_MODES = {
    **keras_bam.pipeline.STUDENTS,
    "bam_length_grouped": {**BAM, "recipe": {"batching": "length_grouped"}},
    "bam_trained_multiples": {**BAM, "weighting": "bam_trained"},
    "bam_packed": {**BAM, "recipe": {"packing": True}},
    "bam_padded": {**BAM, "recipe": {"packing": False}},
    "bam_ensemble": {
        **BAM,
        "teacher_combination": "probabilities",
        "ensemble": True,
    },
    "bam_ensemble_logits": {**BAM, "teacher_combination": "logits", "ensemble": True},
}
# Systems that need the seed's teachers (run first when missing).
NEEDS_TEACHERS = (
    "bam",
    "distilled",
    "born_again",
    "bam_length_grouped",
    "bam_trained_multiples",
    "bam_packed",
    "bam_padded",
)
# The ensemble systems distill, for every seed, from the teachers of these seeds.
ENSEMBLE_SEEDS = (0, 1, 2)
# The training sample is the same for every seed: seeds vary initialization,
# dropout and data order, the paired comparisons' unit.
SAMPLE_SEED = 0


@dataclasses.dataclass
class Setting:
    """What defines a protocol; results of different settings are never mixed."""

    name: str
    tasks: tuple
    backbone: str | None
    train_limit: int | None
    teacher_epochs: int
    student_epochs: int
    student_batch_size: int
    student_learning_rate: float
    max_length: int
    folds: int
    backend: str
    batching: str = "random"
    packing: bool = True

    def to_dict(self) -> dict:
        """As stored with every result (JSON: the tasks as a list)."""
        return dataclasses.asdict(self) | {"tasks": list(self.tasks)}

    def teacher_recipe(self, seed: int, **overrides):
        values = dict(
            epochs=self.teacher_epochs,
            max_length=self.max_length,
            seed=seed,
            batching=self.batching,
            packing=self.packing,
        )
        return keras_bam.FineTuningRecipe.bam_single_task(**{**values, **overrides})

    def student_recipe(self, seed: int, **overrides):
        values = dict(
            epochs=self.student_epochs,
            batch_size=self.student_batch_size,
            learning_rate=self.student_learning_rate,
            max_length=self.max_length,
            seed=seed,
            batching=self.batching,
            packing=self.packing,
        )
        return keras_bam.FineTuningRecipe.bam_multi_task(**{**values, **overrides})


class GoldWeightRecorder(keras.callbacks.Callback):
    """Records λ (`gold_weight`) after every training step of this sitting, and
    the step it started at (a student resumed from a checkpoint starts late)."""

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


def result_path(setting: Setting, system: str, seed: int) -> str:
    return os.path.join(RESULTS, setting.name, f"{system}_seed{seed}.json")


def set_results_dir(path: str):
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


def dev_predictions(task_name: str, outputs: dict) -> dict:
    """Split name to predictions in label space, as JSON-ready lists."""
    return {
        split: keras_bam.evaluation.predictions_from_outputs(task_name, values).tolist()
        for split, values in outputs.items()
    }


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
        "command": " ".join(sys.argv),
        **payload,
    }
    payload["scores"] = keras_bam.evaluation.glue_scores(payload["dev_metrics"])
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)
    return path


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
    finished teacher of the same recipe is there (a sitting ended mid-seed)."""
    task_dir = os.path.join(teacher_dir, name)
    summary_path = os.path.join(task_dir, f"{name}_teacher.json")
    recipe = setting.teacher_recipe(seed)
    summary = load_result(summary_path) if os.path.exists(summary_path) else None
    if summary is None or summary.get("recipe") != recipe.to_dict():
        # Seeded before the backbone is built: its dropout layers draw their
        # seeds when made, so the run is reproducible from its seed.
        keras.utils.set_random_seed(recipe.seed)
        backbone, tokenizer = keras_bam.backbones.new_backbone_and_tokenizer(
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
    _, tokenizer = keras_bam.backbones.new_backbone_and_tokenizer(setting.backbone)
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
        "train_prediction_statistics": keras_bam.cross_fitting.prediction_statistics(
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
    `--save-every` steps), so a sitting that ends mid-run resumes it there."""
    keras.utils.set_random_seed(recipe.seed)  # Before the backbone's dropout seeds.
    backbone, tokenizer = keras_bam.backbones.new_backbone_and_tokenizer(
        setting.backbone
    )
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
    stored dev predictions: students compared across sittings must learn from
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


def stored_predictions_dir(setting: Setting, seed: int) -> str:
    """The committed copy of a seed's teachers' training-set predictions (a few
    hundred KB at most): students of a later sitting, on a fresh machine whose
    work folder is empty, learn from the very teachers of the stored result."""
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


# ----------------------------------------------------------------------------
# Aggregation.


def gather(setting_name: str) -> dict:
    """System name to seed to result, for one setting."""
    results = {}
    for path in sorted(glob.glob(os.path.join(RESULTS, setting_name, "*_seed*.json"))):
        result = load_result(path)
        result["setting"] = {**LEGACY_SETTING, **result["setting"]}
        results.setdefault(result["system"], {})[result["seed"]] = result
    if not results:
        raise SystemExit(f"No results in {os.path.join(RESULTS, setting_name)}.")
    settings = {
        json.dumps(r["setting"], sort_keys=True)
        for seeds in results.values()
        for r in seeds.values()
    }
    if len(settings) != 1:
        raise SystemExit(f"{setting_name}: results of different settings: {settings}")
    return {s: results[s] for s in SYSTEMS if s in results}


def dev_labels(tasks, data_dir: str) -> dict:
    labels = {}
    for name in tasks:
        task = keras_bam.get_task(name)
        for split in task.eval_split:
            labels[(name, split)] = keras_bam.data.read_glue_tsv(
                name, split, data_dir
            ).labels
    return labels


def task_score(name: str):
    return lambda y, p: keras_bam.evaluation.glue_metrics(name, y, p)["score"]


def aggregate(results: dict, data_dir: str, num_resamples: int) -> dict:
    any_result = next(iter(next(iter(results.values())).values()))
    tasks = any_result["setting"]["tasks"]
    summary = {"setting": any_result["setting"], "systems": {}, "comparisons": {}}
    for system, seeds in results.items():
        row = {"seeds": sorted(seeds)}
        for key in [*tasks, "average"]:
            mean, sd = keras_bam.evaluation.mean_and_sd(
                [r["scores"][key] for r in seeds.values()]
            )
            row[key] = {"mean": mean, "sd": sd}
        row["label"] = LABELS[system]
        first = seeds[min(seeds)]
        if "schedule" in first:
            row["schedule"] = {
                **first["schedule"],
                "multiples": first["multiples"],
                "task_weights": first["task_weights"],
            }
        summary["systems"][system] = row

    if "bam" in results:
        labels = dev_labels(tasks, data_dir)
        bam = results["bam"]
        for other, seeds in results.items():
            if other == "bam":
                continue
            common = sorted(set(bam) & set(seeds))
            if not common:
                continue
            comparison = {"seeds": common}
            comparison["over_seeds"] = keras_bam.evaluation.paired_seed_test(
                [bam[s]["scores"]["average"] for s in common],
                [seeds[s]["scores"]["average"] for s in common],
            )
            comparison["per_task_mean_difference"] = {
                t: float(
                    np.mean(
                        [bam[s]["scores"][t] - seeds[s]["scores"][t] for s in common]
                    )
                )
                for t in tasks
            }
            keys = [(t, split) for (t, split) in labels if t in tasks]
            comparison["bootstrap"] = keras_bam.evaluation.paired_bootstrap_over_tasks(
                {k: labels[k] for k in keys},
                {
                    k: [bam[s]["dev_predictions"][k[0]][k[1]] for s in common]
                    for k in keys
                },
                {
                    k: [seeds[s]["dev_predictions"][k[0]][k[1]] for s in common]
                    for k in keys
                },
                {k: task_score(k[0]) for k in keys},
                num_resamples=num_resamples,
            )
            summary["comparisons"][other] = comparison

    confidence = {}
    for result in results.get("teachers", {}).values():
        for t, stats in result.get("train_prediction_statistics", {}).items():
            confidence.setdefault(t, {}).setdefault("in_sample_full", []).append(stats)
    for result in results.get("oof_bam", {}).values():
        for t, stats in result.get("cross_fit", {}).items():
            entry = confidence.setdefault(t, {})
            entry.setdefault("in_sample_folds", []).append(stats["in_sample"])
            entry.setdefault("out_of_fold", []).append(stats["out_of_fold"])
    summary["teacher_train_predictions"] = {
        t: {
            kind: {k: float(np.mean([s[k] for s in values])) for k in values[0]}
            for kind, values in entry.items()
        }
        for t, entry in confidence.items()
    }
    return summary


def format_report(summary: dict, command: str) -> str:
    setting = summary["setting"]
    tasks = setting["tasks"]
    names = [keras_bam.get_task(t).display_name for t in tasks]
    lines = [
        f"Setting `{setting['name']}` ({setting['backend']}): MiniLM-L6-H384, "
        f"{setting['train_limit'] or 'all'} training examples per task (the same "
        f"random sample for every seed), teachers {setting['teacher_epochs']} "
        f"epochs (BAM's single-task recipe), students {setting['student_epochs']} "
        f"epochs of batch {setting['student_batch_size']} at lr "
        f"{setting['student_learning_rate']:g}, {setting['folds']} folds for "
        "out-of-fold teachers; full dev sets; "
        f"{setting.get('batching', 'length-grouped')}, "
        f"{'packed' if setting.get('packing') else 'padded'} batches. "
        "Dev scores ×100, "
        "mean ± sd over seeds.",
        "",
        "| system | seeds | " + " | ".join(names) + " | GLUE avg |",
        "|---|---|" + "---|" * (len(tasks) + 1),
    ]
    for row in summary["systems"].values():
        cells = [
            f"{100 * row[k]['mean']:.1f} ± {100 * row[k]['sd']:.1f}"
            if not np.isnan(row[k]["sd"])
            else f"{100 * row[k]['mean']:.1f}"
            for k in [*tasks, "average"]
        ]
        lines.append(
            f"| {row['label']} | {len(row['seeds'])} | " + " | ".join(cells) + " |"
        )
    schedules = {
        system: row["schedule"]
        for system, row in summary["systems"].items()
        if "schedule" in row and isinstance(row["schedule"].get("steps"), int)
    }
    if schedules:
        lines += [
            "",
            "What each multi-task student trained on (first seed): dataset multiples "
            "and loss weights per task, steps, epochs, batch size, mixing, batching.",
            "",
            "| system | multiples | loss weights | steps (per epoch) | epochs | "
            "batch | mixing | batching |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for system, sched in schedules.items():
            multiples = ", ".join(
                f"{keras_bam.get_task(t).display_name} {m}"
                for t, m in sched["multiples"].items()
            )
            weights = ", ".join(f"{w:.3f}" for w in sched["task_weights"].values())
            lines.append(
                f"| {LABELS[system]} | {multiples} | {weights} | {sched['steps']} "
                f"({sched['steps_per_epoch']}) | {sched['epochs']} | "
                f"{sched['batch_size']} | {sched['mixing']} | {sched['batching']} |"
            )
    if summary["comparisons"]:
        lines += [
            "",
            "BAM minus each system (GLUE average, ×100): paired t-test over seeds; "
            "paired bootstrap over dev examples (all seeds pooled, 95% interval).",
            "",
            "| BAM vs | seeds | Δ avg ± sd | t-test p | bootstrap 95% CI | "
            "bootstrap p | Δ per task |",
            "|---|---|---|---|---|---|---|",
        ]
        for other, c in summary["comparisons"].items():
            seed_test, boot = c["over_seeds"], c["bootstrap"]
            per_task = ", ".join(
                f"{keras_bam.get_task(t).display_name} "
                f"{100 * c['per_task_mean_difference'][t]:+.1f}"
                for t in tasks
            )
            sd, p = seed_test["sd_difference"], seed_test["p_value"]
            sd_text = "" if np.isnan(sd) else f" ± {100 * sd:.1f}"
            p_text = "—" if np.isnan(p) else f"{p:.3f}"
            lines.append(
                f"| {LABELS[other]} | {seed_test['n']} | "
                f"{100 * seed_test['mean_difference']:+.1f}{sd_text} | {p_text} | "
                f"[{100 * boot['ci_low']:+.1f}, {100 * boot['ci_high']:+.1f}] | "
                f"{boot['p_value']:.3f} | {per_task} |"
            )
    confidence = summary.get("teacher_train_predictions")
    if confidence:
        lines += [
            "",
            "Teachers' predictions on their training examples (mean over seeds): "
            "accuracy / mean confidence of the predicted class (STS-B: mean "
            "absolute error), in sample (the teacher trained on them) and out of "
            "fold.",
            "",
            "| task | in sample (full teacher) | in sample (fold teachers) | "
            "out of fold |",
            "|---|---|---|---|",
        ]
        for t, entry in confidence.items():
            cells = []
            for kind in ("in_sample_full", "in_sample_folds", "out_of_fold"):
                stats = entry.get(kind)
                if not stats:
                    cells.append("—")
                elif "mean_absolute_error" in stats:
                    cells.append(f"MAE {stats['mean_absolute_error']:.2f}")
                else:
                    cells.append(
                        f"{100 * stats['accuracy']:.1f} / "
                        f"{100 * stats['mean_confidence']:.1f}"
                    )
            lines.append(
                f"| {keras_bam.get_task(t).display_name} | " + " | ".join(cells) + " |"
            )
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines)


def plot(results: dict, summary: dict, path: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: I001 (after choosing the backend)

    tasks = summary["setting"]["tasks"]
    keys = [*tasks, "average"]
    systems = list(summary["systems"])
    fig, (bars, lam) = plt.subplots(
        1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [2.2, 1]}
    )
    width = 0.8 / len(systems)
    x = np.arange(len(keys))
    for i, system in enumerate(systems):
        row = summary["systems"][system]
        means = [100 * row[k]["mean"] for k in keys]
        sds = [100 * np.nan_to_num(row[k]["sd"]) for k in keys]
        bars.bar(
            x + i * width,
            means,
            width,
            yerr=sds,
            capsize=2,
            label=row["label"],
            color=f"C{SYSTEMS.index(system)}",
        )
    bars.set_xticks(x + width * (len(systems) - 1) / 2)
    bars.set_xticklabels(
        [keras_bam.get_task(t).display_name for t in tasks] + ["GLUE avg"]
    )
    bars.set_ylabel("dev score ×100 (mean ± sd over seeds)")
    bars.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4)
    for system in ("bam", "distilled", "uninformative", "oof_bam", "multitask"):
        seeds = results.get(system)
        if not seeds:
            continue
        first = seeds[min(seeds)]
        values = first.get("gold_weight_per_step") or []
        if values:
            start = first.get("gold_weight_first_step", 0)
            lam.plot(
                np.arange(start + 1, start + len(values) + 1),
                values,
                label=LABELS[system],
                color=f"C{SYSTEMS.index(system)}",
            )
    lam.set_xlabel("training step")
    lam.set_ylabel("λ (weight of the gold label)")
    lam.set_title("λ over training (first seed)")
    lam.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def replace_between(text: str, marker: str, body: str) -> str:
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    if start not in text or end not in text:
        raise SystemExit(f"The README has no {start} ... {end} markers.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def report(args):
    results = gather(args.setting)
    summary = aggregate(results, args.data_dir, args.resamples)
    any_result = next(iter(next(iter(results.values())).values()))
    command = args.command or (
        f"KERAS_BACKEND={any_result['setting']['backend']} python "
        f"benchmarks/quality.py run --setting {args.setting} ..."
    )
    text = format_report(summary, command)
    print(text)
    out_dir = os.path.join(RESULTS, args.setting)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    plot_path = os.path.join(out_dir, f"quality_{args.setting}.png")
    plot(results, summary, plot_path)
    print(f"\nwrote {os.path.join(out_dir, 'summary.json')} and {plot_path}")
    if args.readme:
        with open(args.readme) as f:
            readme = f.read()
        image = os.path.relpath(
            plot_path, os.path.dirname(os.path.abspath(args.readme))
        )
        body = f"{text}\n\n![quality plot]({image})"
        with open(args.readme, "w") as f:
            f.write(replace_between(readme, args.readme_marker, body))
        print(f"updated {args.readme}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command_name", required=True)
    run_parser = commands.add_parser("run", help="run (system, seed) results")
    run_parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    run_parser.add_argument(
        "--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS
    )
    run_parser.add_argument(
        "--tasks", nargs="+", default=["cola", "mrpc", "stsb", "rte"]
    )
    run_parser.add_argument("--backbone", default=None, help="MiniLM by default")
    run_parser.add_argument(
        "--train-limit",
        type=int,
        default=500,
        help="training examples per task (a seeded random sample); 0: all",
    )
    run_parser.add_argument("--teacher-epochs", type=int, default=3)
    run_parser.add_argument("--student-epochs", type=int, default=3)
    run_parser.add_argument("--student-batch-size", type=int, default=32)
    run_parser.add_argument("--student-learning-rate", type=float, default=1e-4)
    run_parser.add_argument("--max-length", type=int, default=128)
    run_parser.add_argument("--folds", type=int, default=3)
    run_parser.add_argument(
        "--save-every",
        type=int,
        default=200,
        help="checkpoint students every N steps (and at every epoch end)",
    )
    # Every model's batches; --packing defaults to the setting's stored results.
    add_batching_argument(run_parser, packing_default=None)
    run_parser.add_argument(
        "--work-dir",
        default=WORK_DIR,
        help="teachers' predictions, encoded data and student checkpoints; outside "
        "the checkout by default, so a later sitting on a fresh checkout resumes",
    )
    run_parser.add_argument(
        "--retrain-teachers",
        action="store_true",
        help="when a stored teachers result's predictions are not in --work-dir, "
        "train those teachers again and go on only if they reproduce it",
    )
    run_parser.add_argument(
        "--deterministic",
        action="store_true",
        help="keras_bam.backend.enable_op_determinism() (recorded in each result)",
    )
    run_parser.add_argument("--verbose", type=int, default=2)
    report_parser = commands.add_parser(
        "report", help="aggregate, plot, fill the table in --readme"
    )
    report_parser.add_argument("--resamples", type=int, default=1000)
    report_parser.add_argument(
        "--readme",
        default=None,
        help="the file whose table to fill (benchmarks/README.md holds the quality "
        "tables)",
    )
    report_parser.add_argument(
        "--readme-marker",
        default="quality-table",
        help="the <!-- MARKER --> ... <!-- /MARKER --> block of --readme to replace",
    )
    report_parser.add_argument("--command", default=None)
    for sub in (run_parser, report_parser):
        sub.add_argument("--setting", default="minilm-500")
        sub.add_argument(
            "--data-dir", default=os.path.join(ROOT, "..", "shared", "glue")
        )
        sub.add_argument("--results-dir", default=RESULTS)
    args = parser.parse_args(argv)
    set_results_dir(args.results_dir)
    if args.command_name == "run":
        if args.deterministic:
            keras_bam.backend.enable_op_determinism()
        if args.train_limit == 0:
            args.train_limit = None
        run(args)
    else:
        report(args)


if __name__ == "__main__":
    main()
