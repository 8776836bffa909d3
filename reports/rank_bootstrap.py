"""The vectorised bootstrap behind ``reports.ranks``: every rank statistic of every pair for a batch of
resamples at once. It never loops over resamples in Python: a resample is a vector of multiplicities
over the n rows, the rows are ranked once, and every statistic of every resample comes from a few array
passes over a batch of resamples at once:

* Kendall and weighted tau need, per row i, ``D_i = sum_j m_j sign(x_i - x_j) sign(y_i - y_j)``.
  With ties broken into strict orders, D is a 2-D dominance count, computed for all resamples at
  once by a merge tree whose sort order is fixed (only the weights m change between resamples),
  then corrected exactly for ties. O(n log n) per resample, all in numpy, in integers.
* Weighted tau's hyperbolic weights depend on each row's rank inside the resample; the copies of
  a row occupy consecutive ranks, so their total weight is a difference of harmonic numbers.
* Spearman: average ranks inside a resample are prefix sums of multiplicities over tie groups.
* Pairs on the same rows share their resamples, and each column is ranked once per resample
  (tie groups, ranks, tie weights), whatever the number of pairs it is in.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

# ---- the vectorised bootstrap -----------------------------------------------------------------
# A batch of resamples is an [n, B] array of multiplicities: one row per data row, one column per
# resample. Reordering rows then copies contiguous memory, reductions run down the columns, and
# counts are int16 while n <= 16383 (every integer term below stays within [-2n, 2n]).

CHUNK = 128
"""Resamples per batch of array passes (fewer for large n, so that a work array holds about 2M
counts); work is split over processes by whole batches."""


def _batch_size(n: int) -> int:
    return max(8, min(CHUNK, (1 << 21) // max(n, 1)))


def _count_type(n: int) -> type:
    """The integer type of counts for n rows (all terms stay within [-2n, 2n])."""
    return np.int16 if 2 * n + 1 <= np.iinfo(np.int16).max else np.int32


def _prefix(a: np.ndarray) -> np.ndarray:
    """In place: inclusive prefix sums along axis 1 of a [blocks, s, B] array, row by row for short
    blocks, else by sub-blocks of about sqrt(s) rows and their carries (numpy's own accumulate along
    a non-contiguous axis is several times slower)."""
    nb, s, b = a.shape
    w = s if s <= 64 else math.isqrt(s)
    k = s // w
    v = a[:, :k * w].reshape(nb, k, w, b)
    for j in range(1, w):
        v[:, :, j] += v[:, :, j - 1]
    for i in range(1, k):
        v[:, i, -1] += v[:, i - 1, -1]
    if k > 1 and w > 1:
        v[:, 1:, :-1] += v[:, :-1, -1:]
    for r in range(k * w, s):
        a[:, r] += a[:, r - 1]
    return a


def _cumsum(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Inclusive prefix sums down the rows of an [n, B] array, into ``out``."""
    np.copyto(out, a)
    return _prefix(out[None])[0]


