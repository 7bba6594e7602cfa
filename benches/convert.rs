//! Micro-benchmarks: parse + flatten throughput in MB/s of JSON on CloudHSM-dense (10%) and
//! CloudHSM-sparse (0.1%) delivery files, CloudHSM-only and `--all-sources`; and Parquet
//! writing in rows/s. `cargo bench --bench convert`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hsmtrail::convert::{Options, PendingRows, SourceFilter, convert_text};
use hsmtrail::filter::EventFilter;
use hsmtrail::output;

#[path = "support/archive.rs"]
mod archive;

/// Ten generated delivery files (8,000 records) as text.
fn files(percent: f64) -> Vec<(String, String)> {
    let mut rng = archive::Rng(7);
    let mut ms = archive::START_MS;
    (0..10)
        .map(|i| {
            let (key, body) = archive::delivery_file(&mut rng, percent, i, &mut ms);
            (
                key,
                String::from_utf8(body).expect("generated JSON is UTF-8"),
            )
        })
        .collect()
}

fn parse_and_flatten(c: &mut Criterion) {
    for (archive, percent) in [("dense", 10.0), ("sparse", 0.1)] {
        let texts = files(percent);
        let bytes: usize = texts.iter().map(|(_, t)| t.len()).sum();
        let mut group = c.benchmark_group(format!("parse_flatten_{archive}"));
        group.throughput(Throughput::Bytes(bytes as u64));
        for (label, sources) in [
            ("cloudhsm", SourceFilter::default()),
            ("all_sources", SourceFilter::All),
        ] {
            let opts = Options {
                filter: EventFilter {
                    sources,
                    ..EventFilter::default()
                },
                ..Options::new(Vec::new(), std::path::PathBuf::from("unused"))
            };
            group.bench_function(label, |b| {
                b.iter(|| {
                    let mut pending = PendingRows::default();
                    let mut handed = 0;
                    let kept: u64 = texts
                        .iter()
                        .map(|(name, text)| {
                            convert_text(text, name, &opts, &mut pending, &mut |rows| {
                                handed += rows.parts.len()
                            })
                        })
                        .map(|converted| converted.records.kept)
                        .sum();
                    (kept, handed + pending.finish().parts.len())
                })
            });
        }
        group.finish();
    }
}

fn parquet_writing(c: &mut Criterion) {
    let opts = Options {
        filter: EventFilter::every_source(),
        ..Options::new(Vec::new(), std::path::PathBuf::from("unused"))
    };
    let mut pending = PendingRows::default();
    let mut parts = Vec::new();
    for (name, text) in &files(0.1) {
        convert_text(text, name, &opts, &mut pending, &mut |rows| {
            parts.extend(rows.parts)
        });
    }
    parts.extend(pending.finish().parts);
    let batches: Vec<_> = parts.into_iter().map(|(_, batch)| batch).collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let dir = tempfile::tempdir().unwrap();
    let props = output::writer_properties(output::table::Table::Events, output::Compression::Zstd);
    let mut group = c.benchmark_group("parquet_write");
    group.throughput(Throughput::Elements(rows as u64));
    group.sample_size(10);
    group.bench_function("zstd", |b| {
        b.iter(|| {
            output::write_partition(
                dir.path(),
                "bench.parquet",
                output::table::Table::Events,
                vec![output::sorted_run(batches.clone()).unwrap()],
                false,
                Default::default(),
                &props,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, parse_and_flatten, parquet_writing);
criterion_main!(benches);
