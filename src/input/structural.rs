//! The fast path for S3 delivery files: finds where each element of `{"Records":[...]}` starts
//! and ends without parsing it.
//!
//! A delivery file is one big JSON object, and finding its records with a validating parser
//! costs as much as decompressing it. Most records are then dropped by the source filter
//! without being looked at, so their boundaries are all that is needed. This scan classifies
//! 64 bytes at a time into bit masks (quotes, backslashes, brackets), works out which bytes
//! are inside strings with a prefix XOR (as simdjson does), and only visits the brackets
//! outside strings. Records that are kept are parsed (and validated) one by one afterwards.
//!
//! Only the exact shape AWS writes is taken: `{"Records":[`, elements that are objects or
//! arrays separated by commas, `]}`, white space. Anything else, including a truncated or
//! damaged file, returns `None` so that the caller parses the file the careful way and reports
//! the damage where it is.

use std::ops::Range;

/// How every S3 delivery file starts.
pub const RECORDS_PREFIX: &[u8] = b"{\"Records\":[";

/// One element of a delivery file's `Records` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Its bytes in the file.
    pub span: Range<usize>,
    /// False only when the element certainly holds no `\u` escape. The scan walks every
    /// backslash anyway, so the source pre-filter learns this for free instead of searching
    /// every file for backslashes again.
    pub unicode_escape: bool,
}

/// The elements of a delivery file's `Records` array, or `None` when `text` is not exactly a
/// delivery file (starting with [`RECORDS_PREFIX`], no leading white space).
pub fn split_records(text: &[u8]) -> Option<Vec<Element>> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let bits = has!("popcnt") && has!("bmi1");
        if bits && has!("avx512bw") && has!("pclmulqdq") {
            // SAFETY: the CPU has every feature the function is compiled for.
            return unsafe { split_avx512(text) };
        }
        if bits && has!("avx2") && has!("pclmulqdq") {
            // SAFETY: as above.
            return unsafe { split_avx2(text) };
        }
    }
    split(text, Masks::of, prefix_xor)
}

/// [`split`] compiled for AVX-512BW, where one instruction classifies a whole block (and with
/// the bit-counting instructions every such CPU has).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw,popcnt,bmi1,pclmulqdq")]
unsafe fn split_avx512(text: &[u8]) -> Option<Vec<Element>> {
    // SAFETY: this function only runs on CPUs with these features.
    split(
        text,
        |block| unsafe { Masks::avx512(block) },
        |x| unsafe { prefix_xor_clmul(x) },
    )
}

/// [`split`] compiled for AVX2: a block in two halves.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt,bmi1,pclmulqdq")]
unsafe fn split_avx2(text: &[u8]) -> Option<Vec<Element>> {
    // SAFETY: this function only runs on CPUs with these features.
    split(
        text,
        |block| unsafe { Masks::avx2(block) },
        |x| unsafe { prefix_xor_clmul(x) },
    )
}

/// [`prefix_xor`] in one carry-less multiplication by all ones.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
#[inline]
unsafe fn prefix_xor_clmul(x: u64) -> u64 {
    use std::arch::x86_64::*;
    let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1), 0);
    _mm_cvtsi128_si64(product) as u64
}

/// The scan itself, inlined into each CPU-specific variant with its block classifier.
#[inline(always)]
fn split(
    text: &[u8],
    classify: impl Fn(&[u8; 64]) -> Masks,
    prefix_xor: impl Fn(u64) -> u64,
) -> Option<Vec<Element>> {
    let body = text.strip_prefix(RECORDS_PREFIX)?;
    let base = RECORDS_PREFIX.len();
    let mut spans = Vec::new();
    let mut strings = StringTracker::default();
    // Nesting below the Records array: 0 between elements.
    let mut depth = 0usize;
    let mut element_start = 0;
    let mut gap_start = 0;
    let mut array_end = None;
    // Where the last `\u` seen starts. An element may hold one when this is inside it or
    // (rarely, and harmlessly) later in the block where it ends.
    let mut last_unicode_escape = None;
    let mut padded = [b' '; 64];
    'blocks: for (n, chunk) in body.chunks(64).enumerate() {
        let block: &[u8; 64] = match chunk.try_into() {
            Ok(block) => block,
            Err(_) => {
                padded[..chunk.len()].copy_from_slice(chunk);
                &padded
            }
        };
        let masks = classify(block);
        if masks.backslash != 0 {
            last_unicode_escape =
                last_unicode_escape_in(body, n * 64, masks.backslash).or(last_unicode_escape);
        }
        let outside = !strings.inside(masks.quote, masks.backslash, &prefix_xor);
        let opens = masks.open & outside;
        let closes = masks.close & outside;
        // Inside a record nested deeper than this block has closers, no record can end here:
        // most blocks are only counted, not walked bracket by bracket.
        if depth > closes.count_ones() as usize {
            depth = depth + opens.count_ones() as usize - closes.count_ones() as usize;
            continue;
        }
        let mut brackets = opens | closes;
        while brackets != 0 {
            let bit = brackets.trailing_zeros();
            let at = n * 64 + bit as usize;
            if opens & (1 << bit) != 0 {
                if depth == 0 {
                    if !is_separator(&body[gap_start..at], spans.is_empty()) {
                        return None;
                    }
                    element_start = at;
                }
                depth += 1;
            } else if depth == 0 {
                if !is_blank(&body[gap_start..at]) {
                    return None;
                }
                array_end = Some(at);
                break 'blocks;
            } else {
                depth -= 1;
                if depth == 0 {
                    spans.push(Element {
                        span: base + element_start..base + at + 1,
                        unicode_escape: last_unicode_escape >= Some(element_start),
                    });
                    gap_start = at + 1;
                }
            }
            brackets &= brackets - 1;
        }
    }
    let tail = &body[array_end? + 1..];
    (tail.trim_ascii() == b"}").then_some(spans)
}

