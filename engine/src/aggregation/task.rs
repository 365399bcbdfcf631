//! A DAP task: one metric of one shop, aggregated per day.
//!
//! Its id is the SHA-256 of everything both aggregators must agree on (shop,
//! metric, the VDAF and its parameters, ε, the minimum batch size, the time
//! precision),
//! so a helper configured differently from the leader does not know the task at
//! all, and says so, instead of aggregating with other parameters.

use janus_messages::{Duration, Interval, TaskId, Time};
use prio::vdaf::prio3::{optimal_chunk_length, Prio3Histogram, Prio3SumVec};
use sha2::{Digest, Sha256};

use super::problem;
use crate::Error;

/// Reports are batched per day: a report's time is its day's first second.
pub const TIME_PRECISION_SECONDS: u64 = 86_400;

/// The VDAF verification key's length for Prio3 with TurboSHAKE128.
pub const VERIFY_KEY_SIZE: usize = 16;

/// The largest histogram a task may have: a report share grows with it (16
/// bytes a cell), so large domains (an item of the catalogue) stay on local DP.
pub const MAX_HISTOGRAM_LENGTH: u32 = 4_096;

/// The most bits one summand of a sum task may have: a device's value is
/// below `2^bits`, and a day's sum of millions of them stays far inside the
/// field.
pub const MAX_SUM_BITS: u32 = 32;

/// The largest cap a sum task may have, in the shop's currency: a trillion,
/// far above any one device's day, and within what [`six_decimals`] writes.
pub const MAX_SUM_CAP: f64 = 1e12;

/// Whether a sum's parameters can make a task: 1 to [`MAX_SUM_BITS`] bits
/// and a positive cap of at most [`MAX_SUM_CAP`] (the one check, wherever a
/// sum is configured).
pub fn is_valid_sum(bits: u32, cap: f64) -> bool {
    (1..=MAX_SUM_BITS).contains(&bits) && cap > 0.0 && cap <= MAX_SUM_CAP
}

/// Which Prio3 VDAF a task runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VdafKind {
    /// Prio3Histogram: one cell set, the proof checks the measurement is
    /// one-hot (sensitivity 2 under replacement).
    Histogram,
    /// Prio3SumVec: `length` integers each in `[0, 2^bits)`, which the proof
    /// checks (sensitivity `(2^bits − 1) · length`). The integers are money
    /// in units of `cap / (2^bits − 1)`, so the proof's bound is the cap.
    SumVec {
        /// Bits per summand.
        bits: u32,
        /// What the largest summand `2^bits − 1` stands for, in the shop's
        /// currency.
        cap: f64,
    },
}

/// One metric of one shop as a Prio3 task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The task id (see the module's documentation).
    pub id: TaskId,
    /// The shop.
    pub shop: String,
    /// The metric's name.
    pub metric: String,
    /// The VDAF and its parameters.
    pub kind: VdafKind,
    /// The number of cells (a histogram's) or summands (a sum vector's).
    pub length: u32,
    /// The ε of one day's release (the helper's noise).
    pub epsilon: f64,
    /// A day is released only with at least this many reports (the shop's k).
    pub min_batch_size: u32,
}

impl Task {
    /// The task of `metric` in `shop`: a histogram of `length` cells released
    /// with `epsilon` once it holds `min_batch_size` reports.
    pub fn histogram(
        shop: &str,
        metric: &str,
        length: u32,
        epsilon: f64,
        min_batch_size: u32,
    ) -> Result<Task, Error> {
        if !(2..=MAX_HISTOGRAM_LENGTH).contains(&length) {
            return Err(problem(
                "invalidTask",
                format!("a histogram task has 2 to {MAX_HISTOGRAM_LENGTH} cells, not {length}"),
            ));
        }
        Task::new(
            shop,
            metric,
            VdafKind::Histogram,
            length,
            epsilon,
            min_batch_size,
        )
    }

    /// The task of `metric` in `shop`: a vector of `length` sums, each
    /// device's summand below `2^bits` (standing for `cap` in the shop's
    /// currency), released with `epsilon` once it holds `min_batch_size`
    /// reports.
    pub fn sum_vec(
        shop: &str,
        metric: &str,
        length: u32,
        bits: u32,
        cap: f64,
        epsilon: f64,
        min_batch_size: u32,
    ) -> Result<Task, Error> {
        if !(1..=16).contains(&length) || !is_valid_sum(bits, cap) {
            return Err(problem(
                "invalidTask",
                format!(
                    "a sum task has 1 to 16 summands of 1 to {MAX_SUM_BITS} bits and a cap above 0, at most 10^12"
                ),
            ));
        }
        Task::new(
            shop,
            metric,
            VdafKind::SumVec { bits, cap },
            length,
            epsilon,
            min_batch_size,
        )
    }

