//! Issue 24, item 5: `cove-train import` builds a bundle from item factors
//! fit elsewhere. The real case is Spark's own output, committed under
//! tests/fixtures/ (how it was made: tests/fixtures/README.md) with the
//! orders slice it was fit on regenerated here from the committed Online
//! Retail file; the bad inputs are written here with the `parquet` crate.
//! Neither Spark nor the network is needed.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{cove_train, s, temp_dir};
use cove_engine::events::{Event, EventKind, PurchaseLine};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, FloatType, Int32Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The Online Retail rows whose InvoiceDate starts with one of `months`
/// (YYYY-MM), as a CSV: the slice `models/peers/spark_als.py` filters the
/// same way.
fn online_retail_slice(months: &[&str], path: &Path) {
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/online-retail/online_retail.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(source).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(reader.headers().unwrap()).unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        if months.iter().any(|m| record[4].starts_with(m)) {
            writer.write_record(&record).unwrap();
        }
    }
    writer.flush().unwrap();
}

fn import(args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    cove_train(&all)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn issue_24_spark_als_factors_become_a_bundle_the_engine_loads_and_ranks_with() {
    let dir = temp_dir("cove-import-spark");
    let orders = dir.join("orders.csv");
    online_retail_slice(&["2011-02", "2011-03"], &orders);
    let (out, publish) = (dir.join("out"), dir.join("publish"));
    let factors = fixtures().join("spark-als-factors");
    let (code, stdout, stderr) = import(&[
        "--factors",
        s(&factors),
        "--orders",
        s(&orders),
        "--out",
        s(&out),
        "--publish",
        s(&publish),
        "--regularization",
        "0.05",
        "--alpha",
        "2",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // Spark's two part files; Spark's cleaning kept two fee codes that Cove's
    // drops, so their factors are ignored and counted.
    assert!(
        stdout.contains("2471 rows of dimension 8 from 2 files"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 factor rows of items not in the orders were ignored (e.g. 'M', 'POST')"),
        "{stdout}"
    );
    assert!(stdout.contains("within"), "{stdout}");

    // The bundle loads in the engine with Spark's vectors for the right items
    // (int8 with a scale per row: within half a step of the row's scale).
    let model = cove_models::export::load_published(&publish).unwrap();
    assert_eq!(model.dim(), 8);
    assert_eq!(model.n_items(), 2469);
    let sample: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("spark-als-sample.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sample.len(), 4);
    for (code, vector) in &sample {
        let spark: Vec<f64> = vector
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let row = model.item_row(code).unwrap_or_else(|| panic!("{code}"));
        let got = model.item_factors(row).unwrap();
        let step = spark.iter().fold(0.0f64, |m, v| m.max(v.abs())) / 127.0;
        for (g, w) in got.iter().zip(&spark) {
            assert!(
                (f64::from(*g) - w).abs() <= step * 0.5 + 1e-6,
                "{code}: {got:?} vs Spark's {spark:?}"
            );
        }
    }
    // λ = regParam × the median number of distinct items per customer;
    // α = Spark's alpha over a purchase line's weight (5).
    let report = read_json(&out.join("report.json"));
    let fold_in = &report["imported_factors"]["fold_in"];
    let median = fold_in["median_items"].as_f64().unwrap();
    assert!(median >= 2.0, "{fold_in}");
    let ranking = &model.manifest().ranking;
    assert!((ranking.lambda - 0.05 * median).abs() < 1e-9, "{fold_in}");
    assert!((ranking.alpha - 0.4).abs() < 1e-12);

    // Honest about evaluation: no figures anywhere.
    assert_eq!(
        report["evaluation"],
        "imported factors: not evaluated by Cove"
    );
    assert!(report["config"]["als"].is_null());
    let card = std::fs::read_to_string(out.join("MODEL_CARD.md")).unwrap();
    assert!(card.contains("**Imported factors: not evaluated by Cove.**"));
    for figure in ["NDCG", "HR@10", "Recall@20"] {
        assert!(!card.contains(figure), "the card shows {figure}");
    }
    assert!(!out.join("ndcg_by_history.svg").exists());

    // A shopper's ranking through the engine (`cove-train score`): items of
    // the bundle, led by Spark's factors: the ranked items lie closer to
    // what the shopper bought than the catalogue does on average.
    let bought = ["22423", "85123A", "84879"];
    let events = vec![Event {
        at: 1_300_000_000,
        kind: EventKind::Purchase {
            lines: bought
                .iter()
                .map(|item| PurchaseLine {
                    item: (*item).into(),
                    quantity: 1,
                    price: 2.0,
                })
                .collect(),
        },
    }];
    let events_path = dir.join("events.json");
    std::fs::write(&events_path, serde_json::to_string(&events).unwrap()).unwrap();
    let (code, stdout, stderr) = cove_train(&[
        "score",
        "--bundle",
        s(&publish),
        "--events",
        s(&events_path),
        "--k",
        "10",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let scored: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let ranked: Vec<&str> = scored["ranking"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{scored}"))
        .iter()
        .map(|item| item["item"].as_str().unwrap())
        .collect();
    assert_eq!(ranked.len(), 10, "{scored}");
    let taste: Vec<f32> = (0..8)
        .map(|k| {
            bought
                .iter()
                .map(|code| model.item_factors(model.item_row(code).unwrap()).unwrap()[k])
                .sum()
        })
        .collect();
    let affinity = |code: &str| -> f32 {
        let row = model.item_row(code).unwrap();
        let y = model.item_factors(row).unwrap();
        let norm = y.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
        y.iter().zip(&taste).map(|(a, b)| a * b).sum::<f32>() / norm
    };
    let ranked_mean = ranked.iter().map(|c| affinity(c)).sum::<f32>() / ranked.len() as f32;
    let all_mean =
        model.items().iter().map(|i| affinity(&i.id)).sum::<f32>() / model.n_items() as f32;
    assert!(
        ranked_mean > all_mean,
        "ranked {ranked:?}: mean affinity {ranked_mean} ≤ the catalogue's {all_mean}"
    );
}

#[test]
fn issue_24_ordered_items_without_factors_are_left_out_and_counted() {
    let dir = temp_dir("cove-import-later-orders");
    // April's new items have no factors (Spark saw February and March).
    let orders = dir.join("orders.csv");
    online_retail_slice(&["2011-02", "2011-03", "2011-04"], &orders);
    let out = dir.join("out");
    let factors = fixtures().join("spark-als-factors");
    let (code, stdout, stderr) = import(&[
        "--factors",
        s(&factors),
        "--orders",
        s(&orders),
        "--out",
        s(&out),
        "--params",
        concat!(env!("CARGO_MANIFEST_DIR"), "/default-params.toml"),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report = read_json(&out.join("report.json"));
    let matched = &report["imported_factors"]["matched"];
    let missing = matched["n_items_without_factors"].as_u64().unwrap();
    let rows = matched["rows_dropped"].as_u64().unwrap();
    assert!(missing > 0 && rows >= missing, "{matched}");
    assert_eq!(
        report["data"]["n_items"].as_u64().unwrap() + missing,
        matched["n_ordered_items"].as_u64().unwrap()
    );
    let dropped = report["data"]["cleaning"]["dropped"].as_array().unwrap();
    assert!(
        dropped.contains(&serde_json::json!(["no_imported_factors", rows])),
        "{dropped:?}"
    );
    assert!(
        stdout.contains(&format!(
            "{missing} had no factors and were left out with their {rows} purchase lines"
        )),
        "{stdout}"
    );
    // The blend weights come from the file; the fold-in from Spark's
    // defaults (no --regularization or --alpha given), and say so.
    let repeat = report["config"]["engine"]["weight_repeat"]
        .as_f64()
        .unwrap();
    assert!((repeat - 0.8).abs() < 1e-6, "{repeat}");
    assert!(
        stdout.contains("regParam 0.1 (Spark's default)"),
        "{stdout}"
    );
}

#[test]
fn issue_24_spark_integer_ids_without_their_labels_match_no_item() {
    let dir = temp_dir("cove-import-indexed");
    let orders = dir.join("orders.csv");
    online_retail_slice(&["2011-02"], &orders);
    let factors = fixtures().join("spark-als-factors-indexed");
    let (code, _, stderr) = import(&[
        "--factors",
        s(&factors),
        "--orders",
        s(&orders),
        "--out",
        s(&dir.join("out")),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("only 0 of the"), "{stderr}");
    assert!(stderr.contains("StringIndexer"), "{stderr}");
    // Three examples of each side: item codes, and Spark's indices.
    let tail = stderr
        .split("factor ids of no ordered item: ")
        .nth(1)
        .unwrap();
    let examples: Vec<&str> = tail.split(". ").next().unwrap().split(", ").collect();
    assert_eq!(examples.len(), 3, "{stderr}");
    assert!(
        examples
            .iter()
            .all(|e| e.trim_matches('\'').parse::<u32>().is_ok()),
        "{examples:?}"
    );
    let ordered = stderr
        .split("Ordered items without factors: ")
        .nth(1)
        .unwrap();
    assert_eq!(ordered.split(';').next().unwrap().split(", ").count(), 3);
}

/// A small shop whose item codes are numbers (10000 + i), so integer factor
/// ids can equal them: 60 customers, 24 items, three months.
fn numeric_shop(path: &Path) {
    let mut text = String::from(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n",
    );
    for line in 0..1800u32 {
        let customer = (line * 7919) % 60;
        let item = (customer % 4) * 6 + (line / 7) % 6;
        let day = 1 + line * 89 / 1800;
        let (month, day) = (1 + (day - 1) / 30, 1 + (day - 1) % 28);
        text.push_str(&format!(
            "{},{},ITEM {item} {},{},2011-{month:02}-{day:02} 10:00,{:.2},{},UK\n",
            line / 3,
            10_000 + item,
            ["MUG", "TIN", "BAG", "STAR"][(item % 4) as usize],
            1 + line % 3,
            0.5 + f64::from(item % 7),
            20_000 + customer
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// How a test file's columns are declared and filled.
enum Ids<'a> {
    Int32(&'a [i32]),
    Text(&'a [&'a str]),
}

/// Writes a factors file as Spark lays it out: `id`, then `features` as a
/// three-level LIST of `element_type`. `id_decl` and `features_decl`
/// override the declarations (for wrong types), `None` elements are nulls.
fn write_factors(
    path: &Path,
    ids: Ids,
    vectors: &[Vec<f64>],
    element_type: &str,
    features_decl: Option<&str>,
) {
    let id_decl = match ids {
        Ids::Int32(_) => "REQUIRED INT32 id;",
        Ids::Text(_) => "REQUIRED BYTE_ARRAY id (UTF8);",
    };
    let features = features_decl.map_or_else(
        || {
            format!(
                "OPTIONAL group features (LIST) {{ REPEATED group list {{ REQUIRED {element_type} element; }} }}"
            )
        },
        str::to_owned,
    );
    let schema = Arc::new(
        parse_message_type(&format!("message spark_schema {{ {id_decl} {features} }}")).unwrap(),
    );
    let file = std::fs::File::create(path).unwrap();
    let mut writer =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::builder().build()))
            .unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut column = group.next_column().unwrap().unwrap();
    match ids {
        Ids::Int32(values) => {
            column
                .typed::<Int32Type>()
                .write_batch(values, None, None)
                .unwrap();
        }
        Ids::Text(values) => {
            let bytes: Vec<ByteArray> = values.iter().map(|v| ByteArray::from(*v)).collect();
            column
                .typed::<ByteArrayType>()
                .write_batch(&bytes, None, None)
                .unwrap();
        }
    }
    column.close().unwrap();
    let mut column = group.next_column().unwrap().unwrap();
    let flat: Vec<f64> = vectors.iter().flatten().copied().collect();
    let mut definitions = Vec::new();
    let mut repetitions = Vec::new();
    for vector in vectors {
        for k in 0..vector.len() {
            definitions.push(2i16);
            repetitions.push(i16::from(k > 0));
        }
    }
    if features_decl.is_some() {
        // A flat DOUBLE column instead of a list.
        column
            .typed::<DoubleType>()
            .write_batch(&flat, Some(&vec![1; flat.len()]), None)
            .unwrap();
    } else if element_type == "DOUBLE" {
        column
            .typed::<DoubleType>()
            .write_batch(&flat, Some(&definitions), Some(&repetitions))
            .unwrap();
    } else {
        let flat: Vec<f32> = flat.iter().map(|v| *v as f32).collect();
        column
            .typed::<FloatType>()
            .write_batch(&flat, Some(&definitions), Some(&repetitions))
            .unwrap();
    }
    column.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();
}

/// A vector of dimension `dim` for item `i`, four tastes apart.
fn vector(i: usize, dim: usize) -> Vec<f64> {
    (0..dim)
        .map(|k| {
            if k == i % 4 {
                1.0
            } else {
                0.1 * ((i + k) % 5) as f64
            }
        })
        .collect()
}

#[test]
fn issue_24_integer_ids_equal_to_numeric_codes_and_double_values_import() {
    let dir = temp_dir("cove-import-numeric");
    let orders = dir.join("orders.csv");
    numeric_shop(&orders);
    let factors = dir.join("factors");
    std::fs::create_dir_all(&factors).unwrap();
    // Two part files, the items split between them, and Spark's marker.
    let ids: Vec<i32> = (0..24).map(|i| 10_000 + i).collect();
    let vectors: Vec<Vec<f64>> = (0..24).map(|i| vector(i, 6)).collect();
    for (part, range) in [(0, 0..10), (1, 10..24)] {
        write_factors(
            &factors.join(format!("part-0000{part}-x.snappy.parquet")),
            Ids::Int32(&ids[range.clone()]),
            &vectors[range],
            "DOUBLE",
            None,
        );
    }
    std::fs::write(factors.join("_SUCCESS"), "").unwrap();
    let publish = dir.join("publish");
    let (code, stdout, stderr) = import(&[
        "--factors",
        s(&factors),
        "--orders",
        s(&orders),
        "--out",
        s(&dir.join("out")),
        "--publish",
        s(&publish),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("id INT32, values DOUBLE"), "{stdout}");
    let model = cove_models::export::load_published(&publish).unwrap();
    assert_eq!((model.n_items(), model.dim()), (24, 6));
    let row = model.item_row("10005").unwrap();
    let got = model.item_factors(row).unwrap();
    for (g, w) in got.iter().zip(vector(5, 6)) {
        assert!((f64::from(*g) - w).abs() < 0.005, "{got:?}");
    }
}

/// Runs `import` on `factors` with the numeric shop's orders; it must fail.
fn refused(dir: &Path, factors: &Path) -> String {
    refused_with(dir, factors, &[])
}

/// [`refused`] with more arguments.
fn refused_with(dir: &Path, factors: &Path, extra: &[&str]) -> String {
    let orders = dir.join("orders.csv");
    if !orders.exists() {
        numeric_shop(&orders);
    }
    let out = dir.join("out");
    let mut args = vec![
        "--factors",
        s(factors),
        "--orders",
        s(&orders),
        "--out",
        s(&out),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = import(&args);
    assert_ne!(code, 0, "{stdout}");
    stderr
}

#[test]
fn issue_24_bad_factors_are_refused_with_the_offending_row() {
    let dir = temp_dir("cove-import-bad");
    let ids: Vec<i32> = (0..24).map(|i| 10_000 + i).collect();
    let good: Vec<Vec<f64>> = (0..24).map(|i| vector(i, 6)).collect();
    let file = |name: &str| dir.join(format!("{name}.parquet"));

    // One row of another dimension: named with both dimensions.
    let mut short = good.clone();
    short[7].pop();
    write_factors(&file("dimension"), Ids::Int32(&ids), &short, "FLOAT", None);
    let error = refused(&dir, &file("dimension"));
    assert!(
        error.contains("row 8 (id '10007'): 5 factor values, but the first row (id '10000') has 6"),
        "{error}"
    );

    // A NaN: its row, id and position.
    let mut nan = good.clone();
    nan[3][2] = f64::NAN;
    write_factors(&file("nan"), Ids::Int32(&ids), &nan, "DOUBLE", None);
    let error = refused(&dir, &file("nan"));
    assert!(
        error.contains("row 4 (id '10003'): value 2 of the vector is NaN"),
        "{error}"
    );

    // A double beyond f32 is not finite once stored.
    let mut huge = good.clone();
    huge[0][0] = 1e300;
    write_factors(&file("huge"), Ids::Int32(&ids), &huge, "DOUBLE", None);
    assert!(refused(&dir, &file("huge")).contains("not a finite 32-bit float"));

    // The same id twice: both rows.
    let mut twice = ids.clone();
    twice[12] = 10_002;
    write_factors(&file("duplicate"), Ids::Int32(&twice), &good, "FLOAT", None);
    let error = refused(&dir, &file("duplicate"));
    assert!(
        error.contains("id '10002' is on two rows") && error.contains("row 3 and"),
        "{error}"
    );
    assert!(error.contains("row 13"), "{error}");

    // A flat DOUBLE column where the list should be.
    write_factors(
        &file("flat"),
        Ids::Int32(&ids),
        &good.iter().map(|v| vec![v[0]]).collect::<Vec<_>>(),
        "DOUBLE",
        Some("REQUIRED DOUBLE features;"),
    );
    let error = refused(&dir, &file("flat"));
    assert!(
        error
            .contains("column 'features' is DOUBLE: the factors must be a LIST of FLOAT or DOUBLE"),
        "{error}"
    );

    // A path that is not there.
    let error = refused(&dir, &file("missing"));
    assert!(error.contains("cannot read the factors"), "{error}");

    // Ids that match no ordered item.
    let strangers: Vec<&str> = (0..24).map(|i| ["a", "b", "c", "d"][i % 4]).collect();
    let distinct: Vec<String> = (0..24).map(|i| format!("{}-{i}", strangers[i])).collect();
    let distinct: Vec<&str> = distinct.iter().map(String::as_str).collect();
    write_factors(
        &file("strangers"),
        Ids::Text(&distinct),
        &good,
        "FLOAT",
        None,
    );
    let error = refused(&dir, &file("strangers"));
    assert!(
        error.contains("only 0 of the 24 ordered items have factors")
            && error.contains("Ordered items without factors: '10000', '")
            && error.contains("'a-0', 'b-1', 'c-2'"),
        "{error}"
    );

    // An empty directory, and one with only Spark's marker files.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let error = refused(&dir, &empty);
    assert!(
        error.contains("no Parquet files in the directory"),
        "{error}"
    );
    std::fs::write(empty.join("_SUCCESS"), "").unwrap();
    std::fs::write(empty.join(".part-00000.parquet.crc"), "x").unwrap();
    assert!(refused(&dir, &empty).contains("no Parquet files"));

    // A file with the right schema and no rows.
    write_factors(&file("no-rows"), Ids::Int32(&[]), &[], "FLOAT", None);
    let error = refused(&dir, &file("no-rows"));
    assert!(error.contains("the factors hold no rows"), "{error}");
}

#[test]
fn issue_24_factor_columns_are_found_by_the_names_given() {
    let dir = temp_dir("cove-import-columns");
    let ids: Vec<i32> = (0..24).map(|i| 10_000 + i).collect();
    let good: Vec<Vec<f64>> = (0..24).map(|i| vector(i, 6)).collect();
    let path = dir.join("factors.parquet");
    write_factors(&path, Ids::Int32(&ids), &good, "FLOAT", None);
    let error = refused_with(&dir, &path, &["--factors-column", "vector"]);
    assert!(
        error.contains("no column 'vector' (the file has 'id', 'features')"),
        "{error}"
    );
    // The id column read as the features (found ignoring case): a wrong
    // type, named; and the other way round.
    let error = refused_with(&dir, &path, &["--factors-column", "ID"]);
    assert!(
        error.contains("column 'id' is INT32: the factors must be a LIST"),
        "{error}"
    );
    let error = refused_with(&dir, &path, &["--factors-id-column", "features"]);
    assert!(
        error.contains("column 'features' is a group (LIST): an item id must be an integer"),
        "{error}"
    );
}
