"""Exact cover counts of long rows without sorting them.

The rule (counts.cover_counts) sorts a row's |values| descending in float32, accumulates them
in float64 and counts how many it takes to reach need = tau * total * (1 - TOL). Sorting a row
of 100000 entries costs far more than the few entries near the threshold need, so long rows go
through a threshold search that returns the very same counts and thresholds:

1. Bucket by the top 12 bits of each float32's int32 view: sign, 8 exponent bits and 3
   mantissa bits. For non-negative floats that view is monotone, so buckets are value ranges
   and equal values share a bucket.  (n, L) -> bucket ids (n, L), NB = 2048 buckets per row.
2. Per-row histogram of float64 sums (one bincount over row-offset ids), and running sums
   from the top bucket down.  -> (n, NB)
3. Exactness: let 2^e exceed the row total. A float32 whose ulp is at least 2^(e - 53) is *big*:
   every partial sum of big values is a multiple of that ulp below 2^e, so float64 adds them
   exactly, in any order, and sums over big buckets equal the sorted running sums to the last
   bit. Smaller non-zero (*tiny*) values come last in the sorted order, where the float64
   accumulation may round: they are few, so they are gathered, sorted and accumulated one by
   one on top of the big sum, as the sorted rule does.  -> total, need (n,)
4. The bucket where the running sum first reaches `need` holds the threshold; only its entries
   are sorted (descending) and accumulated on top of the sum of the buckets above it.
   count = entries above + position in bucket + 1, threshold = that entry.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cover_long", "cover_presorted", "SHIFT", "CHUNK", "BLOCK"]

SHIFT = 20  # bucket id = int32 view >> SHIFT: exponent and 3 mantissa bits (2048 buckets)
CHUNK = 400_000  # rows x entries handled at once (keeps the temporaries in cache, 3 MB ids)
BIG_EXP = 97  # biased exponent be is big when be >= e + BIG_EXP (ulp 2^(be-150) >= 2^(e-53))
BLOCK = 32  # entries per block sum in cover_presorted


def cover_long(x: np.ndarray, tau: float, tol: float, fallback) -> tuple[np.ndarray, np.ndarray]:
    """Counts and thresholds of cover_counts for float32 rows x (n, L), L > 0.

    `fallback(rows (m, L) float32) -> (counts, thresholds)` is the sort-based rule, used for
    rows with negative or non-finite entries or a vanishing total.
    """
    n, length = x.shape
    counts = np.zeros(n, dtype=np.int64)
    thr = np.full(n, np.inf, dtype=np.float32)
    step = max(1, CHUNK // length)
    for s in range(0, n, step):
        part = np.ascontiguousarray(x[s:s + step], dtype=np.float32)
        counts[s:s + len(part)], thr[s:s + len(part)] = _chunk(part, tau, tol, fallback)
    return counts, thr


def _chunk(x: np.ndarray, tau: float, tol: float, fallback):
    n = len(x)
    shift, nb, mant = SHIFT, 1 << (31 - SHIFT), 23 - SHIFT  # buckets per row, mantissa bits
    bucket = x.view(np.int32) >> shift  # (n, L) bucket id per entry, monotone in the value
    if bucket.min() < 0:  # a negative entry (or -0.0): not |values|, keep the plain rule
        return fallback(x)
    ids = (bucket + (np.arange(n, dtype=np.intp) * nb)[:, None]).ravel()  # (n * L,)
    sums = np.bincount(ids, weights=x.ravel(), minlength=n * nb).reshape(n, nb)  # float64
    del ids
    # Running sums from the top bucket down (exact over big buckets).
    desc = np.cumsum(sums[:, ::-1], axis=1)[:, ::-1]  # (n, nb) sum of buckets >= b
    approx = desc[:, 0]  # (n,) total, exact unless tiny entries exist
    finite = np.isfinite(approx) & (approx < 1e300)
    e = np.frexp(np.where(finite, approx * (1 + 1e-6), 1.0))[1]  # total < 2^e
    first_big = np.clip((e + BIG_EXP) << mant, 0, nb)  # (n,) lowest big bucket
    rows = np.arange(n)
    slow = ~finite | ((approx > 0) & (approx < 1e-30)) | (first_big == 0)
    s_big = np.where(first_big < nb, desc[rows, np.minimum(first_big, nb - 1)], 0.0)
    # Tiny entries come last in the sorted order: sort just them and accumulate them on s_big
    # exactly as the sorted rule does (float64, one by one).
    limit = (first_big.astype(np.int64) << shift) - 1  # (n,) bits in [1, limit] are tiny
    tmask = (x.view(np.int32) - 1).view(np.uint32) < limit[:, None].astype(np.uint32)
    n_tiny = tmask.sum(axis=1)
    t_vals, t_start = _sorted_segments(x[tmask], n_tiny)
    t_pad = _padded(t_vals, t_start, n_tiny, s_big)  # (n, 1 + max tiny)
    t_csum = np.cumsum(t_pad, axis=1)  # sequential float64, as in the sorted rule
    total = t_csum[:, -1]
    need = tau * total * (1 - tol)  # same float64 expression as the sorted rule
    counts = np.zeros(n, dtype=np.int64)
    thr = np.full(n, np.inf, dtype=np.float32)
    in_tiny = ~slow & (total > 0) & (need > s_big)
    if in_tiny.any():
        r = np.flatnonzero(in_tiny)
        valid = np.arange(t_csum.shape[1] - 1) < n_tiny[r, None]
        pos = np.sum((t_csum[r, 1:] < need[r, None]) & valid, axis=1)
        n_big = np.sum(bucket[r] >= first_big[r, None], axis=1)  # entries before the tiny ones
        counts[r], thr[r] = n_big + pos + 1, t_vals[t_start[r] + pos]
    # Bucket holding the threshold: the lowest b whose running sum from the top reaches need.
    star = np.clip(np.sum(desc >= need[:, None], axis=1) - 1, 0, nb - 1)  # desc non-increasing
    fast = ~slow & (total > 0) & ~in_tiny
    above = np.where(star < nb - 1, desc[rows, np.minimum(star + 1, nb - 1)], 0.0)  # sum > star
    if fast.all():
        counts, thr = _in_bucket(x, bucket, star, above, need)
    elif fast.any():
        f = np.flatnonzero(fast)
        counts[f], thr[f] = _in_bucket(x[f], bucket[f], star[f], above[f], need[f])
    if slow.any():
        sl = np.flatnonzero(slow)
        counts[sl], thr[sl] = fallback(x[sl])
    return counts, thr


def _sorted_segments(vals: np.ndarray, per: np.ndarray):
    """Sort each row's run of non-negative float32 values descending.  -> values, run starts"""
    row = np.repeat(np.arange(len(per), dtype=np.int64), per)
    key = (row << 31) | (0x7FFFFFFF - vals.view(np.int32).astype(np.int64))  # rows, desc values
    order = np.sort(key)
    srt = (0x7FFFFFFF - (order & 0x7FFFFFFF)).astype(np.int32).view(np.float32)
    start = np.zeros(len(per), dtype=np.int64)
    start[1:] = np.cumsum(per)[:-1]
    return srt, start


