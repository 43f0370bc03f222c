"""Exact cover counts of long rows without sorting them.

The rule (counts.cover_counts) sorts a row's |values| descending in float32, accumulates them
in float64 and counts how many it takes to reach need = tau * total * (1 - TOL). Sorting a row
of 100000 entries costs far more than the few entries near the threshold need, so long rows go
through a threshold search that returns the very same counts and thresholds:

1. Bucket by the top 12 bits of each float32's int32 view: sign, 8 exponent bits and 3
   mantissa bits. For non-negative floats that view is monotone, so buckets are value ranges
   and equal values share a bucket.  (n, L) -> bucket ids (n, L), NB = 2048 buckets per row.
2. Per-row histogram of float64 sums (one bincount per row, entries added in row order), and
   running sums from the top bucket down.  -> (n, NB)
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

__all__ = ["cover_long", "SHIFT", "CHUNK"]

SHIFT = 20  # bucket id = int32 view >> SHIFT: exponent and 3 mantissa bits (2048 buckets)
CHUNK = 400_000  # rows x entries handled at once (keeps the temporaries in cache)
BIG_EXP = 97  # biased exponent be is big when be >= e + BIG_EXP (ulp 2^(be-150) >= 2^(e-53))


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
    sums = np.empty((n, nb))  # (n, nb) float64 sum of each bucket, entries added in row order
    try:
        for i in range(n):
            sums[i] = np.bincount(bucket[i], weights=x[i], minlength=nb)
    except ValueError:  # a negative entry (or -0.0): not |values|, keep the plain rule
        return fallback(x)
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

