"""Peer recommenders on the split files `cove-train evaluate --write-split` writes.

Reads DIR/train.csv (user,item,strength) and DIR/test.csv (user,item) for the test
split and the validation split, tunes each peer's hyperparameters on the
validation split only (a split carved from the training period), then scores the
test split once per peer with the best setting. The metrics are the same as the
trainer's (see models/src/eval.rs): HR@10, NDCG@10/20 with binary gains and
ideal DCG over min(|relevant|, k), Recall@k = hits / min(|relevant|, k), MAP@k.
Task A: relevant = the user's test items, full ranking. Task B: relevant = test
items not in the user's train history, train items removed from the ranking.

Each peer is also run with an on-device blend like Cove's (the engine's
RankingParams have the same two terms, "buy again" and recent popularity):
score + repeat * ln(1 + own strength) on owned items + prior * items.csv's
recent_popularity, the two weights tuned on validation over the same grid, so
the comparison separates the factor model from the blend.

Run it with `cargo xtask peers` (a venv with requirements.txt, the split written
by the trainer, results in target/peers/peers.json).

Usage: python peers.py --test DIR --val DIR --out results.json
"""

import argparse
import json
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402


def load_prior(split_dir):
    items = np.loadtxt(os.path.join(split_dir, "items.csv"), delimiter=",", skiprows=1)
    prior = np.zeros(int(items[:, 0].max()) + 1)
    prior[items[:, 0].astype(np.int64)] = items[:, 1]
    return prior


def blended(score_fn, x, prior, repeat, prior_weight):
    strength = x.copy()
    strength.data = np.log1p(strength.data)

    def score(users):
        base = np.asarray(score_fn(users), dtype=np.float64)
        return base + repeat * strength[users].toarray() + prior_weight * prior[None, :]

    return score


REPEAT_GRID = (0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)
PRIOR_GRID = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)


def load(split_dir):
    meta = json.load(open(os.path.join(split_dir, "meta.json")))
    train = np.loadtxt(os.path.join(split_dir, "train.csv"), delimiter=",", skiprows=1)
    test = np.loadtxt(os.path.join(split_dir, "test.csv"), delimiter=",", skiprows=1, dtype=np.int64)
    n_users, n_items = meta["n_users"], meta["n_items"]
    x = sp.csr_matrix(
        (train[:, 2].astype(np.float32), (train[:, 0].astype(np.int64), train[:, 1].astype(np.int64))),
        shape=(n_users, n_items),
    )
    relevant = {}
    for user, item in test:
        relevant.setdefault(int(user), set()).add(int(item))
    return x, relevant


def user_metrics(ranked, relevant):
    out = {}
    hits = [item in relevant for item in ranked[:20]]
    for k in (10, 20):
        n_ideal = min(len(relevant), k)
        dcg = sum(1.0 / np.log2(r + 2) for r, h in enumerate(hits[:k]) if h)
        idcg = sum(1.0 / np.log2(r + 2) for r in range(n_ideal))
        n_hits, prec_sum = 0, 0.0
        for r, h in enumerate(hits[:k]):
            if h:
                n_hits += 1
                prec_sum += n_hits / (r + 1)
        out[f"ndcg_at_{k}"] = dcg / idcg
        out[f"recall_at_{k}"] = n_hits / n_ideal
        out[f"map_at_{k}"] = prec_sum / n_ideal
        if k == 10:
            out["hr_at_10"] = 1.0 if n_hits > 0 else 0.0
    return out


def evaluate(score_fn, x, relevant, task):
    """score_fn(users) -> dense scores (len(users) x n_items)."""
    users = sorted(relevant)
    totals, n = {}, 0
    for start in range(0, len(users), 512):
        batch = users[start:start + 512]
        scores = np.asarray(score_fn(np.array(batch)), dtype=np.float64)
        for row, user in enumerate(batch):
            history = set(x.indices[x.indptr[user]:x.indptr[user + 1]].tolist())
            rel = relevant[user]
            s = scores[row].copy()
            if task == "B":
                rel = rel - history
                if not rel:
                    continue
                s[list(history)] = -np.inf
            # Higher score first, then lower index first (the engine's tie rule).
            top = np.lexsort((np.arange(len(s)), -s))[:20]
            m = user_metrics(top.tolist(), rel)
            for key, value in m.items():
                totals[key] = totals.get(key, 0.0) + value
            n += 1
    result = {key: value / n for key, value in totals.items()}
    result["n_users"] = n
    return result