def _rows(a: np.ndarray, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``a[idx]`` into ``out`` (the indices are valid: mode "raise" would check them through a copy)."""
    return np.take(a, idx, axis=0, out=out, mode="clip")


class _Scratch:
    """Work arrays by name, kept from pair to pair and batch to batch: large arrays freed and
    allocated again come back from the kernel as fresh pages, and faulting those in took 13 % of
    the bootstrap's time."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def __call__(self, name: str, rows: int, b: int, dtype: Any) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None or a.shape != (rows, b) or a.dtype != np.dtype(dtype):
            a = self._arrays[name] = np.empty((rows, b), dtype=dtype)
        return a


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise dot products of [n, B] arrays in float64 (exact for the integer ones)."""
    return np.einsum("ij,ij->j", a, b, dtype=np.float64)


def _abel(hr: np.ndarray, cs: np.ndarray, arrays: Sequence[np.ndarray], buf: _Scratch) -> list[np.ndarray]:
    """``sum_p W_p a_p`` for each [n, B] integer array ``a``, where ``W_p = hr[cs_{p-1}] - hr[cs_p]`` is the
    weight of the ranks that row p's copies hold (``cs`` the prefix sums of copies, ``cs_{-1} = 0``).

    By Abel summation this is ``hr[0] a_0 + sum_p hr[cs_p] (a_{p+1} - a_p)`` (``hr[cs_{n-1}] = hr[n] = 0``):
    the float weights are looked up, and used, one block of rows at a time so that they stay in cache."""
    out = [hr[0] * a[0] for a in arrays]
    n, b = cs.shape
    idx, g = buf("abel.idx", ROWS, b, np.intp), buf("abel.g", ROWS, b, np.float64)
    step = buf("abel.step", ROWS, b, arrays[0].dtype)
    for lo in range(0, n - 1, ROWS):
        hi = min(lo + ROWS, n - 1)
        r = hi - lo
        idx[:r] = cs[lo:hi]  # intp indices: numpy converts others element by element
        np.take(hr, idx[:r], mode="clip", out=g[:r])
        for t, a in zip(out, arrays):
            np.subtract(a[lo + 1:hi + 1], a[lo:hi], out=step[:r])
            t += _dot(g[:r], step[:r])
    return out


ROWS = 1024
"""Rows per block of float weights in ``_abel``."""


class _Runs:
    """Runs of equal values in a sorted order (tie groups)."""

    def __init__(self, starts: np.ndarray, n: int) -> None:
        self.starts = starts
        sizes = np.diff(np.append(starts, n))
        self.ends = starts + sizes - 1
        self.of_pos = np.repeat(np.arange(len(starts)), sizes)  # the run of each position
        self.single = len(starts) == n  # every run is one row

    def totals(self, cs: np.ndarray, tot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """From the order's prefix sums: their value at each run's last row, and each run's total (into
        ``tot``, [runs, B])."""
        at = cs if self.single else np.take(cs, self.ends, axis=0)
        tot[0] = at[0]
        np.subtract(at[1:], at[:-1], out=tot[1:])
        return at, tot


class _Column:
    """One score column: ascending order (ties by row), tie runs, and the top-k order (descending)."""

    def __init__(self, v: np.ndarray) -> None:
        n = len(v)
        rows = np.arange(n)
        self.order = np.lexsort((rows, v))
        self.runs = _Runs(_starts(v[self.order]), n)
        self.run_of_row = np.empty(n, dtype=np.intp)
        self.run_of_row[self.order] = self.runs.of_pos
        self.top = np.lexsort((rows, -v))
        self.top_pos = np.empty(n, dtype=np.intp)
        self.top_pos[self.top] = rows


@dataclass
class _ColumnBatch:
    """A column's terms for a batch of resamples, shared by every pair it is in."""

    run_total: np.ndarray  # [runs, B] copies in each tie run
    sq: np.ndarray  # [B] sum of squared run totals (Kendall's tie term)
    tie_weight: np.ndarray  # [B] weighted tau's tie term when this column ranks
    rank2: np.ndarray  # [n, B] twice each row's average rank (from 1), row order
    rank_ss: np.ndarray  # [B] sum of squared centred average ranks (Spearman)
    top_m: np.ndarray | None  # [head, B] copies of the rows at the head of the top order
    top_before: np.ndarray | None  # [head, B] copies of rows before each there
    heads: dict[int, int]  # per k, how many rows of the top order some resample needs to fill k places


