"""Rank-correlation statistics with bootstrap intervals, vectorised over resamples.

``rankcorr(x, y)`` answers "does x rank architectures the way y does?": Kendall's tau-b,
Spearman's rho, Pearson's r, weighted tau and top-k precision, each with a percentile bootstrap
interval. Point estimates and p-values are scipy's own. The bootstrap never loops over
resamples in Python: a resample is a vector of multiplicities over the n rows, the rows are
ranked once, and every statistic of every resample comes from a few array passes:

* Kendall and weighted tau need, per row i, ``D_i = sum_j m_j sign(x_i - x_j) sign(y_i - y_j)``.
  With ties broken into strict orders, D is a 2-D dominance count, computed for all resamples at
  once by a merge tree whose sort order is fixed (only the weights m change between resamples),
  then corrected exactly for ties. O(n log n) per resample, all in numpy.
* Weighted tau's hyperbolic weights depend on each row's rank inside the resample; the copies of
  a row occupy consecutive ranks, so their total weight is a difference of harmonic numbers.
* Spearman: average ranks inside a resample are prefix sums of multiplicities over tie groups.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

STATISTICS = ("kendall_tau", "spearman_rho", "pearson_r", "weighted_tau")
"""The correlation statistics, in report order (top-k precisions follow)."""
DESCRIPTIONS = {
    "kendall_tau": "Kendall tau-b: P(a random pair is ordered alike) - P(ordered oppositely), ties corrected",
    "spearman_rho": "Spearman rho: Pearson correlation of the ranks (monotone agreement, dominated by the bulk)",
    "pearson_r": "Pearson r: linear agreement of the raw values",
    "weighted_tau": "weighted tau (Vigna; scipy's hyperbolic, additive, both rankings): Kendall tau with "
                    "pairs near the top weighing more",
    "precision": "precision@k: share of the top k by y that are also in the top k by x (ties by row order)",
}
MISSING = ("drop", "last")


@dataclass(frozen=True)
class Stat:
    """One statistic: value on the data, percentile bootstrap interval, scipy's p-value if it defines one."""

    name: str
    value: float
    ci_low: float
    ci_high: float
    p_value: float | None
    n: int
    k: int | None = None


