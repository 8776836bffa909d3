"""LASSO solvers, min_x ½‖Ax − b‖² + γ‖x‖₁: FISTA with an exact KKT polish, and scikit-learn's
coordinate descent as the reference. Generic sparse coding; ISTA-NAS recovers its codes with them."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LassoResult:
    """A LASSO solution; ``exact``: it passed the KKT check (the solver's tolerance aside)."""

    x: np.ndarray
    iterations: int
    exact: bool


def _soft(v: np.ndarray, t: float) -> np.ndarray:
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


def _fista(gram: np.ndarray, atb: np.ndarray, lip: float, gamma: float, x: np.ndarray, max_iter: int,
           tol: float) -> tuple[np.ndarray, int]:
    """FISTA (Beck & Teboulle 2009) with adaptive restart (O'Donoghue & Candès 2015)."""
    y, t = x.copy(), 1.0
    for k in range(1, max_iter + 1):
        x_new = _soft(y - (gram @ y - atb) / lip, gamma / lip)
        t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        if (y - x_new) @ (x_new - x) > 0:  # momentum points uphill: restart
            t_new, y = 1.0, x_new.copy()
        else:
            y = x_new + ((t - 1.0) / t_new) * (x_new - x)
        step = float(np.linalg.norm(x_new - x))
        x, t = x_new, t_new
        if step <= tol * max(float(np.linalg.norm(x)), 1e-300):
            return x, k
    return x, max_iter


def _kkt_polish(gram: np.ndarray, atb: np.ndarray, gamma: float, x: np.ndarray, m: int) -> tuple[np.ndarray, bool]:
    """The exact solution on a support guessed from ``x``, if one passes the LASSO optimality conditions.

    Candidate supports: the k largest |x| (signs of x) and the k largest correlations |A^T(b - Ax)|
    (their signs), k = 1..m. On a support S with signs σ the solution solves
    A_S^T A_S x_S = A_S^T b - γσ; it is the LASSO optimum iff sign(x_S) = σ and |A^T(b - Ax)| ≤ γ.
    """
    corr = atb - gram @ x
    slack = 1e-10 * max(float(np.abs(atb).max()), gamma)
    for order, signs in ((np.argsort(-np.abs(x), kind="stable"), np.sign(x)),
                         (np.argsort(-np.abs(corr), kind="stable"), np.sign(corr))):
        for k in range(1, m + 1):
            support = np.sort(order[:k])
            sigma = signs[support]
            if np.any(sigma == 0):
                break
            try:
                xs = np.linalg.solve(gram[np.ix_(support, support)], atb[support] - gamma * sigma)
            except np.linalg.LinAlgError:
                continue
            if np.any(np.sign(xs) != sigma):
                continue
            cand = np.zeros_like(x)
            cand[support] = xs
            if np.all(np.abs(atb - gram @ cand) <= gamma + slack):
                return cand, True
    return x, False


def lasso_fista(A: np.ndarray, b: np.ndarray, gamma: float, *, max_iter: int = 50_000, tol: float = 1e-10,
                check_every: int = 2000) -> LassoResult:
    """argmin_x ½‖Ax − b‖² + γ‖x‖₁ by FISTA, in float64.

    Continuation: γ is lowered geometrically from ‖Aᵀb‖∞ (where x = 0 is optimal) to its target,
    each stage warm-started from the last; a small γ relative to ‖Aᵀb‖∞ (ISTA-NAS's 1e-5 against
    b ≈ 1e-3) is otherwise slow for a first-order method. Every ``check_every`` iterations at the
    target γ the iterate is polished to the exact solution on its support; it stops when that
    passes the KKT conditions (``exact``) or after ``max_iter`` iterations (then the last iterate).
    """
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    m, n = A.shape
    gram, atb = A.T @ A, A.T @ b
    lam_max = float(np.abs(atb).max()) if n else 0.0
    x = np.zeros(n)
    if lam_max <= gamma:
        return LassoResult(x, 0, True)
    lip = float(np.linalg.norm(A, 2) ** 2)
    stages = np.geomspace(lam_max, gamma, 2 * math.ceil(math.log10(lam_max / gamma)) + 1)
    iters = 0
    for lam in stages[:-1]:
        x, k = _fista(gram, atb, lip, float(lam), x, 300, 1e-6)
        iters += k
        x, _ = _kkt_polish(gram, atb, float(lam), x, m)
    done = 0
    while done < max_iter:
        x, k = _fista(gram, atb, lip, gamma, x, min(check_every, max_iter - done), tol if done == 0 else 0.0)
        done += k
        polished, exact = _kkt_polish(gram, atb, gamma, x, m)
        if exact:
            return LassoResult(polished, iters + done, True)
    return LassoResult(x, iters + done, False)


def lasso_sklearn(A: np.ndarray, b: np.ndarray, gamma: float, *, max_iter: int = 100_000,
                  tol: float = 1e-12) -> LassoResult:
    """The same problem with scikit-learn's coordinate descent.

    sklearn's ``Lasso`` minimises 1/(2·n_samples)‖y − Xw‖² + α‖w‖₁; with n_samples = m rows of A
    that is our objective divided by m when α = γ / m.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    model = Lasso(alpha=gamma / A.shape[0], fit_intercept=False, max_iter=max_iter, tol=tol)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(A, b)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return LassoResult(np.asarray(model.coef_, dtype=np.float64), int(np.max(model.n_iter_)), converged)


LASSO_SOLVERS = {"fista": lasso_fista, "sklearn": lasso_sklearn}
