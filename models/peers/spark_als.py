"""Spark MLlib's implicit ALS on a slice of Online Retail, for `cove-train import`.

Writes the item factors the way a shop that trains in Spark has them:

- OUT/spark-als-factors: `model.itemFactors` with the StringIndexer's labels
  joined back, so `id` is the shop's item code (a string) and `features` the
  factor vector (array<float>): what `cove-train import --factors` reads.
- OUT/spark-als-factors-indexed: `model.itemFactors.write.parquet(...)` as is,
  `id` the StringIndexer's integer index (int32), which matches no item code:
  `cove-train import` refuses it and shows examples of both sides.

The slice: the rows of UCI Online Retail whose InvoiceDate starts with one of
MONTHS (the same text filter models/tests/import_cli.rs applies), cleaned as
a shop would before Spark (no cancellations, a customer id, quantity and
price > 0). The rating of a (customer, item) pair is its number of purchase
lines, so Spark's confidence is 1 + alpha * lines.

    python3 -m venv /tmp/spark-venv && /tmp/spark-venv/bin/pip install pyspark
    /tmp/spark-venv/bin/python models/peers/spark_als.py \
        --orders data/online-retail/online_retail.csv.gz --out models/tests/fixtures

Needs a JDK (17) on the PATH. Runs in local[2] with a fixed seed.
"""

import argparse
import json
import os
import shutil

from pyspark.ml.feature import StringIndexer
from pyspark.ml.recommendation import ALS
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

MONTHS = ("2011-02", "2011-03")
RANK = 8
REG_PARAM = 0.05
ALPHA = 2.0
MAX_ITER = 10
SEED = 42
SAMPLE_CODES = ("85123A", "22423", "84879", "47566")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("cove-spark-als")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir("/tmp/cove-spark-checkpoints")

    rows = spark.read.csv(args.orders, header=True, inferSchema=False)
    month = F.substring("InvoiceDate", 1, 7)
    rows = rows.filter(month.isin(*MONTHS))
    rows = rows.filter(
        ~F.col("InvoiceNo").startswith("C")
        & F.col("CustomerID").isNotNull()
        & (F.col("Quantity").cast("double") > 0)
        & (F.col("UnitPrice").cast("double") > 0)
    )
    lines = rows.groupBy(
        F.col("CustomerID").cast("double").cast("int").alias("user"),
        F.col("StockCode").alias("code"),
    ).agg(F.count(F.lit(1)).cast("float").alias("lines"))

    indexer = StringIndexer(inputCol="code", outputCol="item", stringOrderType="alphabetAsc")
    indexer_model = indexer.fit(lines)
    ratings = indexer_model.transform(lines).withColumn("item", F.col("item").cast("int"))

    als = ALS(
        rank=RANK,
        maxIter=MAX_ITER,
        regParam=REG_PARAM,
        alpha=ALPHA,
        implicitPrefs=True,
        userCol="user",
        itemCol="item",
        ratingCol="lines",
        seed=SEED,
        coldStartStrategy="drop",
    )
    model = als.fit(ratings)

    indexed_path = os.path.join(args.out, "spark-als-factors-indexed")
    labelled_path = os.path.join(args.out, "spark-als-factors")
    for path in (indexed_path, labelled_path):
        shutil.rmtree(path, ignore_errors=True)

    # Spark's own layout: id = the StringIndexer's index (int32).
    model.itemFactors.repartition(2, "id").sortWithinPartitions("id").write.parquet(indexed_path)

    # The one line that gives the factors the shop's item codes back.
    labels = spark.createDataFrame(list(enumerate(indexer_model.labelsArray[0])), ["id", "code"])
    labelled = model.itemFactors.join(labels, "id").select(F.col("code").alias("id"), "features")
    labelled.repartition(2, "id").sortWithinPartitions("id").write.parquet(labelled_path)

    # A few vectors as Spark holds them, for the test to compare the bundle's
    # rows with (read here through Spark, not through Cove's reader).
    sample = labelled.filter(F.col("id").isin(*SAMPLE_CODES)).collect()
    with open(os.path.join(labelled_path, "..", "spark-als-sample.json"), "w") as file:
        json.dump({row["id"]: [float(v) for v in row["features"]] for row in sample}, file,
                  indent=1, sort_keys=True)

    n_users = lines.select("user").distinct().count()
    print(
        f"pyspark {spark.version}: {lines.count()} (customer, item) pairs, {n_users} customers, "
        f"{len(indexer_model.labelsArray[0])} items; rank {RANK}, regParam {REG_PARAM}, "
        f"alpha {ALPHA}, maxIter {MAX_ITER}, seed {SEED}; wrote {labelled_path} and {indexed_path}"
    )
    spark.stop()


if __name__ == "__main__":
    main()
