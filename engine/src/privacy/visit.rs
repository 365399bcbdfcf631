//! A device's visit metrics: whether it bought, what it spent, whether it
//! clicked a recommendation, and what it spent on items it clicked in a Cove
//! slot, each reported once per report (a day at most) the private way.
//!
//! [`Visit`] is what the device keeps between two reports (inside the
//! reporter's state, never sent as it is); [`Visit::value`] turns it into a
//! metric's measurement, which the device reporter secret-shares:
//!
//! - `visit.conversion`: a Prio3 histogram of `segment · 2 + bought` (every
//!   device reports it): the share of the devices that bought;
//! - `rec.click_through`: likewise `segment · 2 + clicked`, reported only by
//!   a device a Cove slot showed items to since its last report;
//! - `visit.revenue` and `rec.revenue`: Prio3 sum vectors `[x, x²/cap]` of the
//!   money spent (on anything; on items clicked in a Cove slot earlier that
//!   day), every device reporting, with `x` clipped at the shop's cap and in
//!   units of `cap / (2^bits − 1)`, so the proof's bound on a summand *is*
//!   the cap. The second sum carries the sample variance, so the interval of
//!   revenue per visitor comes from the actual sampling as well as the noise
//!   (`aggregation::release::decode_revenue`).
//!
//! A revenue above the cap counts as the cap (the dashboard says so); a
//! negative, NaN or infinite one is refused with [`Error::InvalidRevenue`]. A
//! click on an item no slot showed that day is refused with
//! [`Error::RecommendationNotShown`] and counts nothing: the snippet only
//! reports clicks on items it rendered, so such a click is a caller's
//! mistake, and counting it would let a page inflate the click-through.

use serde::Serialize;

use crate::aggregation::client::Measurement;
use crate::events::PurchaseLine;
use crate::json::{Fields, JsonError, Value};
use crate::Error;

use super::MetricKind;

/// The share of devices that bought.
pub const CONVERSION: &str = "visit.conversion";
/// Money spent per device.
pub const REVENUE: &str = "visit.revenue";
/// The share of devices shown a recommendation that clicked one.
pub const REC_CLICK_THROUGH: &str = "rec.click_through";
/// Money spent on items clicked in a Cove slot earlier that day.
pub const REC_REVENUE: &str = "rec.revenue";

/// The visit metrics, in the order a shop usually lists them.
pub const METRICS: [&str; 4] = [CONVERSION, REVENUE, REC_CLICK_THROUGH, REC_REVENUE];

/// Bits per revenue summand: a unit is the cap over 65,535 (under a cent for
/// a cap of 500).
pub const REVENUE_BITS: u32 = 16;

/// The cap a revenue metric has when the shop names none, in its currency.
pub const DEFAULT_REVENUE_CAP: f64 = 500.0;

/// The most items a device remembers as shown in Cove slots today.
pub const MAX_SHOWN: usize = 128;

/// The most items a device remembers as clicked in Cove slots today.
pub const MAX_CLICKED: usize = 32;

/// A revenue as the sums a device reports: `[x, x²/cap]` in units of
/// `cap / (2^bits − 1)`, `x` clipped at `cap`. Refuses a negative, NaN or
/// infinite revenue, and a cap that is not positive.
pub fn revenue_units(revenue: f64, cap: f64, bits: u32) -> Result<[u64; 2], Error> {
    if !(revenue.is_finite() && revenue >= 0.0) {
        return Err(Error::InvalidRevenue { value: revenue });
    }
    if !crate::aggregation::task::is_valid_sum(bits, cap) {
        return Err(Error::InvalidParameter {
            name: "revenue cap",
            reason: "must be positive and at most 10^12, with 1 to 32 bits",
        });
    }
    let top = ((1u64 << bits) - 1) as f64;
    let share = revenue.min(cap) / cap;
    Ok([
        (share * top).round() as u64,
        (share * share * top).round() as u64,
    ])
}

/// What a device did since its last report (counters), and which items Cove
/// slots showed it and it clicked today (for the click check and attribution).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Visit {
    /// The day `shown` and `clicked` are for.
    pub day: u32,
    /// Items Cove slots showed today, oldest first; at most [`MAX_SHOWN`].
    pub shown: Vec<String>,
    /// Items clicked in Cove slots today, oldest first; at most [`MAX_CLICKED`].
    pub clicked: Vec<String>,
    /// Whether the device bought since its last report.
    pub purchased: bool,
    /// Money spent since its last report (finite, ≥ 0).
    pub revenue: f64,
    /// Of that, on items clicked in a Cove slot earlier that day.
    pub attributed: f64,
    /// Whether a Cove slot showed items since the last report.
    pub recs_shown: bool,
    /// Whether the shopper clicked one since the last report.
    pub rec_clicked: bool,
}

fn push_bounded(list: &mut Vec<String>, item: &str, bound: usize) {
    if let Some(position) = list.iter().position(|known| known == item) {
        list.remove(position);
    } else if list.len() >= bound {
        list.remove(0);
    }
    list.push(item.to_string());
}

