"""The quality protocol's report: per-system means over seeds, paired tests of BAM
against every other system (and of any other pair asked for), the teachers'
predictions on their training examples, and the table written into a README."""

from __future__ import annotations

import glob
import json
import os

import numpy as np

import keras_bam
from qualitybench import store
from qualitybench.plot import plot
from qualitybench.setting import LABELS
from qualitybench.setting import SYSTEMS
from qualitybench.store import LEGACY_SETTING
from qualitybench.store import load_result


def gather(setting_name: str) -> dict:
    """System name to seed to result, for one setting."""
    results = {}
    for path in sorted(
        glob.glob(os.path.join(store.RESULTS, setting_name, "*_seed*.json"))
    ):
        result = load_result(path)
        result["setting"] = {**LEGACY_SETTING, **result["setting"]}
        results.setdefault(result["system"], {})[result["seed"]] = result
    if not results:
        raise SystemExit(f"No results in {os.path.join(store.RESULTS, setting_name)}.")
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


def compare(system: dict, other: dict, tasks, labels, num_resamples=1000) -> dict:
    """`system` minus `other` (each seed to result) over their common seeds: a
    paired t-test of the GLUE averages, per-task mean differences, and a paired
    bootstrap over dev examples; `{}` without a common seed."""
    common = sorted(set(system) & set(other))
    if not common:
        return {}
    keys = [(t, split) for (t, split) in labels if t in tasks]

    def predictions(results):
        return {
            k: [results[s]["dev_predictions"][k[0]][k[1]] for s in common] for k in keys
        }

    return {
        "seeds": common,
        "over_seeds": keras_bam.evaluation.paired_seed_test(
            [system[s]["scores"]["average"] for s in common],
            [other[s]["scores"]["average"] for s in common],
        ),
        "per_task_mean_difference": {
            t: float(
                np.mean(
                    [system[s]["scores"][t] - other[s]["scores"][t] for s in common]
                )
            )
            for t in tasks
        },
        "bootstrap": keras_bam.evaluation.paired_bootstrap_over_tasks(
            {k: labels[k] for k in keys},
            predictions(system),
            predictions(other),
            {k: task_score(k[0]) for k in keys},
            num_resamples=num_resamples,
        ),
    }


def aggregate(results: dict, data_dir: str, num_resamples: int, extra_pairs=()) -> dict:
    """Each system's mean ± sd over seeds; BAM against every other system and
    each of `extra_pairs` (`(system, other)`: system minus other); the
    teachers' predictions on their training examples."""
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

    labels = dev_labels(tasks, data_dir) if len(results) > 1 else {}
    pairs = [("bam", other) for other in results if other != "bam"]
    pairs += [tuple(pair) for pair in extra_pairs]
    for system, other in pairs:
        if system in results and other in results:
            comparison = compare(
                results[system], results[other], tasks, labels, num_resamples
            )
            if comparison:
                key = other if system == "bam" else f"{system}-{other}"
                summary["comparisons"][key] = {
                    **comparison,
                    "system": system,
                    "other": other,
                }

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
            "BAM minus each system, and each other pair asked for (the first minus "
            "the second; GLUE average, ×100): paired t-test over seeds; paired "
            "bootstrap over dev examples (all seeds pooled, 95% interval).",
            "",
            "| comparison | seeds | Δ avg ± sd | t-test p | bootstrap 95% CI | "
            "bootstrap p | Δ per task |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in summary["comparisons"].values():
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
                f"| {LABELS[c['system']]} − {LABELS[c['other']]} | {seed_test['n']} | "
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


def replace_between(text: str, marker: str, body: str) -> str:
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    if start not in text or end not in text:
        raise SystemExit(f"The README has no {start} ... {end} markers.")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def report(args):
    results = gather(args.setting)
    unknown = {name for pair in args.pair or () for name in pair} - set(results)
    if unknown:
        raise SystemExit(
            f"--pair: no results of {sorted(unknown)} in {args.setting}; "
            f"it has {sorted(results)}."
        )
    summary = aggregate(results, args.data_dir, args.resamples, args.pair or ())
    any_result = next(iter(next(iter(results.values())).values()))
    command = args.command or (
        f"KERAS_BACKEND={any_result['setting']['backend']} python "
        f"benchmarks/quality.py run --setting {args.setting} ..."
    )
    text = format_report(summary, command)
    print(text)
    out_dir = os.path.join(store.RESULTS, args.setting)
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
