//! Turning a file's bytes into text: gzip (multi-member included) or plain, with a bound on the
//! decompressed size so that a gzip bomb cannot exhaust memory.
//!
//! gzip is inflated with libdeflate, about twice as fast as a streaming inflater because it
//! decompresses a whole member into a buffer sized from the gzip trailer. libdeflate gives no
//! partial output for damaged data, so a file it refuses is decoded again by flate2's
//! streaming decoder, which keeps the text before the damage and says what went wrong.

use std::cell::RefCell;
use std::io::{self, Read};
use std::ptr::NonNull;

use flate2::read::MultiGzDecoder;

/// The decoded text of a file, and the damage that stopped decoding early, if any. Text decoded
/// before damage is returned so that the records in it can still be kept. Its buffer goes back
/// to the thread's spare buffers when it is dropped.
#[derive(Debug)]
pub struct Decoded {
    pub text: String,
    pub damage: Option<DecodeError>,
    /// Held while a large file's text is in memory (a guard, released when dropped).
    _gate: Gate,
}

/// Files whose bytes (compressed or decompressed) pass [`MAX_SPARE_BYTES`] are decoded one at
/// a time: a worker that reaches that size waits here, holding at most that much, until no
/// other large file is in memory. So decoding holds at most about `jobs x 2 x 64 MiB` for
/// ordinary files plus one large file (`2 x --max-file-bytes` at worst: its compressed and
/// decompressed bytes), however many workers there are, instead of `jobs x` the largest file.
static LARGE_FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A worker's pass to hold a large file, taken once when the file grows past the threshold and
/// given back when its [`Decoded`] text is dropped.
#[derive(Debug, Default)]
struct Gate(Option<std::sync::MutexGuard<'static, ()>>);

impl Gate {
    /// Waits for the other large files, unless this one already passed.
    fn pass(&mut self) {
        if self.0.is_none() {
            self.0 = Some(LARGE_FILES.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }

    /// Passes if `bytes` more would make a large file.
    fn pass_if_large(&mut self, bytes: usize) {
        if bytes > MAX_SPARE_BYTES {
            self.pass();
        }
    }
}

impl Drop for Decoded {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.text).into_bytes());
    }
}

thread_local! {
    /// Buffers of files this thread decoded before, reused for the next file's compressed and
    /// decompressed bytes. Fresh memory is expensive to touch (every page is faulted in and
    /// cleared), and the allocator hands out fresh memory for large blocks more often than it
    /// reuses freed ones: reusing two buffers a thread took a sixth off a sparse conversion.
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Buffers larger than this are freed rather than kept, so that one huge file does not pin its
/// memory for the rest of the run.
const MAX_SPARE_BYTES: usize = 64 << 20;

/// An empty buffer, with the capacity of an earlier file's when there is one.
fn spare_buffer() -> Vec<u8> {
    SPARE.with_borrow_mut(Vec::pop).unwrap_or_default()
}

fn recycle(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > MAX_SPARE_BYTES {
        return;
    }
    buffer.clear();
    SPARE.with_borrow_mut(|spare| {
        if spare.len() < 2 {
            spare.push(buffer);
        }
    });
}

/// Why a file's bytes could not be decoded completely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("corrupt or truncated gzip after {decoded} decompressed bytes: {message}")]
    Gzip { decoded: usize, message: String },
    #[error(
        "size exceeds the limit of {limit} bytes, stored or decompressed (raise --max-file-bytes if the file is genuine)"
    )]
    TooLarge { limit: u64 },
    #[error("invalid UTF-8 at byte offset {offset} of the decompressed data")]
    Utf8 { offset: usize },
    #[error("read error: {0}")]
    Io(String),
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decodes a whole input stream. `limit` bounds the decompressed size; a larger file is an error
/// and none of it is kept, because a truncated prefix of a bomb is not data anyone asked for.
pub fn decode(reader: impl Read, limit: u64) -> Decoded {
    let mut gate = Gate::default();
    let mut stored = spare_buffer();
    if let Some(damage) = read_bounded(reader, limit, &mut stored, &mut gate, |e| {
        DecodeError::Io(e.to_string())
    }) {
        return failed(damage);
    }
    if !stored.starts_with(&GZIP_MAGIC) {
        let (text, damage) = into_text(stored);
        return Decoded {
            text,
            damage,
            _gate: gate,
        };
    }
    let decoded = match gunzip_members(&stored, limit, &mut gate) {
        Ok(bytes) => {
            let (text, damage) = into_text(bytes);
            Decoded {
                text,
                damage,
                _gate: gate,
            }
        }
        Err(Inflate::TooLarge) => failed(DecodeError::TooLarge { limit }),
        Err(Inflate::BadData) => decode_streaming(&stored[..], limit, gate),
    };
    recycle(stored);
    decoded
}