impl Visit {
    /// Reads the form serde writes (inside the reporter's stored state).
    pub fn read(value: Value) -> Result<Visit, JsonError> {
        let mut fields = Fields::new(value)?;
        let visit = Visit {
            day: fields.u32("day")?,
            shown: fields.strings("shown")?,
            clicked: fields.strings("clicked")?,
            purchased: fields.bool("purchased")?,
            revenue: fields.f64("revenue")?,
            attributed: fields.f64("attributed")?,
            recs_shown: fields.bool("recs_shown")?,
            rec_clicked: fields.bool("rec_clicked")?,
        };
        fields.finish()?;
        let sane = |x: f64| x.is_finite() && x >= 0.0;
        let fits = visit.shown.len() <= MAX_SHOWN && visit.clicked.len() <= MAX_CLICKED;
        if !(sane(visit.revenue) && sane(visit.attributed) && fits) {
            return Err(JsonError::new("a stored visit is out of range"));
        }
        Ok(visit)
    }

    /// Starts a new day's lists when `day` is not theirs (the counters wait
    /// for the next report).
    fn roll(&mut self, day: u32) {
        if self.day != day {
            self.day = day;
            self.shown.clear();
            self.clicked.clear();
        }
    }

    /// A Cove slot showed `items` to the shopper on `day`.
    pub fn record_shown<'a>(&mut self, items: impl IntoIterator<Item = &'a str>, day: u32) {
        self.roll(day);
        for item in items {
            push_bounded(&mut self.shown, item, MAX_SHOWN);
            self.recs_shown = true;
        }
    }

    /// The shopper clicked `item` in a Cove slot on `day`. Refused (and
    /// nothing counted) when no slot showed it that day.
    pub fn record_click(&mut self, item: &str, day: u32) -> Result<(), Error> {
        self.roll(day);
        if !self.shown.iter().any(|shown| shown == item) {
            return Err(Error::RecommendationNotShown {
                item: item.to_string(),
            });
        }
        push_bounded(&mut self.clicked, item, MAX_CLICKED);
        // Shown today, perhaps before the last report: a click is a showing.
        self.recs_shown = true;
        self.rec_clicked = true;
        Ok(())
    }

    /// An order on `day`: its value counts as revenue, and the lines of items
    /// clicked in a Cove slot earlier that day as attributed. Refuses (and
    /// counts nothing) when a line's value is negative or not finite.
    pub fn record_purchase(&mut self, lines: &[PurchaseLine], day: u32) -> Result<(), Error> {
        self.roll(day);
        let (mut value, mut attributed) = (0.0, 0.0);
        for line in lines {
            let line_value = f64::from(line.quantity) * line.price;
            if !(line_value.is_finite() && line_value >= 0.0) {
                return Err(Error::InvalidRevenue { value: line_value });
            }
            value += line_value;
            if self.clicked.contains(&line.item) {
                attributed += line_value;
            }
        }
        let (revenue, attributed) = (self.revenue + value, self.attributed + attributed);
        if !revenue.is_finite() {
            return Err(Error::InvalidRevenue { value: revenue });
        }
        self.purchased = true;
        self.revenue = revenue;
        self.attributed = attributed;
        Ok(())
    }

    /// The measurement of visit metric `name` for a device in lifecycle
    /// segment `segment`, or `None` when the device does not report it
    /// (click-through without a slot shown, or a name that is not a visit
    /// metric). `cap` and `bits` are the revenue metric's.
    pub fn value(
        &self,
        kind: MetricKind,
        segment: u32,
        cap: f64,
        bits: u32,
    ) -> Result<Option<Measurement>, Error> {
        Ok(match kind {
            MetricKind::Conversion => {
                Some(Measurement::Cell(segment * 2 + u32::from(self.purchased)))
            }
            MetricKind::RecommendationClickThrough => self
                .recs_shown
                .then(|| Measurement::Cell(segment * 2 + u32::from(self.rec_clicked))),
            MetricKind::Revenue => Some(Measurement::Sums(
                revenue_units(self.revenue, cap, bits)?.to_vec(),
            )),
            MetricKind::RecommendationRevenue => Some(Measurement::Sums(
                revenue_units(self.attributed, cap, bits)?.to_vec(),
            )),
            _ => None,
        })
    }

    /// A report was built: the counters start again; the day's lists stay
    /// (a click after the report on an item shown before it still counts).
    pub fn reported(&mut self) {
        *self = Visit {
            day: self.day,
            shown: std::mem::take(&mut self.shown),
            clicked: std::mem::take(&mut self.clicked),
            ..Visit::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(item: &str, quantity: u32, price: f64) -> PurchaseLine {
        PurchaseLine {
            item: item.into(),
            quantity,
            price,
        }
    }

    #[test]
    fn revenue_is_clipped_at_the_cap_and_bad_revenue_is_refused() {
        let top = 65_535;
        assert_eq!(revenue_units(0.0, 500.0, 16).unwrap(), [0, 0]);
        assert_eq!(revenue_units(500.0, 500.0, 16).unwrap(), [top, top]);
        // Above the cap: counted as the cap.
        assert_eq!(revenue_units(1e6, 500.0, 16).unwrap(), [top, top]);
        // Half the cap: half the units, a quarter of the squares' units.
        assert_eq!(revenue_units(250.0, 500.0, 16).unwrap(), [32_768, 16_384]);
        for bad in [-0.01, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let error = revenue_units(bad, 500.0, 16).unwrap_err();
            assert_eq!(error.code(), "invalid_revenue", "{bad}");
        }
        assert!(revenue_units(10.0, 0.0, 16).is_err());
        assert!(revenue_units(10.0, f64::NAN, 16).is_err());
        assert!(revenue_units(10.0, f64::INFINITY, 16).is_err());
        // Above the largest cap a task id can write.
        assert!(revenue_units(10.0, 2e12, 16).is_err());
        assert!(revenue_units(10.0, 1e12, 16).is_ok());
        assert!(revenue_units(10.0, 500.0, 0).is_err());
    }

    #[test]
    fn a_click_counts_only_for_an_item_a_slot_showed_today() {
        let mut visit = Visit::default();
        let error = visit.record_click("A", 10).unwrap_err();
        assert_eq!(error.code(), "recommendation_not_shown");
        assert!(!visit.rec_clicked && !visit.recs_shown);
        visit.record_shown(["A", "B"], 10);
        visit.record_click("A", 10).unwrap();
        assert!(visit.rec_clicked);
        // The next day, yesterday's slots are gone.
        assert!(visit.record_click("B", 11).is_err());
        // The lists stay bounded.
        let many: Vec<String> = (0..500).map(|i| format!("i{i}")).collect();
        visit.record_shown(many.iter().map(String::as_str), 11);
        assert_eq!(visit.shown.len(), MAX_SHOWN);
        assert_eq!(visit.shown.last().map(String::as_str), Some("i499"));
    }

    #[test]
    fn purchases_count_revenue_and_attribute_what_was_clicked_before() {
        let mut visit = Visit::default();
        // Bought B before clicking it: not attributed.
        visit.record_shown(["A", "B"], 10);
        visit.record_purchase(&[line("B", 1, 5.0)], 10).unwrap();
        visit.record_click("B", 10).unwrap();
        visit
            .record_purchase(&[line("B", 2, 10.0), line("C", 1, 3.5)], 10)
            .unwrap();
        assert!(visit.purchased);
        assert_eq!(visit.revenue, 28.5);
        assert_eq!(visit.attributed, 20.0);
        // A line of negative or infinite value is refused and counts nothing.
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let error = visit.record_purchase(&[line("C", 1, bad)], 10).unwrap_err();
            assert_eq!(error.code(), "invalid_revenue");
        }
        assert_eq!(visit.revenue, 28.5);
        // The measurements: segment 3 bought and clicked.
        let cell = |visit: &Visit, name| visit.value(name, 3, 500.0, 16).unwrap();
        assert_eq!(
            cell(&visit, MetricKind::Conversion),
            Some(Measurement::Cell(7))
        );
        assert_eq!(
            cell(&visit, MetricKind::RecommendationClickThrough),
            Some(Measurement::Cell(7))
        );
        assert_eq!(
            cell(&visit, MetricKind::Revenue),
            Some(Measurement::Sums(
                revenue_units(28.5, 500.0, 16).unwrap().to_vec()
            ))
        );
        assert_eq!(cell(&visit, MetricKind::LifecycleSegment), None);
        // After the report the counters start again; today's lists stay.
        visit.reported();
        assert!(!visit.purchased && visit.revenue == 0.0 && !visit.recs_shown);
        assert_eq!(
            cell(&visit, MetricKind::Conversion),
            Some(Measurement::Cell(6))
        );
        assert_eq!(cell(&visit, MetricKind::RecommendationClickThrough), None);
        visit.record_click("A", 10).unwrap();
        assert_eq!(
            cell(&visit, MetricKind::RecommendationClickThrough),
            Some(Measurement::Cell(7))
        );
    }

    #[test]
    fn a_stored_visit_reads_back_and_a_broken_one_is_refused() {
        let mut visit = Visit::default();
        visit.record_shown(["A"], 10);
        visit.record_click("A", 10).unwrap();
        visit.record_purchase(&[line("A", 1, 2.5)], 10).unwrap();
        let text = serde_json::to_string(&visit).unwrap();
        let read = Visit::read(crate::json::parse(text.as_bytes()).unwrap()).unwrap();
        assert_eq!(read, visit);
        let broken = text.replace("\"revenue\":2.5", "\"revenue\":-2.5");
        assert!(Visit::read(crate::json::parse(broken.as_bytes()).unwrap()).is_err());
    }
}