def _padded(srt: np.ndarray, start: np.ndarray, per: np.ndarray, first: np.ndarray) -> np.ndarray:
    """(m, 1 + max run) float64: `first`, then each row's run, then zeros."""
    m = len(per)
    pad = np.zeros((m, 1 + (int(per.max()) if m else 0)))
    pad[:, 0] = first
    row = np.repeat(np.arange(m), per)
    pad[row, 1 + np.arange(len(srt)) - start[row]] = srt
    return pad


def _in_bucket(x, bucket, star, above_sum, need):
    """Exact count inside each row's threshold bucket.  (m, L) rows -> (m,), (m,)"""
    mask = bucket == star[:, None]  # (m, L)
    above_cnt = np.sum(bucket > star[:, None], axis=1)  # (m,) entries in higher buckets
    per = mask.sum(axis=1)  # (m,) entries in the bucket (>= 1: the bucket reaches need)
    srt, start = _sorted_segments(x[mask], per)
    csum = np.cumsum(_padded(srt, start, per, above_sum), axis=1)[:, 1:]  # exact (big values)
    pos = np.sum((csum < need[:, None]) & (np.arange(csum.shape[1]) < per[:, None]), axis=1)
    return above_cnt + pos + 1, srt[start + pos]


def cover_presorted(srt: np.ndarray, tau: float, tol: float, fallback):
    """cover_counts of rows already sorted descending, without their full running sums.

    srt (n, L) float32, L >= BLOCK -> counts (n,), thresholds (n,). The same exactness as
    above: the big entries form a prefix of each sorted row, and every sum of them is exact,
    so blocks of BLOCK entries are summed in any order, the blocks' running sums locate the
    block where the running sum reaches `need`, and only that block is accumulated one by one.
    The tiny tail is accumulated one by one on top of the big sum, as the sorted rule does
    (it sets the total, and holds the threshold only when need exceeds the big sum).
    `fallback(rows (m, L)) -> (counts, thresholds)` takes rows with a negative or non-finite
    entry or a vanishing total.
    """
    n, length = srt.shape
    rows = np.arange(n)
    approx = srt.sum(axis=1, dtype=np.float64)  # (n,) total up to round-off
    slow = ~np.isfinite(approx) | (approx >= 1e300) | ((approx > 0) & (approx < 1e-30))
    slow |= ~(srt[:, -1] >= 0)  # a negative entry (or NaN) comes last
    e = np.frexp(np.where(slow, 1.0, approx * (1 + 1e-6)))[1]  # (n,) total < 2^e
    cut = np.ldexp(1.0, e - 30).astype(np.float32)  # entries >= cut are big (ulp >= 2^(e-53))
    n_big = np.sum(srt >= cut[:, None], axis=1)  # (n,) length of the big prefix
    nb = length // BLOCK
    blocks = srt[:, :nb * BLOCK].reshape(n, nb, BLOCK).sum(axis=2, dtype=np.float64)  # (n, nb)
    run = np.cumsum(blocks, axis=1)  # (n, nb) exact over whole big blocks
    full = n_big // BLOCK  # (n,) whole big blocks
    part = n_big - full * BLOCK  # entries of the last, partial big block
    base = np.where(full > 0, run[rows, np.maximum(full - 1, 0)], 0.0)  # (n,) exact
    head = srt[rows[:, None], np.minimum(full[:, None] * BLOCK + np.arange(BLOCK), length - 1)]
    s_big = base + np.where(np.arange(BLOCK) < part[:, None], head, 0).sum(axis=1, dtype=np.float64)
    # Tiny tail, one by one on top of the big sum: the sorted rule's total.
    n_tail = length - n_big  # (n,)
    width = int(n_tail.max()) if n else 0
    tail_idx = np.minimum(n_big[:, None] + np.arange(width), length - 1)  # (n, width)
    tail = np.where(np.arange(width) < n_tail[:, None], srt[rows[:, None], tail_idx], 0.0)
    t_run = np.cumsum(np.concatenate([s_big[:, None], tail], axis=1), axis=1)  # (n, 1 + width)
    total = t_run[:, -1]
    need = tau * total * (1 - tol)  # same float64 expression as the sorted rule
    # Block where the running sum reaches need, then its entries one by one.
    star = np.sum((run < need[:, None]) & (np.arange(nb) < full[:, None]), axis=1)  # (n,)
    start = np.where(star > 0, run[rows, np.maximum(star - 1, 0)], 0.0)
    idx = star[:, None] * BLOCK + np.arange(BLOCK)  # (n, BLOCK)
    vals = np.where(idx < length, srt[rows[:, None], np.minimum(idx, length - 1)], 0.0)
    b_run = np.cumsum(np.concatenate([start[:, None], vals], axis=1), axis=1)[:, 1:]
    counts = star * BLOCK + np.sum(b_run < need[:, None], axis=1) + 1
    in_tail = need > s_big
    t_pos = np.sum((t_run[:, 1:] < need[:, None]) & (np.arange(width) < n_tail[:, None]), axis=1)
    counts = np.where(in_tail, n_big + t_pos + 1, counts)
    counts = np.where(total > 0, np.minimum(counts, length), 0)
    thr = np.full(n, np.inf, dtype=np.float32)
    has = counts > 0
    thr[has] = srt[np.flatnonzero(has), counts[has] - 1]
    if slow.any():
        sl = np.flatnonzero(slow)
        counts[sl], thr[sl] = fallback(srt[sl])
    return counts, thr