class _Dominance:
    """C1[p]: the copies of items q < p with pi(q) < pi(p), for a batch of resamples. A bottom-up merge
    sort over pi whose comparisons never change (only the multiplicities do): within blocks of 32, one
    dense 0/1 product per block; above, each level gathers every left half in pi-order, takes prefix
    sums, and reads them at each right item's rank among them."""

    BLOCK = 32

    def __init__(self, pi: np.ndarray) -> None:
        n = len(pi)
        self.n, self.npad = n, max(2, 1 << (n - 1).bit_length())
        p = np.concatenate([pi, np.arange(n, self.npad)])  # padding: no copies, above everything
        self.block = min(self.BLOCK, self.npad)
        blocks = p.reshape(-1, self.block)
        below = np.tri(self.block, k=-1, dtype=bool)  # [p, q]: q before p
        self.dense = (below & (blocks[:, None, :] < blocks[:, :, None])).astype(np.float32)
        self.levels: list[tuple[np.ndarray, np.ndarray, int]] = []
        s = self.block
        while s < self.npad:
            nb = self.npad // (2 * s)
            blocks = p.reshape(nb, 2, s)
            order = np.argsort(blocks[:, 0], axis=1, kind="stable")
            ys = np.take_along_axis(blocks[:, 0], order, axis=1)
            off = (np.arange(nb) * self.npad)[:, None]  # row-wise searchsorted through one sorted array
            rank = np.searchsorted((ys + off).ravel(), (blocks[:, 1] + off).ravel()).reshape(nb, s) \
                - (np.arange(nb) * s)[:, None]
            # each block gathers [the empty row, its left half in pi-order]: prefix sums start at 0
            gather = np.concatenate([np.full((nb, 1), self.npad), order + (np.arange(nb) * 2 * s)[:, None]], axis=1)
            self.levels.append((gather.ravel(), (rank + (np.arange(nb) * (s + 1))[:, None]).ravel(), s))
            s *= 2

    def __call__(self, m: np.ndarray, buf: _Scratch) -> np.ndarray:
        n, npad, b = self.n, self.npad, m.shape[1]
        mp = buf("tree.m", npad + 1, b, m.dtype)
        mp[:n] = m
        mp[n:] = 0  # padding, and row npad: the empty row
        # counts are integers below 2**24: exact in float32
        mf = buf("tree.f", npad, b, np.float32)
        np.copyto(mf, mp[:npad])
        cf = buf("tree.cf", npad, b, np.float32)
        np.matmul(self.dense, mf.reshape(-1, self.block, b), out=cf.reshape(-1, self.block, b))
        c1 = buf("tree.c1", npad, b, m.dtype)
        np.copyto(c1, cf, casting="unsafe")
        z_buf = buf("tree.z", npad // 2 + npad // (2 * self.block), b, m.dtype)  # the first level's size
        read_buf = buf("tree.read", npad // 2, b, m.dtype)
        for gather, read, s in self.levels:
            z = _rows(mp, gather, z_buf[:len(gather)])
            _prefix(z.reshape(-1, s + 1, b))
            c1.reshape(-1, 2, s, b)[:, 1] += _rows(z, read, read_buf).reshape(-1, s, b)
        return c1[:n]


class _Pair:
    """A pair (x, y): the strict orders X = (x, y, row) and Y = (y, x, row), the maps between them,
    the merge tree of Y-positions in X-order, and Pearson's moments."""

    def __init__(self, cols: list[_Column], i: int, j: int, x: np.ndarray, y: np.ndarray,
                 pearson_rows: np.ndarray | None) -> None:
        n = len(x)
        rows = np.arange(n)
        self.i, self.j = i, j
        self.ox, self.oy = np.lexsort((rows, y, x)), np.lexsort((rows, x, y))
        pos_x, pos_y = np.empty(n, dtype=np.intp), np.empty(n, dtype=np.intp)
        pos_x[self.ox], pos_y[self.oy] = rows, rows
        self.pi = pos_y[self.ox]  # Y-position of the item at X-position p
        self.pinv = pos_x[self.oy]  # X-position of the item at Y-position q
        self.x_run = cols[i].runs.of_pos  # X sorts by x first, so x's runs cover the same positions
        self.y_run_at_x = cols[j].run_of_row[self.ox]
        self.x_run_at_y = cols[i].run_of_row[self.oy]
        self.joint = _Runs(_starts(x[self.ox], y[self.ox]), n)
        self.tree = _Dominance(self.pi)
        self.pearson_rows = pearson_rows
        use = np.ones(n, dtype=bool) if pearson_rows is None else pearson_rows  # rows Pearson r may use
        xc = np.where(use, x - x[use].mean(), 0.0) if use.any() else np.zeros(n)
        yc = np.where(use, y - y[use].mean(), 0.0) if use.any() else np.zeros(n)
        self.moments = np.stack([use.astype(np.float64), xc, yc, xc * xc, yc * yc, xc * yc])

    def stats(self, plan: ResamplePlan, m: np.ndarray, mf: np.ndarray, bx: _ColumnBatch, by: _ColumnBatch,
              buf: _Scratch) -> dict[str, np.ndarray]:
        n, hn = float(plan.n), plan.hr[0]

        def work(name: str) -> np.ndarray:
            return buf(name, plan.n, m.shape[1], m.dtype)

        mx, my = _rows(m, self.ox, work("mx")), _rows(m, self.oy, work("my"))
        csx, csy = _cumsum(mx, work("csx")), _cumsum(my, work("csy"))
        # D[p] = sum_q m_q sign(x_p - x_q) sign(y_p - y_q) at X-position p. With C1 the copies before p
        # in both strict orders, Xpre and Ypre those before it in each, and GX, GY, GXY those tied with
        # it in x, y, both (tied pairs are concordant in the strict orders):
        # D = 2 (2 C1 - Xpre - Ypre) + n + GXY - GX - GY, every partial sum within [-2n, 2n].
        d = self.tree(mx, buf)
        d *= 2
        d -= csx
        d += mx
        d -= _rows(np.subtract(csy, my, out=work("t1")), self.pi, work("t2"))
        d *= 2
        d += plan.n
        if self.joint.single:
            d += mx
        else:
            joint = self.joint.totals(csx, buf("joint", len(self.joint.ends), m.shape[1], m.dtype))[1]
            d += _rows(joint, self.joint.of_pos, work("t1"))
        d -= _rows(bx.run_total, self.x_run, work("t1"))
        gy = _rows(by.run_total, self.y_run_at_x, work("gy"))
        d -= gy
        out: dict[str, np.ndarray] = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            tot = n * (n - 1) / 2
            xtie, ytie = (bx.sq - n) / 2, (by.sq - n) / 2
            out["kendall_tau"] = np.clip(0.5 * _dot(mx, d) / np.sqrt((tot - xtie) * (tot - ytie)), -1, 1)
            # weighted tau, ranking by x (X-order) and by y (Y-order): sum_p W_p D_p and the tie weights
            # sum_p W_p G_p, with W_p the weight of the ranks that p's copies hold
            num1, v1 = _abel(plan.hr, csx, (d, gy), buf)
            d_at_y, gx_at_y = _rows(d, self.pinv, work("t1")), _rows(bx.run_total, self.x_run_at_y, work("t2"))
            num2, u2 = _abel(plan.hr, csy, (d_at_y, gx_at_y), buf)
            rankings = ((num1, bx.tie_weight, v1 - hn), (num2, u2 - hn, by.tie_weight))
            wtot = hn * (n - 1)
            taus = []
            for num, u, v in rankings:  # u, v: the tie weights of x and y
                den = np.sqrt(wtot - u) * np.sqrt(wtot - v)
                untied = (wtot - u > 1e-12 * wtot) & (wtot - v > 1e-12 * wtot)  # a constant score: undefined
                taus.append(np.where(untied, np.clip(num / den, -1, 1), np.nan))
            out["weighted_tau"] = (taus[0] + taus[1]) / 2
            cov = np.einsum("ij,ij,ij->j", m, bx.rank2, by.rank2, dtype=np.float64) / 4 - n * ((n + 1) / 2) ** 2
            out["spearman_rho"] = np.clip(cov / np.sqrt(bx.rank_ss * by.rank_ss), -1, 1)
            npr, sx_, sy_, sxx, syy, sxy_ = self.moments @ mf
            cov = sxy_ - sx_ * sy_ / npr
            r = np.clip(cov / np.sqrt((sxx - sx_ * sx_ / npr) * (syy - sy_ * sy_ / npr)), -1, 1)
            out["pearson_r"] = np.where(self._constant(plan, m, bx, by), np.nan, r)
        for k in plan.ks:
            out[f"k{k}"] = self._precision(plan, k, bx, by)
        return out

    def _constant(self, plan: ResamplePlan, m: np.ndarray, bx: _ColumnBatch, by: _ColumnBatch) -> np.ndarray:
        """[B] whether x or y is constant on the copies Pearson r uses: then r is undefined (NaN, as scipy's
        ``pearsonr``), where the float moments would give +-1, 0 or rounding noise. Counted exactly: all of
        those copies fall in one tie run of the column."""
        if self.pearson_rows is None:
            return (bx.run_total.max(axis=0) == plan.n) | (by.run_total.max(axis=0) == plan.n)
        used = m * self.pearson_rows[:, None].astype(m.dtype)
        total = used.sum(axis=0)
        return np.logical_or.reduce([np.add.reduceat(used[c.order], c.runs.starts, axis=0).max(axis=0) == total
                                     for c in (plan.cols[self.i], plan.cols[self.j])])

    def _precision(self, plan: ResamplePlan, k: int, bx: _ColumnBatch, by: _ColumnBatch) -> np.ndarray:
        """Top-k precision: a row's copies fill consecutive places of both top orders, so the copies of
        row r among the top k of each are clip(k - copies before r, 0, copies of r)."""
        cx, cy = plan.cols[self.i], plan.cols[self.j]
        both = np.nonzero(cy.top_pos[cx.top[:bx.heads[k]]] < by.heads[k])[0]  # x-top places of rows in both heads
        at_y = cy.top_pos[cx.top[both]]
        in_x = np.clip(k - bx.top_before[both], 0, bx.top_m[both])
        in_y = np.clip(k - by.top_before[at_y], 0, by.top_m[at_y])
        return np.minimum(in_x, in_y).sum(axis=0) / k


class ResamplePlan:
    """Everything about the columns and pairs that does not change between resamples."""

    def __init__(self, columns: Sequence[np.ndarray], pairs: Sequence[tuple[int, int]], ks: Sequence[int],
                 weigher: Callable | None, pearson_rows: Sequence[np.ndarray | None] | None = None) -> None:
        self.n = n = len(columns[0])
        self.itype = _count_type(n)
        self.cols = [_Column(np.asarray(v, dtype=np.float64)) for v in columns]
        rows = pearson_rows or [None] * len(pairs)
        self.pairs = [_Pair(self.cols, i, j, columns[i], columns[j], r) for (i, j), r in zip(pairs, rows)]
        self.used = sorted({c for pair in pairs for c in pair})
        w = (lambda r: 1.0 / (1.0 + r)) if weigher is None else weigher
        hc = np.concatenate([[0.0], np.cumsum(np.asarray(w(np.arange(n, dtype=np.float64)), dtype=np.float64))])
        self.hr = hc[::-1].copy()  # hr[c]: the weight of all ranks above the bottom c (H(n - c))
        self.ks = sorted(set(ks))

    def resample_stats(self, m: np.ndarray, buf: _Scratch | None = None) -> list[dict[str, np.ndarray]]:
        """Every statistic of every pair for each resample; ``m`` [n, B] multiplicities in row order,
        ``buf`` work arrays to reuse from the previous batch."""
        buf = buf or _Scratch()
        m = np.asarray(m).astype(self.itype, copy=False)
        mf = buf("mf", self.n, m.shape[1], np.float64)
        np.copyto(mf, m)
        batch = {c: self._column(c, m, buf) for c in self.used}
        return [p.stats(self, m, mf, batch[p.i], batch[p.j], buf) for p in self.pairs]

    def _column(self, c: int, m: np.ndarray, buf: _Scratch) -> _ColumnBatch:
        n, hn, col, b = self.n, self.hr[0], self.cols[c], m.shape[1]
        runs = len(col.runs.ends)
        cs = _cumsum(_rows(m, col.order, buf("col.m", n, b, m.dtype)), buf("col.cs", n, b, m.dtype))
        at, tot = col.runs.totals(cs, buf(f"col{c}.runs", runs, b, m.dtype))
        # weighted tau: run r holds the ranks from n - at[r] to n - at[r-1] - 1 from the top
        tie_weight = _abel(self.hr, at, (tot,), buf)[0] - hn
        rank2 = np.multiply(at, 2, out=buf("col.rank2", runs, b, m.dtype))
        rank2 -= tot
        rank2 += 1
        rank_ss = np.einsum("ij,ij,ij->j", tot, rank2, rank2, dtype=np.float64) / 4 - n * ((n + 1) / 2) ** 2
        top_m = top_before = None
        heads: dict[int, int] = {}
        if self.ks:
            top_m = np.take(m, col.top[:_head(m, col.top, self.ks[-1])], axis=0)
            cs = _cumsum(top_m, np.empty_like(top_m))
            top_before = cs - top_m
            heads = {k: int((cs < k).sum(axis=0).max()) + 1 for k in self.ks}
        rank2_rows = _rows(rank2, col.run_of_row, buf(f"col{c}.rank2", n, b, m.dtype))
        return _ColumnBatch(tot, _dot(tot, tot), tie_weight, rank2_rows, rank_ss, top_m, top_before, heads)


def _head(m: np.ndarray, order: np.ndarray, k: int) -> int:
    """How many leading rows of ``order`` every resample of this batch needs to fill k places."""
    head = min(len(order), k + 64)
    while head < len(order) and (np.take(m, order[:head], axis=0).sum(axis=0) < k).any():
        head = min(len(order), 2 * head)
    return head


def _starts(*cols: np.ndarray) -> np.ndarray:
    """Start offsets of runs of equal values (rows already sorted so that equal rows are adjacent)."""
    n = len(cols[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for c in cols:
        change[1:] |= c[1:] != c[:-1]
    return np.nonzero(change)[0]


def multiplicities(n: int, idx: np.ndarray, dtype: Any = np.int64) -> np.ndarray:
    """[n, B] copies of each row in each resample (``idx`` [B, n]); one bincount per resample is
    four times faster than one over all of them."""
    out = np.empty((len(idx), n), dtype=dtype)
    for r, rows in enumerate(idx):
        out[r] = np.bincount(rows, minlength=n)
    return np.ascontiguousarray(out.T)


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """The resamples (rows drawn with replacement), [resamples, n]; the same for the same (n, seed).
    Below 2**31 rows as int32: numpy draws the same 32-bit bounded stream for int32 and int64."""
    dtype = np.int32 if n < 2**31 else np.int64
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n), dtype=dtype)


_SHARED: dict[str, Any] = {}
"""The plan and resamples of the bootstrap in progress, inherited by forked worker processes."""


def _batches_stats(batches: list[tuple[int, int]]) -> list[dict[str, np.ndarray]]:
    plan, idx, buf = _SHARED["plan"], _SHARED["idx"], _Scratch()
    parts = [plan.resample_stats(multiplicities(plan.n, idx[lo:hi], plan.itype), buf) for lo, hi in batches]
    return [{k: np.concatenate([p[i][k] for p in parts]) for k in parts[0][i]} for i in range(len(plan.pairs))]


def bootstrap_statistics(plan: ResamplePlan, resamples: int, seed: int, workers: int | None) -> list[dict[str, np.ndarray]]:
    """Every statistic of every pair on each resample; batches of resamples split over ``workers``
    forked processes (the same batches whatever the split, so the same numbers)."""
    import multiprocessing

    idx = bootstrap_indices(plan.n, resamples, seed)
    size = _batch_size(plan.n)
    batches = [(lo, min(lo + size, resamples)) for lo in range(0, resamples, size)]
    workers = max(1, min(len(batches), workers if workers is not None else (os.cpu_count() or 1)))
    if plan.n * resamples * len(plan.pairs) < 2_000_000 or "fork" not in multiprocessing.get_all_start_methods():
        workers = 1  # small jobs: forking costs more than it saves
    parts = [batches[w * len(batches) // workers:(w + 1) * len(batches) // workers] for w in range(workers)]
    _SHARED.update(plan=plan, idx=idx)
    try:
        if workers == 1:
            results = [_batches_stats(batches)]
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                results = list(pool.map(_batches_stats, parts))
    finally:
        _SHARED.clear()
    return [{k: np.concatenate([r[i][k] for r in results]) for k in results[0][i]} for i in range(len(plan.pairs))]