/// The last backslash of the block at `start` (bits of `backslash`) followed by `u`, the byte
/// after it being read from `body` because it may be in the next block.
#[inline(always)]
fn last_unicode_escape_in(body: &[u8], start: usize, mut backslash: u64) -> Option<usize> {
    let mut last = None;
    while backslash != 0 {
        let at = start + backslash.trailing_zeros() as usize;
        if body.get(at + 1) == Some(&b'u') {
            last = Some(at);
        }
        backslash &= backslash - 1;
    }
    last
}

/// White space and one comma (none before the first element).
fn is_separator(gap: &[u8], first: bool) -> bool {
    let gap = gap.trim_ascii();
    if first { gap.is_empty() } else { gap == b"," }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.trim_ascii().is_empty()
}

/// One 64-byte block classified: bit i is set when byte i is that character. `[` and `{` are
/// both openers, `]` and `}` both closers: only the nesting depth matters here.
#[derive(Debug, Default, PartialEq, Eq)]
struct Masks {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
}

/// One classifier per instruction set (SSE2, AVX2, AVX-512, scalar), picked at run time. They
/// are deliberate near-copies (`duplicates` pairs them): the intrinsics differ in width and
/// type, and a generic version would cost the inlining this loop lives on. The tests hold every
/// variant the machine has to the scalar one.
impl Masks {
    #[cfg(target_arch = "x86_64")]
    fn of(block: &[u8; 64]) -> Masks {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline, and each load reads 16 bytes inside the
        // 64-byte block (unaligned loads are allowed).
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            // `[` and `]` differ from `{` and `}` only in bit 0x20: fold them together.
            let fold = _mm_set1_epi8(0x20);
            let open = _mm_set1_epi8(b'{' as i8);
            let close = _mm_set1_epi8(b'}' as i8);
            let mut masks = Masks::default();
            for lane in 0..4 {
                let bytes = _mm_loadu_si128(block.as_ptr().add(16 * lane) as *const __m128i);
                let folded = _mm_or_si128(bytes, fold);
                let bits = |v: __m128i, c: __m128i| {
                    (_mm_movemask_epi8(_mm_cmpeq_epi8(v, c)) as u16 as u64) << (16 * lane)
                };
                masks.quote |= bits(bytes, quote);
                masks.backslash |= bits(bytes, backslash);
                masks.open |= bits(folded, open);
                masks.close |= bits(folded, close);
            }
            masks
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn avx2(block: &[u8; 64]) -> Masks {
        use std::arch::x86_64::*;
        let quote = _mm256_set1_epi8(b'"' as i8);
        let backslash = _mm256_set1_epi8(b'\\' as i8);
        let fold = _mm256_set1_epi8(0x20);
        let open = _mm256_set1_epi8(b'{' as i8);
        let close = _mm256_set1_epi8(b'}' as i8);
        let mut masks = Masks::default();
        for half in 0..2 {
            // SAFETY: each load reads 32 bytes inside the 64-byte block.
            let bytes =
                unsafe { _mm256_loadu_si256(block.as_ptr().add(32 * half) as *const __m256i) };
            let folded = _mm256_or_si256(bytes, fold);
            let bits = |v: __m256i, c: __m256i| {
                (_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, c)) as u32 as u64) << (32 * half)
            };
            masks.quote |= bits(bytes, quote);
            masks.backslash |= bits(bytes, backslash);
            masks.open |= bits(folded, open);
            masks.close |= bits(folded, close);
        }
        masks
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512bw")]
    #[inline]
    unsafe fn avx512(block: &[u8; 64]) -> Masks {
        use std::arch::x86_64::*;
        // SAFETY: the load reads exactly the 64-byte block.
        let bytes = unsafe { _mm512_loadu_si512(block.as_ptr().cast()) };
        let folded = _mm512_or_si512(bytes, _mm512_set1_epi8(0x20));
        Masks {
            quote: _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8(b'"' as i8)),
            backslash: _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8(b'\\' as i8)),
            open: _mm512_cmpeq_epi8_mask(folded, _mm512_set1_epi8(b'{' as i8)),
            close: _mm512_cmpeq_epi8_mask(folded, _mm512_set1_epi8(b'}' as i8)),
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn of(block: &[u8; 64]) -> Masks {
        Masks::scalar(block)
    }

    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    fn scalar(block: &[u8; 64]) -> Masks {
        let mut masks = Masks::default();
        for (i, b) in block.iter().enumerate() {
            let bit = 1u64 << i;
            match b {
                b'"' => masks.quote |= bit,
                b'\\' => masks.backslash |= bit,
                b'{' | b'[' => masks.open |= bit,
                b'}' | b']' => masks.close |= bit,
                _ => {}
            }
        }
        masks
    }
}

