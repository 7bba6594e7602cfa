//! The decompression floor: every `.gz` file under a directory gunzipped and nothing else, in
//! parallel like `hsmtrail convert`, with flate2 (zlib-rs, what hsmtrail uses) and with
//! libdeflate (the fastest gunzip available as a crate). Prints `method MB/s bytes seconds`.
//!
//! ```sh
//! cargo run --release --example gunzip_floor -- DIR
//! ```

use std::io::Read;
use std::time::Instant;

use rayon::prelude::*;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: gunzip_floor DIR");
    let files: Vec<Vec<u8>> = walkdir::WalkDir::new(&dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "gz"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    for method in ["flate2", "libdeflate"] {
        let started = Instant::now();
        let bytes: usize = files
            .par_iter()
            .map(|gz| match method {
                "flate2" => {
                    let mut out = Vec::new();
                    flate2::read::MultiGzDecoder::new(&gz[..])
                        .read_to_end(&mut out)
                        .unwrap();
                    out.len()
                }
                _ => {
                    let size = u32::from_le_bytes(gz[gz.len() - 4..].try_into().unwrap()) as usize;
                    let mut out = vec![0u8; size];
                    libdeflater::Decompressor::new()
                        .gzip_decompress(gz, &mut out)
                        .unwrap()
                }
            })
            .sum();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{method} {:.1} {bytes} {seconds:.3}",
            bytes as f64 / 1e6 / seconds
        );
    }
}
