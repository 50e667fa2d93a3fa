"""A Uniflow workflow file, run by larkflow as it is.

The @workflow function is compiled to Starlark and runs in larkflow's durable engine (replayable,
resumable); each @task function runs as real Python through larkflow's Python runner: as a local
process by default, or on Kubernetes, Ray or Spark (`larkflow run iris_workflow.py --executor ray`).

The data is a synthetic, seeded two-class version of Fisher's Iris measurements, and training is a
logistic regression by gradient descent in plain Python (standard library only), so it runs on a fresh
machine.
"""

import math
import os
import random
from dataclasses import dataclass

import michelangelo.uniflow.core as uniflow
from michelangelo.uniflow.core.lib.concurrent import batch_run, new_callable

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CANDIDATES = [
    {"name": "baseline", "lr": 0.0, "epochs": 0},
    {"name": "full", "lr": 0.5, "epochs": 300},
]


@dataclass
class Split:
    train: list
    test: list


@uniflow.task(cache_enabled=True, cache_version="v1")
def load_data(seed: int, test_fraction: float = 0.3) -> Split:
    """Makes 150 seeded rows of two classes and splits them into train and test."""
    rng = random.Random(seed)
    rows = []
    centres = {0: [5.9, 2.8, 4.3, 1.3], 1: [6.6, 3.0, 5.6, 2.0]}
    for label in (0, 1):
        for _ in range(75):
            rows.append([round(c + rng.gauss(0, 0.45), 2) for c in centres[label]] + [label])
    rng.shuffle(rows)
    cut = int(len(rows) * (1 - test_fraction))
    return Split(train=rows[:cut], test=rows[cut:])


@uniflow.task(retry_attempts=2)
def train_model(split: Split, params: dict) -> dict:
    """Fits a logistic regression (full-batch gradient descent on standardized features)."""
    marker = os.environ.get("IRIS_FAIL_ONCE")
    if marker and not os.path.exists(marker + "." + params["name"]):
        # A demo of retries: the first attempt of each training fails (the path names a marker file).
        open(marker + "." + params["name"], "w").close()
        raise RuntimeError("simulated failure of the first attempt")
    xs = [r[:4] for r in split.train]
    ys = [r[4] for r in split.train]
    means = [sum(c) / len(c) for c in zip(*xs)]
    stds = [max(1e-9, math.sqrt(sum((v - m) ** 2 for v in c) / len(c))) for c, m in zip(zip(*xs), means)]
    zs = [[(v - m) / s for v, m, s in zip(x, means, stds)] for x in xs]
    w = [0.0] * 4
    b = 0.0
    for _ in range(params["epochs"]):
        gw = [0.0] * 4
        gb = 0.0
        for z, y in zip(zs, ys):
            p = 1 / (1 + math.exp(-(sum(wi * zi for wi, zi in zip(w, z)) + b)))
            for i in range(4):
                gw[i] += (p - y) * z[i]
            gb += p - y
        w = [wi - params["lr"] * g / len(zs) for wi, g in zip(w, gw)]
        b -= params["lr"] * gb / len(zs)
    print("trained %s: w=%s b=%.3f" % (params["name"], [round(v, 3) for v in w], b))
    return {"name": params["name"], "w": w, "b": b, "means": means, "stds": stds}


@uniflow.task()
def evaluate(model: dict, split: Split) -> float:
    """Accuracy of the model on the held-out rows."""
    right = 0
    for r in split.test:
        z = [(v - m) / s for v, m, s in zip(r[:4], model["means"], model["stds"])]
        p = 1 / (1 + math.exp(-(sum(wi * zi for wi, zi in zip(model["w"], z)) + model["b"])))
        right += int((p >= 0.5) == (r[4] == 1))
    return round(right / len(split.test), 4)


def describe(name, accuracy):
    return f"{name}: held-out accuracy {accuracy}"


@uniflow.workflow()
def iris_pipeline(seed: int = 7, min_accuracy: float = 0.9):
    """Trains the cheapest candidate that reaches min_accuracy."""
    split = load_data(seed)
    # Train every candidate at once, then pick the first good enough one.
    models = batch_run([new_callable(train_model, split, c) for c in CANDIDATES], max_concurrency=2).get()
    scores = [evaluate(m, split) for m in models]
    report = [describe(m["name"], s) for m, s in zip(models, scores)]
    good = [m["name"] for m, s in zip(models, scores) if 0 <= min_accuracy <= s]
    if not good:
        fail("no candidate reached %s: %s" % (min_accuracy, report))
    return {"chosen": good[0], "report": report, "train_rows": len(split.train)}


if __name__ == "__main__":
    ctx = uniflow.create_context()
    ctx.environ["DATASET"] = "synthetic-iris"
    ctx.run(iris_pipeline, seed=7, min_accuracy=0.9)
