//! The in-session protocol (OR-SESSION, issue 20), beside OR-LAST-MONTH
//! ([`crate::eval`]) on the same cleaned rows and the same cut-off.
//!
//! A storefront's slots serve moments inside a visit, so each case is a
//! session prefix and the rest of that visit's order:
//!
//! - **Task C, new visitor:** customers whose first invoice (in the whole
//!   file) falls in the test period. The first n ∈ {1, 2, 3} distinct
//!   candidate items of that invoice, in file order, are the session (view
//!   events); relevant = the rest of that invoice. No history.
//! - **Task D, item page:** every test invoice with at least two distinct
//!   candidate items; each item in turn is the context item, relevant = the
//!   other items of that invoice. No history, no session.
//! - **Task E, returning shopper:** the users of tasks A/B (rows in both
//!   periods), their train history plus the first n items of their first test
//!   invoice as the session; relevant = the rest of that invoice.
//!
//! Candidates are the split's items (seen in train); the given items (the
//! session, or the context item) are never ranked. A case whose relevant set
//! is empty is dropped. Metrics: HR@10, NDCG@10, Recall@20 and MRR@20.
//!
//! [`SessionCases::write_files`] writes the cases for the Python peers
//! (`models/peers/session_peers.py`), with the train invoices as sessions, so
//! peers and Cove are scored on identical cases.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::data::Transactions;
use crate::dates::MINUTES_PER_DAY;
use crate::eval::Split;

/// The session prefix lengths of tasks C and E.
pub const PREFIX_LENGTHS: [usize; 3] = [1, 2, 3];

/// The three in-session tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub enum SessionTask {
    /// A new visitor's first session.
    C,
    /// An item page ("you may also like").
    D,
    /// A returning shopper's session.
    E,
}

impl SessionTask {
    /// All three, in report order.
    pub const ALL: [SessionTask; 3] = [SessionTask::C, SessionTask::D, SessionTask::E];

    /// The letter in reports and files.
    pub fn letter(self) -> &'static str {
        match self {
            SessionTask::C => "C",
            SessionTask::D => "D",
            SessionTask::E => "E",
        }
    }
}

/// One evaluation case, in the split's item indices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionCase {
    /// The task.
    pub task: SessionTask,
    /// The number of given items (the session's length; 1 in task D).
    pub n_given: usize,
    /// The user's train row (task E), whose history is `Split::train`'s row.
    pub train_row: Option<u32>,
    /// The given items in the order they were seen (views; in task D the
    /// context item). Never ranked.
    pub given: Vec<u32>,
    /// The rest of the invoice, distinct, ascending; not empty.
    pub relevant: Vec<u32>,
    /// The day of the invoice (days since the epoch).
    pub day: i64,
    /// The invoice's country index.
    pub country_idx: u32,
}

/// Every case of the three tasks on one split.
#[derive(Debug, Clone)]
pub struct SessionCases {
    /// The cases, task C first, then D, then E; within a task in invoice order.
    pub cases: Vec<SessionCase>,
}

/// One invoice of the evaluated period: its distinct candidate items in file
/// order, and who bought it when.
struct Invoice {
    customer_idx: u32,
    minute: i64,
    country_idx: u32,
    items: Vec<u32>,
}

