//! Lays a [`Report`] out on A4 pages, top to bottom, starting a new page where a block would
//! not fit, then numbers the pages.

use std::io::Cursor;

use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use crate::text::{measure, win_ansi, wrap};
use crate::{Report, ReportError};

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const BOTTOM: f32 = 60.0;
const WIDTH: f32 = PAGE_W - 2.0 * MARGIN;
const LABEL_W: f32 = 165.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");
/// Longest side photos are scaled to before they are embedded (about 200 dpi at print size).
const PHOTO_SIDE: u32 = 1200;
const PHOTO_BOX_W: f32 = (WIDTH - 15.0) / 2.0;
const PHOTO_BOX_H: f32 = 185.0;

/// A photo ready to embed: JPEG bytes and their pixel size.
struct Image {
    jpeg: Vec<u8>,
    width: u32,
    height: u32,
}

/// One page being drawn: its content and the images it shows.
struct Page {
    content: Content,
    images: Vec<(String, Ref)>,
}

/// The pages and where the next line goes.
struct Flow {
    pages: Vec<Page>,
    y: f32,
}

impl Flow {
    fn new() -> Self {
        let mut f = Flow {
            pages: Vec::new(),
            y: 0.0,
        };
        f.new_page();
        f
    }

    fn new_page(&mut self) {
        self.pages.push(Page {
            content: Content::new(),
            images: Vec::new(),
        });
        self.y = PAGE_H - MARGIN;
    }

