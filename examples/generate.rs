//! hsmtrail's archive generator, for benchmarks: deterministic, realistic CloudTrail archives in
//! the S3 delivery layout (about 800 records a gzip'd delivery file, a mix of services and
//! identities like a real account's trail).
//!
//! ```sh
//! cargo run --release --example generate -- OUT_DIR --mb 500 --cloudhsm-percent 0.1 [--seed 1]
//! ```
//!
//! The same arguments always write the same bytes.

use std::io::Write;
use std::path::PathBuf;

use flate2::Compression;
use flate2::write::GzEncoder;

#[path = "../benches/support/archive.rs"]
mod archive;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str, default: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_owned())
    };
    let out = PathBuf::from(
        args.first()
            .expect("usage: generate OUT_DIR [--mb N] [--cloudhsm-percent P] [--seed S]"),
    );
    let target_bytes: u64 = value("--mb", "500").parse::<u64>().expect("--mb N") << 20;
    let percent: f64 = value("--cloudhsm-percent", "0.1")
        .parse()
        .expect("--cloudhsm-percent P");
    let mut rng = archive::Rng(value("--seed", "1").parse().expect("--seed S"));
    let (mut written, mut files, mut ms) = (0u64, 0u64, archive::START_MS);
    while written < target_bytes {
        let (key, body) = archive::delivery_file(&mut rng, percent, files, &mut ms);
        let path = out.join(key);
        std::fs::create_dir_all(path.parent().expect("a key has folders")).unwrap();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&body).unwrap();
        std::fs::write(path, gz.finish().unwrap()).unwrap();
        written += body.len() as u64;
        files += 1;
    }
    eprintln!(
        "{files} files, {written} bytes of JSON ({} MiB) in {}",
        written >> 20,
        out.display()
    );
}
