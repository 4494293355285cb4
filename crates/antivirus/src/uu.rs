//! uuencoded files inside text ("begin 644 name" ... "end"), as old mailers
//! and some malware still send them.

/// Every uuencoded file in `text`: (name, bytes). At most `max_files`, and
/// each at most `max_size` bytes (the rest is cut).
pub fn decode_all(text: &[u8], max_files: usize, max_size: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut lines = text.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    while let Some(line) = lines.next() {
        if out.len() >= max_files {
            break;
        }
        let Some(rest) = line.strip_prefix(b"begin ") else { continue };
        let mut words = rest.splitn(2, |&b| b == b' ');
        let mode = words.next().unwrap_or_default();
        if mode.is_empty() || !mode.iter().all(|b| (b'0'..=b'7').contains(b)) {
            continue;
        }
        let name = String::from_utf8_lossy(words.next().unwrap_or_default()).trim().to_string();
        let mut data = Vec::new();
        for l in lines.by_ref() {
            if l == b"end" || l.is_empty() {
                break;
            }
            if data.len() < max_size {
                decode_line(l, &mut data);
            }
        }
        data.truncate(max_size);
        out.push((name, data));
    }
    out
}

fn decode_line(line: &[u8], out: &mut Vec<u8>) {
    let Some((&first, rest)) = line.split_first() else { return };
    let n = (first.wrapping_sub(b' ') & 0x3f) as usize;
    let v = |c: u8| c.wrapping_sub(b' ') & 0x3f;
    let mut produced = 0;
    for group in rest.chunks(4) {
        let mut g = [0u8; 4];
        for (i, c) in group.iter().enumerate() {
            g[i] = v(*c);
        }
        for b in [g[0] << 2 | g[1] >> 4, g[1] << 4 | g[2] >> 2, g[2] << 6 | g[3]] {
            if produced < n {
                out.push(b);
                produced += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_a_file() {
        // "Cat" and "hello world\n", as uuencode(1) writes them.
        let text =
            b"intro\nbegin 644 cat.txt\n#0V%T\n`\nend\ntext\nbegin 600 h.txt\r\n,:&5L;&\\@=V]R;&0*\r\n`\r\nend\r\n";
        let files = super::decode_all(text, 10, 1 << 20);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0], ("cat.txt".to_string(), b"Cat".to_vec()));
        assert_eq!(files[1], ("h.txt".to_string(), b"hello world\n".to_vec()));
        assert!(super::decode_all(b"begin here\nnot uu\n", 10, 100).is_empty());
    }
}
