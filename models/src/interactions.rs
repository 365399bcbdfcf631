//! The user × item interaction matrix, stored twice (by user and by item) in
//! compressed sparse rows, as ALS alternates between the two.

/// A sparse user × item matrix of positive interaction strengths.
///
/// Invariant: within each row, item indices are strictly increasing, and every
/// value is finite and > 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    n_users: usize,
    n_items: usize,
    by_user: Csr,
    by_item: Csr,
}

/// Compressed sparse rows.
#[derive(Debug, Clone, PartialEq)]
struct Csr {
    row_start: Vec<usize>,
    cols: Vec<u32>,
    values: Vec<f32>,
}

impl Csr {
    /// Builds rows from `(row, col, value)` triples; duplicates are summed.
    fn from_triples(n_rows: usize, triples: &mut [(u32, u32, f32)]) -> Csr {
        triples.sort_unstable_by_key(|&(row, col, _)| (row, col));
        let mut row_start = vec![0usize; n_rows + 1];
        let mut cols = Vec::with_capacity(triples.len());
        let mut values: Vec<f32> = Vec::with_capacity(triples.len());
        let mut last: Option<(u32, u32)> = None;
        for &(row, col, value) in triples.iter() {
            if last == Some((row, col)) {
                *values.last_mut().expect("a previous entry") += value;
                continue;
            }
            last = Some((row, col));
            row_start[row as usize + 1] += 1;
            cols.push(col);
            values.push(value);
        }
        for row in 0..n_rows {
            row_start[row + 1] += row_start[row];
        }
        Csr {
            row_start,
            cols,
            values,
        }
    }

    fn row(&self, row: usize) -> (&[u32], &[f32]) {
        let range = self.row_start[row]..self.row_start[row + 1];
        (&self.cols[range.clone()], &self.values[range])
    }
}

impl Interactions {
    /// Builds the matrix from `(user, item, strength)` triples. Duplicated pairs
    /// are summed. Panics if an index is out of range or a strength is not
    /// finite and positive: callers build triples from their own indices.
    pub fn from_triples(n_users: usize, n_items: usize, triples: &[(u32, u32, f32)]) -> Self {
        for &(user, item, value) in triples {
            assert!(
                (user as usize) < n_users && (item as usize) < n_items,
                "index out of range: ({user}, {item}) in {n_users} x {n_items}"
            );
            assert!(
                value.is_finite() && value > 0.0,
                "strength must be finite and positive, got {value}"
            );
        }
        let mut by_user_triples = triples.to_vec();
        let by_user = Csr::from_triples(n_users, &mut by_user_triples);
        let mut by_item_triples: Vec<(u32, u32, f32)> = (0..n_users)
            .flat_map(|user| {
                let (items, values) = by_user.row(user);
                items
                    .iter()
                    .zip(values)
                    .map(move |(&item, &value)| (item, user as u32, value))
            })
            .collect();
        let by_item = Csr::from_triples(n_items, &mut by_item_triples);
        Interactions {
            n_users,
            n_items,
            by_user,
            by_item,
        }
    }

    /// Number of users (rows).
    pub fn n_users(&self) -> usize {
        self.n_users
    }

    /// Number of items (columns).
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Number of stored (user, item) pairs.
    pub fn n_pairs(&self) -> usize {
        self.by_user.cols.len()
    }

    /// The items of one user and their strengths, items ascending.
    pub fn user_row(&self, user: usize) -> (&[u32], &[f32]) {
        self.by_user.row(user)
    }

    /// The users of one item and their strengths, users ascending.
    pub fn item_column(&self, item: usize) -> (&[u32], &[f32]) {
        self.by_item.row(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_sum_and_transpose_matches() {
        let m =
            Interactions::from_triples(2, 3, &[(1, 2, 1.0), (0, 1, 2.0), (1, 2, 3.0), (1, 0, 1.0)]);
        assert_eq!(m.n_pairs(), 3);
        assert_eq!(m.user_row(1), (&[0u32, 2][..], &[1.0f32, 4.0][..]));
        assert_eq!(m.item_column(2), (&[1u32][..], &[4.0f32][..]));
        assert_eq!(m.item_column(1), (&[0u32][..], &[2.0f32][..]));
    }
}
