//! Issue 24: `cove-train train` on another shop's export, as a shop would
//! run it: a semicolon file with a lower-case header, date-only values and
//! no invoice or country column; the cut-off derived from the data; plain
//! progress lines and no colour codes when stderr is not a terminal; a
//! model card without another shop's figures.

mod common;

use std::path::Path;

use common::{cove_train, evaluate_refused, s};

fn temp_dir(name: &str) -> std::path::PathBuf {
    common::temp_dir(&format!("cove-train-{name}"))
}

/// A small grocery-like export: 80 customers with four tastes, 50 items,
/// 2017-01-01 to 2017-05-30, one basket a customer a day, `;`-separated,
/// lower-case names, dates without a time, no invoice, title or country.
fn write_shop(path: &Path) {
    let mut state = 21u64;
    let mut next = move || {
        // SplitMix64.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut text = String::from("customer;sku;qty;day;price\r\n");
    for line in 0..4000u64 {
        let customer = next() % 80;
        let item = (customer % 4) * 12 + next() % 14;
        let day = line * 150 / 4000;
        let (month, day_of_month) = match day {
            0..=30 => (1, day + 1),
            31..=58 => (2, day - 30),
            59..=89 => (3, day - 58),
            90..=119 => (4, day - 89),
            _ => (5, day - 119),
        };
        text.push_str(&format!(
            "c{customer};SKU{item};{};2017-{month:02}-{day_of_month:02};{:.2}\r\n",
            1 + next() % 5,
            0.5 + (item % 7) as f32
        ));
    }
    std::fs::write(path, text).unwrap();
}

const COLUMNS: [&str; 10] = [
    "--col-customer",
    "customer",
    "--col-item",
    "SKU",
    "--col-quantity",
    "QTY",
    "--col-date",
    "day",
    "--col-price",
    "price",
];

#[test]
fn issue_24_another_shops_export_trains_with_a_derived_cutoff_and_plain_logs() {
    let dir = temp_dir("shop");
    let orders = dir.join("orders.csv");
    write_shop(&orders);
    let params = Path::new(env!("CARGO_MANIFEST_DIR")).join("default-params.toml");
    let out = dir.join("out");
    let mut args = vec!["train", "--orders", s(&orders), "--out", s(&out)];
    args.extend(COLUMNS);
    args.extend(["--params", s(&params)]);

    // The semicolons are detected, and said.
    let (code, stdout, stderr) = cove_train(&args);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("CSV, fields separated by ';' (detected from the header and 20 data rows"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "Test period from 2017-05-16 (derived: 14 days before the data's last day; the data \
             runs from 2017-01-01 to 2017-05-30"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("no country column 'Country': every row's country is 'unknown'"),
        "{stdout}"
    );
    // Off a terminal: plain lines, no colour codes, no redraws.
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert!(
        stderr.contains("ALS on all data: started, 15 steps"),
        "{stderr}"
    );
    let card = std::fs::read_to_string(out.join("MODEL_CARD.md")).unwrap();
    assert!(card.contains("1 country kept"), "{card}");
    assert!(card.contains("no peer figures for this data"), "{card}");
    for online_retail in ["0.3289", "0.3687", "UK wholesaler", "Chen, D."] {
        assert!(!card.contains(online_retail), "{online_retail} in:\n{card}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("1 country kept"), "{report}");

    // A cut-off outside the data is an error, not tables of zeros.
    for (cutoff, expected) in [
        ("2017-06-01", "after the data's last day"),
        ("2016-12-01", "leaves nothing to train on"),
    ] {
        let mut with_cutoff = args.clone();
        with_cutoff.extend(["--cutoff", cutoff]);
        let (code, _, stderr) = cove_train(&with_cutoff);
        assert_ne!(code, 0, "{cutoff}");
        assert!(stderr.contains(expected), "{cutoff}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn issue_24_a_bad_delimiter_or_a_data_row_error_is_clear() {
    // Bad flags are refused before any file is read.
    for (flag, value, expected) in [
        ("--delimiter", ";;", "is not a delimiter"),
        ("--date-format", "%d/%m/%Q", "unknown % specifier"),
        ("--date-format", "%H:%M", "does not name a whole date"),
    ] {
        let stderr = evaluate_refused("x.csv", Path::new("y"), &[flag, value]);
        assert!(stderr.contains(expected), "{flag} {value}: {stderr}");
    }

    let dir = temp_dir("bad-row");
    let orders = dir.join("orders.csv");
    std::fs::write(
        &orders,
        "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\r\n\
         1,A1,two,2017-01-01,1.0,c1\r\n",
    )
    .unwrap();
    let stderr = evaluate_refused(s(&orders), &dir.join("out"), &[]);
    assert!(
        stderr.contains("line 2, column Quantity: 1 of 1 rows do not parse"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn issue_24_a_bundle_over_the_device_budget_is_not_published_unless_asked() {
    let dir = temp_dir("budget");
    let orders = dir.join("orders.csv");
    write_shop(&orders);
    let params = Path::new(env!("CARGO_MANIFEST_DIR")).join("default-params.toml");
    let out = dir.join("out");
    let site = dir.join("site");
    let mut args = vec!["train", "--orders", s(&orders), "--out", s(&out)];
    args.extend(COLUMNS);
    args.extend([
        "--params",
        s(&params),
        "--delimiter",
        ";",
        "--publish",
        s(&site),
    ]);
    // A 50-item shop's bundle is a few KB: a 2,000 B budget is too small.
    args.extend(["--bundle-budget", "2000"]);
    let (code, stdout, stderr) = cove_train(&args);
    assert_ne!(code, 0, "{stdout}");
    assert!(
        stdout.contains("of the 2000 B on-device budget: OVER"),
        "{stdout}"
    );
    assert!(stderr.contains("not published"), "{stderr}");
    assert!(stderr.contains("--allow-over-budget"), "{stderr}");
    assert!(!site.join("default.json").exists());

    args.push("--allow-over-budget");
    let (code, stdout, stderr) = cove_train(&args);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(site.join("default.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 24, item 4: a bundle over the budget whose head fits is published
/// as a head with its shards beside it, and the output and the model card
/// say so.
#[test]
fn issue_24_a_bundle_over_the_budget_is_published_as_a_head_and_shards() {
    let dir = temp_dir("shards");
    let orders = dir.join("shop.csv.gz");
    let (code, stdout, stderr) = cove_train(&[
        "synthesize",
        "--rows",
        "4000",
        "--items",
        "3000",
        "--customers",
        "200",
        "--out",
        s(&orders),
    ]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let params = Path::new(env!("CARGO_MANIFEST_DIR")).join("default-params.toml");
    let out = dir.join("out");
    let site = dir.join("site");
    // The whole bundle is about 106 kB gzip; its trending items about 60 kB.
    let (code, stdout, stderr) = cove_train(&[
        "train",
        "--orders",
        s(&orders),
        "--out",
        s(&out),
        "--params",
        s(&params),
        "--publish",
        s(&site),
        "--bundle-budget",
        "100000",
    ]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("on-device budget: OVER"), "{stdout}");
    assert!(stdout.contains("(within the 100000 B budget)"), "{stdout}");
    assert!(stdout.contains("shards beside them"), "{stdout}");
    let pointer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(site.join("default.json")).unwrap()).unwrap();
    let id = pointer["model_id"].as_str().unwrap();
    let shards = pointer["shards"].as_array().unwrap();
    assert!(!shards.is_empty());
    for index in 0..shards.len() {
        assert!(site
            .join(id)
            .join(format!("shard-{index}.safetensors"))
            .is_file());
    }
    let card = std::fs::read_to_string(out.join("MODEL_CARD.md")).unwrap();
    assert!(card.contains("## Head and shards"), "{card}");
    let model = cove_models::export::load_published(&site).unwrap();
    assert_eq!(model.shard_table().len(), shards.len());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 20: `--rescue-share` is a share of carts strictly between 0 and 1;
/// anything else is refused before any file is read.
#[test]
fn issue_20_a_rescue_share_outside_zero_to_one_is_refused() {
    for share in ["0", "1", "1.5", "-0.1", "NaN", "a fifth"] {
        let (code, _, stderr) = cove_train(&[
            "train",
            "--orders",
            "no-such-file.csv",
            "--out",
            "no-such-dir",
            &format!("--rescue-share={share}"),
        ]);
        assert_eq!(code, 2, "{share}: {stderr}");
        assert!(
            stderr.contains(&format!("'{share}' is not a share of carts")),
            "{share}: {stderr}"
        );
        assert!(stderr.contains("strictly between 0 and 1"), "{stderr}");
    }
}