    fn new(
        shop: &str,
        metric: &str,
        kind: VdafKind,
        length: u32,
        epsilon: f64,
        min_batch_size: u32,
    ) -> Result<Task, Error> {
        if !(epsilon.is_finite() && epsilon > 0.0) || min_batch_size == 0 {
            return Err(problem(
                "invalidTask",
                "ε must be positive and the minimum batch size at least 1",
            ));
        }
        let decimals = |value: f64| {
            six_decimals(value)
                .ok_or_else(|| problem("invalidTask", "ε and a sum's cap are at most 10^12"))
        };
        // A histogram task's parts are those of the first version, so its id
        // did not change when sums came.
        let vdaf = match kind {
            VdafKind::Histogram => "prio3-histogram".to_string(),
            VdafKind::SumVec { bits, cap } => format!("prio3-sumvec:{bits}:{}", decimals(cap)?),
        };
        let mut hash = Sha256::new();
        for part in [
            "cove-task-v1",
            shop,
            metric,
            &vdaf,
            &length.to_string(),
            &decimals(epsilon)?,
            &min_batch_size.to_string(),
            &TIME_PRECISION_SECONDS.to_string(),
        ] {
            hash.update((part.len() as u32).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let id: [u8; 32] = hash.finalize().into();
        Ok(Task {
            id: TaskId::from(id),
            shop: shop.to_string(),
            metric: metric.to_string(),
            kind,
            length,
            epsilon,
            min_batch_size,
        })
    }

    /// The task's VDAF when it is a histogram: Prio3Histogram for two
    /// aggregators.
    pub fn vdaf(&self) -> Result<Prio3Histogram, Error> {
        if self.kind != VdafKind::Histogram {
            return Err(problem("invalidTask", "not a histogram task"));
        }
        let length = self.length as usize;
        Prio3Histogram::new_histogram(2, length, optimal_chunk_length(length))
            .map_err(|error| problem("invalidTask", error))
    }

    /// The task's VDAF when it is a sum vector: Prio3SumVec for two
    /// aggregators.
    pub fn sum_vdaf(&self) -> Result<Prio3SumVec, Error> {
        let VdafKind::SumVec { bits, .. } = self.kind else {
            return Err(problem("invalidTask", "not a sum task"));
        };
        let length = self.length as usize;
        let summands = length * bits as usize;
        Prio3SumVec::new_sum_vec(2, bits as usize, length, optimal_chunk_length(summands))
            .map_err(|error| problem("invalidTask", error))
    }

    /// How far one device's report can move the released vector (L1, under
    /// replacement of one report): the noise is scaled to it.
    pub fn sensitivity(&self) -> f64 {
        match self.kind {
            VdafKind::Histogram => 2.0,
            VdafKind::SumVec { bits, .. } => ((1u64 << bits) - 1) as f64 * f64::from(self.length),
        }
    }

    /// The task id in DAP's URL form (base64url without padding).
    pub fn id_text(&self) -> String {
        self.id.to_string()
    }
}

/// `value` with six decimals, exactly as `format!("{value:.6}")` writes it
/// (the exact binary value rounded half to even), for a value from 0 to
/// [`MAX_SUM_CAP`]; `None` outside. Written out because `{:.6}` is the one
/// use of core's float formatting in the browser's reporting module, which
/// it would grow by ~5 KB gzipped (its exact mode and big-number tables);
/// the task-id tests check it against `format!`.
pub fn six_decimals(value: f64) -> Option<String> {
    if !(value.is_sign_positive() && value <= MAX_SUM_CAP) {
        return None;
    }
    // value = mantissa · 2^exponent, exactly.
    let bits = value.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    // value · 10^6 = millionths · 2^exponent, with millionths below 2^73.
    let millionths = u128::from(mantissa) * 1_000_000;
    let rounded = if exponent >= 0 {
        // At most MAX_SUM_CAP: below 2^40 before the factor of 10^6.
        millionths << exponent
    } else {
        let shift = exponent.unsigned_abs();
        if shift >= 128 {
            // Below half of one millionth.
            0
        } else {
            let quotient = millionths >> shift;
            let remainder = millionths & ((1 << shift) - 1);
            let half = 1u128 << (shift - 1);
            let up = remainder > half || (remainder == half && quotient & 1 == 1);
            quotient + u128::from(up)
        }
    };
    let rounded = u64::try_from(rounded).ok()?;
    Some(format!(
        "{}.{:06}",
        rounded / 1_000_000,
        rounded % 1_000_000
    ))
}

/// The time a day's reports carry: the day's first second.
pub fn day_time(day: u32) -> Time {
    Time::from_seconds_since_epoch(u64::from(day) * TIME_PRECISION_SECONDS)
}

/// The day of a report time, when it is a day's first second.
pub fn time_day(time: &Time) -> Option<u32> {
    let seconds = time.as_seconds_since_epoch();
    (seconds % TIME_PRECISION_SECONDS == 0)
        .then(|| u32::try_from(seconds / TIME_PRECISION_SECONDS).ok())
        .flatten()
}

/// The batch interval of one day.
pub fn day_interval(day: u32) -> Interval {
    Interval::new(
        day_time(day),
        Duration::from_seconds(TIME_PRECISION_SECONDS),
    )
    .expect("a day fits in the time range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_id_changes_with_any_parameter_both_aggregators_must_share() {
        let base = Task::histogram("demo", "segment.lifecycle", 6, 1.0, 10).unwrap();
        for other in [
            Task::histogram("demo2", "segment.lifecycle", 6, 1.0, 10),
            Task::histogram("demo", "segment.price_tier", 6, 1.0, 10),
            Task::histogram("demo", "segment.lifecycle", 7, 1.0, 10),
            Task::histogram("demo", "segment.lifecycle", 6, 0.5, 10),
            Task::histogram("demo", "segment.lifecycle", 6, 1.0, 20),
        ] {
            assert_ne!(other.unwrap().id, base.id);
        }
        assert_eq!(
            Task::histogram("demo", "segment.lifecycle", 6, 1.0, 10)
                .unwrap()
                .id,
            base.id
        );
    }

    #[test]
    fn a_sum_task_id_hashes_its_vdaf_and_parameters() {
        let sum = |length, bits, cap, epsilon| {
            Task::sum_vec("demo", "visit.revenue", length, bits, cap, epsilon, 10)
                .unwrap()
                .id
        };
        let base = sum(2, 16, 500.0, 0.5);
        assert_eq!(sum(2, 16, 500.0, 0.5), base);
        for other in [
            sum(3, 16, 500.0, 0.5),
            sum(2, 15, 500.0, 0.5),
            sum(2, 16, 400.0, 0.5),
            sum(2, 16, 500.0, 1.0),
        ] {
            assert_ne!(other, base);
        }
        // A histogram of the same length and ε is another task.
        let histogram = Task::histogram("demo", "visit.revenue", 2, 0.5, 10).unwrap();
        assert_ne!(histogram.id, base);
        assert!(histogram.sum_vdaf().is_err());
        let task = Task::sum_vec("demo", "visit.revenue", 2, 16, 500.0, 0.5, 10).unwrap();
        assert!(task.vdaf().is_err());
        assert_eq!(task.sensitivity(), 2.0 * 65_535.0);
        assert!(Task::sum_vec("demo", "m", 0, 16, 500.0, 0.5, 10).is_err());
        assert!(Task::sum_vec("demo", "m", 2, 33, 500.0, 0.5, 10).is_err());
        assert!(Task::sum_vec("demo", "m", 2, 16, f64::NAN, 0.5, 10).is_err());
        assert!(Task::sum_vec("demo", "m", 2, 16, -1.0, 0.5, 10).is_err());
        assert!(Task::sum_vec("demo", "m", 2, 16, 2e12, 0.5, 10).is_err());
        assert!(Task::histogram("demo", "m", 4, 2e12, 10).is_err());
    }

    #[test]
    fn six_decimals_writes_what_format_writes() {
        let mut values = vec![
            0.0,
            0.25,
            0.5,
            1.0,
            4.0,
            500.0,
            0.0078125, // a tie, rounded to even
            0.0234375,
            2.5e-7,
            5e-7,
            1.5e-6,
            2.5e-6,
            0.1234565,
            f64::MIN_POSITIVE,
            5e-324,
            MAX_SUM_CAP,
            MAX_SUM_CAP - 0.5,
        ];
        // Deterministic values over the whole range (a linear congruential
        // walk over the bit patterns below MAX_SUM_CAP's).
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let value = f64::from_bits(state % MAX_SUM_CAP.to_bits());
            values.push(value);
            // And a short decimal, as a shop writes ε and caps.
            values.push((state >> 40) as f64 / 1000.0);
        }
        for value in values {
            assert_eq!(
                six_decimals(value).as_deref(),
                Some(format!("{value:.6}").as_str()),
                "{value:e}"
            );
        }
        for value in [-0.0, -1.0, f64::NAN, f64::INFINITY, MAX_SUM_CAP * 1.000_001] {
            assert_eq!(six_decimals(value), None, "{value}");
        }
    }

    #[test]
    fn tasks_out_of_range_are_refused() {
        assert!(Task::histogram("demo", "m", 1, 1.0, 10).is_err());
        assert!(Task::histogram("demo", "m", MAX_HISTOGRAM_LENGTH + 1, 1.0, 10).is_err());
        assert!(Task::histogram("demo", "m", 4, 0.0, 10).is_err());
        assert!(Task::histogram("demo", "m", 4, f64::NAN, 10).is_err());
        assert!(Task::histogram("demo", "m", 4, 1.0, 0).is_err());
    }

    #[test]
    fn days_and_report_times_round_trip() {
        assert_eq!(time_day(&day_time(20_415)), Some(20_415));
        assert_eq!(
            time_day(&Time::from_seconds_since_epoch(20_415 * 86_400 + 5)),
            None
        );
    }
}
