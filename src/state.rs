//! `--incremental`: which inputs earlier runs converted.
//!
//! Each run that finishes records the inputs it read to the end (converted or skipped) in
//! `_hsmtrail/inputs/<run id>.jsonl` of the output: where each is, its size and its ETag or
//! modification time. A later run skips exactly those versions. There is no "start after"
//! watermark: a file that arrives late for an old date is new to this set and is converted,
//! and a file replaced with different content (another size or ETag) is converted again.
//!
//! The record is written last, after the data it covers (see [`crate::convert::run`]), so a
//! run that dies leaves no record and its inputs are converted again; the event IDs already in
//! the output keep their records from being written twice.

use std::collections::HashSet;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::input::Input;
use crate::output::destination::Destination;

/// Where run records go, under the output.
pub const FOLDER: &str = "_hsmtrail/inputs";

/// One input as recorded.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    input: String,
    size: u64,
    version: String,
}

/// The inputs converted by earlier runs.
#[derive(Debug, Default)]
pub struct Converted(HashSet<(String, u64, String)>);

impl Converted {
    /// Reads every run record of the output.
    pub fn load(dest: &Destination) -> Result<Converted> {
        let mut set = HashSet::new();
        for (name, bytes) in dest.read_folder(FOLDER)? {
            if !name.ends_with(".jsonl") {
                continue;
            }
            for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let entry: Entry = serde_json::from_slice(line).with_context(|| {
                    format!(
                        "reading the incremental state {name} line {}: remove the file to convert its inputs again",
                        n + 1
                    )
                })?;
                set.insert((entry.input, entry.size, entry.version));
            }
        }
        Ok(Converted(set))
    }

    /// Whether this version of the input was converted before.
    pub fn contains(&self, input: &Input) -> bool {
        !self.0.is_empty() && input.identity().is_some_and(|id| self.0.contains(&id))
    }
}

/// Records the inputs this run read to the end.
pub fn record(dest: &Destination, run_id: &str, inputs: &[(String, u64, String)]) -> Result<()> {
    let mut text = Vec::new();
    for (input, size, version) in inputs {
        let entry = Entry {
            input: input.clone(),
            size: *size,
            version: version.clone(),
        };
        serde_json::to_writer(&mut text, &entry).expect("writing to memory");
        text.push(b'\n');
    }
    dest.write_small(&format!("{FOLDER}/{run_id}.jsonl"), &text)
}
