"""Submit a hyperparameter grid with submitit the way its users do: one ``map_array`` call.

Runs in the peers' venv: ``python submitit_sweep.py FOLDER POINTS PARTITION``. Prints one
JSON line: the grid size, the job ids submitit got back, and the seconds ``map_array`` took.
The train function is never run here (the harness cancels the jobs), but it is a real one.
"""

import json
import sys
import time

import submitit


def train_and_score(lr: float, batch_size: int) -> float:
    import random

    rng = random.Random(hash((lr, batch_size)))
    return abs(rng.gauss(0.0, 1.0)) * lr * batch_size


def grid(points: int) -> tuple[list[float], list[int]]:
    # The same grid as gen_mfile.sweep_grid (lr x batch size), flattened for map_array.
    batches = [16, 32, 64, 128, 256, 512, 1024, 2048]
    for nb in range(min(len(batches), points), 0, -1):
        if points % nb == 0:
            lrs = [round(1e-4 * (1 + i), 6) for i in range(points // nb)]
            pairs = [(lr, bs) for lr in lrs for bs in batches[:nb]]
            return [p[0] for p in pairs], [p[1] for p in pairs]
    raise AssertionError("unreachable")


def main() -> int:
    folder, points, partition = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    lrs, batches = grid(points)
    executor = submitit.SlurmExecutor(folder=folder)
    # submitit's own default array parallelism (256) is kept: it is what users get.
    executor.update_parameters(partition=partition, time=30, cpus_per_task=1, ntasks_per_node=1)
    t0 = time.perf_counter()
    jobs = executor.map_array(train_and_score, lrs, batches)
    seconds = time.perf_counter() - t0
    ids = sorted({j.job_id.split("_")[0] for j in jobs})
    print(json.dumps({"points": len(jobs), "array_ids": ids, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
