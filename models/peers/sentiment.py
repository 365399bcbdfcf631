"""Sentiment peers on the split file `cove-train sentiment` writes.

Reads the reviews CSV (Women's E-Commerce Clothing Reviews) and DIR/split.csv
(row_id,part,rating; part is train, validation or test), builds each text
exactly as the trainer does (models/src/sentiment/reviews.rs: the trimmed
title, a newline, the trimmed review text; either alone when the other is
empty) and labels it the same way (two classes: 1-2 stars negative, 4-5
positive, 3 left out; three classes: 3 stars neutral).

Peers:
- scikit-learn: TfidfVectorizer (word 1-2-grams, sublinear tf, min_df 2) and
  LogisticRegression (lbfgs, multinomial for three classes). C is chosen on the
  validation part by log-loss (grid below), then the model is refitted on
  training + validation and scored once on the test part, as Cove's trainer does.
- VADER (vaderSentiment): the compound score, no training. Two classes:
  positive when compound >= 0.05. Three classes: positive >= 0.05, negative
  <= -0.05, neutral between (VADER's documented thresholds); the one-vs-rest
  scores are compound (positive), -compound (negative) and -|compound| (neutral).

Metrics as the trainer's (models/src/sentiment/metrics.rs): ROC-AUC (macro
one-vs-rest for three classes), macro-F1 of the most likely class, accuracy.

Usage: python sentiment.py --reviews FILE.csv.gz --split DIR/split.csv --out peers.json
"""

import argparse
import csv
import gzip
import json
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)
VARIANTS = {
    "two_class": {1: 0, 2: 0, 4: 1, 5: 1},
    "three_class": {1: 0, 2: 0, 3: 1, 4: 2, 5: 2},
}


def review_text(title, text):
    title, text = title.strip(), text.strip()
    if not title:
        return text
    if not text:
        return title
    return f"{title}\n{text}"


def read(reviews_path, split_path):
    opener = gzip.open if reviews_path.endswith(".gz") else open
    texts = {}
    with opener(reviews_path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            texts[int(row[""])] = review_text(row["Title"], row["Review Text"])
    rows = []
    with open(split_path, newline="") as f:
        for row in csv.DictReader(f):
            row_id = int(row["row_id"])
            rows.append((row_id, row["part"], int(row["rating"]), texts[row_id]))
    return rows


def metrics(truth, probabilities, n_classes):
    predicted = probabilities.argmax(axis=1)
    if n_classes == 2:
        auc = roc_auc_score(truth, probabilities[:, 1])
    else:
        auc = roc_auc_score(truth, probabilities, multi_class="ovr", average="macro")
    return {
        "roc_auc": float(auc),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(truth, predicted)),
        "n": int(len(truth)),
    }


def sklearn_peer(parts, n_classes):
    (train_x, train_y), (val_x, val_y), (fit_x, fit_y), (test_x, test_y) = parts

    def model(c):
        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2), LogisticRegression(
            C=c, max_iter=2000
        )

    grid = []
    for c in C_GRID:
        vectorizer, classifier = model(c)
        classifier.fit(vectorizer.fit_transform(train_x), train_y)
        p = classifier.predict_proba(vectorizer.transform(val_x))
        grid.append({"C": c, "validation_log_loss": float(log_loss(val_y, p, labels=list(range(n_classes))))})
    best = min(grid, key=lambda g: g["validation_log_loss"])["C"]
    started = time.time()
    vectorizer, classifier = model(best)
    classifier.fit(vectorizer.fit_transform(fit_x), fit_y)
    p = classifier.predict_proba(vectorizer.transform(test_x))
    result = metrics(np.array(test_y), p, n_classes)
    result.update({"C": best, "grid": grid, "vocabulary": len(vectorizer.vocabulary_), "fit_seconds": time.time() - started})
    return result


def vader_peer(test_x, test_y, n_classes):
    analyzer = SentimentIntensityAnalyzer()
    compound = np.array([analyzer.polarity_scores(text)["compound"] for text in test_x])
    truth = np.array(test_y)
    if n_classes == 2:
        predicted = (compound >= 0.05).astype(int)
        auc = roc_auc_score(truth, compound)
    else:
        predicted = np.where(compound >= 0.05, 2, np.where(compound <= -0.05, 0, 1))
        scores = np.stack([-compound, -np.abs(compound), compound], axis=1)
        auc = np.mean([roc_auc_score(truth == k, scores[:, k]) for k in range(3)])
    return {
        "roc_auc": float(auc),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(truth, predicted)),
        "n": int(len(truth)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rows = read(args.reviews, args.split)
    results = {}
    for variant, labels in VARIANTS.items():
        n_classes = len(set(labels.values()))
        kept = [(part, labels[rating], text) for _, part, rating, text in rows if rating in labels]

        def select(keep):
            chosen = [(text, label) for part, label, text in kept if keep(part)]
            return [t for t, _ in chosen], [label for _, label in chosen]

        parts = (
            select(lambda p: p == "train"),
            select(lambda p: p == "validation"),
            select(lambda p: p != "test"),
            select(lambda p: p == "test"),
        )
        results[variant] = {
            "scikit_learn_tfidf_logistic": sklearn_peer(parts, n_classes),
            "vader": vader_peer(parts[3][0], parts[3][1], n_classes),
        }
        print(variant, json.dumps(results[variant], indent=1))
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
