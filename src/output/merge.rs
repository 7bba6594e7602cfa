//! Keeping memory flat: rows a run cannot hold are spilled to disk as sorted runs (Arrow IPC in
//! a hidden folder of the output directory), and each partition is written by merging its runs
//! in event-time order, dropping repeated event IDs on the way. Memory then depends on the
//! budget and the number of runs, never on the size of the archive.

use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, BooleanArray, Int64Array, StringArray};
use arrow::compute::{filter_record_batch, interleave_record_batch};
use arrow::datatypes::{DataType, Int64Type, Schema};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use arrow::record_batch::RecordBatch;

use super::table::Table;

/// Rows per merged output batch.
pub const MERGE_BATCH_ROWS: usize = 2048;

/// A sorted run: the batches of one spill file, or of rows sorted in memory
/// ([`crate::output::sorted_run`]).
pub type Run = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// Rows per batch of a spill file. A merge holds the current batch of every run it reads (up
/// to [`MAX_FAN_IN`] + 1 a partition, and partitions are written in parallel), so these are
/// smaller than the merge's output batches: with 2,048-row batches of `--all-sources` rows a
/// 2 GB archive peaked at 530-658 MiB, with 512-row ones at 465-516 MiB, for about 4% more
/// CPU at 500 MB.
pub const SPILL_BATCH_ROWS: usize = 512;

/// An Arrow IPC file of sorted rows, written in batches of [`SPILL_BATCH_ROWS`] so that reading
/// it back holds one small batch at a time.
struct SpillWriter(FileWriter<std::io::BufWriter<File>>);

impl SpillWriter {
    fn create(path: &Path, schema: &Schema) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let writer = FileWriter::try_new(std::io::BufWriter::new(file), schema)?;
        Ok(SpillWriter(writer))
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        for start in (0..batch.num_rows()).step_by(SPILL_BATCH_ROWS) {
            let rows = SPILL_BATCH_ROWS.min(batch.num_rows() - start);
            self.0.write(&batch.slice(start, rows))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.0.finish()?;
        Ok(())
    }
}

/// Writes a sorted run to `path` as an Arrow IPC file.
pub fn spill(path: &Path, table: Table, run: Run) -> Result<()> {
    let mut writer = SpillWriter::create(path, &table.arrow_schema())?;
    for batch in run {
        writer.write(&batch?)?;
    }
    writer.finish()
}

/// Reads back a spilled run.
pub fn spilled_run(path: PathBuf) -> Result<Run> {
    let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let reader = FileReader::try_new(BufReader::new(file), None)?;
    Ok(Box::new(reader.map(move |b| {
        b.with_context(|| format!("reading spilled rows from {}", path.display()))
    })))
}

/// Most runs merged at once: each holds one batch in memory, so a partition spilled many times
/// is merged in passes instead of with more and more memory. Every extra pass writes and reads
/// all of a partition's rows once more: at 16, the 5 GB `--all-sources` benchmark archive
/// (about 19 runs a day's partition) took a second pass, which made it a third slower per MB
/// than a 500 MB one; at 32 it merges in one pass for 5-8% more peak memory
/// (benches/RESULTS.md).
pub const MAX_FAN_IN: usize = 32;

/// Merges runs, at most [`MAX_FAN_IN`] at a time, into Arrow IPC files under `dir` (named from
/// `stem`), until no more than [`MAX_FAN_IN`] runs remain. Repeated IDs are kept here and
/// dropped (and counted) by the final merge.
pub fn reduce_runs(mut runs: Vec<Run>, table: Table, dir: &Path, stem: &str) -> Result<Vec<Run>> {
    let mut pass = 0;
    while runs.len() > MAX_FAN_IN {
        let mut next = Vec::new();
        let mut rest = runs.into_iter().peekable();
        while rest.peek().is_some() {
            let group: Vec<Run> = rest.by_ref().take(MAX_FAN_IN).collect();
            let path = dir.join(format!("{stem}-pass{pass}-{}.arrow", next.len()));
            let mut writer = SpillWriter::create(&path, &table.arrow_schema())?;
            merge(group, table, true, EventIds::default(), |batch| {
                writer.write(&batch)
            })?;
            writer.finish()?;
            next.push(spilled_run(path)?);
        }
        runs = next;
        pass += 1;
    }
    Ok(runs)
}