/// Why libdeflate stopped.
enum Inflate {
    TooLarge,
    BadData,
}

/// A libdeflate decompressor, reused by every file a worker thread decodes.
struct Decompressor(NonNull<libdeflate_sys::libdeflate_decompressor>);

impl Decompressor {
    fn new() -> Self {
        // SAFETY: allocation has no preconditions; NULL (out of memory) is checked.
        let raw = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        Decompressor(NonNull::new(raw).expect("libdeflate could not allocate a decompressor"))
    }

    /// Inflates the gzip member at the start of `input`, appending at most `room` bytes to
    /// `out`. Returns the compressed bytes the member took.
    fn member(&mut self, input: &[u8], out: &mut Vec<u8>, room: usize) -> Result<usize, Room> {
        out.reserve(room);
        let (mut used_in, mut written) = (0usize, 0usize);
        // SAFETY: the output pointer has `room` bytes of reserved capacity past `len`;
        // libdeflate writes at most `room` bytes there and reports how many it wrote.
        let result = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                out.as_mut_ptr().add(out.len()).cast(),
                room,
                &mut used_in,
                &mut written,
            )
        };
        match result {
            libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS => {
                // SAFETY: libdeflate initialised `written <= room` bytes past `len`.
                unsafe { out.set_len(out.len() + written) };
                Ok(used_in)
            }
            libdeflate_sys::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => Err(Room::Short),
            _ => Err(Room::Bad),
        }
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed once.
        unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

enum Room {
    Short,
    Bad,
}

thread_local! {
    static DECOMPRESSOR: RefCell<Decompressor> = RefCell::new(Decompressor::new());
}

/// Inflates every gzip member of `data`, one after another. The output buffer of a member is
/// sized from the file's trailer (the last member's size modulo 4 GiB, exact for the usual
/// single member) and doubled when that was not enough, never beyond `limit`.
fn gunzip_members(data: &[u8], limit: u64, gate: &mut Gate) -> Result<Vec<u8>, Inflate> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let trailer_size = data
        .len()
        .checked_sub(4)
        .map(|at| u32::from_le_bytes(data[at..].try_into().expect("4 bytes")) as usize)
        .unwrap_or(0);
    DECOMPRESSOR.with_borrow_mut(|d| {
        let mut out = spare_buffer();
        let mut at = 0;
        while at < data.len() {
            let left = limit - out.len();
            let guess = if at == 0 {
                trailer_size
            } else {
                (data.len() - at).saturating_mul(4)
            };
            let mut room = guess.max(4096).min(left);
            loop {
                gate.pass_if_large(out.len() + room);
                match d.member(&data[at..], &mut out, room) {
                    Ok(used) => {
                        at += used;
                        break;
                    }
                    Err(Room::Short) if room >= left => return Err(Inflate::TooLarge),
                    Err(Room::Short) => room = room.saturating_mul(2).min(left),
                    Err(Room::Bad) => return Err(Inflate::BadData),
                }
            }
        }
        Ok(out)
    })
}

/// Inflates exactly one gzip member that fills all of `data`, as CloudTrail's digests hash a
/// log file: the error says why not (damaged or cut short, bytes after the member, or more
/// than `limit` bytes inflated). Large members pass the same gate as inputs, so verifying in
/// parallel holds one large file at a time.
pub fn gunzip_single_member(data: &[u8], limit: u64) -> Result<Vec<u8>, String> {
    let limit_bytes = usize::try_from(limit).unwrap_or(usize::MAX);
    let trailer_size = data
        .len()
        .checked_sub(4)
        .map(|at| u32::from_le_bytes(data[at..].try_into().expect("4 bytes")) as usize)
        .unwrap_or(0);
    let mut gate = Gate::default();
    DECOMPRESSOR.with_borrow_mut(|d| {
        let mut out = Vec::new();
        let mut room = trailer_size.max(4096).min(limit_bytes);
        loop {
            gate.pass_if_large(room);
            match d.member(data, &mut out, room) {
                Ok(used) if used < data.len() => {
                    return Err(format!(
                        "{} bytes of unexpected data after the end of the gzip member",
                        data.len() - used
                    ));
                }
                Ok(_) => return Ok(out),
                Err(Room::Short) if room >= limit_bytes => {
                    return Err(format!(
                        "inflates to more than {limit} bytes: refused (a gzip bomb?)"
                    ));
                }
                Err(Room::Short) => room = room.saturating_mul(2).min(limit_bytes),
                Err(Room::Bad) => {
                    return Err("not a complete gzip member (damaged or cut short)".to_owned());
                }
            }
        }
    })
}

