//! The end of a run: every partition merged, de-duplicated and written (or returned in memory),
//! then the rejected records, then what `--overwrite` replaces.

use std::collections::HashSet;

use anyhow::Result;
use rayon::prelude::*;

use super::TableRows;
use super::gathered::{Gathered, Partition};
use super::options::Options;
use super::summary::Summary;
use crate::output;
use crate::output::destination::Destination;
use crate::output::merge::EventIds;
use crate::output::table::Table;
use crate::state;

impl Gathered {
    /// The gathered partitions in path order.
    pub(super) fn take_partitions(&mut self) -> Vec<(String, Partition)> {
        let mut partitions: Vec<_> = self.partitions.drain().collect();
        partitions.sort_by(|a, b| a.0.cmp(&b.0));
        self.summary.output.partitions = partitions.len() as u64;
        partitions
    }

    pub(super) fn count_duplicates(&mut self, table: Table, dropped: output::merge::Dropped) {
        let records = &mut self.summary.records;
        records.duplicates += dropped.total() as u64;
        records.already_in_output += dropped.in_output as u64;
        records.kept -= dropped.total() as u64;
        if table == Table::HsmAudit {
            records.audit_entries -= dropped.total() as u64;
        }
    }

    /// Writes every partition, then the rejected records, then (with `--overwrite`) removes the
    /// data of earlier runs: new data is complete on disk before anything old goes.
    pub(super) fn write_parquet(mut self, opts: &Options, dest: &Destination) -> Result<Summary> {
        let file_name = format!("part-{}.parquet", self.run_id);
        let partitions = self.take_partitions();
        let dedup_against_output = !(opts.write.overwrite || opts.write.keep_duplicates);
        if opts.write.overwrite {
            // Every file --overwrite will remove must be the output's own: a file of another
            // tool in a partition folder stops the run before anything is written or removed.
            for file in dest.all_data_files()? {
                dest.check_footer(&file)?;
            }
        }
        if dedup_against_output {
            // A file that cannot be read for its event IDs stops the run before it writes
            // anything, rather than after some partitions.
            partitions
                .par_iter()
                .try_for_each(|(dir, _)| dest.check_data_files(dir))?;
        }
        let spill_dir = self.spill_dir.as_ref().map(|d| d.path());
        let written: Vec<_> = partitions
            .into_par_iter()
            .enumerate()
            .map(|(index, (dir, partition))| {
                let table = Table::of_partition(&dir);
                let mut runs = partition
                    .spilled
                    .iter()
                    .map(|p| output::merge::spilled_run(p.clone()))
                    .collect::<Result<Vec<_>>>()?;
                if let Some(spill_dir) = spill_dir {
                    runs = output::merge::reduce_runs(runs, table, spill_dir, &index.to_string())?;
                }
                if !partition.batches.is_empty() {
                    runs.push(output::sorted_run(partition.batches)?);
                }
                // Events already in the output (an earlier run, an overlapping trail, a run
                // that was killed) are not written again.
                let seen = if dedup_against_output {
                    dest.existing_ids(&dir)?
                } else {
                    EventIds::default()
                };
                let file = output::write_partition(
                    &dest.work_dir().join(&dir),
                    &file_name,
                    table,
                    runs,
                    opts.write.keep_duplicates,
                    seen,
                    &output::writer_properties(table, opts.write.compression),
                )?;
                let relative = format!("{dir}/{file_name}");
                if file.path.is_some() {
                    dest.publish(&relative)?;
                }
                Ok((dest.name_of(&relative), table, file))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut kept = HashSet::new();
        self.summary.output.directory = dest.display();
        for (name, table, file) in written {
            self.count_duplicates(table, file.dropped);
            if file.path.is_some() {
                let out = &mut self.summary.output;
                out.bytes += file.bytes;
                out.files.push(name.clone());
                kept.insert(name);
            }
        }
        if let Some((path, writer)) = self.rejected.take() {
            let temp = writer.into_inner().map_err(|e| e.into_error())?;
            output::persist(temp, &path)?;
            let relative = format!("_rejected/{}.jsonl", self.run_id);
            dest.publish(&relative)?;
            self.summary.output.rejected_file = Some(dest.name_of(&relative));
        }
        if opts.write.overwrite {
            let older: Vec<_> = dest
                .all_data_files()?
                .into_iter()
                .filter(|f| !kept.contains(f.name()))
                .collect();
            dest.remove(&older)?;
            if let Some(dir) = dest.local_folder() {
                output::remove_empty_partitions(dir)?;
            }
            self.summary.output.replaced_files = older.len() as u64;
            // The data earlier --incremental runs recorded is gone: so are their records, or
            // a later --incremental run would skip those inputs and never bring it back.
            state::forget_all(dest)?;
        }
        Ok(self.summary)
    }

    /// The rows of every partition, prepared as `write_parquet` would write them, by table.
    pub(super) fn into_batches(mut self, opts: &Options) -> Result<(TableRows, Summary)> {
        let prepared: Vec<_> = self
            .take_partitions()
            .into_par_iter()
            .map(|(dir, partition)| {
                let mut batches = Vec::new();
                let run = output::sorted_run(partition.batches)?;
                let existing = EventIds::default();
                let dropped = output::merge::merge(
                    vec![run],
                    Table::of_partition(&dir),
                    opts.write.keep_duplicates,
                    existing,
                    |b| {
                        batches.push(b);
                        Ok(())
                    },
                )?;
                Ok((batches, Table::of_partition(&dir), dropped))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut batches = TableRows::new();
        for (partition, table, dropped) in prepared {
            self.count_duplicates(table, dropped);
            batches.entry(table).or_default().extend(partition);
        }
        Ok((batches, self.summary))
    }
}