/// Event IDs already written or seen, to drop repeats. A fast non-cryptographic hash: the
/// IDs come from the user's own trail, and this set takes one insert per row written. Rows
/// without an ID are in it by [`dedup_key`].
pub type EventIds = HashSet<String, foldhash::fast::RandomState>;

/// What makes row `row` of `batch` a repeat of another: its event ID; or, for a row without
/// one (missing, or `""`, which is no ID), the whole record rebuilt from the row with its keys
/// sorted, so that rerunning an input never writes such a record twice. The prefix keeps these
/// apart from any event ID. `None` only if the row cannot be rebuilt; it is then kept.
pub fn dedup_key(batch: &RecordBatch, ids: &StringArray, row: usize) -> Option<String> {
    if ids.is_valid(row) && !ids.value(row).is_empty() {
        return Some(ids.value(row).to_owned());
    }
    if Table::of_schema(&batch.schema()) != Table::Events {
        return None;
    }
    let record = crate::rebuild::rebuild(batch, row).ok()?;
    Some(format!("\0record:{record}"))
}

/// Event time, then whether the event ID is missing (missing IDs last), then the event ID,
/// then which of the table's context columns are missing (a bit each, the first column the
/// highest), then the source file: of two copies of one event, the one with most context, then
/// from the first file by name, is kept, whichever file a worker finished first.
type SortKey<'a> = (i64, bool, &'a str, u8, (bool, &'a str));

/// A batch with its key columns, typed once per batch.
struct Keyed {
    batch: RecordBatch,
    times: Int64Array,
    ids: StringArray,
    context: Vec<StringArray>,
    files: StringArray,
}

/// Where one run stands in the merge.
struct Cursor {
    run: Run,
    /// The current batch with its key columns, typed once per batch.
    batch: Option<Keyed>,
    table: Table,
    row: usize,
    /// Index of `batch` among the current output chunk's sources, once used there.
    source: Option<usize>,
}

impl Cursor {
    fn advance_batch(&mut self) -> Result<()> {
        self.batch = None;
        self.source = None;
        self.row = 0;
        for next in self.run.by_ref() {
            let next = next?;
            if next.num_rows() > 0 {
                self.batch = Some(Keyed {
                    times: time_column(&next, self.table)?,
                    ids: id_column(&next, self.table).clone(),
                    context: self
                        .table
                        .context_columns()
                        .iter()
                        .map(|c| string_column(&next, c).clone())
                        .collect(),
                    files: string_column(&next, Table::TIE_COLUMN).clone(),
                    batch: next,
                });
                break;
            }
        }
        Ok(())
    }

    /// The sort key of the current row, borrowed from the batch.
    fn key(&self) -> Option<SortKey<'_>> {
        let Keyed {
            times,
            ids,
            context,
            files,
            ..
        } = self.batch.as_ref()?;
        let time = if times.is_null(self.row) {
            i64::MAX
        } else {
            times.value(self.row)
        };
        let missing = ids.is_null(self.row);
        Some((
            time,
            missing,
            if missing { "" } else { ids.value(self.row) },
            context
                .iter()
                .fold(0, |bits, c| bits << 1 | u8::from(c.is_null(self.row))),
            match files.is_null(self.row) {
                true => (true, ""),
                false => (false, files.value(self.row)),
            },
        ))
    }
}

/// The time column as plain integers (milliseconds or microseconds, by table).
fn time_column(batch: &RecordBatch, table: Table) -> Result<Int64Array> {
    let column = batch
        .column_by_name(table.time_column())
        .context("a batch without its time column")?;
    Ok(arrow::compute::cast(column, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}

fn id_column(batch: &RecordBatch, table: Table) -> &StringArray {
    string_column(batch, table.id_column())
}

fn string_column<'b>(batch: &'b RecordBatch, name: &str) -> &'b StringArray {
    batch
        .column_by_name(name)
        .expect("a batch of its table's schema")
        .as_string::<i32>()
}

/// Rows dropped by a merge because their event was there already.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Already in the output (in the `existing` set the merge was given).
    pub in_output: usize,
    /// Repeated among the rows merged (an event delivered twice, in one run).
    pub repeated: usize,
}

impl Dropped {
    pub fn total(&self) -> usize {
        self.in_output + self.repeated
    }
}

/// Which rows a merge lets through: the first of each event ([`dedup_key`]) not already in
/// the output, or every row with `keep_duplicates`.
struct Dedup {
    keep_duplicates: bool,
    existing: EventIds,
    seen: EventIds,
    dropped: Dropped,
}