def ease(x, lam):
    b = (x > 0).astype(np.float64)
    g = (b.T @ b).toarray()
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    w = p / (-np.diag(p))
    w[np.diag_indices_from(w)] = 0.0
    return lambda users: b[users] @ w


def implicit_als(x, factors, reg, alpha, iterations, seed=42):
    from implicit.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(
        factors=factors, regularization=reg, alpha=alpha, iterations=iterations,
        random_state=seed, num_threads=2, calculate_training_loss=False,
    )
    conf = x.copy()
    conf.data = np.log1p(conf.data).astype(np.float32)
    model.fit(conf, show_progress=False)
    uf, itf = model.user_factors, model.item_factors
    return lambda users: uf[users] @ itf.T


def implicit_bpr(x, factors, lr, reg, iterations, seed=42):
    from implicit.bpr import BayesianPersonalizedRanking

    model = BayesianPersonalizedRanking(
        factors=factors, learning_rate=lr, regularization=reg, iterations=iterations,
        random_state=seed, num_threads=2,
    )
    model.fit((x > 0).astype(np.float32).tocsr(), show_progress=False)
    uf, itf = model.user_factors, model.item_factors
    return lambda users: uf[users] @ itf.T


PEERS = {
    "EASE (numpy)": (ease, [{"lam": lam} for lam in (50, 100, 250, 500, 1000, 2500)]),
    "implicit ALS": (
        implicit_als,
        [
            {"factors": f, "reg": r, "alpha": a, "iterations": 15}
            for f in (32, 64, 128)
            for r in (0.1, 1.0, 10.0)
            for a in (1.0, 5.0, 20.0)
        ],
    ),
    "implicit BPR": (
        implicit_bpr,
        [
            {"factors": f, "lr": lr, "reg": 0.01, "iterations": it}
            for f in (128,)
            for lr in (0.01, 0.05)
            for it in (100, 300)
        ],
    ),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--test", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", default=None, help="run only the peer whose name contains this")
    args = parser.parse_args()
    x_val, rel_val = load(args.val)
    x_test, rel_test = load(args.test)
    prior_val, prior_test = load_prior(args.val), load_prior(args.test)
    results = {}
    for name, (build, grid) in PEERS.items():
        if args.only and args.only not in name:
            continue
        # Tune on validation, separately for each task, by NDCG@10.
        for task in ("A", "B"):
            best = None
            for params in grid:
                m = evaluate(build(x_val, **params), x_val, rel_val, task)
                print(f"val {name} {task} {params} ndcg@10={m['ndcg_at_10']:.4f}", flush=True)
                if best is None or m["ndcg_at_10"] > best[1]["ndcg_at_10"]:
                    best = (params, m)
            start = time.time()
            scorer = build(x_test, **best[0])
            seconds = time.time() - start
            m = evaluate(scorer, x_test, rel_test, task)
            results[f"{name}|{task}"] = {"params": best[0], "val": best[1], "test": m, "fit_seconds": seconds}
            print(f"TEST {name} {task} {best[0]} {m}", flush=True)
            # The same peer with Cove's on-device blend, weights tuned on validation.
            val_scorer = build(x_val, **best[0])
            repeats = REPEAT_GRID if task == "A" else (0.0,)
            best_blend = None
            for repeat in repeats:
                for prior_weight in PRIOR_GRID:
                    mv = evaluate(blended(val_scorer, x_val, prior_val, repeat, prior_weight), x_val, rel_val, task)
                    if best_blend is None or mv["ndcg_at_10"] > best_blend[2]["ndcg_at_10"]:
                        best_blend = (repeat, prior_weight, mv)
            repeat, prior_weight, mv = best_blend
            mb = evaluate(blended(scorer, x_test, prior_test, repeat, prior_weight), x_test, rel_test, task)
            results[f"{name} + Cove blend|{task}"] = {
                "params": dict(best[0], repeat=repeat, prior=prior_weight), "val": mv, "test": mb,
            }
            print(f"TEST {name} + Cove blend {task} repeat={repeat} prior={prior_weight} {mb}", flush=True)
    json.dump(results, open(args.out, "w"), indent=2)


if __name__ == "__main__":
    main()
