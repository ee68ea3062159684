//! Helvetica's metrics and encoding: how wide a line is, where it wraps, and the bytes a
//! PDF string of it holds (WinAnsi, Latin-1 for the letters a report uses).

/// Widths of the printable ASCII characters (32-126) in Helvetica, per 1000 em (its AFM).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // 32-47
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 48-63
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // 64-79
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 80-95
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // 96-111
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // 112-126
];

/// The same for Helvetica-Bold.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // 32-47
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 48-63
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // 64-79
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // 80-95
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // 96-111
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, // 112-126
];

/// The width of `c` per 1000 em; letters outside ASCII count as wide as an `m`'s neighbours.
fn width(c: char, bold: bool) -> f32 {
    let table = if bold { &HELVETICA_BOLD } else { &HELVETICA };
    let code = c as u32;
    if (32..=126).contains(&code) {
        f32::from(table[(code - 32) as usize])
    } else {
        600.0
    }
}

/// How wide `s` is at `size` points.
pub fn measure(s: &str, size: f32, bold: bool) -> f32 {
    s.chars().map(|c| width(c, bold)).sum::<f32>() * size / 1000.0
}

/// `s` broken into lines no wider than `max` points at `size`: at spaces where it can, inside
/// a word too long for a line otherwise; line breaks in `s` are kept.
pub fn wrap(s: &str, size: f32, bold: bool, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in s.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ') {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if measure(&candidate, size, bold) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word wider than a line is cut where it must be.
            let mut piece = String::new();
            for c in word.chars() {
                piece.push(c);
                if measure(&piece, size, bold) > max && piece.chars().count() > 1 {
                    piece.pop();
                    lines.push(std::mem::take(&mut piece));
                    piece.push(c);
                }
            }
            line = piece;
        }
        lines.push(line);
    }
    lines
}

/// The bytes of `s` in WinAnsiEncoding: Latin-1 as it is, the dashes, quotes and bullet a
/// report uses at their WinAnsi codes, anything else `?`. Control characters become spaces.
pub fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            '\u{2013}' => 0x96,
            '\u{2014}' => 0x97,
            '\u{2018}' => 0x91,
            '\u{2019}' => 0x92,
            '\u{201C}' => 0x93,
            '\u{201D}' => 0x94,
            '\u{2022}' => 0x95,
            '\u{2026}' => 0x85,
            c if c.is_control() => b' ',
            c if (c as u32) < 0x80 => c as u8,
            c if (0xA0..=0xFF).contains(&(c as u32)) => c as u32 as u8,
            _ => b'?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fit_and_keep_every_word() {
        let text = "Perusahaan belum mendaftarkan 12 pekerja harian lepas pada program JKK dan JKM sejak Januari 2026.";
        let lines = wrap(text, 10.0, false, 150.0);
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(measure(l, 10.0, false) <= 150.0, "{l}");
        }
        assert_eq!(lines.join(" "), text);
        let long = "x".repeat(300);
        let cut = wrap(&long, 10.0, true, 100.0);
        assert!(cut.len() > 1 && cut.concat() == long);
        assert_eq!(wrap("a\nb", 10.0, false, 100.0), ["a", "b"]);
        assert_eq!(wrap("", 10.0, false, 100.0), [""]);
    }

    #[test]
    fn text_is_encoded_for_the_standard_font() {
        assert_eq!(win_ansi("Andi — “ok”"), b"Andi \x97 \x93ok\x94");
        assert_eq!(win_ansi("é\u{1F600}\n"), vec![0xE9, b'?', b' ']);
        assert!(measure("W", 10.0, false) > measure("i", 10.0, false));
    }
}