impl SessionCases {
    /// Builds the cases of `split` (its cut-off and optional end day) from the
    /// same cleaned rows.
    pub fn new(data: &Transactions, split: &Split) -> SessionCases {
        let cutoff = split.cutoff_day * MINUTES_PER_DAY;
        let end = split.test_end_day.map(|d| d * MINUTES_PER_DAY);
        let item_index = split_index(split);
        // The first minute of each customer anywhere in the file: a new
        // visitor's first invoice is in the test period.
        let mut first_minute: HashMap<u32, i64> = HashMap::new();
        for p in &data.purchases {
            let first = first_minute.entry(p.customer_idx).or_insert(p.minute);
            *first = (*first).min(p.minute);
        }
        // Test-period invoices, in the order they first appear in the file.
        let mut invoices: Vec<Invoice> = Vec::new();
        let mut position: HashMap<u32, usize> = HashMap::new();
        for p in &data.purchases {
            if p.minute < cutoff || end.is_some_and(|e| p.minute >= e) {
                continue;
            }
            let at = *position.entry(p.invoice_idx).or_insert_with(|| {
                invoices.push(Invoice {
                    customer_idx: p.customer_idx,
                    minute: p.minute,
                    country_idx: p.country_idx,
                    items: Vec::new(),
                });
                invoices.len() - 1
            });
            if let Some(&item) = item_index.get(&p.item_idx) {
                let invoice = &mut invoices[at];
                if !invoice.items.contains(&item) {
                    invoice.items.push(item);
                }
            }
        }
        // Each customer's first test invoice (earliest minute, then file order).
        let mut first_invoice: HashMap<u32, usize> = HashMap::new();
        for (index, invoice) in invoices.iter().enumerate() {
            let entry = first_invoice.entry(invoice.customer_idx).or_insert(index);
            if invoice.minute < invoices[*entry].minute {
                *entry = index;
            }
        }
        let mut firsts: Vec<usize> = first_invoice.into_values().collect();
        firsts.sort_unstable();
        let train_row_of: HashMap<u32, u32> = split
            .users
            .iter()
            .map(|user| (user.customer_idx, user.train_row))
            .collect();

        let mut cases = Vec::new();
        let prefix_cases = |invoice: &Invoice, task, train_row, cases: &mut Vec<SessionCase>| {
            for n in PREFIX_LENGTHS {
                if invoice.items.len() <= n {
                    continue;
                }
                let mut relevant = invoice.items[n..].to_vec();
                relevant.sort_unstable();
                cases.push(SessionCase {
                    task,
                    n_given: n,
                    train_row,
                    given: invoice.items[..n].to_vec(),
                    relevant,
                    day: invoice.minute.div_euclid(MINUTES_PER_DAY),
                    country_idx: invoice.country_idx,
                });
            }
        };
        for &index in &firsts {
            let invoice = &invoices[index];
            let is_new = first_minute.get(&invoice.customer_idx) == Some(&invoice.minute)
                && invoice.minute >= cutoff;
            if is_new {
                prefix_cases(invoice, SessionTask::C, None, &mut cases);
            }
        }
        for invoice in &invoices {
            if invoice.items.len() < 2 {
                continue;
            }
            for (at, &context) in invoice.items.iter().enumerate() {
                let mut relevant: Vec<u32> = invoice
                    .items
                    .iter()
                    .enumerate()
                    .filter(|(other, _)| *other != at)
                    .map(|(_, &item)| item)
                    .collect();
                relevant.sort_unstable();
                cases.push(SessionCase {
                    task: SessionTask::D,
                    n_given: 1,
                    train_row: None,
                    given: vec![context],
                    relevant,
                    day: invoice.minute.div_euclid(MINUTES_PER_DAY),
                    country_idx: invoice.country_idx,
                });
            }
        }
        for &index in &firsts {
            let invoice = &invoices[index];
            if let Some(&row) = train_row_of.get(&invoice.customer_idx) {
                prefix_cases(invoice, SessionTask::E, Some(row), &mut cases);
            }
        }
        SessionCases { cases }
    }

    /// The cases of one task.
    pub fn of(&self, task: SessionTask) -> impl Iterator<Item = &SessionCase> {
        self.cases.iter().filter(move |case| case.task == task)
    }

