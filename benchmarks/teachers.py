"""Fine-tunes keras-bam single-task teachers with BAM's recipe and records dev scores.

Runs on the current Keras backend (set `KERAS_BACKEND`) and writes one JSON file per
run to `benchmarks/results/`. Its peer is `benchmarks/hf_teachers.py`, the same
recipe with Hugging Face transformers + PyTorch; `benchmarks/teacher_table.py`
prints both side by side.

    KERAS_BACKEND=tensorflow python benchmarks/teachers.py --tasks rte mrpc stsb cola
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time

from provenance import portable

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["rte", "mrpc", "stsb", "cola"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument(
        "--data-dir", default=os.path.join(HERE, "..", "..", "shared", "glue")
    )
    parser.add_argument(
        "--backbone", default=None, help="backbone spec (MiniLM by default)"
    )
    parser.add_argument(
        "--cache-dir", default=os.path.join(HERE, "..", ".cache", "encoded")
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    parser.add_argument(
        "--recipe",
        choices=("bam", "matched"),
        default="bam",
        help="bam: BAM's exact single-task recipe (the library default); matched: "
        "the data and loss the HF peer uses (MRPC/STS-B on one sentence order, "
        "batch-mean loss), the rest BAM's",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import keras

    import keras_bam

    backend = keras.backend.backend()
    device = _device_name()
    os.makedirs(args.results_dir, exist_ok=True)
    for seed in args.seeds:
        for task in args.tasks:
            recipe = keras_bam.FineTuningRecipe(epochs=args.epochs, seed=seed)
            if args.recipe == "matched":
                recipe = keras_bam.FineTuningRecipe(
                    epochs=args.epochs,
                    seed=seed,
                    double_unordered=False,
                    loss_reduction="mean",
                )
            label = "BAM recipe" if args.recipe == "bam" else "matched to peer"
            start = time.time()
            run = keras_bam.train_teacher(
                task,
                data_dir=args.data_dir,
                backbone=args.backbone,
                recipe=recipe,
                cache_dir=args.cache_dir,
                train_limit=args.train_limit,
                verbose=2,
            )
            record = {
                "system": f"keras-bam ({backend}, {label})",
                "backend": backend,
                "device": device,
                "task": task,
                "seed": seed,
                "recipe": recipe.to_dict(),
                "dev_metrics": run.dev_metrics,
                "train_seconds": run.train_seconds,
                "total_seconds": time.time() - start,
                "train_examples_per_second": run.train_examples_per_second,
                "padding_fraction": run.padding_fraction,
                "loss_per_epoch": run.history.get("loss"),
                "command": portable(
                    " ".join([f"KERAS_BACKEND={backend}", "python"] + sys.argv)
                ),
                "versions": {
                    "keras": keras.__version__,
                    "python": platform.python_version(),
                },
            }
            name = f"teacher_{backend}_{args.recipe}_{task}_seed{seed}.json"
            with open(os.path.join(args.results_dir, name), "w") as f:
                json.dump(record, f, indent=2)
            print(
                json.dumps(
                    {
                        "task": task,
                        "seed": seed,
                        "dev": run.dev_metrics,
                        "seconds": round(run.train_seconds, 1),
                    }
                ),
                flush=True,
            )
            keras.backend.clear_session()


def _device_name() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.platform}:{getattr(device, 'device_kind', '')}"
    return f"cpu:{os.cpu_count()} cores"


if __name__ == "__main__":
    main()