/// Which bytes are inside JSON strings, block after block.
#[derive(Default)]
struct StringTracker {
    /// The previous block ended inside a string.
    in_string: bool,
    /// The previous block ended with a backslash that escapes this block's first byte.
    escape_pending: bool,
}

impl StringTracker {
    /// Bit i set when byte i is inside a string (counting the opening quote, not the closing
    /// one, which is all the bracket test needs).
    #[inline(always)]
    fn inside(&mut self, quote: u64, backslash: u64, prefix_xor: impl Fn(u64) -> u64) -> u64 {
        let quotes = quote & !self.escaped(backslash);
        let mut inside = prefix_xor(quotes);
        if self.in_string {
            inside = !inside;
        }
        self.in_string = inside >> 63 == 1;
        inside
    }

    /// The bytes escaped by a backslash. Backslashes are rare in CloudTrail records, so they
    /// are walked one by one: each unescaped backslash escapes the byte after it.
    fn escaped(&mut self, mut backslash: u64) -> u64 {
        let mut escaped = 0;
        if std::mem::take(&mut self.escape_pending) {
            escaped |= 1;
            backslash &= !1;
        }
        while backslash != 0 {
            let bit = backslash.trailing_zeros();
            if bit == 63 {
                self.escape_pending = true;
                break;
            }
            escaped |= 1 << (bit + 1);
            backslash &= !(0b11 << bit);
        }
        escaped
    }
}

