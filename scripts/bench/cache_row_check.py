"""Cost of the teacher cache's per-batch row check (lib/distill/teacher_cache.cpp,
check_distributions), timed with the same ATen kernels from Python.

Each batch's rows must be distributions: NaN and > 0 checks, the total mass by logsumexp, and
no repeated id (sorted neighbours for K <= 256, counts over the vocabulary above). Prints the
milliseconds per batch of --rows rows for K = 64 (the recipe) and K = the vocabulary.

    .venv/bin/python scripts/bench/cache_row_check.py [--rows 120] [--vocab 49152] [--threads 2]
"""
import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=120)
    ap.add_argument("--vocab", type=int, default=49152)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    n, V = a.rows, a.vocab
    lp = torch.log_softmax(torch.randn(n, V), 1)

    def timed(f) -> float:
        for _ in range(2):
            f()
        t = time.perf_counter()
        for _ in range(a.repeats):
            f()
        return (time.perf_counter() - t) / a.repeats * 1e3

    for K in (64, V):
        v, ids = lp.topk(K, 1)
        ids = ids.int()
        tail = torch.logsumexp(lp.scatter(1, ids.long(), -float("inf")), 1) if K < V else torch.full((n,), -float("inf"))
        everything = torch.cat([v, tail.unsqueeze(1)], 1)
        mass = timed(lambda: torch.isnan(everything).any(1) | (everything > 1e-4).any(1)
                     | (torch.logsumexp(everything, 1).abs() > 1e-3))
        by_sort = timed(lambda: (lambda s: (s[:, 1:] == s[:, :-1]).any(1))(ids.sort(1)[0]))

        def by_count():
            c = torch.zeros(n, V, dtype=torch.int32)
            c.scatter_add_(1, ids.long(), torch.ones_like(ids))
            return (c > 1).any(1)

        print(f"K={K}: mass and NaN checks {mass:.2f} ms, repeats by sorting {by_sort:.2f} ms, "
              f"by counting {timed(by_count):.2f} ms ({'sorting' if K <= 256 else 'counting'} is what hone runs)")


if __name__ == "__main__":
    main()
