"""The speed benchmark's `hf` child, the peer: transformers + PyTorch with dynamic
padding (and `group_by_length` on the multi-task workload)."""

from __future__ import annotations

import gc
import math
import os
import time

import numpy as np

from speedbench.data import load_examples
from speedbench.flops import length_stats
from speedbench.timing import calls_timed
from speedbench.timing import emit
from speedbench.timing import say
from speedbench.timing import timed_passes


def child_hf(cfg: dict) -> None:
    """The peer: transformers + PyTorch with dynamic padding."""
    import torch
    from hf_teachers import layerwise_param_groups
    from transformers import AutoModelForSequenceClassification
    from transformers import AutoTokenizer
    from transformers import DataCollatorWithPadding
    from transformers import get_linear_schedule_with_warmup
    from transformers.trainer_pt_utils import LengthGroupedSampler

    import keras_bam

    torch.set_num_threads(os.cpu_count())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    # Mixed precision as a PyTorch user writes it: float32 weights, bfloat16 compute.
    bf16 = cfg["precision"] == "mixed_bfloat16"

    def autocast():
        return torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16)

    base = {
        "system": cfg["system"],
        "backend": "torch",
        "device": device,
        "variant": "hf",
        "torch_threads": torch.get_num_threads(),
    }
    batch_size, warmup = cfg["batch_size"], cfg["warmup_passes"]
    tokenizer = AutoTokenizer.from_pretrained(cfg["model"])
    collator = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    features = {}
    for name in cfg["tasks"]:
        task = keras_bam.get_task(name)
        examples = load_examples(cfg, name)
        encoded = tokenizer(
            *examples.texts, truncation="longest_first", max_length=cfg["max_length"]
        )
        features[name] = [
            {
                "input_ids": encoded["input_ids"][i],
                "token_type_ids": encoded["token_type_ids"][i],
                "attention_mask": encoded["attention_mask"][i],
                "labels": examples.labels[i].item(),
            }
            for i in range(len(examples))
        ]
    heads = {n: keras_bam.get_task(n) for n in cfg["tasks"]}

    def batches(rows, order):
        for s in range(0, len(order), batch_size):
            batch = collator([rows[i] for i in order[s : s + batch_size]])
            yield {k: v.to(device) for k, v in batch.items()}

    def padded(rows, order):
        return sum(
            len(chunk) * max(len(rows[i]["input_ids"]) for i in chunk)
            for chunk in (
                order[s : s + batch_size] for s in range(0, len(order), batch_size)
            )
        )

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    workloads = [(n, features[n], heads[n], "hf") for n in cfg["tasks"]]
    if len(cfg["tasks"]) > 1 and "bam" in cfg["variants"]:
        head = heads[cfg["tasks"][0]]
        rows = [
            {**row, "labels": min(int(row["labels"]), head.num_outputs - 1)}
            for n in cfg["tasks"]
            for row in features[n]
        ]
        mixed = "+".join(cfg["tasks"])
        workloads.append((mixed, rows, head, "hf"))
        # What a speed-minded HF user switches on: `group_by_length`, the
        # Trainer's `LengthGroupedSampler` (it changes which examples share a
        # batch, as BAM may not).
        workloads.append((mixed, rows, head, "hf-grouped"))

    def epoch_order(variant, rng, lengths, epoch):
        if variant == "hf":
            return rng.permutation(len(lengths))
        generator = torch.Generator().manual_seed(epoch)
        return np.array(
            list(LengthGroupedSampler(batch_size, lengths=lengths, generator=generator))
        )

    for workload, rows, task, variant in workloads:
        lengths = [len(row["input_ids"]) for row in rows]
        steps = math.ceil(len(rows) / batch_size)
        passes = timed_passes(steps, cfg["steps"])
        torch.manual_seed(0)
        if task.is_regression:
            rows = [{**row, "labels": float(row["labels"])} for row in rows]
        model = AutoModelForSequenceClassification.from_pretrained(
            cfg["model"], num_labels=task.num_outputs, torch_dtype=torch.float32
        ).to(device)
        record = {
            **base,
            "variant": variant,
            "workload": workload,
            **length_stats(lengths),
            "steps_per_pass": steps,
            "warmup_passes": warmup,
        }
        if "train" in cfg["modes"]:
            say(f"torch train {workload}: {warmup}+{passes} passes")
            total = (warmup + passes) * steps
            optimizer = torch.optim.AdamW(
                layerwise_param_groups(
                    model, 5e-5, 0.9, 0.01, model.config.num_hidden_layers
                ),
                lr=5e-5,
                eps=1e-6,
            )
            scheduler = get_linear_schedule_with_warmup(
                optimizer, int(0.1 * total), total
            )
            rng = np.random.default_rng(0)
            model.train()
            seconds, padded_tokens = [], []
            start = time.perf_counter()
            for epoch in range(warmup + passes):
                order = epoch_order(variant, rng, lengths, epoch)
                begin = time.perf_counter()
                for inputs in batches(rows, order):
                    with autocast():
                        loss = model(**inputs).loss
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                sync()
                end = time.perf_counter()
                if epoch == warmup - 1:
                    warmup_s = end - start
                if epoch >= warmup:
                    seconds.append(end - begin)
                    padded_tokens.append(padded(rows, order))
            emit(
                {
                    **record,
                    "mode": "train",
                    "padded_tokens": padded_tokens,
                    "pass_seconds": seconds,
                    "warmup_seconds": warmup_s,
                }
            )
        if "predict" in cfg["modes"] and workload in heads and variant == "hf":
            say(f"torch predict {workload}: {warmup}+{passes} passes")
            model.eval()
            order = np.arange(len(rows))

            def predict(model=model, rows=rows, order=order):
                outputs = []
                with torch.inference_mode(), autocast():
                    for inputs in batches(rows, order):
                        inputs.pop("labels")
                        outputs.append(model(**inputs).logits.float().cpu())
                return torch.cat(outputs)

            warmup_s, seconds = calls_timed(predict, warmup, passes)
            emit(
                {
                    **record,
                    "mode": "predict",
                    "padded_tokens": [padded(rows, order)] * passes,
                    "pass_seconds": seconds,
                    "warmup_seconds": warmup_s,
                }
            )
        del model
        gc.collect()