/// Bit i of the result is the XOR of bits 0..=i of `x`: with `x` the unescaped quotes, the
/// bytes from an opening quote up to (not including) its closing quote.
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn texts(text: &str) -> Option<Vec<&str>> {
        split_records(text.as_bytes())
            .map(|elements| elements.into_iter().map(|e| &text[e.span]).collect())
    }

    #[test]
    fn flags_elements_that_may_hold_unicode_escapes() {
        // Each escape a block after the end of the element before it, as a `\u` later in the
        // block where an element ends flags that element too (harmless: it is only parsed).
        let pad = "x".repeat(64);
        let text = format!(
            r#"{{"Records":[{{"p":"{pad}","a":"\u00e9"}},{{"p":"{pad}","b":"\\"}},{{"p":"{pad}","c":"\\u"}},{{"d":1}}]}}"#
        );
        let flags: Vec<bool> = split_records(text.as_bytes())
            .unwrap()
            .iter()
            .map(|e| e.unicode_escape)
            .collect();
        // `\\u` is an escaped backslash then `u`: flagged too, which only costs a parse.
        assert_eq!(flags, [true, false, true, false]);
        // The backslash and its `u` on either side of every 64-byte block edge.
        for pad in 0..140 {
            let key = "x".repeat(pad);
            let text = format!(r#"{{"Records":[{{"{key}":"\u0041"}},{{"b":"\\"}}]}}"#);
            let flags: Vec<bool> = split_records(text.as_bytes())
                .unwrap()
                .iter()
                .map(|e| e.unicode_escape)
                .collect();
            assert_eq!(flags, [true, false], "pad {pad}");
        }
    }

    #[test]
    fn splits_a_delivery_file() {
        assert_eq!(
            texts(r#"{"Records":[{"a":"}"},{"b":["]",{"c":"\"{"}]}]}"#).unwrap(),
            [r#"{"a":"}"}"#, r#"{"b":["]",{"c":"\"{"}]}"#]
        );
        assert_eq!(
            texts("{\"Records\":[ \n{\"a\":1} ,\n [2] \n]}\n").unwrap(),
            ["{\"a\":1}", "[2]"]
        );
        assert_eq!(texts(r#"{"Records":[]}"#).unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn refuses_anything_else() {
        for text in [
            r#"{"Records":[{"a":1},{"a":"#,
            r#"{"Records":[{"a":1}]"#,
            r#"{"Records":[{"a":1}],"x":2}"#,
            r#"{"Records":[{"a":1},5]}"#,
            r#"{"Records":[{"a":1},,{"b":2}]}"#,
            r#"{"Records":[,{"a":1}]}"#,
            r#"{"Records":[{"a":1}{"b":2}]}"#,
            r#"{"Records":["{"]}"#,
            r#"{"Records":[{"a":"\"}]}"#,
            r#" {"Records":[]}"#,
            r#"{"Events":[]}"#,
        ] {
            assert_eq!(texts(text), None, "{text}");
        }
    }

    #[test]
    fn strings_and_escapes_across_block_edges() {
        // Put a backslash (and a quote after it) at every position around the 64-byte edges.
        for pad in 0..140 {
            let key = "x".repeat(pad);
            let text = format!(
                r#"{{"Records":[{{"{key}":"a\\\"}}\\\\","k":"\\\\\"]"}},{{"b":"\\\\"}}]}}"#
            );
            let expected: Vec<String> =
                serde_json::from_str::<serde_json::Value>(&text).unwrap()["Records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_string())
                    .collect();
            let got = texts(&text).unwrap();
            let reparsed: Vec<String> = got
                .iter()
                .map(|t| {
                    serde_json::from_str::<serde_json::Value>(t)
                        .unwrap()
                        .to_string()
                })
                .collect();
            assert_eq!(reparsed, expected, "pad {pad}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_classification_matches_the_scalar_one() {
        let mut block = [0u8; 64];
        for start in 0..=255u8 {
            for (i, b) in block.iter_mut().enumerate() {
                *b = start.wrapping_add(i as u8 * 4);
            }
            let expected = Masks::scalar(&block);
            assert_eq!(Masks::of(&block), expected);
            if std::arch::is_x86_feature_detected!("avx2") {
                assert_eq!(unsafe { Masks::avx2(&block) }, expected);
            }
            if std::arch::is_x86_feature_detected!("avx512bw") {
                assert_eq!(unsafe { Masks::avx512(&block) }, expected);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn carry_less_prefix_xor_matches_the_shifts() {
        if !std::arch::is_x86_feature_detected!("pclmulqdq") {
            return;
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1000 {
            x = x.rotate_left(7).wrapping_mul(0x2545_f491_4f6c_dd1d);
            assert_eq!(unsafe { prefix_xor_clmul(x) }, prefix_xor(x));
        }
        for x in [0, 1, 1 << 63, u64::MAX] {
            assert_eq!(unsafe { prefix_xor_clmul(x) }, prefix_xor(x));
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<i32>().prop_map(serde_json::Value::from),
            "[\"\\\\{}\\[\\] a-z\u{e9}\u{1}]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[\"\\\\{}a-z]{0,8}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever the records hold, the spans are exactly the elements serde_json finds.
        #[test]
        fn agrees_with_serde_json(
            records in prop::collection::vec(
                prop::collection::btree_map("[\"\\\\{}a-z]{0,8}", json_value(), 0..5), 0..6),
            pretty in any::<bool>(),
        ) {
            let records: Vec<serde_json::Value> = records
                .into_iter()
                .map(|m| serde_json::Value::Object(m.into_iter().collect()))
                .collect();
            let file = serde_json::json!({ "Records": records });
            let text = if pretty {
                // Elements on lines of their own, as tools that rewrite delivery files do.
                let body = serde_json::to_string_pretty(&records).unwrap();
                format!("{{\"Records\":{body}\n}}\n")
            } else {
                file.to_string()
            };
            let elements = split_records(text.as_bytes()).expect("a delivery file");
            for e in &elements {
                prop_assert!(e.unicode_escape || !text[e.span.clone()].contains("\\u"));
            }
            let got = texts(&text).expect("a delivery file");
            let expected: Vec<String> = records.iter().map(|v| v.to_string()).collect();
            let reparsed: Vec<String> = got
                .iter()
                .map(|t| serde_json::from_str::<serde_json::Value>(t).unwrap().to_string())
                .collect();
            prop_assert_eq!(reparsed, expected);
        }
    }
}