@dataclass
class RankCorr:
    """A tidy rank-correlation result (``to_dict``/``to_frame`` for reports)."""

    x: str
    y: str
    n: int
    dropped: dict[str, int]
    stats: dict[str, Stat]
    bootstrap: int
    level: float
    seed: int
    missing: str
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def n_dropped(self) -> int:
        return int(sum(self.dropped.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "n": self.n, "n_dropped": self.n_dropped, "dropped": self.dropped,
                "missing": self.missing, "bootstrap": self.bootstrap, "level": self.level, "seed": self.seed,
                "notes": self.notes, "stats": {k: vars(s) for k, s in self.stats.items()}}

    def to_frame(self):
        """One row per statistic: x, y, statistic, k, value, ci_low, ci_high, p_value, n, n_dropped."""
        import pandas as pd

        return pd.DataFrame([{"x": self.x, "y": self.y, "statistic": s.name, "k": s.k, "value": s.value,
                              "ci_low": s.ci_low, "ci_high": s.ci_high, "p_value": s.p_value, "n": s.n,
                              "n_dropped": self.n_dropped} for s in self.stats.values()])


# ---- inputs -----------------------------------------------------------------------------------

def _column(v: Any, data: Any, which: str) -> tuple[np.ndarray, str]:
    if isinstance(v, str):
        if data is None:
            raise ValueError(f"{which}={v!r} names a column, so pass the frame as data=")
        if v not in data.columns:
            raise KeyError(f"column {v!r} is not in the frame; columns: {', '.join(map(str, data.columns))}")
        return np.asarray(data[v], dtype=np.float64), v
    arr = np.asarray(v, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{which} must be one-dimensional, got shape {arr.shape}")
    return arr, getattr(v, "name", None) or which


def _not_finite(x: np.ndarray, y: np.ndarray) -> dict[str, int]:
    """Rows with a non-finite score, counted once each under the first reason that applies."""
    fx, fy = np.isfinite(x), np.isfinite(y)
    out = {"x and y not finite": int((~fx & ~fy).sum())}
    for name, a, other in (("x", x, fy), ("y", y, fx)):
        for reason, bad in (("NaN", np.isnan(a)), ("+inf", np.isposinf(a)), ("-inf", np.isneginf(a))):
            out[f"{name} {reason}"] = int((bad & other).sum())
    return {k: v for k, v in out.items() if v}


def _rank_last(a: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """Non-finite values replaced by one value below every finite one: tied, ranked last."""
    out = a.copy()
    low = a[finite].min() - 1.0 if finite.any() else 0.0
    out[~finite] = low
    return out


def resolve_k(k: float, n: int) -> int:
    """A top-k size: an int count, or a fraction in (0, 1) of n (at least 1)."""
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        if k < 1:
            raise ValueError(f"a top-k count must be >= 1, got {k}")
        return int(min(k, n))
    if isinstance(k, float) and 0 < k < 1:
        return max(1, int(round(k * n)))
    raise ValueError(f"top-k must be a count (int >= 1) or a fraction in (0, 1), got {k!r}")


def k_label(k: float) -> str:
    return f"precision@{k}" if isinstance(k, (int, np.integer)) else f"precision@{100 * k:g}%"


# ---- point estimates (scipy) ------------------------------------------------------------------

def _scipy_point(x: np.ndarray, y: np.ndarray, weigher: Callable | None) -> dict[str, tuple[float, float | None]]:
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: scipy returns NaN and warns
        kt = stats.kendalltau(x, y)
        sr = stats.spearmanr(x, y)
        pr = stats.pearsonr(x, y) if len(x) >= 2 else None
        wt = stats.weightedtau(x, y, weigher=weigher)
    return {"kendall_tau": (float(kt.statistic), float(kt.pvalue)),
            "spearman_rho": (float(sr.statistic), float(sr.pvalue)),
            "pearson_r": (float(pr.statistic), float(pr.pvalue)) if pr is not None else (math.nan, math.nan),
            "weighted_tau": (float(wt.statistic), None)}


def top_k_precision(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """|top k by x  ∩  top k by y| / k, larger values first, ties broken by row order."""
    rows = np.arange(len(x))
    tx = np.lexsort((rows, -x))[:k]
    ty = np.lexsort((rows, -y))[:k]
    return len(np.intersect1d(tx, ty)) / k


# ---- the vectorised bootstrap -----------------------------------------------------------------

class _Plan:
    """Everything about (x, y) that does not change between resamples: orders, tie groups, merge tree.

    Arrays of a batch of resamples are [B, n] (one resample per row, contiguous), so prefix
    sums and group sums run along contiguous memory.
    """

    BLOCK = 16
    """Merge levels below this block size are one dense [16 x 16] product per block."""

    def __init__(self, x: np.ndarray, y: np.ndarray, ks: Sequence[int], weigher: Callable | None,
                 pearson_rows: np.ndarray | None = None) -> None:
        n = len(x)
        self.n = n
        rows = np.arange(n)
        self.ox = np.lexsort((rows, y, x))                      # x-order: x, then y, then row
        self.oy = np.lexsort((rows, x, y))                      # y-order: y, then x, then row
        pos_y = np.empty(n, dtype=np.int64)
        pos_y[self.oy] = rows
        self.pi = pos_y[self.ox]                                # y-position of the item at x-position p
        xs, ys = x[self.ox], y[self.ox]
        self.ties = (_Ties(_starts(xs), n), _Ties(_starts(y[self.oy]), n), _Ties(_starts(xs, ys), n))
        """Tie groups of x and of (x, y), contiguous in x-order, and of y, contiguous in y-order."""
        use = np.ones(n, dtype=bool) if pearson_rows is None else pearson_rows  # rows Pearson r may use
        xc = np.where(use, x - x[use].mean(), 0.0) if use.any() else np.zeros(n)
        yc = np.where(use, y - y[use].mean(), 0.0) if use.any() else np.zeros(n)
        self.moments = np.stack([use.astype(np.float64), xc, yc, xc * xc, yc * yc, xc * yc], axis=1)  # Pearson
        w = (lambda r: 1.0 / (1.0 + r)) if weigher is None else weigher
        self.hc = np.concatenate([[0.0], np.cumsum(np.asarray(w(np.arange(n, dtype=np.float64)), dtype=np.float64))])
        self.npad = max(self.BLOCK, 1 << max(n - 1, 1).bit_length())
        p = np.concatenate([self.pi, np.arange(n, self.npad)])  # padding: zero weight, above everything
        blocks = p.reshape(-1, self.BLOCK)
        lower = (np.arange(self.BLOCK)[:, None] > np.arange(self.BLOCK)[None, :])
        self.dense = (lower[None] & (blocks[:, :, None] > blocks[:, None, :])).astype(np.float32)
        self.levels = _merge_levels(p, self.BLOCK)
        self.ks = sorted(set(ks))
        if self.ks:
            self.tx = np.lexsort((rows, -x))
            self.ty = np.lexsort((rows, -y))
            self.ty_pos = np.empty(n, dtype=np.int64)
            self.ty_pos[self.ty] = rows

    def c1(self, m: np.ndarray) -> np.ndarray:
        """Per x-position p, the multiplicity of items q < p with pi(q) < pi(p); ``m`` [B, n] in x-order."""
        b = m.shape[0]
        mp = np.zeros((b, self.npad), dtype=np.float32)  # counts: exact in float32 below 2**24
        mp[:, :self.n] = m
        nb = self.npad // self.BLOCK
        # within blocks of 16: one dense product per block, all resamples at once
        c1 = np.matmul(self.dense, mp.reshape(b, nb, self.BLOCK).transpose(1, 2, 0))  # [nb, 16, B]
        c1 = np.ascontiguousarray(c1.transpose(2, 0, 1)).reshape(b, self.npad)
        half = self.npad // 2
        z = np.empty((b, half + self.npad // (2 * self.BLOCK)), dtype=np.float32)
        for lsort, flat, s in self.levels:
            nb = self.npad // (2 * s)
            zl = z[:, :nb * (s + 1)].reshape(b, nb, s + 1)
            zl[:, :, 0] = 0
            np.cumsum(np.take(mp, lsort, axis=1).reshape(b, nb, s), axis=2, out=zl[:, :, 1:])
            c1.reshape(b, nb, 2 * s)[:, :, s:] += np.take(zl.reshape(b, -1), flat, axis=1).reshape(b, nb, s)
        return c1[:, :self.n]

    def resample_stats(self, m_items: np.ndarray) -> dict[str, np.ndarray]:
        """Every statistic for each resample; ``m_items`` [B, n] multiplicities in row order.

        Tie groups are runs in the x- or y-order, so their totals come from prefix sums read at
        the runs' last rows; spread back over the rows (``GX``, ``GY``, ``GXY``), every tie term
        becomes a row-wise dot product. The resample size is n, so sums of m are n."""
        n = float(self.n)
        mi = m_items.astype(np.float64)
        out: dict[str, np.ndarray] = {}
        sums = mi @ self.moments                                # Pearson: one product for its six sums
        m = np.take(mi, self.ox, axis=1)                        # x-order from here on, unless named *_y
        m_y = np.take(mi, self.oy, axis=1)
        cs, cs_y = np.cumsum(m, axis=1), np.cumsum(m_y, axis=1)
        c1 = self.c1(m)
        tx, ty, txy = self.ties
        end_x, end_y, end_xy = tx.at_ends(cs), ty.at_ends(cs_y), txy.at_ends(cs)
        mx_g, my_g, mxy_g = _runs(end_x), _runs(end_y), _runs(end_xy)  # multiplicity of each tie group
        gx, gxy = tx.spread(mx_g, m), txy.spread(mxy_g, m)
        gy = np.take(ty.spread(my_g, m_y), self.pi, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            # Kendall tau-b from sum_i m_i D_i, D_i = 4 C1 + n - 2 Ypre - 2 Xpre - GX - GY + GXY
            sum_m2 = _dot(m, m)
            sq_x, sq_y, sq_xy = (mx_g * mx_g).sum(1), (my_g * my_g).sum(1), (mxy_g * mxy_g).sum(1)
            sum_md = 4 * _dot(m, c1) + n * n - 2 * (n * n - sum_m2) - sq_x - sq_y + sq_xy
            tot = n * (n - 1) / 2
            xtie, ytie = (sq_x - n) / 2, (sq_y - n) / 2
            out["kendall_tau"] = np.clip(0.5 * sum_md / np.sqrt((tot - xtie) * (tot - ytie)), -1, 1)
            # weighted tau: a row's copies hold consecutive ranks from the top, weight H(a) - H(b);
            # sum W Xpre telescopes (Abel) to sum G m, G = H(weight at or after the row)
            hn = self.hc[self.n]
            g1 = np.take(self.hc, (n - cs).astype(np.intp))
            g2_y = np.take(self.hc, (n - cs_y).astype(np.intp))
            w1, w2 = _down(g1, hn), np.take(_down(g2_y, hn), self.pi, axis=1)
            ypre = np.take(cs_y - m_y, self.pi, axis=1)
            wtot = hn * (n - 1)
            taus = []
            for w, prefixes in ((w1, 2 * _dot(w1, ypre) + 2 * _dot(g1, m)),
                                (w2, 2 * _dot(g2_y, m_y) + 2 * (_dot(w2, cs) - _dot(w2, m)))):
                sgx, sgy, sgxy = _dot(w, gx), _dot(w, gy), _dot(w, gxy)  # sum_G S_G M_G per tie structure
                num = 4 * _dot(w, c1) + n * hn - prefixes - sgx - sgy + sgxy
                u, v = sgx - hn, sgy - hn  # the tie weights of both rankings (symmetric in the result)
                den = np.sqrt(wtot - u) * np.sqrt(wtot - v)
                untied = (wtot - u > 1e-12 * wtot) & (wtot - v > 1e-12 * wtot)  # a constant score: undefined
                taus.append(np.where(untied, np.clip(num / den, -1, 1), np.nan))
            out["weighted_tau"] = (taus[0] + taus[1]) / 2
            # Spearman: average ranks (constant over a tie group), weighted Pearson of them
            rx_g, ry_g = end_x - (mx_g - 1) / 2, end_y - (my_g - 1) / 2
            rx, ry = tx.spread(rx_g, None), np.take(ty.spread(ry_g, None), self.pi, axis=1)
            mean2 = n * ((n + 1) / 2) ** 2
            cov = np.einsum("ij,ij,ij->i", m, rx, ry) - mean2
            vx, vy = (mx_g * rx_g * rx_g).sum(1) - mean2, (my_g * ry_g * ry_g).sum(1) - mean2
            out["spearman_rho"] = np.clip(cov / np.sqrt(vx * vy), -1, 1)
            npr, sx_, sy_, sxx, syy, sxy_ = sums.T
            cov = sxy_ - sx_ * sy_ / npr
            out["pearson_r"] = np.clip(cov / np.sqrt((sxx - sx_ * sx_ / npr) * (syy - sy_ * sy_ / npr)), -1, 1)
        if self.ks:
            out.update(self._precision(m_items))
        return out

    def _precision(self, m_items: np.ndarray) -> dict[str, np.ndarray]:
        """Top-k precision per resample for every k. The copies of a row fill consecutive places of
        both orders, and only rows near the top of either order can count, so arrays stay small."""
        kmax = self.ks[-1]
        heads, before, mult = [], [], []
        for order in (self.tx, self.ty):
            head = _head(m_items, order, kmax)
            mo = np.take(m_items, order[:head], axis=1)
            heads.append(head)
            before.append(np.cumsum(mo, axis=1) - mo)
            mult.append(mo)
        out = {}
        for k in self.ks:
            hx = min(heads[0], _head(m_items, self.tx, k))
            hy = min(heads[1], _head(m_items, self.ty, k))
            both = np.nonzero(self.ty_pos[self.tx[:hx]] < hy)[0]  # x-order places of rows in both heads
            cx = np.clip(k - before[0][:, both], 0, mult[0][:, both])
            where_y = self.ty_pos[self.tx[both]]
            cy = np.clip(k - before[1][:, where_y], 0, mult[1][:, where_y])
            out[f"k{k}"] = np.minimum(cx, cy).sum(axis=1) / k
        return out


class _Ties:
    """One tie structure: runs of equal values in a sorted order."""

    def __init__(self, starts: np.ndarray, n: int) -> None:
        self.sizes = np.diff(np.append(starts, n))
        self.ends = starts + self.sizes - 1
        self.none = len(starts) == n  # every run is one row

    def at_ends(self, cs: np.ndarray) -> np.ndarray:
        """A prefix sum read at each run's last row."""
        return cs if self.none else np.take(cs, self.ends, axis=1)

    def spread(self, per_run: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """Per-run values repeated over the run's rows (``rows`` itself when no run has two rows and
        ``per_run`` is its run total)."""
        if self.none:
            return per_run if rows is None else rows
        return np.repeat(per_run, self.sizes, axis=1)


def _runs(ends: np.ndarray) -> np.ndarray:
    """Run totals from a prefix sum read at the runs' last rows."""
    out = np.empty_like(ends)
    out[:, 0] = ends[:, 0]
    np.subtract(ends[:, 1:], ends[:, :-1], out=out[:, 1:])
    return out


def _head(m_items: np.ndarray, order: np.ndarray, k: int) -> int:
    """How many leading rows of ``order`` can reach the top k in some resample of this batch."""
    head = min(len(order), k + 64)
    while head < len(order) and (np.take(m_items, order[:head], axis=1).sum(axis=1) < k).any():
        head = min(len(order), 2 * head)
    return head


def _down(g: np.ndarray, first: float) -> np.ndarray:
    """``prev - g`` along rows (``first`` before row 0): per-row amounts of a falling suffix sum."""
    out = np.empty_like(g)
    out[:, 0] = first - g[:, 0]
    np.subtract(g[:, :-1], g[:, 1:], out=out[:, 1:])
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of [B, k] arrays."""
    return np.einsum("ij,ij->i", a, b)


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


def _merge_levels(p: np.ndarray, first: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Merge levels with half-size s >= ``first``: the left halves' positions sorted by y, and
    for each right position the flat index of its prefix (block * (s + 1) + left items below it)."""
    npad = len(p)
    levels = []
    s = first
    while s < npad:
        nb = npad // (2 * s)
        blocks = p.reshape(nb, 2, s)
        left, right = blocks[:, 0, :], blocks[:, 1, :]
        lorder = np.argsort(left, axis=1, kind="stable")
        lsort = (lorder + (np.arange(nb) * 2 * s)[:, None]).ravel()
        lsorted = np.take_along_axis(left, lorder, axis=1)
        off = (np.arange(nb) * npad)[:, None]  # row-wise searchsorted: offset each row into its own range
        below = np.searchsorted((lsorted + off).ravel(), (right + off).ravel()).reshape(nb, s) \
            - (np.arange(nb) * s)[:, None]
        levels.append((lsort, (below + (np.arange(nb) * (s + 1))[:, None]).ravel(), s))
        s *= 2
    return levels


def _multiplicities(n: int, idx: np.ndarray) -> np.ndarray:
    """[B, n] counts of each row in each resample (``idx`` [B, n])."""
    b = idx.shape[0]
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n)


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """The resamples (rows drawn with replacement), [resamples, n]; the same for the same (n, seed)."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


_SHARED: dict[str, Any] = {}
"""The plan and resamples of the bootstrap in progress, inherited by forked worker processes."""


def _chunk_stats(bounds: tuple[int, int]) -> dict[str, np.ndarray]:
    plan, idx = _SHARED["plan"], _SHARED["idx"]
    lo, hi = bounds
    parts = [plan.resample_stats(_multiplicities(plan.n, idx[i:min(i + CHUNK, hi)])) for i in range(lo, hi, CHUNK)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


CHUNK = 8
"""Resamples per batch of array passes (small batches stay in cache)."""


def _bootstrap(plan: _Plan, resamples: int, seed: int, workers: int | None) -> dict[str, np.ndarray]:
    """Every statistic on each resample, the resamples split over ``workers`` forked processes."""
    import multiprocessing

    idx = bootstrap_indices(plan.n, resamples, seed)
    workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    if plan.n * resamples < 2_000_000 or "fork" not in multiprocessing.get_all_start_methods():
        workers = 1  # small jobs: forking costs more than it saves
    bounds = [(i * resamples // workers, (i + 1) * resamples // workers) for i in range(workers)]
    _SHARED.update(plan=plan, idx=idx)
    try:
        if workers == 1:
            results = [_chunk_stats(bounds[0])]
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                results = list(pool.map(_chunk_stats, bounds))
    finally:
        _SHARED.clear()
    return {k: np.concatenate([r[k] for r in results]) for k in results[0]}


# ---- the study API ----------------------------------------------------------------------------

def rankcorr(x: Any, y: Any, data: Any = None, *, top: Sequence[float] = (10, 0.01, 0.05, 0.1),
             bootstrap: int = 1000, level: float = 0.95, seed: int = 0, missing: str = "drop",
             weigher: Callable[[np.ndarray], np.ndarray] | None = None, workers: int | None = None,
             x_name: str | None = None, y_name: str | None = None) -> RankCorr:
    """How well ``x`` ranks items the way ``y`` does (larger = better for both).

    ``x``/``y``: aligned score vectors, or column names of the frame ``data``. Missing and
    non-finite values are dropped and counted (``missing="drop"``), or tied at the bottom of
    the ranking (``missing="last"``; Pearson r then uses the finite pairs only). ``top``: k for
    precision@k, as counts or fractions of n. ``bootstrap`` resamples (0: none) give percentile
    intervals at ``level``, drawn from ``seed``. ``weigher`` maps 0-based ranks to weights for
    weighted tau (default scipy's hyperbolic 1/(r+1); it must accept an array). Large bootstraps
    run in ``workers`` forked processes (default: one per core); the result does not depend on it.
    """
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0 resamples, got {bootstrap}")
    xa, xn = _column(x, data, "x")
    ya, yn = _column(y, data, "y")
    if len(xa) != len(ya):
        raise ValueError(f"x and y must be aligned: {len(xa)} vs {len(ya)} values")
    fx, fy = np.isfinite(xa), np.isfinite(ya)
    notes: dict[str, Any] = {}
    if missing == "drop":
        dropped = _not_finite(xa, ya)
        keep = fx & fy
        xa, ya = xa[keep], ya[keep]
        pear = np.ones(len(xa), dtype=bool)
    else:
        dropped = {}
        notes["ranked_last"] = {"x": int((~fx).sum()), "y": int((~fy).sum())}
        pear = fx & fy
        xa, ya = _rank_last(xa, fx), _rank_last(ya, fy)
    n = len(xa)
    if n < 2:
        raise ValueError(f"need at least 2 rows with finite x and y, got {n}")
    ks = [resolve_k(k, n) for k in top]
    skipped = [k_in for k_in, k in zip(top, ks) if k >= n]  # the top n of n agree trivially
    if skipped:
        notes["top_k_skipped"] = f"k >= n = {n}: {', '.join(map(str, skipped))}"
    top = [k_in for k_in, k in zip(top, ks) if k < n]
    ks = [k for k in ks if k < n]
    point = _scipy_point(xa, ya, weigher)
    if missing == "last":
        point["pearson_r"] = _scipy_point(xa[pear], ya[pear], weigher)["pearson_r"] if pear.sum() >= 2 else \
            (math.nan, math.nan)
    boot: dict[str, np.ndarray] = {}
    if bootstrap:
        plan = _Plan(xa, ya, ks, weigher, pear)  # rows whose x or y was not finite weigh nothing in Pearson r
        boot = _bootstrap(plan, bootstrap, seed, workers)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    stats: dict[str, Stat] = {}

    def interval(key: str) -> tuple[float, float]:
        vals = boot.get(key)
        if vals is None or not np.isfinite(vals).any():
            return math.nan, math.nan
        lo, hi = np.nanquantile(vals, [lo_q, hi_q])
        return float(lo), float(hi)

    for name in STATISTICS:
        value, p = point[name]
        stats[name] = Stat(name, value, *interval(name), p, int(pear.sum()) if name == "pearson_r" else n)
    for k_in, k in zip(top, ks):
        label = k_label(k_in)
        stats[label] = Stat(label, top_k_precision(xa, ya, k), *interval(f"k{k}"), None, n, k)
    return RankCorr(x_name or xn, y_name or yn, n, dropped, stats, bootstrap, level, seed, missing, notes)


__all__ = ["DESCRIPTIONS", "RankCorr", "STATISTICS", "Stat", "bootstrap_indices", "k_label", "rankcorr",
           "resolve_k", "top_k_precision"]
