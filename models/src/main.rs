//! `cove-train`: the trainer's command line.

use std::path::PathBuf;

use cove_models::{als, data, dates, eval, foldin, recommend};
use cove_models::eval::Ranker;

fn main() -> anyhow::Result<()> {
    let path = PathBuf::from(std::env::args().nth(1).unwrap());
    let which = std::env::args().nth(2).unwrap();
    let tx = data::read_transactions_file(&path, &data::ColumnMap::default(), &data::CleaningRules::default(), |_| {})?;
    let cutoff = dates::parse_day("2011-11-09").unwrap();
    let args: Vec<f32> = std::env::args().skip(3).map(|a| a.parse().unwrap()).collect();
    let hl = if args[4] > 0.0 { Some(args[4]) } else { None };
    let split = if which == "val" { eval::Split::new(&tx, cutoff - 30, Some(cutoff), hl) } else { eval::Split::new(&tx, cutoff, None, hl) };
    let params = als::AlsParams { factors: args[0] as usize, regularization: args[1], confidence: als::Confidence { base: args[8], alpha: args[2], epsilon: args[5] }, iterations: args[3] as usize, ..Default::default() }.validate()?;
    let model = als::train(&split.train, &params, |_| {});
    let ranker = recommend::FactorRanker { label: "als".into(), gram: als::gram(&model.item_factors, model.dim), item_factors: model.item_factors, dim: model.dim, fold_in: foldin::FoldIn { regularization: params.get().regularization, confidence: params.get().confidence } };
    let pop = eval::Popularity::new(&split, Some(30));
    let prior: Vec<f32> = pop.scores().iter().map(|s| (1.0 + s).ln()).collect();
    let blend = recommend::BlendRanker { factors: ranker, repeat_weight: args[6], prior, prior_weight: args[7] };
    let a = eval::evaluate(&split, &blend, eval::Task::A, 2);
    let b = eval::evaluate(&split, &blend, eval::Task::B, 2);
    println!("{which} {:?} A {:.4} {:.4} B {:.4} {:.4}", args, a.ndcg_at_10, a.recall_at_20, b.ndcg_at_10, b.recall_at_20);
    let _ = blend.name();
    Ok(())
}
