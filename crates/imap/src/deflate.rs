//! COMPRESS=DEFLATE (RFC 4978): raw DEFLATE (RFC 1951, no zlib header) in both
//! directions, each burst of responses ended with a sync flush so the client
//! can decode everything sent so far (RFC 4978 §4).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Output grows by this much while (de)compressing.
const STEP: usize = 16 * 1024;

pub struct Deflate {
    compress: Compress,
    decompress: Decompress,
}

#[derive(Debug)]
pub struct CorruptInput;

impl Default for Deflate {
    fn default() -> Self {
        // Level 6, the usual balance (RFC 4978 §4 leaves it to the sender).
        Deflate { compress: Compress::new(Compression::new(6), false), decompress: Decompress::new(false) }
    }
}

impl Deflate {
    /// Compresses `data` and flushes, so that `out` decodes to all of it.
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut consumed = 0;
        loop {
            out.reserve(STEP);
            let before = self.compress.total_in();
            // Cannot fail: the stream is never finished.
            let _ = self.compress.compress_vec(&data[consumed..], out, FlushCompress::Sync);
            consumed += (self.compress.total_in() - before) as usize;
            // As with zlib, room left in the output means the flush is complete.
            if consumed == data.len() && out.len() < out.capacity() {
                return;
            }
        }
    }

    /// Decompresses what the client sent into `out`.
    pub fn decompress(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), CorruptInput> {
        let mut consumed = 0;
        loop {
            out.reserve(STEP);
            let (before_in, before_out) = (self.decompress.total_in(), out.len());
            let status = self
                .decompress
                .decompress_vec(&data[consumed..], out, FlushDecompress::None)
                .map_err(|_| CorruptInput)?;
            consumed += (self.decompress.total_in() - before_in) as usize;
            if status == Status::StreamEnd {
                // A final block ends the stream; RFC 4978 has nothing after it.
                return Err(CorruptInput);
            }
            if consumed == data.len() && out.len() < out.capacity() {
                return Ok(());
            }
            if self.decompress.total_in() == before_in && out.len() == before_out {
                return Err(CorruptInput);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_standard_inflater_reads_each_flushed_burst_at_once() {
        let mut d = Deflate::default();
        let mut wire = Vec::new();
        let mut inflater = flate2::Decompress::new(false);
        let mut seen = Vec::new();
        for burst in [b"* OK first\r\n".to_vec(), vec![b'x'; 200_000], b"a1 OK done\r\n".to_vec()] {
            wire.clear();
            d.compress(&burst, &mut wire);
            let mut plain = Vec::with_capacity(burst.len() + 64);
            inflater.decompress_vec(&wire, &mut plain, FlushDecompress::Sync).expect("inflate");
            assert_eq!(plain, burst, "everything up to the flush decodes without more input");
            seen.extend(plain);
        }
        assert_eq!(seen.len(), 12 + 200_000 + 12);
    }

    #[test]
    fn reads_what_a_zlib_writer_sends_split_anywhere() {
        let mut text = Vec::new();
        for i in 0..5000 {
            text.extend(format!("a{i} UID FETCH {i} (FLAGS)\r\n").into_bytes());
        }
        let mut w = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        w.write_all(&text).expect("write");
        w.flush().expect("flush");
        let wire = w.get_ref().clone();
        for split in [1, 7, 100, 4096] {
            let mut d = Deflate::default();
            let mut out = Vec::new();
            for chunk in wire.chunks(split) {
                d.decompress(chunk, &mut out).expect("decompress");
            }
            assert_eq!(out, text);
        }
    }

    #[test]
    fn a_highly_compressed_burst_expands_whole() {
        let text = vec![b'a'; 5 << 20];
        let mut enc = flate2::read::DeflateEncoder::new(&text[..], flate2::Compression::best());
        let mut wire = Vec::new();
        enc.read_to_end(&mut wire).expect("encode");
        let mut d = Deflate::default();
        let mut out = Vec::new();
        // A finished stream ends with a final block: an error for IMAP, but
        // everything before it is delivered.
        let _ = d.decompress(&wire, &mut out);
        assert_eq!(out.len(), text.len());
    }

    /// Random and corrupted compressed input (a stand-in for a fuzzer on
    /// stable Rust): an error or some bytes, never a panic or a hang.
    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut next = caravel_testkit::xorshift(0x9e37_79b9_7f4a_7c15);
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, b"a1 LOGIN user pass\r\na2 SELECT INBOX\r\n").expect("write");
        std::io::Write::flush(&mut enc).expect("flush");
        let good = enc.get_ref().clone();
        for round in 0..2000 {
            let mut input = if round % 2 == 0 { good.clone() } else { Vec::new() };
            let len = (next() % 300) as usize;
            if input.is_empty() {
                input = (0..len).map(|_| next() as u8).collect();
            } else {
                for _ in 0..(1 + next() % 4) {
                    let i = (next() as usize) % input.len();
                    input[i] = next() as u8;
                }
            }
            let mut d = Deflate::default();
            let mut out = Vec::new();
            for chunk in input.chunks(1 + (next() % 64) as usize) {
                if d.decompress(chunk, &mut out).is_err() {
                    break;
                }
            }
            assert!(out.len() < 1 << 20, "bounded output for {} bytes of input", input.len());
        }
    }

    #[test]
    fn garbage_is_an_error() {
        let mut d = Deflate::default();
        let mut out = Vec::new();
        assert!(d.decompress(&[0xff; 64], &mut out).is_err());
    }
}
