//! `cove-train`: the trainer's command line.

use std::path::PathBuf;
use std::time::Instant;

use cove_models::{als, data, dates, eval, foldin, recommend};
use cove_models::eval::Ranker;

fn main() -> anyhow::Result<()> {
    let path = PathBuf::from(std::env::args().nth(1).unwrap());
    let t = Instant::now();
    let tx = data::read_transactions_file(&path, &data::ColumnMap::default(), &data::CleaningRules::default(), |_| {})?;
    println!("{}\nread in {:?}", tx.report, t.elapsed());
    let cutoff = dates::parse_day("2011-11-09").unwrap();
    let split = eval::Split::new(&tx, cutoff, None);
    println!("users {} items {} eval {}", split.train.n_users(), split.items.len(), split.users.len());
    for ranker in [
        Box::new(eval::Popularity::new(&split, None)) as Box<dyn eval::Ranker>,
        Box::new(eval::Popularity::new(&split, Some(30))),
        Box::new(eval::CountryPopularity::new(&split)),
        Box::new(eval::ItemKnn::new(&split, 0)),
    ] {
        for task in [eval::Task::A, eval::Task::B] {
            println!("{} {:?} {:?}", ranker.name(), task, eval::evaluate(&split, ranker.as_ref(), task, 2));
        }
    }
    let args: Vec<f32> = std::env::args().skip(2).map(|a| a.parse().unwrap()).collect();
    let params = als::AlsParams { factors: args[0] as usize, regularization: args[1], confidence: als::Confidence { alpha: args[2], epsilon: 1.0 }, iterations: args[3] as usize, ..Default::default() }.validate()?;
    let t = Instant::now();
    let model = als::train(&split.train, &params, |_| {});
    println!("als in {:?}", t.elapsed());
    let ranker = recommend::FactorRanker { label: "als".into(), gram: als::gram(&model.item_factors, model.dim), item_factors: model.item_factors, dim: model.dim, fold_in: foldin::FoldIn { regularization: params.get().regularization, confidence: params.get().confidence } };
    for task in [eval::Task::A, eval::Task::B] {
        println!("{} {:?} {:?}", ranker.name(), task, eval::evaluate(&split, &ranker, task, 2));
    }
    Ok(())
}
