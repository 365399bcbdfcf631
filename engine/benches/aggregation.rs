//! Secret-shared aggregation's CPU: a device building one DAP report (the
//! Prio3 shard and two HPKE seals), and the two aggregators preparing it (both
//! HPKE opens, the proof's check, the output shares), for the demo shop's
//! lifecycle segment (6 cells) and its largest campaign (3 variants × 6
//! segments × 2 = 36 cells). Native; the edge runs the same code in wasm.

use cove_engine::aggregation::aggregator::{
    decode_report, helper_prepare, leader_finish, leader_prepare, AggregatorKeys,
};
use cove_engine::aggregation::client::{report, AggregatorKeys as DeviceKeys};
use cove_engine::aggregation::hpke::Keypair;
use cove_engine::aggregation::task::Task;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const DAY: u32 = 20_425;

fn keys() -> (AggregatorKeys, AggregatorKeys, DeviceKeys) {
    let verify_key = [9u8; 16];
    let leader = AggregatorKeys {
        verify_key,
        hpke: Keypair::derive(1, &[1u8; 32], "leader").unwrap(),
    };
    let helper = AggregatorKeys {
        verify_key,
        hpke: Keypair::derive(2, &[2u8; 32], "helper").unwrap(),
    };
    let device = DeviceKeys {
        leader: leader.hpke.config().clone(),
        helper: helper.hpke.config().clone(),
    };
    (leader, helper, device)
}

fn aggregation(c: &mut Criterion) {
    let (leader, helper, device) = keys();
    let mut group = c.benchmark_group("aggregation");
    for (metric, length) in [("segment.lifecycle", 6u32), ("campaign.win-back", 36)] {
        let task = Task::histogram("demo", metric, length, 2.0, 50).unwrap();
        group.bench_with_input(
            BenchmarkId::new("device_report", length),
            &task,
            |b, task| b.iter(|| report(task, 3, DAY, &device).unwrap()),
        );
        let bytes = report(&task, 3, DAY, &device).unwrap();
        group.bench_with_input(
            BenchmarkId::new("prepare_both", length),
            &task,
            |b, task| {
                b.iter(|| {
                    let (parsed, _) = decode_report(&bytes).unwrap();
                    let prepared = leader_prepare(task, &leader, &parsed).unwrap();
                    let (answer, output) = helper_prepare(task, &helper, &prepared.init);
                    (leader_finish(task, prepared, &answer).unwrap(), output)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, aggregation);
criterion_main!(benches);