    fn page(&mut self) -> &mut Page {
        // `new` pushed the first page and pages are only ever added.
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Starts a new page unless `height` points fit above the bottom margin.
    fn ensure(&mut self, height: f32) {
        if self.y - height < BOTTOM && self.y < PAGE_H - MARGIN - 1.0 {
            self.new_page();
        }
    }

    fn text_at(&mut self, x: f32, y: f32, s: &str, size: f32, bold: bool, gray: f32) {
        let bytes = win_ansi(s);
        let c = &mut self.page().content;
        c.set_fill_gray(gray);
        c.begin_text();
        c.set_font(if bold { BOLD } else { REGULAR }, size);
        c.next_line(x, y);
        c.show(Str(&bytes));
        c.end_text();
        c.set_fill_gray(0.0);
    }

    /// Writes `s` wrapped to `max` points from `x`, moving down; returns the lines' height.
    fn paragraph(&mut self, x: f32, s: &str, size: f32, bold: bool, max: f32, gray: f32) {
        let leading = size * 1.3;
        for line in wrap(s, size, bold, max) {
            self.ensure(leading);
            self.y -= leading;
            self.text_at(x, self.y + size * 0.25, &line, size, bold, gray);
        }
    }

    fn rule(&mut self, gray: f32) {
        let y = self.y;
        let c = &mut self.page().content;
        c.set_stroke_gray(gray);
        c.set_line_width(0.5);
        c.move_to(MARGIN, y);
        c.line_to(PAGE_W - MARGIN, y);
        c.stroke();
        c.set_stroke_gray(0.0);
    }

    /// A table of label and value rows, each row kept on one page.
    fn rows(&mut self, rows: &[(String, String)]) {
        let size = 9.5;
        let leading = size * 1.3;
        for (label, value) in rows {
            let value = if value.trim().is_empty() {
                "—"
            } else {
                value
            };
            let labels = wrap(label, size, true, LABEL_W - 8.0);
            let values = wrap(value, size, false, WIDTH - LABEL_W);
            let n = labels.len().max(values.len());
            let height = n as f32 * leading + 4.0;
            if height > PAGE_H - MARGIN - BOTTOM - 20.0 {
                // Taller than a page: the label, then the value flowing across pages.
                self.paragraph(MARGIN, label, size, true, WIDTH, 0.25);
                self.paragraph(MARGIN + LABEL_W, value, size, false, WIDTH - LABEL_W, 0.0);
                self.y -= 4.0;
                self.rule(0.85);
                continue;
            }
            self.ensure(height);
            let top = self.y;
            for (i, l) in labels.iter().enumerate() {
                let y = top - (i as f32 + 1.0) * leading + size * 0.25;
                self.text_at(MARGIN, y, l, size, true, 0.25);
            }
            for (i, v) in values.iter().enumerate() {
                let y = top - (i as f32 + 1.0) * leading + size * 0.25;
                self.text_at(MARGIN + LABEL_W, y, v, size, false, 0.0);
            }
            self.y = top - height;
            self.rule(0.85);
        }
    }

    fn heading(&mut self, s: &str, size: f32) {
        self.ensure(size * 1.6 + 40.0);
        self.y -= size * 0.6;
        self.paragraph(MARGIN, s, size, true, WIDTH, 0.0);
        self.y -= 4.0;
    }
}

/// Scales a photo down and re-encodes it as a JPEG without its embedded metadata.
fn prepare(caption: &str, bytes: &[u8], media_type: &str) -> Result<Image, ReportError> {
    let err = |reason: String| ReportError::Photo {
        caption: caption.to_owned(),
        reason,
    };
    let jpeg =
        sidak_media::thumbnail(bytes, media_type, PHOTO_SIDE).map_err(|e| err(e.to_string()))?;
    let (width, height) =
        image::ImageReader::with_format(Cursor::new(&jpeg), image::ImageFormat::Jpeg)
            .into_dimensions()
            .map_err(|e| err(e.to_string()))?;
    Ok(Image {
        jpeg,
        width,
        height,
    })
}

/// The PDF of `report`.
pub fn render(report: &Report) -> Result<Vec<u8>, ReportError> {
    let mut next_ref = 10;
    let mut alloc = || {
        next_ref += 1;
        Ref::new(next_ref)
    };
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let mut pdf = Pdf::new();

    let mut flow = Flow::new();
    flow.paragraph(MARGIN, &report.title, 16.0, true, WIDTH, 0.0);
    if !report.subtitle.is_empty() {
        flow.paragraph(MARGIN, &report.subtitle, 10.0, false, WIDTH, 0.3);
    }
    flow.y -= 6.0;
    flow.rule(0.0);

    for section in &report.sections {
        flow.heading(&section.title, 12.0);
        flow.rows(&section.rows);
    }

    flow.heading(
        &format!("Temuan / Findings ({})", report.findings.len()),
        12.0,
    );
    if report.findings.is_empty() {
        flow.paragraph(
            MARGIN,
            "Tidak ada temuan / No findings.",
            9.5,
            false,
            WIDTH,
            0.3,
        );
    }
    for finding in &report.findings {
        flow.ensure(60.0);
        flow.y -= 4.0;
        flow.paragraph(MARGIN, &finding.heading, 10.5, true, WIDTH, 0.0);
        flow.rows(&finding.rows);
        if !finding.description.trim().is_empty() {
            flow.paragraph(MARGIN, &finding.description, 9.5, false, WIDTH, 0.0);
        }
        flow.y -= 4.0;
    }

    // Photos two to a row; documents and photos not on the server yet listed below them.
    let photos: Vec<_> = report
        .attachments
        .iter()
        .filter(|a| a.bytes.is_some() && a.media_type.starts_with("image/"))
        .collect();
    let listed: Vec<_> = report
        .attachments
        .iter()
        .filter(|a| !(a.bytes.is_some() && a.media_type.starts_with("image/")))
        .collect();
    flow.heading(
        &format!(
            "Foto dan dokumen / Photos and documents ({})",
            report.attachments.len()
        ),
        12.0,
    );
    if report.attachments.is_empty() {
        flow.paragraph(MARGIN, "Tidak ada / None.", 9.5, false, WIDTH, 0.3);
    }
    let mut images: Vec<(Ref, Image)> = Vec::new();
    for pair in photos.chunks(2) {
        let captions: Vec<Vec<String>> = pair
            .iter()
            .map(|a| wrap(&a.caption, 9.0, true, PHOTO_BOX_W))
            .collect();
        let notes: Vec<Vec<String>> = pair
            .iter()
            .map(|a| wrap(&a.note, 7.5, false, PHOTO_BOX_W))
            .collect();
        let text_lines = captions
            .iter()
            .zip(&notes)
            .map(|(c, n)| c.len() as f32 * 11.7 + n.len() as f32 * 9.75)
            .fold(0.0, f32::max);
        flow.ensure(PHOTO_BOX_H + text_lines + 14.0);
        let top = flow.y - 6.0;
        for (i, a) in pair.iter().enumerate() {
            let Some(bytes) = &a.bytes else { continue };
            let img = prepare(&a.caption, bytes, &a.media_type)?;
            let x0 = MARGIN + i as f32 * (PHOTO_BOX_W + 15.0);
            let scale = (PHOTO_BOX_W / img.width as f32).min(PHOTO_BOX_H / img.height as f32);
            let (w, h) = (img.width as f32 * scale, img.height as f32 * scale);
            let id = alloc();
            let name = format!("Im{}", images.len() + 1);
            {
                let page = flow.page();
                page.content.save_state();
                page.content
                    .transform([w, 0.0, 0.0, h, x0 + (PHOTO_BOX_W - w) / 2.0, top - h]);
                page.content.x_object(Name(name.as_bytes()));
                page.content.restore_state();
                page.images.push((name, id));
            }
            let mut y = top - PHOTO_BOX_H - 2.0;
            for line in &captions[i] {
                y -= 11.7;
                flow.text_at(x0, y + 2.0, line, 9.0, true, 0.0);
            }
            for line in &notes[i] {
                y -= 9.75;
                flow.text_at(x0, y + 2.0, line, 7.5, false, 0.35);
            }
            images.push((id, img));
        }
        flow.y = top - PHOTO_BOX_H - text_lines - 10.0;
    }
    for a in listed {
        flow.paragraph(
            MARGIN,
            &format!("• {} ({}) — {}", a.caption, a.status, a.note),
            9.0,
            false,
            WIDTH,
            0.0,
        );
    }

    // Signatures, two boxes to a row, kept together on one page.
    if !report.signatures.is_empty() {
        let rows = report.signatures.len().div_ceil(2);
        flow.ensure(30.0 + rows as f32 * 100.0);
        flow.heading("Tanda tangan / Signatures", 12.0);
        for pair in report.signatures.chunks(2) {
            let top = flow.y - 6.0;
            for (i, who) in pair.iter().enumerate() {
                let x0 = MARGIN + i as f32 * (PHOTO_BOX_W + 15.0);
                {
                    let c = &mut flow.page().content;
                    c.set_line_width(0.7);
                    c.rect(x0, top - 88.0, PHOTO_BOX_W, 88.0);
                    c.stroke();
                }
                let lines = wrap(who, 8.5, true, PHOTO_BOX_W - 10.0);
                for (j, line) in lines.iter().take(2).enumerate() {
                    flow.text_at(x0 + 5.0, top - 12.0 - j as f32 * 11.0, line, 8.5, true, 0.0);
                }
                flow.text_at(
                    x0 + 5.0,
                    top - 82.0,
                    "Nama, tanggal / Name, date:",
                    7.5,
                    false,
                    0.35,
                );
            }
            flow.y = top - 96.0;
        }
    }

    // Page numbers and the footer, now that the count is known.
    let count = flow.pages.len();
    let mut page_ids = Vec::with_capacity(count);
    for (i, page) in flow.pages.iter_mut().enumerate() {
        let label = format!("Halaman {} / {} · {}", i + 1, count, report.footer);
        let bytes = win_ansi(&label);
        let size = if measure(&label, 7.5, false) > WIDTH {
            6.0
        } else {
            7.5
        };
        let c = &mut page.content;
        c.set_fill_gray(0.35);
        c.begin_text();
        c.set_font(REGULAR, size);
        c.next_line(MARGIN, 30.0);
        c.show(Str(&bytes));
        c.end_text();
        page_ids.push((alloc(), alloc()));
    }

    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().map(|(p, _)| *p))
        .count(i32::try_from(count).unwrap_or(i32::MAX));
    for (name, font) in [
        (b"Helvetica".as_slice(), regular),
        (b"Helvetica-Bold".as_slice(), bold),
    ] {
        pdf.type1_font(font)
            .base_font(Name(name))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (page, (page_id, content_id)) in flow.pages.into_iter().zip(&page_ids) {
        let mut p = pdf.page(*page_id);
        p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        p.parent(tree);
        p.contents(*content_id);
        let mut resources = p.resources();
        {
            let mut fonts = resources.fonts();
            fonts.pair(REGULAR, regular);
            fonts.pair(BOLD, bold);
        }
        if !page.images.is_empty() {
            let mut x = resources.x_objects();
            for (name, id) in &page.images {
                x.pair(Name(name.as_bytes()), *id);
            }
        }
        resources.finish();
        p.finish();
        pdf.stream(*content_id, &page.content.finish());
    }
    for (id, img) in &images {
        let mut x = pdf.image_xobject(*id, &img.jpeg);
        x.filter(Filter::DctDecode);
        x.width(i32::try_from(img.width).unwrap_or(i32::MAX));
        x.height(i32::try_from(img.height).unwrap_or(i32::MAX));
        x.color_space().device_rgb();
        x.bits_per_component(8);
    }
    pdf.document_info(info)
        .title(TextStr(&report.title))
        .creator(TextStr("sidak"));
    Ok(pdf.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attachment, Finding, Section};

    fn photo() -> Vec<u8> {
        let img = image::RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 80])
        });
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
            .unwrap_or_default();
        out
    }

    fn report(findings: usize, photos: usize) -> Report {
        Report {
            title: "LAPORAN HASIL PEMERIKSAAN".into(),
            subtitle: "Kunjungan / Visit".into(),
            sections: vec![Section {
                title: "Perusahaan / Company".into(),
                rows: vec![
                    ("Nama / Name".into(), "CV Laut Biru".into()),
                    ("NIB".into(), String::new()),
                ],
            }],
            findings: (0..findings)
                .map(|i| Finding {
                    heading: format!("{}. PDS-TK", i + 1),
                    rows: vec![("Dasar hukum / Legal basis".into(), "PP 44/2015".into())],
                    description: "Sebagian pekerja belum didaftarkan. ".repeat(20),
                })
                .collect(),
            attachments: (0..photos)
                .map(|i| Attachment {
                    caption: format!("Foto {i}"),
                    media_type: "image/jpeg".into(),
                    bytes: Some(photo()),
                    status: String::new(),
                    note: "20 KB".into(),
                })
                .chain(std::iter::once(Attachment {
                    caption: "Nota I".into(),
                    media_type: "application/pdf".into(),
                    bytes: None,
                    status: "belum diunggah / not uploaded yet".into(),
                    note: "91 KB".into(),
                }))
                .collect(),
            signatures: vec!["Ketua tim: Andi".into(), "Perusahaan: Pak Hasan".into()],
            footer: "visit 0193".into(),
        }
    }

    #[test]
    fn a_report_is_a_pdf_that_grows_pages_with_its_content() {
        let small = render(&report(1, 1)).unwrap_or_default();
        assert!(small.starts_with(b"%PDF-"));
        assert!(small.windows(10).any(|w| w == b"/DCTDecode"));
        let big = render(&report(30, 7)).unwrap_or_default();
        let pages = |b: &[u8]| b.windows(10).filter(|w| w == b"/Type /Pag").count();
        assert!(
            pages(&big) > pages(&small),
            "more findings and photos, more pages"
        );
    }

    #[test]
    fn a_value_taller_than_a_page_flows_onto_the_next_pages() {
        let mut r = report(0, 0);
        let summary: String = (1..=300).map(|i| format!("baris {i}\n")).collect();
        r.sections[0]
            .rows
            .push(("Ringkasan / Summary".into(), summary));
        let pdf = render(&r).unwrap_or_default();
        let pages = pdf.windows(11).filter(|w| w == b"/Type /Page").count();
        // 300 lines of 12.35 pt need 5 pages of 732 pt; drawn as one row they would run off
        // the first page.
        assert!(pages >= 6, "{pages} (the tree counts once too)");
    }

    #[test]
    fn a_photo_that_is_not_an_image_is_an_error_naming_it() {
        let mut r = report(0, 0);
        r.attachments.push(Attachment {
            caption: "rusak".into(),
            media_type: "image/png".into(),
            bytes: Some(b"not a png".to_vec()),
            status: String::new(),
            note: String::new(),
        });
        let e = render(&r).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("rusak"), "{e}");
    }
}
