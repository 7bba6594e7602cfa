//! Parse + flatten throughput, in MB/s of JSON, on the fixture archive: the CloudHSM-only
//! default filter and `--all-sources`. `cargo bench --bench convert`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hsmtrail::convert::{Options, SourceFilter, convert_text};

/// The decompressed text of every delivery file in the fixture archive.
fn archive_texts() -> Vec<(String, String)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/archive");
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && !e.path().to_string_lossy().contains("Digest"))
        .map(|e| {
            let file = std::fs::File::open(e.path()).unwrap();
            let decoded = hsmtrail::input::decode::decode(file, u64::MAX);
            (e.path().display().to_string(), decoded.text)
        })
        .collect()
}

fn parse_and_flatten(c: &mut Criterion) {
    let texts = archive_texts();
    let bytes: usize = texts.iter().map(|(_, t)| t.len()).sum();
    let mut group = c.benchmark_group("parse_flatten");
    group.throughput(Throughput::Bytes(bytes as u64));
    for (label, sources) in [
        ("cloudhsm", SourceFilter::default()),
        ("all_sources", SourceFilter::All),
    ] {
        let opts = Options {
            sources,
            ..Options::new(Vec::new(), "unused".into())
        };
        group.bench_function(label, |b| {
            b.iter(|| {
                texts
                    .iter()
                    .map(|(name, text)| convert_text(text, name, &opts).records.kept)
                    .sum::<u64>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse_and_flatten);
criterion_main!(benches);
