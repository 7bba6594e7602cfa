//! Turning a file's bytes into text: gzip (multi-member included) or plain, with a bound on the
//! decompressed size so that a gzip bomb cannot exhaust memory.

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

/// The decoded text of a file, and the damage that stopped decoding early, if any. Text decoded
/// before damage is returned so that the records in it can still be kept.
#[derive(Debug)]
pub struct Decoded {
    pub text: String,
    pub damage: Option<DecodeError>,
}

/// Why a file's bytes could not be decoded completely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("corrupt or truncated gzip after {decoded} decompressed bytes: {message}")]
    Gzip { decoded: usize, message: String },
    #[error(
        "decompressed size exceeds the limit of {limit} bytes (raise --max-file-bytes if the file is genuine)"
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
pub fn decode(mut reader: impl Read, limit: u64) -> Decoded {
    let mut head = [0u8; 2];
    let head_len = match read_head(&mut reader, &mut head) {
        Ok(n) => n,
        Err(e) => return failed(DecodeError::Io(e.to_string())),
    };
    let chained = io::Cursor::new(head[..head_len].to_vec()).chain(reader);
    let mut bytes = Vec::new();
    let damage = if head_len == 2 && head == GZIP_MAGIC {
        let decoder = MultiGzDecoder::new(chained);
        read_bounded(decoder, limit, &mut bytes, |e| DecodeError::Gzip {
            decoded: 0,
            message: e.to_string(),
        })
    } else {
        read_bounded(chained, limit, &mut bytes, |e| {
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
    }
}

fn failed(error: DecodeError) -> Decoded {
    Decoded {
        text: String::new(),
        damage: Some(error),
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

fn read_bounded(
    reader: impl Read,
    limit: u64,
    bytes: &mut Vec<u8>,
    on_error: impl Fn(io::Error) -> DecodeError,
) -> Option<DecodeError> {
    match reader.take(limit.saturating_add(1)).read_to_end(bytes) {
        Ok(_) if bytes.len() as u64 > limit => Some(DecodeError::TooLarge { limit }),
        Ok(_) => None,
        Err(e) => Some(on_error(e)),
    }
}

/// Valid UTF-8 becomes the text; otherwise the valid prefix is kept and the offset reported.
fn into_text(bytes: Vec<u8>) -> (String, Option<DecodeError>) {
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
    fn invalid_utf8_reports_offset() {
        let d = decode(&b"{\"a\":\"\xff\"}"[..], 100);
        assert_eq!(d.damage, Some(DecodeError::Utf8 { offset: 6 }));
        assert_eq!(d.text, "{\"a\":\"");
    }
}