impl Dedup {
    fn new(keep_duplicates: bool, existing: EventIds) -> Self {
        Dedup {
            keep_duplicates,
            existing,
            seen: EventIds::default(),
            dropped: Dropped::default(),
        }
    }

    /// Whether row `row` of `batch` is written, counting it when it is not.
    fn admits(&mut self, batch: &RecordBatch, ids: &StringArray, row: usize) -> bool {
        if self.keep_duplicates {
            return true;
        }
        let Some(key) = dedup_key(batch, ids, row) else {
            return true;
        };
        if self.existing.contains(&key) {
            self.dropped.in_output += 1;
            false
        } else if self.seen.insert(key) {
            true
        } else {
            self.dropped.repeated += 1;
            false
        }
    }
}

/// Merges sorted runs into batches in (event time, event ID) order, calling `emit` for each,
/// dropping rows whose event was already seen (in an earlier row, or in `existing`, the events
/// already in the output) unless `keep_duplicates`. Returns what it dropped.
///
/// Each batch is emitted (encoded to Parquet, in parallel across columns) while the next one
/// is being put together (rows interleaved, repeated IDs dropped), which is serial work: done
/// one after the other, a partition's write kept one core idle for a third of the time.
pub fn merge(
    runs: Vec<Run>,
    table: Table,
    keep_duplicates: bool,
    existing: EventIds,
    mut emit: impl FnMut(RecordBatch) -> Result<()> + Send,
) -> Result<Dropped> {
    let dedup = Dedup::new(keep_duplicates, existing);
    let mut chunks: Box<dyn Chunks> = if runs.len() == 1 {
        Box::new(PassThrough {
            run: runs.into_iter().next().expect("one run"),
            table,
            dedup,
        })
    } else {
        Box::new(KWayMerge::new(runs, table, dedup)?)
    };
    let mut next = chunks.next_chunk()?;
    while let Some(chunk) = next {
        let (emitted, following) = rayon::join(|| emit(chunk), || chunks.next_chunk());
        emitted?;
        next = following?;
    }
    Ok(chunks.dropped())
}

/// A source of merged batches, one at a time.
trait Chunks: Send {
    /// The next batch in order, `None` at the end.
    fn next_chunk(&mut self) -> Result<Option<RecordBatch>>;
    /// Rows dropped so far for an event seen before.
    fn dropped(&self) -> Dropped;
}

/// Several runs merged by taking the smallest of their current rows each time. There are at
/// most [`MAX_FAN_IN`] runs (plus the rows in memory), so a scan of the cursors costs less
/// than a heap would, and it compares keys where they are, without copying them.
struct KWayMerge {
    cursors: Vec<Cursor>,
    dedup: Dedup,
}

impl KWayMerge {
    fn new(runs: Vec<Run>, table: Table, dedup: Dedup) -> Result<Self> {
        let mut cursors = Vec::with_capacity(runs.len());
        for run in runs {
            let mut c = Cursor {
                run,
                table,
                batch: None,
                row: 0,
                source: None,
            };
            c.advance_batch()?;
            cursors.push(c);
        }
        Ok(KWayMerge { cursors, dedup })
    }

    /// The cursor with the smallest current row (the first such run on ties, so the merge is
    /// stable), or `None` when every run is finished.
    fn smallest(&self) -> Option<usize> {
        let mut best: Option<(usize, SortKey<'_>)> = None;
        for (i, c) in self.cursors.iter().enumerate() {
            if let Some(key) = c.key()
                && best.as_ref().is_none_or(|(_, b)| key < *b)
            {
                best = Some((i, key));
            }
        }
        best.map(|(i, _)| i)
    }
}

impl Chunks for KWayMerge {
    fn next_chunk(&mut self) -> Result<Option<RecordBatch>> {
        let mut sources: Vec<RecordBatch> = Vec::new();
        let mut picks: Vec<(usize, usize)> = Vec::with_capacity(MERGE_BATCH_ROWS);
        while picks.len() < MERGE_BATCH_ROWS {
            let Some(i) = self.smallest() else {
                break;
            };
            let c = &mut self.cursors[i];
            let Keyed { batch, ids, .. } =
                c.batch.as_ref().expect("the smallest cursor has a batch");
            if self.dedup.admits(batch, ids, c.row) {
                let source = *c.source.get_or_insert_with(|| {
                    sources.push(batch.clone());
                    sources.len() - 1
                });
                picks.push((source, c.row));
            }
            c.row += 1;
            if c.row == batch.num_rows() {
                c.advance_batch()?;
            }
        }
        for c in &mut self.cursors {
            c.source = None;
        }
        if picks.is_empty() {
            return Ok(None);
        }
        let refs: Vec<&RecordBatch> = sources.iter().collect();
        Ok(Some(interleave_record_batch(&refs, &picks)?))
    }

