//! `cove-train`: the trainer's command line.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("cove-train: no commands yet; see issue 4")
}
