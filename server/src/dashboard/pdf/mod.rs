//! A published call sheet as a PDF: US Letter, one or two pages for a full day (94 crew
//! calls and 25 scenes fit on two), every name in its own script.
//!
//! Text is set in DejaVu Sans Condensed, compiled in, with a CJK fallback font from the
//! system (`fonts.rs`); each document embeds subsets holding only the glyphs it uses.
//! printpdf gives positioned text and shapes; the layout here (columns, wrapping, tables
//! flowed into columns, page breaks) measures text with the fonts' own advances.
//!
//! The output depends only on the revision: the document's dates are the revision's
//! publish time, its identifier the revision's, and font resource names are fixed, so the
//! same revision renders to the same bytes.

mod fonts;
pub mod report;

use printpdf::{
    Color, FontId, Line, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFont, PdfFontHandle,
    PdfPage, PdfSaveOptions, Point, Pt, Rect, Rgb, TextItem,
};
use setlink_core::model::callsheet::{CallSpec, Colour, Revision};
use setlink_core::model::callsheet_text;

use self::fonts::{FaceId, Fonts, Usage};
use super::forms;
use crate::zone::Zone;

const PAGE_W: f32 = 215.9;
const PAGE_H: f32 = 279.4;
const MARGIN: f32 = 10.0;
const PT_MM: f32 = 0.3528;
/// Room kept at the bottom of each page for the footer.
const FOOTER: f32 = 6.0;
const BOTTOM: f32 = PAGE_H - MARGIN - FOOTER;
const WIDTH: f32 = PAGE_W - 2.0 * MARGIN;
/// Type sizes, pt: tables, paragraphs.
const TABLE_PT: f32 = 7.0;
const PARA_PT: f32 = 7.5;
/// Drawn for a character no font has.
const REPLACEMENT: char = '\u{FFFD}';

/// What a character is drawn as: control characters become spaces.
fn printable(c: char) -> char {
    if c.is_control() {
        ' '
    } else {
        c
    }
}

/// Width of one character in mm at `size` pt.
fn char_mm(f: &Fonts, c: char, size: f32, bold: bool) -> f32 {
    let c = printable(c);
    let em = match f.face_for(c, bold) {
        Some(face) => f.face(face).advance_em(c),
        None => f.face(primary(bold)).advance_em(REPLACEMENT),
    };
    em * size * PT_MM
}

fn primary(bold: bool) -> FaceId {
    if bold {
        FaceId::Bold
    } else {
        FaceId::Regular
    }
}

/// Width of `s` in mm at `size` pt.
fn width_mm(s: &str, size: f32, bold: bool) -> f32 {
    let f = fonts::fonts();
    s.chars().map(|c| char_mm(f, c, size, bold)).sum()
}