    fn dropped(&self) -> Dropped {
        self.dedup.dropped
    }
}

/// One run is already in order: only repeated IDs need dropping.
struct PassThrough {
    run: Run,
    table: Table,
    dedup: Dedup,
}

impl Chunks for PassThrough {
    fn next_chunk(&mut self) -> Result<Option<RecordBatch>> {
        for batch in self.run.by_ref() {
            let batch = batch?;
            if self.dedup.keep_duplicates {
                return Ok(Some(batch));
            }
            let ids = id_column(&batch, self.table);
            let keep: BooleanArray = (0..ids.len())
                .map(|i| Some(self.dedup.admits(&batch, ids, i)))
                .collect();
            let kept = filter_record_batch(&batch, &keep)?;
            if kept.num_rows() > 0 {
                return Ok(Some(kept));
            }
        }
        Ok(None)
    }

    fn dropped(&self) -> Dropped {
        self.dedup.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flatten::batch_of_events as rows;
    use crate::output::sorted_run;

    fn ids(batches: &[RecordBatch]) -> Vec<String> {
        batches
            .iter()
            .flat_map(|b| {
                let ids = id_column(b, Table::Events);
                (0..b.num_rows())
                    .map(|i| {
                        if ids.is_null(i) {
                            "-".into()
                        } else {
                            ids.value(i).to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn merges_in_order_and_drops_repeated_ids() {
        let dir = tempfile::tempdir().unwrap();
        let spilled = dir.path().join("run.arrow");
        spill(
            &spilled,
            Table::Events,
            sorted_run(vec![rows(&[
                ("2024-01-01T00:00:03Z", Some("d")),
                ("2024-01-01T00:00:01Z", Some("b")),
            ])])
            .unwrap(),
        )
        .unwrap();
        let runs = vec![
            // Unsorted, across two batches.
            sorted_run(vec![
                rows(&[
                    ("2024-01-01T00:00:02Z", Some("c")),
                    ("2024-01-01T00:00:01Z", Some("b")),
                ]),
                rows(&[
                    ("2024-01-01T00:00:02Z", None),
                    ("2024-01-01T00:00:00Z", Some("a")),
                ]),
            ])
            .unwrap(),
            spilled_run(spilled).unwrap(),
            // Without an ID, the same record as the one above (the same event delivered
            // twice), and another record at that time.
            sorted_run(vec![rows(&[
                ("2024-01-01T00:00:02Z", None),
                ("2024-01-01T00:00:02.5Z", None),
            ])])
            .unwrap(),
        ];
        let mut out = Vec::new();
        let dups = merge(runs, Table::Events, false, EventIds::default(), |b| {
            out.push(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            dups,
            Dropped {
                in_output: 0,
                repeated: 2
            }
        );
        assert_eq!(ids(&out), ["a", "b", "c", "-", "-", "d"]);
    }

    proptest::proptest! {
        #[test]
        fn merge_equals_one_sort_then_first_of_each_id(
            runs in proptest::collection::vec(
                proptest::collection::vec((0u8..4, proptest::option::weighted(0.8, 0u8..6)), 0..12),
                1..6,
            )
        ) {
            let time = |t: u8| format!("2024-01-01T00:00:0{t}Z");
            let id = |i: u8| format!("id{i}");
            let sorted: Vec<Run> = runs
                .iter()
                .map(|events| {
                    let events: Vec<(String, Option<String>)> =
                        events.iter().map(|(t, i)| (time(*t), i.map(id))).collect();
                    let events: Vec<(&str, Option<&str>)> =
                        events.iter().map(|(t, i)| (t.as_str(), i.as_deref())).collect();
                    sorted_run(vec![rows(&events)]).unwrap()
                })
                .collect();
            let mut out = Vec::new();
            let dups = merge(sorted, Table::Events, false, EventIds::default(), |b| {
                out.push(b);
                Ok(())
            })
            .unwrap();

            let mut all: Vec<(u8, bool, String)> = runs
                .iter()
                .flatten()
                .map(|(t, i)| (*t, i.is_none(), i.map(id).unwrap_or_default()))
                .collect();
            all.sort();
            let mut seen = std::collections::HashSet::new();
            let expected: Vec<String> = all
                .into_iter()
                // A record without an ID is known by its content: here, its time alone.
                .filter(|(t, missing, i)| seen.insert(if *missing { format!("t{t}") } else { i.clone() }))
                .map(|(_, missing, i)| if missing { "-".to_owned() } else { i })
                .collect();
            let total: usize = runs.iter().map(Vec::len).sum();
            proptest::prop_assert_eq!(dups.total(), total - expected.len());
            proptest::prop_assert_eq!(ids(&out), expected);
        }
    }

    #[test]
    fn spilled_runs_come_back_whole_in_small_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.arrow");
        let expected: Vec<String> = (0..SPILL_BATCH_ROWS * 2 + 100)
            .map(|i| format!("{i:05}"))
            .collect();
        let events: Vec<(&str, Option<&str>)> = expected
            .iter()
            .map(|id| ("2024-01-01T00:00:00Z", Some(id.as_str())))
            .collect();
        spill(
            &path,
            Table::Events,
            sorted_run(vec![rows(&events)]).unwrap(),
        )
        .unwrap();
        let batches: Vec<RecordBatch> = spilled_run(path).unwrap().collect::<Result<_>>().unwrap();
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert!(sizes.iter().all(|&n| n <= SPILL_BATCH_ROWS), "{sizes:?}");
        assert_eq!(ids(&batches), expected);
    }

    #[test]
    fn many_runs_are_merged_in_passes_to_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        // More than twice the fan-in: a first pass leaves more than one run to merge.
        let n = 2 * MAX_FAN_IN + 8;
        let runs: Vec<Run> = (0..n)
            .map(|i| {
                let second = n - 1 - i;
                let time = format!("2024-01-01T00:{:02}:{:02}Z", second / 60, second % 60);
                let id = format!("{:02}", i % 30);
                sorted_run(vec![rows(&[(time.as_str(), Some(id.as_str()))])]).unwrap()
            })
            .collect();
        let reduced = reduce_runs(runs, Table::Events, dir.path(), "p").unwrap();
        assert!(
            (2..=MAX_FAN_IN).contains(&reduced.len()),
            "{}",
            reduced.len()
        );
        let mut out = Vec::new();
        let dups = merge(reduced, Table::Events, false, EventIds::default(), |b| {
            out.push(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(dups.total(), n - 30);
        let kept = ids(&out);
        assert_eq!(kept.len(), 30);
        // Latest time first was given; the merge orders by time, and the first occurrence in
        // time order wins: the earliest row is the last run's.
        assert_eq!(kept.first(), Some(&format!("{:02}", (n - 1) % 30)));
    }

    #[test]
    fn ids_already_in_the_output_are_not_written_again() {
        let run = || {
            sorted_run(vec![rows(&[
                ("2024-01-01T00:00:01Z", Some("old")),
                ("2024-01-01T00:00:02Z", Some("new")),
            ])])
            .unwrap()
        };
        for runs in [vec![run()], vec![run(), run()]] {
            let runs_given = runs.len();
            let mut out = Vec::new();
            let seen = EventIds::from_iter(["old".to_owned()]);
            let dups = merge(runs, Table::Events, false, seen, |b| {
                out.push(b);
                Ok(())
            })
            .unwrap();
            assert_eq!(ids(&out), ["new"]);
            // The second run's rows repeat the first's.
            assert_eq!(dups.in_output, runs_given);
            assert_eq!(dups.repeated, runs_given - 1);
        }
    }

    #[test]
    fn keeps_duplicates_when_asked_and_spans_many_batches() {
        let many: Vec<(String, Option<String>)> = (0..20_000)
            .map(|i| {
                (
                    format!("2024-01-01T00:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                    Some(format!("{i:05}")),
                )
            })
            .collect();
        let refs: Vec<(&str, Option<&str>)> = many
            .iter()
            .map(|(t, i)| (t.as_str(), i.as_deref()))
            .collect();
        let batch = rows(&refs);
        let mut total = 0;
        let dups = merge(
            vec![
                sorted_run(vec![batch.clone()]).unwrap(),
                sorted_run(vec![batch.slice(0, 7000), batch.slice(7000, 13_000)]).unwrap(),
            ],
            Table::Events,
            true,
            EventIds::default(),
            |b| {
                total += b.num_rows();
                Ok(())
            },
        )
        .unwrap();
        assert_eq!((dups.total(), total), (0, 40_000));
    }
}
