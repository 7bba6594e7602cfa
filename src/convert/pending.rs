//! The rows a worker has flattened and not yet handed over, gathered into batches by partition.

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;

use crate::audit::rows::{AuditRows, Located};
use crate::flatten::{Flattener, Prepared, Provenance};
use crate::output;

/// Rows a worker has flattened and not yet handed to the run's state, by partition.
///
/// A file keeps few rows (about 80 in a dense archive, none or one in a sparse one). Handed
/// over a file at a time, they made many small batches, which were then copied again into
/// larger ones, under the state's lock (up to 15% of a dense conversion). Here the rows of a
/// worker's files gather in one [`Flattener`] a partition and reach the state as batches of
/// [`BATCH_ROWS`], built once.
#[derive(Default)]
pub struct PendingRows {
    partitions: HashMap<String, Flattener>,
    /// HSM audit entries, by partition of the `hsm_audit` table.
    audit: HashMap<String, AuditRows>,
    pub(super) rows: usize,
}

/// Rows a partition's batch gathers before it goes to the run's state: the merge's chunk size,
/// large enough that a batch's fixed cost (a few hundred bytes a column) is small.
pub const BATCH_ROWS: usize = output::merge::MERGE_BATCH_ROWS;

/// Rows a worker holds at most, across partitions, before handing them all over: with many
/// partitions (accounts x regions x days) each would otherwise hold up to [`BATCH_ROWS`].
pub(super) const MAX_PENDING_ROWS: usize = 2 * BATCH_ROWS;

/// Batches handed over by [`PendingRows`], with the type mismatches counted in their rows.
#[derive(Default)]
pub struct Flushed {
    pub parts: Vec<(String, RecordBatch)>,
    pub mismatches: Vec<(&'static str, u64)>,
}

impl PendingRows {
    pub(super) fn push(
        &mut self,
        partition: String,
        prepared: &Prepared<'_>,
        source: &Provenance<'_>,
    ) {
        let flattener = match self.partitions.get_mut(&partition) {
            Some(f) => f,
            None => self.partitions.entry(partition).or_default(),
        };
        flattener.push(prepared, source);
        self.rows += 1;
    }

    pub(super) fn push_audit(&mut self, partition: &str, entry: &Located<'_, '_>) {
        let rows = match self.audit.get_mut(partition) {
            Some(r) => r,
            None => self.audit.entry(partition.to_owned()).or_default(),
        };
        rows.push(entry);
        self.rows += 1;
    }

    /// The partitions that have gathered a batch, or every row once the worker holds too many.
    pub(super) fn take_full(&mut self) -> Flushed {
        if self.rows >= MAX_PENDING_ROWS {
            return std::mem::take(self).finish();
        }
        let mut flushed = Flushed::default();
        for (partition, flattener) in &mut self.partitions {
            if flattener.rows() >= BATCH_ROWS {
                self.rows -= flattener.rows();
                flushed.add(partition.clone(), flattener);
            }
        }
        for (partition, rows) in &mut self.audit {
            if rows.rows() >= BATCH_ROWS {
                self.rows -= rows.rows();
                flushed.parts.push((partition.clone(), rows.finish()));
            }
        }
        flushed
    }

