"""What prediction gains with the least padding (keras-bam on JAX against the
peer, on the same token ids), and packed rows against length buckets."""

from __future__ import annotations

import os

from probebench.common import load
from probebench.common import timed_plan


def child_padding_bound_keras(cfg: dict) -> dict:
    """keras-bam's JAX prediction with its default buckets and with a bucket per
    length (each batch of length-sorted examples padded to its longest only)."""
    import keras_bam

    model = keras_bam.SingleTaskModel(keras_bam.load_backbone(), "mrpc")
    out = {}
    for task in ("mrpc", "cola"):
        _, encoded = load(task, cfg["limit"], cfg["data_dir"])
        for plan, buckets in (("default", None), ("every length", range(1, 129))):
            buckets = tuple(buckets) if buckets else None
            batches = keras_bam.data.BucketedBatches(
                encoded, batch_size=32, buckets=buckets
            )
            timing = timed_plan(
                lambda encoded=encoded, buckets=buckets: (
                    keras_bam.evaluation.predict_outputs(
                        model, encoded, batch_size=32, buckets=buckets
                    )
                ),
                warmup=2,
                passes=cfg["passes"],
            )
            out[f"{task}/{plan}"] = {
                "system": "keras-bam (jax)",
                "task": task,
                "plan": plan,
                "shapes": len(batches.shapes),
                "real_tokens": int(encoded.row_lengths.sum()),
                "padded_tokens": batches.padded_tokens,
                **timing,
            }
    return out


def child_padding_bound_torch(cfg: dict) -> dict:
    """The peer's forward (transformers + PyTorch) on the same token ids, in
    dataset order (as `speed.py` predicts) and length-sorted."""
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification

    from keras_bam.models.backbones import resolve_preset

    torch.set_num_threads(os.cpu_count())
    path = resolve_preset("minilm")
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    model.eval()
    out = {}
    for task in ("mrpc", "cola"):
        _, encoded = load(task, cfg["limit"], cfg["data_dir"])
        lengths = encoded.row_lengths
        orders = {
            "dataset order": np.arange(len(lengths)),
            "length-sorted": np.argsort(lengths, kind="stable"),
        }
        for plan, order in orders.items():
            chunks = [order[s : s + 32] for s in range(0, len(order), 32)]
            batches = []
            for chunk in chunks:
                padded = encoded.pad_batch(chunk, int(lengths[chunk].max()))
                batches.append(
                    {
                        "input_ids": torch.from_numpy(padded["token_ids"]).long(),
                        "token_type_ids": torch.from_numpy(
                            padded["segment_ids"]
                        ).long(),
                        "attention_mask": torch.from_numpy(
                            padded["padding_mask"]
                        ).long(),
                    }
                )

            def predict(batches=batches):
                with torch.inference_mode():
                    return [model(**b).logits for b in batches]

            timing = timed_plan(predict, warmup=2, passes=cfg["passes"])
            out[f"{task}/{plan}"] = {
                "system": "transformers + PyTorch",
                "task": task,
                "plan": plan,
                "shapes": len({tuple(b["input_ids"].shape) for b in batches}),
                "real_tokens": int(lengths.sum()),
                "padded_tokens": int(sum(b["input_ids"].numel() for b in batches)),
                **timing,
            }
    return out


def child_prediction_layout(cfg: dict) -> dict:
    """`predict_outputs` with packed rows and with length buckets, per task (on
    TensorFlow also under `jit_compile=True`)."""
    import keras

    import keras_bam

    model = keras_bam.SingleTaskModel(keras_bam.load_backbone(), "mrpc")
    tensorflow = keras.backend.backend() == "tensorflow"
    out = {}
    for task in ("mrpc", "cola"):
        _, encoded = load(task, cfg["limit"], cfg["data_dir"])
        for jit_compile in (False, True) if tensorflow else (True,):
            model.compile(jit_compile=jit_compile)
            default = keras_bam.evaluation.prediction_batches(
                model, encoded, batch_size=32
            )
            default_packs = default.packing is not None
            for layout in ("packed", "bucketed"):
                packing = layout == "packed"
                plan = keras_bam.evaluation.prediction_batches(
                    model, encoded, batch_size=32, packing=packing
                )
                timing = timed_plan(
                    lambda encoded=encoded, packing=packing: (
                        keras_bam.evaluation.predict_outputs(
                            model, encoded, batch_size=32, packing=packing
                        )
                    ),
                    warmup=2,
                    passes=cfg["passes"],
                )
                out[f"{task}/{layout}/jit={jit_compile}"] = {
                    "backend": keras.backend.backend(),
                    "task": task,
                    "layout": layout,
                    "jit_compile": jit_compile,
                    "default": packing == default_packs,
                    "shapes": len(plan.shapes),
                    "real_tokens": int(encoded.row_lengths.sum()),
                    "padded_tokens": plan.padded_tokens,
                    **timing,
                }
    return out
