//! A DAP task: one metric of one shop, aggregated per day.
//!
//! Its id is the SHA-256 of everything both aggregators must agree on (shop,
//! metric, VDAF and its length, ε, the minimum batch size, the time precision),
//! so a helper configured differently from the leader does not know the task at
//! all, and says so, instead of aggregating with other parameters.

use janus_messages::{Duration, Interval, TaskId, Time};
use prio::vdaf::prio3::{optimal_chunk_length, Prio3Histogram};
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

/// One metric of one shop as a Prio3 histogram task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The task id (see the module's documentation).
    pub id: TaskId,
    /// The shop.
    pub shop: String,
    /// The metric's name.
    pub metric: String,
    /// The number of cells.
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
        if !(epsilon.is_finite() && epsilon > 0.0) || min_batch_size == 0 {
            return Err(problem(
                "invalidTask",
                "ε must be positive and the minimum batch size at least 1",
            ));
        }
        let mut hash = Sha256::new();
        for part in [
            "cove-task-v1",
            shop,
            metric,
            "prio3-histogram",
            &length.to_string(),
            &format!("{epsilon:.6}"),
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
            length,
            epsilon,
            min_batch_size,
        })
    }

    /// The task's VDAF: Prio3Histogram for two aggregators.
    pub fn vdaf(&self) -> Result<Prio3Histogram, Error> {
        let length = self.length as usize;
        Prio3Histogram::new_histogram(2, length, optimal_chunk_length(length))
            .map_err(|error| problem("invalidTask", error))
    }

    /// The task id in DAP's URL form (base64url without padding).
    pub fn id_text(&self) -> String {
        self.id.to_string()
    }
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