/// The streaming decoder for gzip that libdeflate refused: it keeps what decoded before the
/// damage and says what the damage was.
fn decode_streaming(mut reader: impl Read, limit: u64, mut gate: Gate) -> Decoded {
    let mut head = [0u8; 2];
    let head_len = match read_head(&mut reader, &mut head) {
        Ok(n) => n,
        Err(e) => return failed(DecodeError::Io(e.to_string())),
    };
    let chained = io::Cursor::new(head[..head_len].to_vec()).chain(reader);
    let mut bytes = Vec::new();
    let damage = if head_len == 2 && head == GZIP_MAGIC {
        let decoder = MultiGzDecoder::new(chained);
        read_bounded(decoder, limit, &mut bytes, &mut gate, |e| {
            DecodeError::Gzip {
                decoded: 0,
                message: e.to_string(),
            }
        })
    } else {
        read_bounded(chained, limit, &mut bytes, &mut gate, |e| {
            DecodeError::Io(e.to_string())
        })
    };
    let damage = match damage {
        Some(DecodeError::Gzip { message, .. }) => Some(DecodeError::Gzip {
            decoded: bytes.len(),
            message,
        }),
        Some(DecodeError::TooLarge { limit }) => return failed(DecodeError::TooLarge { limit }),
        other => other,
    };
    let (text, utf8_damage) = into_text(bytes);
    Decoded {
        text,
        damage: damage.or(utf8_damage),
        _gate: gate,
    }
}

fn failed(error: DecodeError) -> Decoded {
    Decoded {
        text: String::new(),
        damage: Some(error),
        _gate: Gate::default(),
    }
}

