//! The per-device, per-day ε budget.
//!
//! Every report spends the ε of its metric; a device never spends more than its
//! daily limit on one day. Amounts are kept in whole micro-ε so that no sequence
//! of spends can creep over the limit through rounding. The day is the caller's
//! (days since 1970-01-01 on the device's clock); a clock that moves backwards
//! does not reset the budget: spending stays charged to the latest day seen.

use serde::Serialize;

use crate::json::{Fields, JsonError, Value};

use crate::Error;

/// Micro-ε per ε.
const MICROS: f64 = 1_000_000.0;

/// The default daily limit (DESIGN.md: 1.0 in total per device and day).
pub const DEFAULT_DAILY_EPSILON: f64 = 1.0;

/// A device's ε budget: the daily limit and what was spent on the latest day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EpsilonBudget {
    /// The daily limit, in micro-ε.
    daily_limit_micros: u64,
    /// The latest day anything was spent on.
    day: u32,
    /// What was spent on `day`, in micro-ε; never above the highest daily limit in force that day.
    spent_micros: u64,
}

impl EpsilonBudget {
    /// Reads a stored budget (the form its `Serialize` writes).
    pub fn read(value: Value) -> Result<EpsilonBudget, JsonError> {
        let mut fields = Fields::new(value)?;
        let budget = EpsilonBudget {
            daily_limit_micros: fields.u64("daily_limit_micros")?,
            day: fields.u32("day")?,
            spent_micros: fields.u64("spent_micros")?,
        };
        fields.finish()?;
        Ok(budget)
    }

    /// A fresh budget with `daily_limit` ε per day (0 to 16).
    pub fn new(daily_limit: f64) -> Result<Self, Error> {
        Ok(EpsilonBudget {
            daily_limit_micros: to_micros(daily_limit, 16.0, "daily_epsilon")?,
            day: 0,
            spent_micros: 0,
        })
    }

    /// Changes the daily limit (0 to 16); what was spent stays spent, so a
    /// lower limit may leave nothing to spend today.
    pub fn set_daily_limit(&mut self, daily_limit: f64) -> Result<(), Error> {
        self.daily_limit_micros = to_micros(daily_limit, 16.0, "daily_epsilon")?;
        Ok(())
    }

    /// The daily limit in ε.
    pub fn daily_limit(&self) -> f64 {
        self.daily_limit_micros as f64 / MICROS
    }

    /// What is left to spend on `day`, in ε.
    pub fn remaining(&self, day: u32) -> f64 {
        self.daily_limit_micros.saturating_sub(self.spent_on(day)) as f64 / MICROS
    }

    /// What was spent on `day`, in ε.
    pub fn spent(&self, day: u32) -> f64 {
        self.spent_on(day) as f64 / MICROS
    }

    fn spent_on(&self, day: u32) -> u64 {
        if day > self.day {
            0
        } else {
            self.spent_micros
        }
    }

    /// Spends `epsilon` on `day` if the budget allows it; otherwise spends
    /// nothing and says how much was left.
    pub fn try_spend(&mut self, day: u32, epsilon: f64) -> Result<(), Error> {
        let amount = to_micros(epsilon, 16.0, "epsilon")?;
        let spent = self.spent_on(day);
        let after = spent.saturating_add(amount);
        if after > self.daily_limit_micros {
            return Err(Error::BudgetExceeded {
                requested: epsilon,
                remaining: self.daily_limit_micros.saturating_sub(spent) as f64 / MICROS,
            });
        }
        if day > self.day {
            self.day = day;
        }
        self.spent_micros = after;
        Ok(())
    }
}

fn to_micros(epsilon: f64, max: f64, name: &'static str) -> Result<u64, Error> {
    if !(0.0..=max).contains(&epsilon) {
        return Err(Error::InvalidParameter {
            name,
            reason: "must be a finite number between 0 and 16",
        });
    }
    // Round up, so that a spend is never under-charged.
    Ok((epsilon * MICROS).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_stops_at_the_limit_and_resets_the_next_day() {
        let mut budget = EpsilonBudget::new(1.0).unwrap();
        budget.try_spend(100, 0.5).unwrap();
        budget.try_spend(100, 0.5).unwrap();
        let err = budget.try_spend(100, 0.01).unwrap_err();
        assert_eq!(err.code(), "budget_exceeded");
        assert_eq!(budget.remaining(100), 0.0);
        assert_eq!(budget.remaining(101), 1.0);
        budget.try_spend(101, 0.3).unwrap();
        // A clock moved back to day 100 still sees day 101's spending.
        assert!((budget.remaining(100) - 0.7).abs() < 1e-9);
    }

    #[test]
    fn bad_amounts_are_refused() {
        for bad in [f64::NAN, -0.1, f64::INFINITY, 17.0] {
            assert!(EpsilonBudget::new(bad).is_err(), "{bad}");
            assert!(
                EpsilonBudget::new(1.0).unwrap().try_spend(1, bad).is_err(),
                "{bad}"
            );
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        /// Whatever the calls, the total accepted on any one day never exceeds
        /// the daily limit.
        #[test]
        fn the_budget_is_never_exceeded(
            limit in 0.0f64..4.0,
            calls in proptest::collection::vec((0u32..6, -0.5f64..2.0), 0..200),
        ) {
            let mut budget = EpsilonBudget::new(limit).unwrap();
            let mut accepted_per_day = std::collections::BTreeMap::<u32, f64>::new();
            let mut latest_day = 0;
            for (day, epsilon) in calls {
                if budget.try_spend(day, epsilon).is_ok() {
                    latest_day = latest_day.max(day);
                    *accepted_per_day.entry(latest_day).or_default() += epsilon;
                }
            }
            for (day, total) in accepted_per_day {
                proptest::prop_assert!(total <= limit + 1e-9, "day {} spent {} of {}", day, total, limit);
            }
        }
    }
}