    /// Every row held (a partition handed over already and given no rows since gives no batch).
    pub fn finish(self) -> Flushed {
        let mut flushed = Flushed::default();
        for (partition, mut flattener) in self.partitions {
            if flattener.rows() > 0 {
                flushed.add(partition, &mut flattener);
            }
        }
        for (partition, mut rows) in self.audit {
            if rows.rows() > 0 {
                flushed.parts.push((partition, rows.finish()));
            }
        }
        flushed
    }
}

impl Flushed {
    pub(super) fn add(&mut self, partition: String, flattener: &mut Flattener) {
        self.mismatches.extend(flattener.take_mismatch_counts());
        self.parts.push((partition, flattener.finish()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::{Options, convert_text};
    use crate::filter::EventFilter;

    /// JSON Lines of `rows` records on the given days of January 2024, in turn; the first has
    /// a `readOnly` of the wrong type.
    fn lines(rows: usize, days: usize) -> String {
        (0..rows)
            .map(|i| {
                let read_only = if i == 0 { r#""yes""# } else { "true" };
                format!(
                    r#"{{"eventTime":"2024-01-{:02}T00:00:00Z","eventID":"{i}","eventSource":"kms.amazonaws.com","readOnly":{read_only}}}"#,
                    1 + i % days
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Options keeping every event; the output is never written.
    fn every_source() -> Options {
        Options {
            filter: EventFilter::every_source(),
            ..Options::new(Vec::new(), std::path::PathBuf::from("unused"))
        }
    }

    fn row_counts(parts: &[(String, RecordBatch)]) -> Vec<(&str, usize)> {
        let mut counts: Vec<_> = parts
            .iter()
            .map(|(p, b)| (p.as_str(), b.num_rows()))
            .collect();
        counts.sort();
        counts
    }

    #[test]
    fn a_workers_rows_reach_the_state_in_batches_not_a_file_at_a_time() {
        let opts = every_source();
        let file = lines(100, 1) + "\n" + &lines(1, 1).replace("-01T", "-02T");
        let mut pending = PendingRows::default();
        let mut handed = Vec::new();
        let mut mismatches = 0;
        for _ in 0..25 {
            let converted = convert_text(&file, "f", &opts, &mut pending, &mut |_| {
                panic!("handed over within a file of 101 rows")
            });
            assert_eq!(converted.records.kept, 101);
            let flushed = pending.take_full();
            mismatches += flushed.mismatches.iter().map(|(_, n)| n).sum::<u64>();
            handed.extend(flushed.parts);
        }
        // The 21st file takes the first day past BATCH_ROWS: its 2,100 rows go as one batch.
        assert_eq!(row_counts(&handed), [("event_date=2024-01-01", 2100)]);
        let rest = pending.finish();
        assert_eq!(
            row_counts(&rest.parts),
            [
                ("event_date=2024-01-01", 400),
                ("event_date=2024-01-02", 25)
            ]
        );
        mismatches += rest.mismatches.iter().map(|(_, n)| n).sum::<u64>();
        assert_eq!(
            mismatches, 50,
            "every file's mismatched readOnly values are counted"
        );

        // A partition handed over and given no rows since leaves no empty batch behind.
        let mut pending = PendingRows::default();
        convert_text(&lines(BATCH_ROWS, 1), "f", &opts, &mut pending, &mut |_| {});
        assert_eq!(pending.take_full().parts.len(), 1);
        assert!(pending.finish().parts.is_empty());
    }

    #[test]
    fn a_worker_holding_many_partitions_hands_them_all_over() {
        let opts = every_source();
        let mut pending = PendingRows::default();
        let mut handed = Vec::new();
        convert_text(
            &lines(MAX_PENDING_ROWS - 28, 28),
            "f",
            &opts,
            &mut pending,
            &mut |f| handed.push(f),
        );
        assert!(handed.is_empty() && pending.take_full().parts.is_empty());
        convert_text(&lines(28, 28), "g", &opts, &mut pending, &mut |f| {
            handed.push(f)
        });
        assert_eq!(handed.len(), 1, "handed over within the file");
        let flushed = &handed[0];
        assert_eq!(flushed.parts.len(), 28);
        let rows: usize = flushed.parts.iter().map(|(_, b)| b.num_rows()).sum();
        assert_eq!(rows, MAX_PENDING_ROWS);
        assert!(pending.take_full().parts.is_empty());
        assert!(pending.finish().parts.is_empty());
    }

    #[test]
    fn a_file_of_many_small_records_is_handed_over_as_it_is_read() {
        let opts = every_source();
        let mut pending = PendingRows::default();
        let mut most_held = 0;
        let mut handed_rows = 0;
        let converted = convert_text(
            &lines(10 * MAX_PENDING_ROWS + 5, 3),
            "big",
            &opts,
            &mut pending,
            &mut |f| {
                handed_rows += f.parts.iter().map(|(_, b)| b.num_rows()).sum::<usize>();
                most_held = most_held.max(f.parts.iter().map(|(_, b)| b.num_rows()).sum());
            },
        );
        assert_eq!(converted.records.kept as usize, 10 * MAX_PENDING_ROWS + 5);
        assert!(most_held <= MAX_PENDING_ROWS, "{most_held}");
        let rest: usize = pending
            .finish()
            .parts
            .iter()
            .map(|(_, b)| b.num_rows())
            .sum();
        assert_eq!(handed_rows + rest, 10 * MAX_PENDING_ROWS + 5);
        assert!(rest < MAX_PENDING_ROWS);
    }
}
