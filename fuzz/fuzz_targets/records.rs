#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hsmtrail_fuzz::records(data));
