//! Sorting with one compiled sort for the whole engine.
//!
//! Every `slice::sort_by` call with its own element type and comparator is
//! compiled into a full copy of the standard library's sort (driftsort, with
//! its small-sort networks and merges): about 3 KB of wasm each, and they were
//! the largest single part of the browser's module after the JSON readers.
//! Here the standard sort runs once, over positions with a comparator
//! behind `dyn`, and the elements are then moved into that order, which costs
//! each element type a few dozen bytes instead.
//!
//! The result is what a stable sort gives: elements that compare equal keep
//! their order (the position is the last tie-break). These sorts are off the
//! hot paths (the ranking's candidates go through [`crate::score`]'s top-k
//! heap, which never sorts everything).

use std::cmp::Ordering;

/// Up to this many elements are sorted in place by insertion, which is as
/// fast as the standard sort's own small-sort at these lengths, allocates
/// nothing, and compiles to a few dozen bytes per element type. (A JSON
/// object's handful of keys is the common case.)
const INSERTION_MAX: usize = 16;

/// Sorts `items` by `compare`, stably.
pub(crate) fn sort_by<T>(items: &mut Vec<T>, mut compare: impl FnMut(&T, &T) -> Ordering) {
    if items.len() <= INSERTION_MAX {
        for i in 1..items.len() {
            let mut j = i;
            while j > 0 && compare(&items[j - 1], &items[j]) == Ordering::Greater {
                items.swap(j - 1, j);
                j -= 1;
            }
        }
        return;
    }
    let order = stable_order(items.len(), &mut |a, b| compare(&items[a], &items[b]));
    let mut slots: Vec<Option<T>> = std::mem::take(items).into_iter().map(Some).collect();
    items.extend(order.into_iter().filter_map(|i| slots[i].take()));
}

/// Sorts `items` by the key `key` gives each, stably.
pub(crate) fn sort_by_key<T, K: Ord>(items: &mut Vec<T>, mut key: impl FnMut(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// The positions `0..len` in the order `compare` puts them, equal ones by
/// position: the one instance of the standard sort.
pub(crate) fn stable_order(
    len: usize,
    compare: &mut dyn FnMut(usize, usize) -> Ordering,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_unstable_by(|&a, &b| compare(a, b).then(a.cmp(&b)));
    order
}

// Property tests run natively only (proptest does not build for wasm32).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The same order as the standard library's stable sort, ties included.
        // The comparator form is the one under test, on both sides.
        #[allow(clippy::unnecessary_sort_by)]
        #[test]
        fn agrees_with_the_standard_stable_sort(items in proptest::collection::vec((0u8..6, any::<u16>()), 0..60)) {
            let mut ours = items.clone();
            sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
            let mut theirs = items.clone();
            theirs.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(&ours, &theirs);

            let mut by_key = items.clone();
            sort_by_key(&mut by_key, |item| std::cmp::Reverse(item.1));
            let mut theirs = items;
            theirs.sort_by_key(|item| std::cmp::Reverse(item.1));
            prop_assert_eq!(by_key, theirs);
        }
    }
}
