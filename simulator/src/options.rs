//! The command line. Values are checked as they are parsed: a worker's URL
//! must be on loopback, the number of devices in range.

use std::path::PathBuf;

use clap::Parser;

use crate::workspace_root;

/// What the simulator was asked.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "cove-simulate",
    version,
    about = "Simulated shoppers drawn from the real data go through the engine and report to a \
             local edge worker (started on a free loopback port unless --url is given)."
)]
pub struct Options {
    /// Simulated devices, 1 to 1,000,000 (each sends at most one envelope).
    #[arg(long, default_value_t = 5_000, value_parser = devices)]
    pub devices: usize,
    /// The seed of every draw.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// A running worker, http://127.0.0.1:PORT (loopback only); when absent,
    /// one is started on a free loopback port with the demo's state.
    #[arg(long, value_parser = loopback_url)]
    pub url: Option<String>,
    /// The shop id (in edge-worker/shops.json).
    #[arg(long, default_value = "demo")]
    pub shop: String,
    /// Where the truth JSON goes.
    #[arg(long, default_value_os_t = default_truth())]
    pub truth: PathBuf,
    /// Concurrent HTTP clients (clamped to 1–64).
    #[arg(long, default_value_t = 8, value_parser = clients)]
    pub clients: usize,
    /// Instead of a run against a worker: this many seeds (from --seed), each
    /// seed's devices simulated in-process and every campaign released as the
    /// two aggregators release it (the true counts plus the helper's noise,
    /// seeded), then published as `GET /v1/aggregates` publishes campaigns;
    /// one JSON line per seed and noise draw, to --monte-carlo-out.
    #[arg(long, value_name = "SEEDS", value_parser = seeds)]
    pub monte_carlo: Option<u64>,
    /// With --monte-carlo: independent noise draws per seed (1 to 1,000), so
    /// one seed's truth can be released many times.
    #[arg(long, default_value_t = 1, value_parser = noise_draws)]
    pub noise_draws: u64,
    /// With --monte-carlo: the devices also build the secret shares a run with
    /// two aggregators sends (seven times the CPU; the counts are the same).
    #[arg(long)]
    pub with_shares: bool,
    /// Where --monte-carlo writes its JSON lines.
    #[arg(long, default_value_os_t = default_monte_carlo_out())]
    pub monte_carlo_out: PathBuf,
    /// The Online Retail orders the devices are drawn from (`cargo xtask
    /// simulate` passes the copy it checked against data/SHA256SUMS).
    #[arg(long, value_name = "FILE", default_value_os_t = data_file(ORDERS))]
    pub orders: PathBuf,
    /// The clothing reviews the devices' reviews are drawn from (likewise).
    #[arg(long, value_name = "FILE", default_value_os_t = data_file(REVIEWS))]
    pub reviews: PathBuf,
}

/// The transactions, under the data folder.
const ORDERS: &str = "online-retail/online_retail.csv.gz";
/// The reviews, under the data folder.
const REVIEWS: &str = "clothing-reviews/womens_clothing_ecommerce_reviews.csv.gz";

/// `name` under `COVE_DATA_DIR`, else under the repository's `data/`.
fn data_file(name: &str) -> PathBuf {
    std::env::var_os("COVE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("data"))
        .join(name)
}

fn default_truth() -> PathBuf {
    workspace_root()
        .join("target")
        .join("xtask")
        .join("simulation-truth.json")
}

fn default_monte_carlo_out() -> PathBuf {
    workspace_root()
        .join("target")
        .join("xtask")
        .join("monte-carlo.jsonl")
}

fn seeds(value: &str) -> Result<u64, String> {
    let seeds = number(value)?;
    if !(1..=10_000).contains(&seeds) {
        return Err("must be between 1 and 10,000 seeds".into());
    }
    Ok(seeds)
}

fn noise_draws(value: &str) -> Result<u64, String> {
    let draws = number(value)?;
    if !(1..=1_000).contains(&draws) {
        return Err("must be between 1 and 1,000 draws".into());
    }
    Ok(draws)
}

fn number(value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("'{value}' is not a number"))
}

fn devices(value: &str) -> Result<usize, String> {
    let devices = number(value)?;
    if !(1..=1_000_000).contains(&devices) {
        return Err("must be between 1 and 1,000,000".into());
    }
    Ok(devices as usize)
}

fn clients(value: &str) -> Result<usize, String> {
    Ok(number(value)?.clamp(1, 64) as usize)
}

fn loopback_url(value: &str) -> Result<String, String> {
    let url = value.trim_end_matches('/');
    let loopback = ["http://127.0.0.1:", "http://localhost:"]
        .iter()
        .any(|prefix| url.starts_with(prefix));
    if !loopback {
        return Err(format!(
            "must be http://127.0.0.1:PORT (loopback only), not '{value}'"
        ));
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::try_parse_from(std::iter::once("cove-simulate").chain(args.iter().copied()))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn defaults_are_the_documented_run() {
        let options = parse(&[]).unwrap();
        assert_eq!(
            (options.devices, options.seed, options.clients),
            (5_000, 2026, 8)
        );
        assert_eq!((options.url, options.shop.as_str()), (None, "demo"));
        assert!(options
            .truth
            .ends_with("target/xtask/simulation-truth.json"));
    }

    #[test]
    fn a_worker_url_must_be_on_loopback() {
        let options = parse(&["--url", "http://127.0.0.1:8787/"]).unwrap();
        assert_eq!(options.url.as_deref(), Some("http://127.0.0.1:8787"));
        assert!(parse(&["--url", "http://localhost:8787"]).is_ok());
        for refused in [
            "https://cove.example",
            "http://10.0.0.1:8787",
            "127.0.0.1:8787",
        ] {
            let error = parse(&["--url", refused]).unwrap_err();
            assert!(error.contains("loopback only"), "{refused}: {error}");
        }
    }

    #[test]
    fn devices_are_in_range_and_clients_clamped() {
        for refused in ["0", "1000001", "many", "-3"] {
            assert!(parse(&["--devices", refused]).is_err(), "{refused}");
        }
        assert_eq!(parse(&["--devices", "1000000"]).unwrap().devices, 1_000_000);
        assert_eq!(parse(&["--clients", "0"]).unwrap().clients, 1);
        assert_eq!(parse(&["--clients", "500"]).unwrap().clients, 64);
    }

    #[test]
    fn monte_carlo_seeds_and_draws_are_in_range() {
        assert_eq!(parse(&[]).unwrap().monte_carlo, None);
        let options = parse(&["--monte-carlo", "200", "--noise-draws", "5"]).unwrap();
        assert_eq!((options.monte_carlo, options.noise_draws), (Some(200), 5));
        for refused in ["0", "10001", "some"] {
            let error = parse(&["--monte-carlo", refused]).unwrap_err();
            assert!(error.contains("--monte-carlo"), "{refused}: {error}");
        }
        for refused in ["0", "1001"] {
            assert!(parse(&["--noise-draws", refused]).is_err(), "{refused}");
        }
    }
}
