"""Reference for `hone eval`'s confidence, calibration and selective prediction: numpy in float64,
computed from the predictions alone.

  calibration_peer.py TEST_PREDICTIONS.jsonl CALIBRATION_PREDICTIONS.jsonl MODEL TARGET OUT.json

Both files are `hone eval` predictions (--method score, --score-top K >= 2) of the model named
MODEL: the evaluated split and the calibration split. For each example the label scores are the
log-likelihoods of `scored_top`; the confidence is softmax(scores / T)[0]. The temperature
minimises, on the calibration split, the mean NLL of the answers being right with the confidence
as their probability, -[y log c + (1 - y) log(1 - c)]; it is found on a grid over log T, then by
bisection on the derivative in 1/T. Writes {temperature, nll, nll_calibrated, ece,
ece_calibrated, aurc, aurc_calibrated, threshold, threshold_coverage, threshold_accuracy}: the
ECE over 15 equal-width bins (b/15, (b+1)/15] (bin 0 also holds 0), the AURC as the mean over
examples of the error rate among the answers at least as confident, and the lowest threshold on
the calibration split whose kept answers reach TARGET, with its coverage and accuracy on the
evaluated split.
"""
import json
import sys

import numpy as np


def read(path, model):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    rows = [r for r in rows if r["model"] == model]
    assert rows, f"{path}: no predictions of {model}"
    out = []
    for r in rows:
        labels = [t[0] for t in r["scored_top"]]
        scores = [float(t[1]) for t in r["scored_top"]]
        gold = labels.index(r["gold"]) if r["gold"] in labels else -1
        out.append((np.array(scores, dtype=np.float64), gold, float(r["gold_logprob"]), labels[0] == r["gold"]))
    return out


def confidence(scores, t):
    z = scores / t
    z = z - z.max()
    p = np.exp(z)
    return p[0] / p.sum()


def log_conf_and_doubt(scores, t):
    """log c and log(1 - c), the latter as the log of the other labels' softmax mass."""
    z = scores / t
    m = z.max()
    lse = m + np.log(np.exp(z - m).sum())
    m1 = z[1:].max() if len(z) > 1 else 0.0
    rest = m1 + np.log(np.exp(z[1:] - m1).sum()) if len(z) > 1 else -np.inf
    return z[0] - lse, rest - lse


def nll(rows, t):
    """Mean -[y log c + (1 - y) log(1 - c)] over the examples with two or more labels."""
    terms = []
    for scores, _, _, right in rows:
        if len(scores) < 2:
            continue
        lc, ld = log_conf_and_doubt(scores, t)
        terms.append(-(lc if right else ld))
    return float(np.mean(terms))


def dnll_dbeta(rows, beta):
    """The derivative of nll in beta = 1 / T: dc/dbeta = c (z_0 - E_p[z]), so each term's derivative
    is -(y - c) (z_0 - E_p[z]) / (1 - c)."""
    total, n = 0.0, 0
    for scores, _, _, right in rows:
        if len(scores) < 2:
            continue
        z = beta * scores
        p = np.exp(z - z.max())
        p /= p.sum()
        ez = (p * scores).sum()
        total += -((1.0 if right else 0.0) - p[0]) * (scores[0] - ez) / (1 - p[0])
        n += 1
    return total / n


def fit(rows):
    """A grid over log T in [log 0.01, log 100], then bisection on the derivative in 1/T between the
    best grid point's neighbours."""
    grid = np.linspace(np.log(0.01), np.log(100.0), 601)
    values = [nll(rows, np.exp(g)) for g in grid]
    i = int(np.argmin(values))
    lo_t, hi_t = np.exp(grid[max(0, i - 1)]), np.exp(grid[min(600, i + 1)])
    lo, hi = 1 / hi_t, 1 / lo_t  # in beta
    if dnll_dbeta(rows, lo) >= 0:
        return 1 / lo
    if dnll_dbeta(rows, hi) <= 0:
        return 1 / hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if dnll_dbeta(rows, mid) > 0:
            hi = mid
        else:
            lo = mid
    return 2 / (lo + hi)


def ece(conf, right, bins=15):
    idx = np.clip(np.ceil(np.clip(conf, 0, 1) * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() / len(conf) * abs(right[m].mean() - conf[m].mean())
    return total


def aurc(conf, right):
    risks = [1 - right[conf >= c].mean() for c in conf]
    return float(np.mean(risks))


def threshold(conf, right, target):
    best = None
    for c in sorted(set(conf.tolist()), reverse=True):
        if right[conf >= c].mean() >= target:
            best = c
    return best


def main():
    test_path, cal_path, model, target, out = sys.argv[1:6]
    test, cal = read(test_path, model), read(cal_path, model)
    t = fit(cal)
    right = np.array([r[3] for r in test], dtype=np.float64)
    raw = np.array([confidence(r[0], 1.0) for r in test])
    cooked = np.array([confidence(r[0], t) for r in test])
    cal_conf = np.array([confidence(r[0], t) for r in cal])
    cal_right = np.array([r[3] for r in cal], dtype=np.float64)
    th = threshold(cal_conf, cal_right, float(target))
    kept = cooked >= th if th is not None else np.zeros(len(cooked), dtype=bool)
    result = {
        "temperature": t,
        "nll": nll(cal, 1.0),
        "nll_calibrated": nll(cal, t),
        "ece": ece(raw, right),
        "ece_calibrated": ece(cooked, right),
        "aurc": aurc(raw, right),
        "aurc_calibrated": aurc(cooked, right),
        "confidence": cooked.tolist(),
        "threshold": th,
        "threshold_coverage": float(kept.mean()),
        "threshold_accuracy": float(right[kept].mean()) if kept.any() else None,
    }
    json.dump(result, open(out, "w"))


if __name__ == "__main__":
    main()