/// Splits `s` into lines no wider than `max_mm`; a word longer than a line is cut. Linear
/// in the length of `s`, whatever it holds.
fn wrap(s: &str, max_mm: f32, size: f32, bold: bool) -> Vec<String> {
    let f = fonts::fonts();
    let cw = |c: char| char_mm(f, c, size, bold);
    let space = cw(' ');
    let mut lines = Vec::new();
    for para in s.lines() {
        let mut cur = String::new();
        let mut cur_w = 0.0;
        for word in para.split_whitespace() {
            let word_w: f32 = word.chars().map(cw).sum();
            if !cur.is_empty() && cur_w + space + word_w <= max_mm {
                cur.push(' ');
                cur.push_str(word);
                cur_w += space + word_w;
                continue;
            }
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
                cur_w = 0.0;
            }
            if word_w <= max_mm {
                cur.push_str(word);
                cur_w = word_w;
                continue;
            }
            for ch in word.chars() {
                let w = cw(ch);
                if cur_w + w > max_mm && !cur.is_empty() {
                    lines.push(std::mem::take(&mut cur));
                    cur_w = 0.0;
                }
                cur.push(ch);
                cur_w += w;
            }
        }
        lines.push(cur);
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// At most `max` lines; the last one kept ends with an ellipsis when some were cut.
fn clamp_lines(mut lines: Vec<String>, max: usize) -> Vec<String> {
    let max = max.max(1);
    if lines.len() > max {
        lines.truncate(max);
        if let Some(last) = lines.last_mut() {
            last.pop();
            last.push('…');
        }
    }
    lines
}

fn colour_rgb(c: Colour) -> (f32, f32, f32) {
    match c {
        Colour::White => (1.0, 1.0, 1.0),
        Colour::Blue => (0.68, 0.82, 0.96),
        Colour::Pink => (0.98, 0.78, 0.84),
        Colour::Yellow => (0.99, 0.95, 0.55),
        Colour::Green => (0.72, 0.90, 0.70),
        Colour::Goldenrod => (0.93, 0.79, 0.38),
        Colour::Buff => (0.94, 0.86, 0.70),
        Colour::Salmon => (0.98, 0.70, 0.60),
        Colour::Cherry => (0.86, 0.35, 0.42),
    }
}

fn rgb(r: f32, g: f32, b: f32) -> Color {
    Color::Rgb(Rgb {
        r,
        g,
        b,
        icc_profile: None,
    })
}

/// Something drawn on a page: a shape, or text in runs of one face each (fonts are only
/// known once every page is laid out, because each document embeds its own subsets).
enum Item {
    Ops(Vec<Op>),
    Text {
        x: f32,
        baseline: f32,
        size: f32,
        runs: Vec<(FaceId, String)>,
    },
}

/// Pages being laid out, top to bottom.
struct Layout {
    pages: Vec<Vec<Item>>,
    /// Distance from the top of the page, mm.
    y: f32,
    footer: String,
    /// Characters no font could draw.
    missing: usize,
}

impl Layout {
    fn new(footer: String) -> Self {
        Layout {
            pages: vec![Vec::new()],
            y: MARGIN,
            footer,
            missing: 0,
        }
    }

    fn items(&mut self) -> &mut Vec<Item> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN;
    }

    /// Starts a new page when `need` mm do not fit.
    fn ensure(&mut self, need: f32) {
        if self.y + need > BOTTOM && self.y > MARGIN {
            self.new_page();
        }
    }

    fn text_at(&mut self, x: f32, top: f32, size: f32, bold: bool, s: &str) {
        let f = fonts::fonts();
        let mut runs: Vec<(FaceId, String)> = Vec::new();
        for c in s.chars().map(printable) {
            let (face, c) = match f.face_for(c, bold) {
                Some(face) => (face, c),
                None => {
                    self.missing += 1;
                    (primary(bold), REPLACEMENT)
                }
            };
            match runs.last_mut() {
                Some((last, text)) if *last == face => text.push(c),
                _ => runs.push((face, c.to_string())),
            }
        }
        if runs.is_empty() {
            return;
        }
        // printpdf places the baseline; our y is the top of the line box.
        let baseline = PAGE_H - top - size * PT_MM * 0.85;
        self.items().push(Item::Text {
            x,
            baseline,
            size,
            runs,
        });
    }

    fn rule(&mut self, x: f32, w: f32, top: f32, thickness: f32, grey: f32) {
        let y = PAGE_H - top;
        self.items().push(Item::Ops(vec![
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::SetOutlineColor {
                col: rgb(grey, grey, grey),
            },
            Op::DrawLine {
                line: Line {
                    points: vec![
                        LinePoint {
                            p: Point::new(Mm(x), Mm(y)),
                            bezier: false,
                        },
                        LinePoint {
                            p: Point::new(Mm(x + w), Mm(y)),
                            bezier: false,
                        },
                    ],
                    is_closed: false,
                },
            },
        ]));
    }

    fn fill_rect(&mut self, x: f32, top: f32, w: f32, h: f32, col: (f32, f32, f32)) {
        self.items().push(Item::Ops(vec![
            Op::SetFillColor {
                col: rgb(col.0, col.1, col.2),
            },
            Op::DrawRectangle {
                rectangle: Rect {
                    x: Mm(x).into_pt(),
                    y: Mm(PAGE_H - top - h).into_pt(),
                    width: Mm(w).into_pt(),
                    height: Mm(h).into_pt(),
                    mode: Some(PaintMode::Fill),
                    winding_order: None,
                },
            },
            Op::SetFillColor {
                col: rgb(0.0, 0.0, 0.0),
            },
        ]));
    }

    /// A paragraph across `width` mm from `x`, wrapped.
    fn para(&mut self, x: f32, width: f32, size: f32, bold: bool, s: &str) {
        let lh = size * PT_MM * 1.25;
        for line in wrap(s, width, size, bold) {
            self.ensure(lh);
            let y = self.y;
            self.text_at(x, y, size, bold, &line);
            self.y += lh;
        }
    }

    fn heading(&mut self, s: &str) {
        // A heading never ends a page: keep room for it and a few lines after it.
        self.ensure(16.0);
        self.y += 1.6;
        let y = self.y;
        self.text_at(MARGIN, y, 8.5, true, &s.to_uppercase());
        self.y += 8.5 * PT_MM * 1.2;
        let y = self.y;
        self.rule(MARGIN, WIDTH, y, 0.6, 0.35);
        self.y += 0.8;
    }

    /// A table: `cols` are (header, width share); cells wrap within their column. With
    /// `ncols` > 1 the rows flow into that many side-by-side columns, balanced on the last
    /// page, each with its own header row.
    fn table(&mut self, cols: &[(&str, f32)], rows: &[Vec<String>], ncols: usize) {
        if rows.is_empty() {
            return;
        }
        let size = TABLE_PT;
        let lh = size * PT_MM * 1.2;
        let pad = 0.7;
        let gap = 4.0;
        let ncols = ncols.max(1);
        let colw = (WIDTH - gap * (ncols - 1) as f32) / ncols as f32;
        let total: f32 = cols.iter().map(|c| c.1).sum();
        let widths: Vec<f32> = cols.iter().map(|c| c.1 / total * colw).collect();
        let hdr = lh + pad;
        // A row never outgrows a page: its cells are cut to what one page holds.
        let max_lines = (((BOTTOM - MARGIN - hdr - pad) / lh).floor() as usize).max(1);
        let cells: Vec<Vec<Vec<String>>> = rows
            .iter()
            .map(|row| {
                widths
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        let s = row.get(i).map(String::as_str).unwrap_or("");
                        clamp_lines(wrap(s, w - 1.2, size, false), max_lines)
                    })
                    .collect()
            })
            .collect();
        let heights: Vec<f32> = cells
            .iter()
            .map(|c| c.iter().map(Vec::len).max().unwrap_or(1) as f32 * lh + pad)
            .collect();

        let mut i = 0;
        while i < rows.len() {
            if self.y + hdr + heights[i] > BOTTOM {
                self.new_page();
            }
            let y0 = self.y;
            let avail = BOTTOM - y0 - hdr;
            let remaining: f32 = heights[i..].iter().sum();
            let tallest = heights[i..].iter().copied().fold(0.0, f32::max);
            let target = (remaining / ncols as f32 + tallest * 0.5).min(avail);
            let mut lowest = y0;
            for k in 0..ncols {
                if i >= rows.len() {
                    break;
                }
                let x0 = MARGIN + k as f32 * (colw + gap);
                let limit = if k + 1 == ncols { avail } else { target };
                self.fill_rect(x0, y0, colw, hdr, (0.88, 0.88, 0.88));
                let mut x = x0 + 0.4;
                for ((h, _), w) in cols.iter().zip(&widths) {
                    self.text_at(x, y0 + pad * 0.5, size, true, h);
                    x += w;
                }
                let mut used = 0.0;
                while i < rows.len() && (used == 0.0 || used + heights[i] <= limit) {
                    if used + heights[i] > avail {
                        break;
                    }
                    let top = y0 + hdr + used;
                    let mut x = x0 + 0.4;
                    for (lines, w) in cells[i].iter().zip(&widths) {
                        for (n, line) in lines.iter().enumerate() {
                            self.text_at(x, top + pad * 0.5 + n as f32 * lh, size, false, line);
                        }
                        x += w;
                    }
                    used += heights[i];
                    self.rule(x0, colw, y0 + hdr + used, 0.2, 0.7);
                    i += 1;
                }
                lowest = lowest.max(y0 + hdr + used);
            }
            self.y = lowest + 0.6;
            if i < rows.len() {
                self.new_page();
            }
        }
    }

    /// Footers, then the fonts (each face cut to the characters its pages use), then the
    /// pages as printpdf ops.
    fn finish(mut self, doc: &mut PdfDocument) -> Vec<PdfPage> {
        self.add_footers();
        self.into_pages(doc)
    }

    /// The footer of every page ("page i of n"), and the note when characters were missing.
    fn add_footers(&mut self) {
        let n = self.pages.len();
        let mut footer = std::mem::take(&mut self.footer);
        let missing_before = self.missing;
        for i in 0..n {
            let at = self.pages.len();
            let page = format!(" · page {} of {n}", i + 1);
            let room = WIDTH - width_mm(&page, 6.5, false);
            let line = clamp_lines(wrap(&footer, room, 6.5, false), 1).concat() + &page;
            // Draw on page i: lay it on a scratch page and move it over.
            self.pages.push(Vec::new());
            self.text_at(MARGIN, PAGE_H - MARGIN - 3.0, 6.5, false, &line);
            let scratch = self.pages.remove(at);
            self.pages[i].extend(scratch);
        }
        if missing_before > 0 {
            footer = format!(
                "{missing_before} character(s) could not be printed: no font on this relay has \
                 them (for Chinese, Japanese, Korean: install fonts-droid-fallback)"
            );
            footer = clamp_lines(wrap(&footer, WIDTH, 6.5, true), 1).concat();
            for i in 0..n {
                let at = self.pages.len();
                self.pages.push(Vec::new());
                self.text_at(MARGIN, PAGE_H - MARGIN - 0.5, 6.5, true, &footer);
                let scratch = self.pages.remove(at);
                self.pages[i].extend(scratch);
            }
        }
    }

    fn into_pages(self, doc: &mut PdfDocument) -> Vec<PdfPage> {
        let f = fonts::fonts();
        let mut usage = Usage::default();
        for item in self.pages.iter().flatten() {
            if let Item::Text { runs, .. } = item {
                for (face, text) in runs {
                    usage.add(*face, text);
                }
            }
        }
        for (face, chars) in &usage.0 {
            let parsed = match f.face(*face).subset(chars) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(
                        ?face,
                        "PDF font subsetting failed, embedding the whole face: {e}"
                    );
                    match f.face(*face).whole() {
                        Some(p) => p,
                        None => continue,
                    }
                }
            };
            doc.resources
                .fonts
                .map
                .insert(font_id(*face), PdfFont::new(parsed));
        }

        self.pages
            .into_iter()
            .map(|items| {
                let mut ops = Vec::new();
                for item in items {
                    match item {
                        Item::Ops(o) => ops.extend(o),
                        Item::Text {
                            x,
                            baseline,
                            size,
                            runs,
                        } => {
                            ops.push(Op::StartTextSection);
                            ops.push(Op::SetTextCursor {
                                pos: Point::new(Mm(x), Mm(baseline)),
                            });
                            for (face, text) in runs {
                                ops.push(Op::SetFont {
                                    font: PdfFontHandle::External(font_id(face)),
                                    size: Pt(size),
                                });
                                ops.push(Op::ShowText {
                                    items: vec![TextItem::Text(text)],
                                });
                            }
                            ops.push(Op::EndTextSection);
                        }
                    }
                }
                PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops)
            })
            .collect()
    }
}

