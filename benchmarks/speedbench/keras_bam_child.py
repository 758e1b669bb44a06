"""The speed benchmark's `keras-bam` child: keras-bam's single-task and BAM steps,
and its prediction, on the backend the parent chose."""

from __future__ import annotations

import gc

import numpy as np

from speedbench.flops import length_stats
from speedbench.timing import bucketed_padded_tokens
from speedbench.timing import calls_timed
from speedbench.timing import compiled_shapes
from speedbench.timing import covering_warmup
from speedbench.timing import emit
from speedbench.timing import fit_timed
from speedbench.timing import fits_alternating
from speedbench.timing import keras_device
from speedbench.timing import say
from speedbench.timing import timed_passes


def child_keras_bam(cfg: dict) -> None:
    """keras-bam's single-task and BAM steps, and its prediction, on this backend."""
    import keras

    import keras_bam
    from keras_bam.backend import set_seed
    from keras_bam.evaluation import predict_outputs
    from keras_bam.training import make_optimizer
    from keras_bam.training.teacher import task_loss
    from keras_bam.training.teacher import training_targets

    if cfg["system"].endswith("-deterministic"):
        keras_bam.backend.enable_op_determinism()  # Before the backend starts (JAX).
    backend = keras.backend.backend()
    base = {"system": cfg["system"], "backend": backend, "device": keras_device()}
    batch_size = cfg["batch_size"]
    tokenizer = keras_bam.load_tokenizer(cfg["model"])
    loader = keras_bam.data.SplitLoader(
        tokenizer,
        cfg["max_length"],
        data_dir=cfg["data_dir"],
        cache_dir=cfg["cache_dir"],
    )
    data = {task: loader.load(task, "train", cfg["limit"]) for task in cfg["tasks"]}
    single = keras_bam.FineTuningRecipe.bam_single_task(
        batch_size=batch_size,
        max_length=cfg["max_length"],
        double_unordered=False,
        precision=cfg["precision"],
    )

    def single_task_model(task, batches, warmup, passes):
        set_seed(single.seed)
        backbone = keras_bam.models.with_precision(
            keras_bam.load_backbone(cfg["model"]), cfg["precision"]
        )
        model = keras_bam.SingleTaskModel(backbone, task, dropout=single.dropout)
        total_steps = (warmup + passes) * len(batches)
        model.compile(
            optimizer=make_optimizer(single, total_steps, backbone.num_layers),
            loss=task_loss(model.task, single.loss_reduction),
        )
        return model

    def train_record(variant, workload, batches, warmup, passes, seconds, warmup_s):
        epochs = range(warmup, warmup + passes)
        return {
            **base,
            "variant": variant,
            "mode": "train",
            "workload": workload,
            **length_stats(batches.encoded.row_lengths),
            "steps_per_pass": len(batches),
            "padded_tokens": bucketed_padded_tokens(batches, epochs),
            "shapes": compiled_shapes(batches, range(warmup + passes)),
            "pass_seconds": seconds,
            "warmup_passes": warmup,
            "warmup_seconds": warmup_s,
        }

    packing = cfg["packing"]
    for task in cfg["tasks"]:
        examples, encoded = data[task]
        # What `train_teacher` trains on: BAM's random batches.
        batches = keras_bam.data.RandomBatches(
            encoded,
            training_targets(examples.task, examples.labels),
            batch_size=batch_size,
            shuffle=True,
            seed=single.seed,
            packing=packing,
        )
        passes = timed_passes(len(batches), cfg["steps"])
        warmup = covering_warmup(batches, cfg["warmup_passes"], passes)
        model = single_task_model(task, batches, warmup, passes)
        if "train" in cfg["modes"]:
            say(f"{backend} single-task train {task}: {warmup}+{passes} passes")
            warmup_s, seconds = fit_timed(
                model,
                keras_bam.backend.as_fit_input(batches),
                warmup,
                passes,
                shuffle=False,
            )
            emit(
                train_record("single", task, batches, warmup, passes, seconds, warmup_s)
            )
        if "predict" in cfg["modes"]:
            # The plan `predict_outputs` makes (fixed: the first call compiles
            # every shape); with packing, the layout it picks for this backend.
            layout = None if packing else False  # None: the backend's default.
            plan = keras_bam.evaluation.prediction_batches(
                model, encoded, batch_size, packing=layout
            )
            warmup = cfg["warmup_passes"]
            passes = timed_passes(len(plan), cfg["steps"])
            say(f"{backend} predict {task}: {warmup}+{passes} passes")
            warmup_s, seconds = calls_timed(
                lambda model=model, encoded=encoded, layout=layout: predict_outputs(
                    model, encoded, batch_size=batch_size, packing=layout
                ),
                warmup,
                passes,
            )
            emit(
                {
                    **base,
                    "variant": "single",
                    "mode": "predict",
                    "layout": "packed" if plan.packing is not None else "bucketed",
                    "workload": task,
                    **length_stats(encoded.row_lengths),
                    "steps_per_pass": len(plan),
                    "padded_tokens": [plan.padded_tokens] * len(seconds),
                    "shapes": [list(s) for s in plan.shapes],
                    "pass_seconds": seconds,
                    "warmup_passes": warmup,
                    "warmup_seconds": warmup_s,
                }
            )
        del model
        gc.collect()

    if "train" not in cfg["modes"] or "bam" not in cfg["variants"]:
        return
    multi = keras_bam.FineTuningRecipe.bam_multi_task(
        batch_size=batch_size,
        max_length=cfg["max_length"],
        double_unordered=False,
        precision=cfg["precision"],
    )
    tasks = [keras_bam.get_task(t) for t in cfg["tasks"]]
    parts = [keras_bam.data.TaskPart(*data[t.name]) for t in tasks]
    multiples, weights = keras_bam.training.bam_multiples_and_weights(
        {t.name: len(data[t.name][0]) for t in tasks}
    )
    mixed = keras_bam.data.multitask_batches(
        parts,
        tasks,
        batch_size=batch_size,
        multiples=multiples,
        teachers="uninformative",
        seed=multi.seed,
        packing=packing,
    )
    workload = "+".join(t.name for t in tasks)
    passes = timed_passes(len(mixed), cfg["steps"])
    warmup = covering_warmup(mixed, cfg["warmup_passes"], passes)

    set_seed(multi.seed)
    backbone = keras_bam.models.with_precision(
        keras_bam.load_backbone(cfg["model"]), cfg["precision"]
    )
    student = keras_bam.MultiTaskModel(
        backbone,
        tasks,
        dropout=multi.dropout,
        distillation="annealed",
        task_weights=[weights[t.name] for t in tasks],
        loss_reduction=multi.loss_reduction,
    )
    total_steps = (warmup + passes) * len(mixed)
    student.compile(optimizer=make_optimizer(multi, total_steps, backbone.num_layers))

    # The single-task step on the same batches: same encoded examples, seed and
    # buckets give the same plan; the first task's head takes every label.
    head = tasks[0]
    labels = mixed.targets["label"]
    if head.is_regression:
        targets = labels.astype(np.float32)[:, None]
    else:
        targets = np.clip(labels.astype(np.int32), 0, head.num_outputs - 1)
    same = type(mixed)(
        mixed.encoded,
        targets,
        batch_size=batch_size,
        buckets=mixed.buckets,
        shuffle=True,
        seed=mixed.seed,
        packing=mixed.packing,
    )
    for epoch in range(warmup + passes):
        same.set_epoch(epoch)
        mixed.set_epoch(epoch)
        if any(
            not np.array_equal(same.slot_examples(i), mixed.slot_examples(i))
            for i in range(len(mixed))
        ):
            raise AssertionError("The single-task batches differ from BAM's.")
    same.set_epoch(0)
    mixed.set_epoch(0)
    model = single_task_model(head, same, warmup, passes)

    def same_epoch():
        if same.epoch != mixed.epoch:
            raise AssertionError(
                f"The streams drifted apart: epoch {same.epoch} and {mixed.epoch}."
            )

    say(
        f"{backend} BAM train {workload} and the single-task step on its batches, "
        f"alternating: {warmup}+{passes} passes each"
    )
    (bam_warmup, bam_seconds), (single_warmup, single_seconds) = fits_alternating(
        [
            (
                student,
                keras_bam.backend.as_fit_input(mixed),
                [keras_bam.TeacherAnnealing(total_steps=total_steps)],
            ),
            (model, keras_bam.backend.as_fit_input(same), []),
        ],
        warmup,
        passes,
        check=same_epoch,
    )
    emit(train_record("bam", workload, mixed, warmup, passes, bam_seconds, bam_warmup))
    emit(
        train_record(
            "single-bam-batches",
            workload,
            same,
            warmup,
            passes,
            single_seconds,
            single_warmup,
        )
    )