fn read_head(reader: &mut impl Read, head: &mut [u8; 2]) -> io::Result<usize> {
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads to the end into `bytes`, at most `limit` bytes (more is an error); past
/// [`MAX_SPARE_BYTES`] only with the large files' [`Gate`].
fn read_bounded(
    mut reader: impl Read,
    limit: u64,
    bytes: &mut Vec<u8>,
    gate: &mut Gate,
    on_error: impl Fn(io::Error) -> DecodeError,
) -> Option<DecodeError> {
    let small = (MAX_SPARE_BYTES as u64).min(limit.saturating_add(1));
    let read = (&mut reader).take(small).read_to_end(bytes).and_then(|_| {
        if (bytes.len() as u64) < small {
            return Ok(0);
        }
        gate.pass();
        reader
            .take(limit.saturating_add(1) - bytes.len() as u64)
            .read_to_end(bytes)
    });
    match read {
        Ok(_) if bytes.len() as u64 > limit => Some(DecodeError::TooLarge { limit }),
        Ok(_) => None,
        Err(e) => Some(on_error(e)),
    }
}

/// Valid UTF-8 becomes the text; otherwise the valid prefix is kept and the offset reported.
fn into_text(bytes: Vec<u8>) -> (String, Option<DecodeError>) {
    // Trails are nearly always pure ASCII, which is checked in half the time full validation
    // takes (a sparse conversion spent 3% of its time validating).
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        return (unsafe { String::from_utf8_unchecked(bytes) }, None);
    }
    match String::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let mut bytes = e.into_bytes();
            bytes.truncate(offset);
            let text = String::from_utf8(bytes).expect("prefix checked valid");
            (text, Some(DecodeError::Utf8 { offset }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    #[test]
    fn large_files_are_decoded_one_at_a_time() {
        let large = vec![b' '; MAX_SPARE_BYTES + 1024];
        let first = decode(&large[..], u64::MAX);
        assert!(first._gate.0.is_some(), "a large file takes the gate");
        let small = decode(&b"{}"[..], u64::MAX);
        assert!(small._gate.0.is_none(), "a small file does not wait");
        let (sent, received) = std::sync::mpsc::channel();
        let second = std::thread::spawn(move || {
            let large = vec![b' '; MAX_SPARE_BYTES + 1024];
            let decoded = decode(&large[..], u64::MAX);
            sent.send(()).unwrap();
            decoded.text.len()
        });
        // Blocked for as long as the first large file is held (however long this waits).
        assert!(
            received
                .recv_timeout(std::time::Duration::from_millis(300))
                .is_err()
        );
        drop(first);
        assert_eq!(second.join().unwrap(), MAX_SPARE_BYTES + 1024);
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_and_gzip_and_multi_member() {
        assert_eq!(decode(&b"{\"a\":1}"[..], 100).text, "{\"a\":1}");
        assert_eq!(decode(&gz(b"hello")[..], 100).text, "hello");
        let mut two = gz(b"hello ");
        two.extend(gz(b"world"));
        let d = decode(&two[..], 100);
        assert_eq!(d.text, "hello world");
        assert!(d.damage.is_none());
    }

    #[test]
    fn members_larger_than_the_first_guess_are_inflated_whole() {
        // The second member compresses 1000:1, far past the "4x the rest" first guess.
        let big = vec![b'x'; 3 << 20];
        let mut two = gz(b"head ");
        two.extend(gz(&big));
        let d = decode(&two[..], 8 << 20);
        assert!(d.damage.is_none(), "{:?}", d.damage);
        assert_eq!(d.text.len(), 5 + big.len());
        assert!(d.text.starts_with("head xxx"));
        // A trailer that disagrees with the data is damage, for libdeflate as for flate2.
        let mut lying = gz(&big);
        let at = lying.len() - 4;
        lying[at..].copy_from_slice(&10u32.to_le_bytes());
        let d = decode(&lying[..], 8 << 20);
        assert!(matches!(d.damage, Some(DecodeError::Gzip { .. })));
    }

    #[test]
    fn limit_holds_across_members() {
        let mut two = gz(&[b'a'; 600]);
        two.extend(gz(&[b'b'; 600]));
        let d = decode(&two[..], 1000);
        assert_eq!(d.damage, Some(DecodeError::TooLarge { limit: 1000 }));
        assert_eq!(decode(&two[..], 1200).text.len(), 1200);
    }

    #[test]
    fn trailing_garbage_after_a_member_is_damage_and_keeps_the_member() {
        let mut data = gz(b"{\"Records\":[]}");
        data.extend(b"garbage");
        let d = decode(&data[..], 1 << 20);
        assert_eq!(d.text, "{\"Records\":[]}");
        assert!(
            matches!(d.damage, Some(DecodeError::Gzip { .. })),
            "{:?}",
            d.damage
        );
    }

    #[test]
    fn truncated_gzip_keeps_prefix() {
        let data: Vec<u8> = (0..20_000).map(|i| b'a' + (i % 7) as u8).collect();
        let z = gz(&data);
        let d = decode(&z[..z.len() - 10], 1 << 20);
        assert!(
            matches!(d.damage, Some(DecodeError::Gzip { .. })),
            "{:?}",
            d.damage
        );
        assert!(data.starts_with(d.text.as_bytes()));
    }

    #[test]
    fn bomb_is_bounded() {
        let z = gz(&vec![b' '; 1 << 20]);
        let d = decode(&z[..], 1000);
        assert_eq!(d.damage, Some(DecodeError::TooLarge { limit: 1000 }));
        assert!(d.text.is_empty());
    }

    #[test]
    fn reused_buffers_hold_only_the_new_file() {
        let big = vec![b'x'; 2 << 20];
        assert_eq!(decode(&gz(&big)[..], 4 << 20).text.len(), big.len());
        assert_eq!(decode(&big[..], 4 << 20).text.len(), big.len());
        assert_eq!(decode(&gz(b"small")[..], 100).text, "small");
        assert_eq!(decode(&b"plain"[..], 100).text, "plain");
        assert_eq!(decode(&gz(b"")[..], 100).text, "");
    }

    #[test]
    fn invalid_utf8_reports_offset() {
        let d = decode(&b"{\"a\":\"\xff\"}"[..], 100);
        assert_eq!(d.damage, Some(DecodeError::Utf8 { offset: 6 }));
        assert_eq!(d.text, "{\"a\":\"");
        // Valid text that is not ASCII takes the full check and comes through whole.
        let d = decode("{\"a\":\"\u{e9}\u{1F512}\"}".as_bytes(), 100);
        assert_eq!(d.damage, None);
        assert_eq!(d.text, "{\"a\":\"\u{e9}\u{1F512}\"}");
    }
}