    /// Writes `sessions.csv` (the train invoices as sessions: session, item,
    /// position, day; items in file order, distinct per invoice) and
    /// `cases.jsonl` (one case a line: task, n_given, user = train row or
    /// null, given, relevant, day, country) beside the split's own files.
    pub fn write_files(
        &self,
        data: &Transactions,
        split: &Split,
        dir: &Path,
    ) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let cutoff = split.cutoff_day * MINUTES_PER_DAY;
        let item_index = split_index(split);
        let mut sessions =
            std::io::BufWriter::new(std::fs::File::create(dir.join("sessions.csv"))?);
        writeln!(sessions, "session,item,position,day")?;
        let mut session_of: HashMap<u32, (u32, Vec<u32>)> = HashMap::new();
        let mut n_sessions = 0u32;
        for p in &data.purchases {
            if p.minute >= cutoff {
                continue;
            }
            let Some(&item) = item_index.get(&p.item_idx) else {
                continue;
            };
            let (session, seen) = session_of.entry(p.invoice_idx).or_insert_with(|| {
                n_sessions += 1;
                (n_sessions - 1, Vec::new())
            });
            if seen.contains(&item) {
                continue;
            }
            seen.push(item);
            writeln!(
                sessions,
                "{session},{item},{},{}",
                seen.len() - 1,
                p.minute.div_euclid(MINUTES_PER_DAY)
            )?;
        }
        sessions.flush()?;
        let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("cases.jsonl"))?);
        for case in &self.cases {
            let line = serde_json::json!({
                "task": case.task.letter(),
                "n_given": case.n_given,
                "user": case.train_row,
                "given": case.given,
                "relevant": case.relevant,
                "day": case.day,
                "country": case.country_idx,
            });
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        Ok(())
    }
}

/// Item index in [`Transactions::items`] → the split's item index.
fn split_index(split: &Split) -> HashMap<u32, u32> {
    split
        .items
        .iter()
        .enumerate()
        .map(|(split_idx, &item_idx)| (item_idx, split_idx as u32))
        .collect()
}

/// The in-session metrics of one ranked list (at least 20 long unless there
/// are fewer candidates) against `relevant` (ascending, not empty).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct SessionMetrics {
    /// Cases scored.
    pub n_cases: usize,
    /// Share of cases with a hit in the top 10.
    pub hr_at_10: f64,
    /// Mean NDCG@10 (binary gains, ideal DCG over min(|relevant|, 10)).
    pub ndcg_at_10: f64,
    /// Mean Recall@20 (hits ÷ min(|relevant|, 20)).
    pub recall_at_20: f64,
    /// Mean reciprocal rank of the first hit within 20 (0 without one).
    pub mrr_at_20: f64,
}

impl SessionMetrics {
    /// The metrics of one case.
    pub fn of_case(ranked: &[u32], relevant: &[u32]) -> SessionMetrics {
        let base = crate::eval::user_metrics(ranked, relevant);
        let first_hit = ranked
            .iter()
            .take(20)
            .position(|item| relevant.binary_search(item).is_ok());
        SessionMetrics {
            n_cases: 1,
            hr_at_10: base.hr_at_10,
            ndcg_at_10: base.ndcg_at_10,
            recall_at_20: base.recall_at_20,
            mrr_at_20: first_hit.map_or(0.0, |rank| 1.0 / (rank + 1) as f64),
        }
    }

    /// The mean over cases of per-case metrics, summed in the order given.
    pub fn mean<'a>(cases: impl IntoIterator<Item = &'a SessionMetrics>) -> SessionMetrics {
        let mut sum = SessionMetrics::default();
        for m in cases {
            sum.n_cases += m.n_cases;
            sum.hr_at_10 += m.hr_at_10;
            sum.ndcg_at_10 += m.ndcg_at_10;
            sum.recall_at_20 += m.recall_at_20;
            sum.mrr_at_20 += m.mrr_at_20;
        }
        let n = sum.n_cases.max(1) as f64;
        sum.hr_at_10 /= n;
        sum.ndcg_at_10 /= n;
        sum.recall_at_20 /= n;
        sum.mrr_at_20 /= n;
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrr_counts_the_first_hit_within_twenty() {
        let m = SessionMetrics::of_case(&[5, 7, 9], &[7, 9]);
        assert_eq!(m.mrr_at_20, 0.5);
        assert_eq!(m.hr_at_10, 1.0);
        let none = SessionMetrics::of_case(&[1, 2], &[7]);
        assert_eq!(none.mrr_at_20, 0.0);
    }
}
