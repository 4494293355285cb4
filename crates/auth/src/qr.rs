//! QR codes for two-factor enrollment: drawn in the terminal with half-block
//! characters, or as a PNG for the web page and `caravel 2fa enroll --qr`.

use std::io::Write;

use qrcode::{Color, QrCode};

/// Light modules around the code, as scanners expect (ISO/IEC 18004: 4).
const QUIET: usize = 4;

fn modules(text: &str) -> Result<(usize, Vec<bool>), String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| format!("cannot make a QR code: {e}"))?;
    let w = code.width();
    let dark = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
    Ok((w, dark))
}

/// Dark at (x, y) in the code with its quiet zone around it.
fn dark_at(w: usize, dark: &[bool], x: usize, y: usize) -> bool {
    x >= QUIET && y >= QUIET && x < w + QUIET && y < w + QUIET && dark[(y - QUIET) * w + (x - QUIET)]
}

/// Two rows of modules per line of text: `▀` `▄` `█` and space, drawn as
/// dark-on-light whatever the terminal's colours (light is printed).
pub fn terminal(text: &str) -> Result<String, String> {
    let (w, dark) = modules(text)?;
    let size = w + 2 * QUIET;
    let mut out = String::new();
    for y in (0..size).step_by(2) {
        for x in 0..size {
            let top = !dark_at(w, &dark, x, y);
            let bottom = y + 1 < size && !dark_at(w, &dark, x, y + 1);
            out.push(match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Ok(out)
}

/// A black-on-white PNG, `scale` pixels per module, 8-bit greyscale.
pub fn png(text: &str, scale: usize) -> Result<Vec<u8>, String> {
    let (w, dark) = modules(text)?;
    let px = (w + 2 * QUIET) * scale;
    let mut raw = Vec::with_capacity((px + 1) * px);
    for y in 0..px {
        raw.push(0); // filter type None (PNG §9.2)
        for x in 0..px {
            raw.push(if dark_at(w, &dark, x / scale, y / scale) { 0 } else { 255 });
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).map_err(|e| e.to_string())?;
    let idat = z.finish().map_err(|e| e.to_string())?;
    let mut ihdr = Vec::new();
    ihdr.extend((px as u32).to_be_bytes());
    ihdr.extend((px as u32).to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // depth 8, greyscale, deflate, adaptive filters, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &idat[..]), (b"IEND", &[][..])] {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend(crc.finalize().to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "otpauth://totp/Caravel:ana@example.test?secret=JBSWY3DPEHPK3PXP&issuer=Caravel";

    #[test]
    fn png_is_well_formed_and_decodes_to_the_modules() {
        let bytes = png(URI, 4).expect("png");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        let (w, dark) = modules(URI).expect("modules");
        let px = (w + 2 * QUIET) * 4;
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().expect("w")) as usize, px);
        // Inflate IDAT and check a few pixels against the modules.
        let len = u32::from_be_bytes(bytes[33..37].try_into().expect("len")) as usize;
        assert_eq!(&bytes[37..41], b"IDAT");
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&bytes[41..41 + len]), &mut raw)
            .expect("inflate");
        assert_eq!(raw.len(), (px + 1) * px);
        for (mx, my) in [(0, 0), (w / 2, w / 2), (w - 1, 3)] {
            let (x, y) = ((mx + QUIET) * 4, (my + QUIET) * 4);
            let pixel = raw[y * (px + 1) + 1 + x];
            assert_eq!(pixel == 0, dark[my * w + mx], "module {mx},{my}");
        }
        assert!(bytes.ends_with(&[0xae, 0x42, 0x60, 0x82]), "IEND with its CRC");
    }

    #[test]
    fn terminal_drawing_has_one_line_per_two_rows() {
        let text = terminal(URI).expect("terminal");
        let (w, _) = modules(URI).expect("modules");
        assert_eq!(text.lines().count(), (w + 2 * QUIET).div_ceil(2));
        assert!(text.lines().all(|l| l.chars().count() == w + 2 * QUIET));
    }
}
