// Simpson's-paradox check over one campaign's published aggregates: a
// comparison between two variants that points one way pooled over the
// segments and the other way inside every segment. Pure functions, no DOM, so
// the page and the tests share them.

/** The published rate of a cell, or null when it is suppressed or has none. */
export function rateOf(cell) {
  return cell && !cell.suppressed && cell.rate ? cell.rate : null;
}

/**
 * Every pair of variants whose pooled comparison reverses inside the segments.
 *
 * For variants a < b, the pooled difference is rate(b) − rate(a) over all
 * segments; a reversal is when at least two segments have both rates published
 * and every one of them has a difference of the opposite sign. Point estimates
 * decide the signs; `conclusive` says whether the pooled interval of the
 * difference, and each segment's, exclude zero (a warning is raised either way:
 * the marketer should read the stratified table, not the pooled figure).
 *
 * @param {object} campaign one entry of `aggregates.campaigns`
 * @returns {Array<{a: number, b: number, pooled: number, segments: Array<{segment: number, difference: number}>, conclusive: boolean}>}
 */
export function simpsonReversals(campaign) {
  const results = campaign.results ?? [];
  const found = [];
  for (let ia = 0; ia < results.length; ia += 1) {
    for (let ib = ia + 1; ib < results.length; ib += 1) {
      const [a, b] = [results[ia], results[ib]];
      const pa = rateOf(a.pooled);
      const pb = rateOf(b.pooled);
      if (!pa || !pb) continue;
      const pooled = pb.estimate - pa.estimate;
      if (pooled === 0) continue;
      const segments = [];
      a.segments.forEach((cellA, index) => {
        const ra = rateOf(cellA);
        const rb = rateOf(b.segments[index]);
        if (ra && rb) {
          segments.push({
            segment: cellA.segment ?? index,
            difference: rb.estimate - ra.estimate,
            clear: Math.abs(rb.estimate - ra.estimate) > 1.96 * Math.hypot(ra.std_error, rb.std_error),
          });
        }
      });
      const reversed = segments.length >= 2 && segments.every((s) => Math.sign(s.difference) === -Math.sign(pooled));
      if (reversed) {
        const pooledClear = Math.abs(pooled) > 1.96 * Math.hypot(pa.std_error, pb.std_error);
        found.push({
          a: a.variant,
          b: b.variant,
          pooled,
          segments: segments.map(({ segment, difference }) => ({ segment, difference })),
          conclusive: pooledClear && segments.every((s) => s.clear),
        });
      }
    }
  }
  return found;
}
