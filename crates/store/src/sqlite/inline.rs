//! How a small message body is kept in its `blobs` row (`blobs.codec`).
//!
//! A 2 KB message stored as it came took a whole 4 KiB page (SQLite puts a
//! row that large alone on its leaf page), so the store grew to about 2.5×
//! the mail it held. Compressed (raw DEFLATE, RFC 1951), mail text shrinks
//! to less than half and three rows share a page. Bodies that do not shrink
//! (already compressed attachments) are kept as they are. Blob files (bodies
//! over `INLINE_MAX`) are not compressed: they are read in part and streamed.
//!
//! The blob's address stays the SHA-256 of the message bytes, not of the
//! stored form, so deduplication and `store check` see the same content
//! whatever the codec.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::Write;

use flate2::write::DeflateEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};

use crate::{Result, StoreError};

/// Messages up to this size are stored inside the database, larger ones in
/// blob files. Small messages then cost no fsync of their own: the group
/// commit makes them durable together (as Stalwart inlines small blobs).
/// Only rows up to this size are compressed (see [`unpack`]).
pub(crate) const INLINE_MAX: usize = 32 * 1024;

thread_local! {
    /// One inflater per reading thread, reset for each body: allocating
    /// and clearing its tables for every message of a FETCH cost more than
    /// the inflating.
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// `blobs.codec`: the row holds the bytes as they are.
pub(crate) const STORED: i64 = 0;
/// `blobs.codec`: the row holds the bytes compressed with raw DEFLATE.
pub(crate) const DEFLATE: i64 = 1;

/// DEFLATE's fastest level: on mail text it compresses within a few per cent
/// of level 6 at several times the speed, and delivery pays it per message.
const LEVEL: u32 = 1;

/// Below this a row is small anyway, and the saving would not pay for the
/// work of compressing and inflating.
const MIN_SIZE: usize = 256;

/// The stored form of `raw` and its codec: compressed when that saves at
/// least an eighth, else `raw` itself.
pub(crate) fn pack(raw: &[u8]) -> (i64, Cow<'_, [u8]>) {
    if raw.len() < MIN_SIZE {
        return (STORED, Cow::Borrowed(raw));
    }
    let mut encoder = DeflateEncoder::new(Vec::with_capacity(raw.len() / 2), Compression::new(LEVEL));
    let packed = encoder.write_all(raw).and_then(|()| encoder.finish());
    match packed {
        Ok(packed) if packed.len() <= raw.len() - raw.len() / 8 => (DEFLATE, Cow::Owned(packed)),
        _ => (STORED, Cow::Borrowed(raw)),
    }
}

/// The message bytes of a stored row, which must come to exactly `size`
/// bytes: a damaged row is an error, never a panic or a body of another
/// length, and inflating stops one byte past `size` whatever the input.
pub(crate) fn unpack(hash: &str, codec: i64, data: Vec<u8>, size: i64) -> Result<Vec<u8>> {
    let damaged = |why: &str| StoreError::Backend(format!("blob {hash}: stored data damaged ({why})"));
    let size = usize::try_from(size).map_err(|_| damaged("negative size"))?;
    let bytes = match codec {
        STORED => data,
        // Only bodies up to INLINE_MAX are kept in a row: a larger size is
        // damage, and never an allocation of what a damaged row claims.
        DEFLATE if size > INLINE_MAX => return Err(damaged(&format!("size {size} too large for a row"))),
        DEFLATE => INFLATER.with(|inflater| {
            let mut inflater = inflater.borrow_mut();
            inflater.reset(false);
            // One byte of room past `size`: filling it means the row holds more.
            let mut out = Vec::with_capacity(size + 1);
            match inflater.decompress_vec(&data, &mut out, FlushDecompress::Finish) {
                Ok(Status::StreamEnd) => Ok(out),
                Ok(_) => Err(damaged(&format!("more than {size} bytes, or cut short"))),
                Err(e) => Err(damaged(&e.to_string())),
            }
        })?,
        other => return Err(damaged(&format!("unknown codec {other}"))),
    };
    if bytes.len() != size {
        return Err(damaged(&format!("{} bytes, {size} expected", bytes.len())));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail_text() -> Vec<u8> {
        let mut m = b"From: Li Wei <li@buyer.example>\r\nTo: sales@caravel.test\r\nSubject: Quotation\r\n\r\n".to_vec();
        for i in 0..40 {
            m.extend_from_slice(
                format!("Line {i}: please quote 500 units FOB Ningbo, delivery in May.\r\n").as_bytes(),
            );
        }
        m
    }

    #[test]
    fn mail_text_is_compressed_and_comes_back_the_same() {
        let raw = mail_text();
        let (codec, packed) = pack(&raw);
        assert_eq!(codec, DEFLATE);
        assert!(packed.len() < raw.len() / 2, "{} of {}", packed.len(), raw.len());
        assert_eq!(unpack("h", codec, packed.into_owned(), raw.len() as i64).expect("unpack"), raw);
    }

    #[test]
    fn bytes_that_do_not_shrink_and_small_ones_are_kept_as_they_are() {
        // An xorshift stream: no redundancy for DEFLATE to find.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for raw in [noise.as_slice(), b"Subject: hi\r\n\r\nhi\r\n".as_slice()] {
            let (codec, packed) = pack(raw);
            assert_eq!(codec, STORED);
            assert_eq!(&*packed, raw);
            assert_eq!(unpack("h", codec, packed.into_owned(), raw.len() as i64).expect("unpack"), raw);
        }
    }

    #[test]
    fn a_damaged_row_is_an_error() {
        let raw = mail_text();
        let (codec, packed) = pack(&raw);
        let size = raw.len() as i64;
        // Cut short, garbage, a wrong recorded size either way, an unknown codec.
        assert!(unpack("h", codec, packed[..packed.len() / 2].to_vec(), size).is_err());
        assert!(unpack("h", codec, vec![0xff; 64], size).is_err());
        assert!(unpack("h", codec, packed.to_vec(), size - 1).is_err());
        assert!(unpack("h", codec, packed.to_vec(), size + 1).is_err());
        assert!(unpack("h", 7, packed.to_vec(), size).is_err());
        assert!(unpack("h", STORED, raw.clone(), size + 1).is_err());
    }

    #[test]
    fn inflating_stops_at_the_recorded_size() {
        // 64 MiB of zeros compresses to about 64 KiB; a row claiming 10 bytes
        // must not make the reader inflate it all.
        let zeros = vec![0u8; 64 << 20];
        let (codec, packed) = pack(&zeros);
        assert_eq!(codec, DEFLATE);
        let err = unpack("h", codec, packed.into_owned(), 10).expect_err("too long");
        assert!(err.to_string().contains("more than 10 bytes"), "{err}");
        let err = unpack("h", DEFLATE, vec![1, 2, 3], i64::MAX).expect_err("too large");
        assert!(err.to_string().contains("too large for a row"), "{err}");
    }
}
