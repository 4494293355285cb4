//! ClamAV's signed database containers (`main.cvd`, `daily.cld` ...): a
//! 512-byte header, `ClamAV-VDB:time:version:sigs:flevel:md5:dsig:builder:stime`,
//! then a tar archive (gzip-compressed in `.cvd`) of signature files.
//!
//! The MD5 in the header is checked against the archive of a `.cvd`. The
//! digital signature (`dsig`) uses ClamAV's own RSA scheme and is not
//! verified here: fetch the files over a channel you trust (freshclam
//! checks it), and say so in the update's output.

use std::io::Read;

use md5::Digest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub built: String,
    pub version: u64,
    pub signatures: u64,
    pub functionality_level: u32,
    pub md5: String,
    /// Build time, seconds since the epoch (0 if the field is missing).
    pub build_time: u64,
}

/// The unpacked archive may not be larger than this.
const MAX_UNPACKED: u64 = 2 << 30;

pub fn parse_header(data: &[u8]) -> Result<Header, String> {
    let head = data.get(..512).ok_or("shorter than a CVD header")?;
    let text = std::str::from_utf8(head).map_err(|_| "the header is not text")?.trim_end_matches([' ', '\0']);
    let f: Vec<&str> = text.split(':').collect();
    if f.first() != Some(&"ClamAV-VDB") || f.len() < 6 {
        return Err("not a ClamAV database (no ClamAV-VDB header)".into());
    }
    let num = |i: usize| f.get(i).and_then(|v| v.trim().parse::<u64>().ok());
    Ok(Header {
        built: f[1].to_string(),
        version: num(2).ok_or("bad version in the header")?,
        signatures: num(3).unwrap_or(0),
        functionality_level: num(4).unwrap_or(0) as u32,
        md5: f[5].to_ascii_lowercase(),
        build_time: num(8).unwrap_or(0),
    })
}

/// The header and the files inside.
/// (name, contents) of each file in a container.
pub type Files = Vec<(String, Vec<u8>)>;

pub fn read(name: &str, data: &[u8]) -> Result<(Header, Files), String> {
    let header = parse_header(data)?;
    let body = &data[512..];
    let gz = body.starts_with(&[0x1f, 0x8b]);
    if name.to_ascii_lowercase().ends_with(".cvd") {
        let sum: String = md5::Md5::digest(body).iter().map(|b| format!("{b:02x}")).collect();
        if sum != header.md5 {
            return Err(format!("{name}: the MD5 of the archive does not match its header (damaged download?)"));
        }
    }
    let mut unpacked = Vec::new();
    let reader: Box<dyn Read> = if gz { Box::new(flate2::read::GzDecoder::new(body)) } else { Box::new(body) };
    reader.take(MAX_UNPACKED + 1).read_to_end(&mut unpacked).map_err(|e| format!("{name}: cannot unpack: {e}"))?;
    if unpacked.len() as u64 > MAX_UNPACKED {
        return Err(format!("{name}: unpacks to more than {MAX_UNPACKED} bytes"));
    }
    let mut files = Vec::new();
    let mut archive = tar::Archive::new(unpacked.as_slice());
    for entry in archive.entries().map_err(|e| format!("{name}: {e}"))? {
        let mut e = entry.map_err(|e| format!("{name}: {e}"))?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let path = e.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        let mut d = Vec::new();
        e.read_to_end(&mut d).map_err(|e| format!("{name}: {path}: {e}"))?;
        files.push((path, d));
    }
    Ok((header, files))
}

/// Builds a `.cvd` (for tests and for `caravel av` fixtures): the files in
/// a gzipped tar behind a header with the right MD5 and no signature.
pub fn build(version: u64, build_time: u64, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    for (n, d) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, n, *d).expect("in-memory tar");
    }
    let tar = t.into_inner().expect("in-memory tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).expect("in-memory gzip");
    let body = gz.finish().expect("in-memory gzip");
    let sum: String = md5::Md5::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
    let mut head =
        format!("ClamAV-VDB:test:{version}:{}:90:{sum}:unsigned:caravel:{build_time}", files.len()).into_bytes();
    head.resize(512, b' ');
    head.extend(body);
    head
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_built_cvd_reads_back_and_damage_is_found() {
        let cvd = super::build(42, 1_700_000_000, &[("test.ndb", b"A:0:*:41424344\n"), ("x.ldb", b"whatever")]);
        let (h, files) = super::read("test.cvd", &cvd).expect("reads");
        assert_eq!((h.version, h.build_time, h.functionality_level), (42, 1_700_000_000, 90));
        assert_eq!(files.len(), 2);
        assert_eq!(files[0], ("test.ndb".to_string(), b"A:0:*:41424344\n".to_vec()));
        let mut bad = cvd.clone();
        let last = bad.len() - 20;
        bad[last] ^= 0xff;
        assert!(matches!(super::read("test.cvd", &bad), Err(m) if m.contains("MD5")));
        assert!(super::read("x.cvd", b"not a database").is_err());
    }
}