/// Fixed resource names, so the same revision gives the same bytes.
fn font_id(face: FaceId) -> FontId {
    FontId(
        match face {
            FaceId::Regular => "F1",
            FaceId::Bold => "F2",
            FaceId::Fallback => "F3",
        }
        .to_owned(),
    )
}

fn t(v: Option<i64>) -> String {
    forms::fmt_minutes(v)
}

fn o(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// Renders one published revision; `notes` (what of it could not be read) print under its
/// header, so a printout never looks complete when it is not. Total: any revision gives a
/// valid PDF (text no font has prints as a replacement glyph, noted in the footer).
pub fn render(rev: &Revision, published_by: &str, notes: &[String], zone: &Zone) -> Vec<u8> {
    let h = &rev.sheet.header;
    let title = format!(
        "{} call sheet {} {}",
        h.production_title,
        h.date,
        super::pages::revision_label(rev)
    );
    let mut doc = PdfDocument::new(&title);
    // The document was made when the revision was published: the same date on every
    // printout of it, whenever it is printed.
    let published = pdf_date(rev.published_at);
    let info = &mut doc.metadata.info;
    info.creation_date = published;
    info.modification_date = published;
    info.metadata_date = published;
    info.author = published_by.to_owned();
    info.subject = format!("Call sheet for {} ({})", h.date, h.production_title);
    info.creator = "setlink dashboard".to_owned();
    info.producer = format!("setlink {}", env!("CARGO_PKG_VERSION"));
    info.identifier = info_id(rev);
    let pages = layout(rev, published_by, notes, zone).finish(&mut doc);
    let mut warnings = Vec::new();
    let mut bytes = doc
        .with_pages(pages)
        .save(&PdfSaveOptions::default(), &mut warnings);
    stable_file_id(&mut bytes, &info_id(rev));
    bytes
}

fn info_id(rev: &Revision) -> String {
    format!("{}-{}", rev.id, rev.number)
}

/// printpdf writes a random file identifier (the trailer's `/ID`, two 32-letter strings);
/// this overwrites it in place, same length, with one derived from the revision, so the
/// same revision always gives the same bytes. Leaves the file alone if the shape differs.
fn stable_file_id(pdf: &mut [u8], seed: &str) {
    use sha2::{Digest, Sha256};
    const KEY: &[u8] = b"/ID[(";
    let Some(at) = pdf.windows(KEY.len()).rposition(|w| w == KEY) else {
        return;
    };
    let start = at + KEY.len();
    let (Some(first), Some(second)) = (pdf.get(start..start + 32), pdf.get(start + 34..start + 66))
    else {
        return;
    };
    let letters = |b: &[u8]| b.iter().all(u8::is_ascii_uppercase);
    if !letters(first) || !letters(second) || pdf.get(start + 32..start + 34) != Some(b")(") {
        return;
    }
    let digest = Sha256::digest(seed.as_bytes());
    let id: Vec<u8> = digest
        .iter()
        .flat_map(|b| [b'A' + (b >> 4), b'A' + (b & 0x0f)])
        .take(32)
        .collect();
    pdf[start..start + 32].copy_from_slice(&id);
    pdf[start + 34..start + 66].copy_from_slice(&id);
}

/// `ms` since 1970 as a PDF date (whole seconds, UTC); a time outside what the PDF date can
/// say prints as 1970 rather than failing the sheet.
fn pdf_date(ms: i64) -> printpdf::OffsetDateTime {
    printpdf::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(
        printpdf::DateTime {
            date: printpdf::Date {
                year: 1970,
                month: 1,
                day: 1,
            },
            time: printpdf::Time {
                hour: 0,
                minute: 0,
                second: 0,
                millisecond: 0,
            },
            offset: printpdf::Offset {
                hours: 0,
                minutes: 0,
                seconds: 0,
                milliseconds: 0,
            },
        },
    )
}

/// Lays the revision out on as many pages as it needs.
fn layout(rev: &Revision, published_by: &str, notes: &[String], zone: &Zone) -> Layout {
    let s = &rev.sheet;
    let h = &s.header;
    let colour = super::pages::revision_label(rev);
    let mut l = Layout::new(format!("{} · {} · {}", h.production_title, h.date, colour));

    // The header: title and people on the left, the call box on the right, on a band in the
    // revision's colour so a printed sheet shows its revision at a glance.
    let top = l.y;
    let left_w = 120.0;
    let x = MARGIN + 2.0;
    let mut people = Vec::new();
    if let Some(d) = &h.director {
        people.push(format!("Director: {d}"));
    }
    if !h.producers.is_empty() {
        people.push(format!("Producers: {}", h.producers.join(", ")));
    }
    if let Some(u) = &h.upm {
        people.push(format!("UPM: {u}"));
    }
    if !h.ads.is_empty() {
        people.push(format!("ADs: {}", h.ads.join(", ")));
    }
    if let Some(p) = &h.production_office_phone {
        people.push(format!("Production office: {p}"));
    }
    let title_lines = clamp_lines(wrap(&h.production_title, left_w, 14.0, true), 2);
    let people_lines = clamp_lines(wrap(&people.join(" · "), left_w, 7.5, false), 6);
    let mut sub = format!("CALL SHEET · {}", h.date);
    if let Some(n) = h.call_sheet_number {
        sub = format!("CALL SHEET #{n} · {}", h.date);
    }
    if let Some(d) = h.day_number {
        sub.push_str(&format!(" · Day {d}"));
        if let Some(tot) = h.total_days {
            sub.push_str(&format!(" of {tot}"));
        }
    }
    let mut right = vec![format!("Shooting call {}", t(s.times.shooting_call))];
    for m in &s.times.meals {
        right.push(format!("{} {}", m.label, t(Some(m.at))));
    }
    right.push(format!("Estimated wrap {}", t(s.times.estimated_wrap)));
    right.push(colour.clone());
    let right_w = WIDTH - left_w - 8.0;
    let right: Vec<String> = right
        .iter()
        .flat_map(|r| clamp_lines(wrap(r, right_w, 8.0, false), 2))
        .take(12)
        .collect();
    let left_h = title_lines.len() as f32 * 6.0 + 5.0 + people_lines.len() as f32 * 3.3;
    let right_h = 6.5 + right.len() as f32 * 3.5;
    let band = left_h.max(right_h) + 3.0;
    l.fill_rect(MARGIN, top - 1.5, WIDTH, band, colour_rgb(rev.colour));
    let mut y = top;
    for line in &title_lines {
        l.text_at(x, y, 14.0, true, line);
        y += 6.0;
    }
    l.text_at(x, y, 9.0, false, &sub);
    y += 5.0;
    for line in &people_lines {
        l.text_at(x, y, 7.5, false, line);
        y += 3.3;
    }
    let rx = MARGIN + left_w + 6.0;
    l.text_at(
        rx,
        top,
        13.0,
        true,
        &format!("CREW CALL {}", t(s.times.general_call)),
    );
    let mut yy = top + 6.5;
    for line in &right {
        l.text_at(rx, yy, 8.0, false, line);
        yy += 3.5;
    }
    l.y = top - 1.5 + band + 1.5;
    l.para(
        MARGIN,
        WIDTH,
        7.0,
        false,
        &format!(
            "{colour} published {} by {published_by}{}",
            zone.clock(rev.published_at),
            if rev.summary.is_empty() {
                String::new()
            } else {
                format!(" · Changes: {}", rev.summary)
            }
        ),
    );
    for n in notes {
        l.para(MARGIN, WIDTH, 7.5, true, &format!("Not shown: {n}"));
    }

    // Weather, locations and the hospital: short lines under one heading.
    let w = &s.weather;
    let unit = match w.unit {
        setlink_core::model::callsheet::TempUnit::Fahrenheit => "°F",
        setlink_core::model::callsheet::TempUnit::Celsius => "°C",
    };
    let mut wx = Vec::new();
    if let Some(hi) = w.high {
        wx.push(format!("High {hi}{unit}"));
    }
    if let Some(lo) = w.low {
        wx.push(format!("Low {lo}{unit}"));
    }
    if let Some(c) = &w.conditions {
        wx.push(c.clone());
    }
    if let Some(r) = w.rain_chance_percent {
        wx.push(format!("Rain {r}%"));
    }
    if w.sunrise.is_some() || w.sunset.is_some() {
        wx.push(format!("Sunrise {} · Sunset {}", t(w.sunrise), t(w.sunset)));
    }
    if let Some(c) = &w.weather_cover_set {
        wx.push(format!("Weather cover: {c}"));
    }
    if !wx.is_empty() || !s.locations.is_empty() || s.nearest_hospital.is_some() {
        l.heading("Weather & locations");
    }
    if !wx.is_empty() {
        l.para(MARGIN, WIDTH, PARA_PT, false, &wx.join(" · "));
    }
    for loc in &s.locations {
        let mut parts = vec![format!("{} — {}", loc.name, loc.address)];
        if let Some(p) = &loc.parking {
            parts.push(format!("Parking: {p}"));
        }
        if let Some(b) = &loc.basecamp {
            parts.push(format!("Basecamp: {b}"));
        }
        if let Some(n) = &loc.notes {
            parts.push(n.clone());
        }
        l.para(MARGIN, WIDTH, PARA_PT, false, &parts.join(" · "));
    }
    if let Some(hh) = &s.nearest_hospital {
        l.para(
            MARGIN,
            WIDTH,
            PARA_PT,
            true,
            &format!(
                "Nearest hospital: {}, {}, {}",
                hh.name, hh.address, hh.phone
            ),
        );
    }

    if !s.scenes.is_empty() {
        let total: i64 = s.scenes.iter().map(|x| x.pages_eighths).sum();
        l.heading(&format!("Scenes · {} pages", forms::fmt_eighths(total)));
        let rows: Vec<Vec<String>> = s
            .scenes
            .iter()
            .map(|x| {
                vec![
                    x.number.clone(),
                    callsheet_text::int_ext(x.int_ext).to_owned(),
                    x.set.clone(),
                    callsheet_text::day_night(x.day_night).to_owned(),
                    x.description.clone(),
                    x.cast_numbers.join(", "),
                    forms::fmt_eighths(x.pages_eighths),
                    o(&x.location),
                ]
            })
            .collect();
        l.table(
            &[
                ("Sc", 0.8),
                ("I/E", 1.0),
                ("Set", 3.6),
                ("D/N", 0.8),
                ("Description", 8.0),
                ("Cast", 1.1),
                ("Pgs", 0.9),
                ("Location", 2.4),
            ],
            &rows,
            1,
        );
    }

    if !s.cast.is_empty() {
        l.heading("Cast");
        let rows: Vec<Vec<String>> = s
            .cast
            .iter()
            .map(|c| {
                vec![
                    c.number.clone(),
                    c.character.clone(),
                    c.actor.clone(),
                    o(&c.status),
                    t(c.pickup),
                    t(c.hair_makeup),
                    t(c.on_set),
                    o(&c.notes),
                ]
            })
            .collect();
        l.table(
            &[
                ("#", 0.6),
                ("Character", 2.6),
                ("Actor", 2.8),
                ("Status", 1.0),
                ("Pickup", 1.1),
                ("H/MU", 1.1),
                ("On set", 1.1),
                ("Notes", 4.5),
            ],
            &rows,
            1,
        );
    }

    if !s.background.is_empty() {
        l.heading("Background");
        let rows: Vec<Vec<String>> = s
            .background
            .iter()
            .map(|b| {
                vec![
                    b.count.to_string(),
                    b.description.clone(),
                    t(b.report_time),
                    o(&b.report_place),
                    o(&b.notes),
                ]
            })
            .collect();
        l.table(
            &[
                ("Count", 0.8),
                ("Description", 4.0),
                ("Report", 1.1),
                ("Where", 2.5),
                ("Notes", 4.0),
            ],
            &rows,
            1,
        );
    }

    if !s.crew_calls.is_empty() {
        l.heading("Crew calls");
        let rows: Vec<Vec<String>> = s
            .crew_calls
            .iter()
            .map(|c| {
                let call = t(s.resolve(&c.call));
                let call = match c.call {
                    CallSpec::Offset(_) => format!("{call} ({})", forms::fmt_call_spec(&c.call)),
                    CallSpec::At(_) => call,
                };
                vec![c.department.clone(), o(&c.position), o(&c.name), call]
            })
            .collect();
        // Two columns side by side: a 90-person crew takes half the height.
        l.table(
            &[
                ("Department", 2.1),
                ("Position", 2.5),
                ("Name", 3.2),
                ("Call", 1.8),
            ],
            &rows,
            2,
        );
    }

    if !s.department_notes.is_empty() {
        l.heading("Department notes");
        for d in &s.department_notes {
            l.para(
                MARGIN,
                WIDTH,
                PARA_PT,
                false,
                &format!("{}: {}", d.department, d.note),
            );
        }
    }
    if !s.advance_schedule.is_empty() {
        l.heading("Advance schedule");
        for a in &s.advance_schedule {
            let scenes = if a.scenes.is_empty() {
                String::new()
            } else {
                format!(" (sc {})", a.scenes.join(", "))
            };
            l.para(
                MARGIN,
                WIDTH,
                PARA_PT,
                false,
                &format!("{} {}{scenes}", a.date, a.summary),
            );
        }
    }
    if !s.walkie_channels.is_empty() {
        l.heading("Walkie channels");
        let text = s
            .walkie_channels
            .iter()
            .map(|w| format!("Ch {} {}", w.channel, w.name))
            .collect::<Vec<_>>()
            .join(" · ");
        l.para(MARGIN, WIDTH, PARA_PT, false, &text);
    }
    if !s.safety_notes.is_empty() {
        l.heading("Safety");
        for n in &s.safety_notes {
            l.para(MARGIN, WIDTH, PARA_PT, false, n);
        }
    }

    l
}

#[cfg(test)]
mod tests;
