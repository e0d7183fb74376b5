"""Serving latency: the plain forward pass against the engine's algebraic top-N.

For catalogues of 10,000, 100,000 and 1,000,000 movies (random weights, emb 100,
hidden 10, one torch thread), one top-10 request for a user with 50 rated
movies is timed both ways:

* forward: the network on (user, every movie), rated movies masked, torch.topk;
* engine: ``W_u relu(u) + b1`` plus the fused score-and-select kernel over the
  precomputed item table ``relu(V) W_v^T`` (what ``Recommender`` runs per request).

Both rankings are compared for every timed user. Also printed: the time to read
the item table once (the memory-bandwidth floor of any exact method), a
filtered request (genre, minimum ratings), the table's memory, and the
throughput of 64 users at once against 64 single requests.

    .venv/bin/python benchmarks/serve.py [--sizes 10000,100000,1000000] [--quick]

The last line is a one-line summary against the targets (>= 100x faster than
the forward pass from 100,000 movies on; p50 < 1 ms at 100,000 and < 10 ms at
1,000,000; identical rankings).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from nncf_core.ml.config import ModelConfig
from nncf_core.ml.model import NNCollabFiltering
from nncf_core.recommend.scoring import CandidateQuery, ScoringHead, open_query

N_USERS = 1000
RATED = 50
TOP = 10
BATCH = 64
FORWARD_CHUNK = 1 << 18
"""Items per forward call, so 1M movies do not need 2 GB of activations at once."""


@dataclass
class Row:
    n_items: int
    forward_p50: float
    forward_p99: float
    engine_p50: float
    engine_p99: float
    floor_ms: float
    filtered_p50: float
    table_mb: float
    batch_users_s: float
    single_users_s: float
    identical: bool

    @property
    def speedup(self) -> float:
        return self.forward_p50 / self.engine_p50


def timed(fn: Callable[[], object], reps: int) -> tuple[float, float, object]:
    """p50 and p99 in milliseconds over ``reps`` calls (after one warm-up call)."""
    result = fn()
    samples = []
    for _ in range(reps):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 99)), result


def forward_top(
    model: NNCollabFiltering, user: int, rated: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        parts = []
        for start in range(0, model.num_items, FORWARD_CHUNK):
            items = torch.arange(start, min(model.num_items, start + FORWARD_CHUNK))
            parts.append(model(torch.full_like(items, user), items))
        scores = torch.cat(parts)
        scores[torch.from_numpy(rated)] = -torch.inf
        values, rows = torch.topk(scores, TOP)
    return rows.numpy(), values.numpy()


def same_ranking(
    forward: tuple[np.ndarray, np.ndarray], engine: tuple[np.ndarray, np.ndarray]
) -> bool:
    # topk does not promise an order among exact ties; random weights make ties
    # (other than all-ReLUs-off items, far from the top) vanishingly unlikely.
    return bool(
        np.array_equal(forward[0], engine[0])
        and np.allclose(forward[1], engine[1], atol=1e-5, rtol=0)
    )


def realistic_query(n_items: int, rng: np.random.Generator) -> CandidateQuery:
    """Genres, years and long-tailed rating counts like MovieLens', with the default
    minimum of 10 ratings and a two-genre filter (about a third of the catalogue)."""
    return CandidateQuery(
        genre_bits=(np.uint64(1) << rng.integers(0, 20, n_items).astype(np.uint64)),
        years=rng.integers(1920, 2024, n_items).astype(np.int32),
        counts=np.minimum(rng.pareto(0.8, n_items) * 3, 1e6).astype(np.int32),
        genre_mask=0b11 | 1 << 7,
        min_count=10,
    )


def measure(n_items: int, quick: bool, rng: np.random.Generator) -> Row:
    torch.manual_seed(n_items)
    model = NNCollabFiltering(N_USERS, n_items, ModelConfig(emb_size=100, n_hidden=10)).eval()
    head = ScoringHead.from_state_dict(model.state_dict(), 100)
    users_np = model.user_emb.weight.detach().numpy()
    users = rng.choice(N_USERS, 3 if quick else 5, replace=False)
    rated = {int(u): rng.choice(n_items, RATED, replace=False) for u in users}
    query = open_query(n_items)

    def engine(u: int) -> tuple[np.ndarray, np.ndarray]:
        return head.top_k(head.user_parts(users_np[u]), TOP, query, [rated[u]])[0]

    forward_reps = max(2, int((1 if quick else 3) * 1_000_000 / n_items))
    engine_reps = min(2000, max(30, int((20 if quick else 100) * 1_000_000 / n_items)))
    forward_p50s, forward_p99s, engine_p50s, engine_p99s = [], [], [], []
    identical = True
    for u in users:
        f50, f99, forward_result = timed(lambda u=u: forward_top(model, u, rated[u]), forward_reps)
        e50, e99, engine_result = timed(lambda u=u: engine(u), engine_reps)
        forward_p50s.append(f50)
        forward_p99s.append(f99)
        engine_p50s.append(e50)
        engine_p99s.append(e99)
        identical &= same_ranking(forward_result, engine_result)  # type: ignore[arg-type]

    floor, _, _ = timed(lambda: head.item_part.sum(), engine_reps)
    filtered = realistic_query(n_items, rng)
    u0 = int(users[0])
    filtered_p50, _, _ = timed(
        lambda: head.top_k(head.user_parts(users_np[u0]), TOP, filtered, [rated[u0]]),
        engine_reps,
    )

    batch = rng.choice(N_USERS, BATCH, replace=False)
    excluded = [rng.choice(n_items, RATED, replace=False) for _ in batch]
    reps = 3 if quick else 7
    batch_p50, _, batch_result = timed(
        lambda: head.top_k(head.user_parts(users_np[batch]), TOP, query, excluded), reps
    )

    def one_by_one() -> list[tuple[np.ndarray, np.ndarray]]:
        return [
            head.top_k(head.user_parts(users_np[u]), TOP, query, [e])[0]
            for u, e in zip(batch, excluded, strict=True)
        ]

    single_p50, _, single_result = timed(one_by_one, reps)
    identical &= all(
        np.array_equal(a[0], b[0])
        for a, b in zip(batch_result, single_result, strict=True)  # type: ignore[arg-type]
    )
    return Row(
        n_items=n_items,
        forward_p50=float(np.median(forward_p50s)),
        forward_p99=float(np.max(forward_p99s)),
        engine_p50=float(np.median(engine_p50s)),
        engine_p99=float(np.max(engine_p99s)),
        floor_ms=floor,
        filtered_p50=filtered_p50,
        table_mb=head.item_part.nbytes / 1e6,
        batch_users_s=BATCH / (batch_p50 / 1e3),
        single_users_s=BATCH / (single_p50 / 1e3),
        identical=identical,
    )


def summary(rows: list[Row]) -> str:
    by_size = {r.n_items: r for r in rows}
    checks = []
    big = [r for r in rows if r.n_items >= 100_000]
    if big:
        ok = all(r.speedup >= 100 for r in big)
        ratios = ", ".join(f"{r.speedup:,.0f}x at {r.n_items:,}" for r in big)
        checks.append(f"speed-up >= 100x: {'PASS' if ok else 'FAIL'} ({ratios})")
    for size, limit in ((100_000, 1.0), (1_000_000, 10.0)):
        if size in by_size:
            p50 = by_size[size].engine_p50
            verdict = "PASS" if p50 < limit else "FAIL"
            checks.append(f"p50 < {limit:g} ms at {size:,}: {verdict} ({p50:.2f} ms)")
    if 1_000_000 in by_size:
        r = by_size[1_000_000]
        checks.append(f"{r.engine_p50 / r.floor_ms:.2f}x the table-read floor at 1,000,000")
        checks.append(f"batch of {BATCH}: {r.batch_users_s / r.single_users_s:.1f}x the users/s")
    identical = all(r.identical for r in rows)
    checks.append(f"rankings identical: {'PASS' if identical else 'FAIL'}")
    return "SUMMARY: " + "; ".join(checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="Fewer repetitions.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    sizes = [int(s) for s in args.sizes.split(",")]
    header = (
        f"{'movies':>10} {'fwd p50':>9} {'fwd p99':>9} {'eng p50':>8} {'eng p99':>8} "
        f"{'speed-up':>9} {'floor':>7} {'filt p50':>8} {'table MB':>9} "
        f"{'batch u/s':>10} {'single u/s':>10} {'same':>5}"
    )
    print("one top-10 request, ms (1 torch thread); batch: 64 users in one call vs one by one")
    print(header)
    rows = []
    for size in sizes:
        row = measure(size, args.quick, rng)
        rows.append(row)
        print(
            f"{row.n_items:>10,} {row.forward_p50:>9.2f} {row.forward_p99:>9.2f} "
            f"{row.engine_p50:>8.3f} {row.engine_p99:>8.3f} {row.speedup:>8,.0f}x "
            f"{row.floor_ms:>7.3f} {row.filtered_p50:>8.3f} {row.table_mb:>9.1f} "
            f"{row.batch_users_s:>10,.0f} {row.single_users_s:>10,.0f} "
            f"{'yes' if row.identical else 'NO':>5}",
            flush=True,
        )
    print(summary(rows))


if __name__ == "__main__":
    main()
