//! Secret-shared aggregation's CPU: a device building one DAP report (the
//! Prio3 shard and two HPKE seals), and the two aggregators preparing it (both
//! HPKE opens, the proof's check, the output shares), for the demo shop's
//! lifecycle segment (6 cells), its largest campaign (3 variants × 6
//! segments × 2 = 36 cells) and its revenue (a sum vector of two 16-bit
//! sums). Native; the edge runs the same code in wasm.

use cove_engine::aggregation::aggregator::{
    decode_report, helper_prepare, leader_finish, leader_prepare, AggregatorKeys,
};
use cove_engine::aggregation::client::{report, AggregatorKeys as DeviceKeys, Measurement};
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
    let revenue = Task::sum_vec("demo", "visit.revenue", 2, 16, 500.0, 0.5, 50).unwrap();
    let tasks = [
        (
            "6",
            Task::histogram("demo", "segment.lifecycle", 6, 2.0, 50).unwrap(),
            Measurement::Cell(3),
        ),
        (
            "36",
            Task::histogram("demo", "campaign.win-back", 36, 2.0, 50).unwrap(),
            Measurement::Cell(3),
        ),
        ("revenue", revenue, Measurement::Sums(vec![4_000, 250])),
    ];
    for (length, task, measurement) in tasks {
        group.bench_with_input(
            BenchmarkId::new("device_report", length),
            &task,
            |b, task| b.iter(|| report(task, &measurement, DAY, &device).unwrap()),
        );
        let bytes = report(&task, &measurement, DAY, &device).unwrap();
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
