//! A published call sheet as a PDF: US Letter, Helvetica (one of the PDF standard fonts,
//! so nothing is embedded and every viewer has it), one or two pages for a typical day.
//!
//! printpdf gives positioned text and shapes; the little layout here (columns, wrapping,
//! page breaks) estimates Helvetica's glyph widths, erring wide so text never overlaps.

use printpdf::{
    BuiltinFont, Color, Line, LinePoint, Mm, Op, PaintMode, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, Rect, Rgb, TextItem,
};
use setlink_core::model::callsheet::{CallSpec, Colour, Revision};

use super::forms;
use crate::zone::Zone;

const PAGE_W: f32 = 215.9;
const PAGE_H: f32 = 279.4;
const MARGIN: f32 = 12.0;
const PT_MM: f32 = 0.3528;

/// Width of `s` in mm at `size` pt, from Helvetica's metrics rounded up per class.
fn width_mm(s: &str, size: f32, bold: bool) -> f32 {
    let em: f32 = s
        .chars()
        .map(|c| match c {
            ' ' | 'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 0.28,
            'f' | 't' | 'r' | 'I' | '(' | ')' | '-' | '/' => 0.36,
            'm' | 'w' => 0.84,
            'M' | 'W' => 0.95,
            c if c.is_ascii_uppercase() => 0.70,
            c if c.is_ascii_digit() => 0.56,
            _ => 0.56,
        })
        .sum();
    em * size * PT_MM * if bold { 1.08 } else { 1.0 }
}

/// Splits `s` into lines no wider than `max_mm`; a word longer than a line is cut.
fn wrap(s: &str, max_mm: f32, size: f32, bold: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for para in s.lines() {
        let mut cur = String::new();
        for word in para.split_whitespace() {
            let candidate = if cur.is_empty() {
                word.to_owned()
            } else {
                format!("{cur} {word}")
            };
            if width_mm(&candidate, size, bold) <= max_mm {
                cur = candidate;
                continue;
            }
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
            }
            let mut piece = String::new();
            for ch in word.chars() {
                piece.push(ch);
                if width_mm(&piece, size, bold) > max_mm && piece.chars().count() > 1 {
                    piece.pop();
                    lines.push(std::mem::take(&mut piece));
                    piece.push(ch);
                }
            }
            cur = piece;
        }
        lines.push(cur);
    }
    if lines.is_empty() {
        lines.push(String::new());
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

/// Pages being laid out, top to bottom.
struct Layout {
    pages: Vec<Vec<Op>>,
    /// Distance from the top of the page, mm.
    y: f32,
    footer: String,
}

impl Layout {
    fn new(footer: String) -> Self {
        Layout {
            pages: vec![Vec::new()],
            y: MARGIN,
            footer,
        }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Starts a new page when `need` mm do not fit.
    fn ensure(&mut self, need: f32) {
        if self.y + need > PAGE_H - MARGIN - 6.0 {
            self.pages.push(Vec::new());
            self.y = MARGIN;
        }
    }

    fn text_at(&mut self, x: f32, top: f32, size: f32, bold: bool, s: &str) {
        let font = if bold {
            BuiltinFont::HelveticaBold
        } else {
            BuiltinFont::Helvetica
        };
        // printpdf places the baseline; our y is the top of the line box.
        let baseline = PAGE_H - top - size * PT_MM * 0.85;
        self.ops().extend([
            Op::StartTextSection,
            Op::SetTextCursor {
                pos: Point::new(Mm(x), Mm(baseline)),
            },
            Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(size),
            },
            Op::ShowText {
                items: vec![TextItem::Text(s.to_owned())],
            },
            Op::EndTextSection,
        ]);
    }

    fn rule(&mut self, top: f32, thickness: f32) {
        let y = PAGE_H - top;
        self.ops().extend([
            Op::SetOutlineThickness { pt: Pt(thickness) },
            Op::SetOutlineColor {
                col: rgb(0.55, 0.55, 0.55),
            },
            Op::DrawLine {
                line: Line {
                    points: vec![
                        LinePoint {
                            p: Point::new(Mm(MARGIN), Mm(y)),
                            bezier: false,
                        },
                        LinePoint {
                            p: Point::new(Mm(PAGE_W - MARGIN), Mm(y)),
                            bezier: false,
                        },
                    ],
                    is_closed: false,
                },
            },
        ]);
    }

    fn fill_rect(&mut self, x: f32, top: f32, w: f32, h: f32, col: (f32, f32, f32)) {
        self.ops().extend([
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
        ]);
    }

    /// A paragraph across `width` mm from `x`, wrapped.
    fn para(&mut self, x: f32, width: f32, size: f32, bold: bool, s: &str) {
        let lh = size * PT_MM * 1.3;
        for line in wrap(s, width, size, bold) {
            self.ensure(lh);
            let y = self.y;
            self.text_at(x, y, size, bold, &line);
            self.y += lh;
        }
    }

    fn heading(&mut self, s: &str) {
        self.ensure(12.0);
        self.y += 2.0;
        let y = self.y;
        self.text_at(MARGIN, y, 10.0, true, &s.to_uppercase());
        self.y += 10.0 * PT_MM * 1.25;
        let y = self.y;
        self.rule(y, 0.6);
        self.y += 1.2;
    }

    /// A table: `cols` are (header, width share); rows wrap within their column.
    fn table(&mut self, cols: &[(&str, f32)], rows: &[Vec<String>]) {
        let size = 8.0;
        let lh = size * PT_MM * 1.3;
        let total: f32 = cols.iter().map(|c| c.1).sum();
        let avail = PAGE_W - 2.0 * MARGIN;
        let widths: Vec<f32> = cols.iter().map(|c| c.1 / total * avail).collect();
        let header = |l: &mut Layout| {
            l.ensure(lh * 2.0);
            let mut x = MARGIN;
            let y = l.y;
            for ((h, _), w) in cols.iter().zip(&widths) {
                l.text_at(x, y, size, true, h);
                x += w;
            }
            l.y += lh;
        };
        header(self);
        for row in rows {
            let cells: Vec<Vec<String>> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    wrap(
                        row.get(i).map(String::as_str).unwrap_or(""),
                        w - 1.5,
                        size,
                        false,
                    )
                })
                .collect();
            let height = cells.iter().map(Vec::len).max().unwrap_or(1) as f32 * lh + 0.8;
            if self.y + height > PAGE_H - MARGIN - 6.0 {
                self.ensure(PAGE_H);
                header(self);
            }
            let top = self.y;
            let mut x = MARGIN;
            for (lines, w) in cells.iter().zip(&widths) {
                for (i, line) in lines.iter().enumerate() {
                    self.text_at(x, top + i as f32 * lh, size, false, line);
                }
                x += w;
            }
            self.y += height;
            let y = self.y - 0.4;
            self.rule(y, 0.2);
        }
    }

    fn finish(mut self) -> Vec<PdfPage> {
        let n = self.pages.len();
        let footer = std::mem::take(&mut self.footer);
        let pages = std::mem::take(&mut self.pages);
        pages
            .into_iter()
            .enumerate()
            .map(|(i, mut ops)| {
                let mut l = Layout {
                    pages: vec![Vec::new()],
                    y: 0.0,
                    footer: String::new(),
                };
                l.text_at(
                    MARGIN,
                    PAGE_H - MARGIN,
                    7.0,
                    false,
                    &format!("{footer} · page {} of {n}", i + 1),
                );
                ops.extend(l.pages.into_iter().flatten());
                PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops)
            })
            .collect()
    }
}

fn t(v: Option<i64>) -> String {
    forms::fmt_minutes(v)
}

fn o(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// Renders one published revision; `notes` (what of it could not be read) print under its
/// header, so a printout never looks complete when it is not.
pub fn render(rev: &Revision, published_by: &str, notes: &[String], zone: &Zone) -> Vec<u8> {
    let h = &rev.sheet.header;
    let title = format!(
        "{} call sheet {} {}",
        h.production_title,
        h.date,
        super::pages::revision_label(rev)
    );
    let mut warnings = Vec::new();
    PdfDocument::new(&title)
        .with_pages(pages(rev, published_by, notes, zone))
        .save(&PdfSaveOptions::default(), &mut warnings)
}

/// Lays the revision out on as many pages as it needs.
fn pages(rev: &Revision, published_by: &str, notes: &[String], zone: &Zone) -> Vec<PdfPage> {
    let s = &rev.sheet;
    let h = &s.header;
    let colour = super::pages::revision_label(rev);
    let mut l = Layout::new(format!("{} · {} · {}", h.production_title, h.date, colour));

    // Header band in the revision's colour, so a printed sheet shows its revision at a glance.
    l.fill_rect(
        MARGIN,
        MARGIN - 2.0,
        PAGE_W - 2.0 * MARGIN,
        30.0,
        colour_rgb(rev.colour),
    );
    let top = l.y;
    l.text_at(MARGIN + 2.0, top, 16.0, true, &h.production_title);
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
    l.text_at(MARGIN + 2.0, top + 7.5, 10.0, false, &sub);
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
    l.y = top + 12.5;
    l.para(MARGIN + 2.0, 110.0, 8.0, false, &people.join(" · "));
    if let Some(p) = &h.production_office_phone {
        l.para(
            MARGIN + 2.0,
            110.0,
            8.0,
            false,
            &format!("Production office: {p}"),
        );
    }
    // The call box on the right.
    let x = 132.0;
    l.text_at(
        x,
        top,
        14.0,
        true,
        &format!("CREW CALL {}", t(s.times.general_call)),
    );
    let mut yy = top + 7.0;
    let mut line = |l: &mut Layout, text: String| {
        l.text_at(x, yy, 8.5, false, &text);
        yy += 3.8;
    };
    line(
        &mut l,
        format!("Shooting call {}", t(s.times.shooting_call)),
    );
    for m in &s.times.meals {
        line(&mut l, format!("{} {}", m.label, t(Some(m.at))));
    }
    line(
        &mut l,
        format!("Estimated wrap {}", t(s.times.estimated_wrap)),
    );
    line(&mut l, colour.clone());
    l.y = l.y.max(yy).max(MARGIN + 30.0) + 2.0;
    let y = l.y;
    l.para(
        MARGIN,
        PAGE_W - 2.0 * MARGIN,
        7.5,
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
    let _ = y;
    for n in notes {
        l.para(
            MARGIN,
            PAGE_W - 2.0 * MARGIN,
            8.0,
            true,
            &format!("Not shown: {n}"),
        );
    }

    // Weather and locations.
    l.heading("Weather & locations");
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
    if !wx.is_empty() {
        l.para(MARGIN, PAGE_W - 2.0 * MARGIN, 8.5, false, &wx.join(" · "));
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
        l.para(
            MARGIN,
            PAGE_W - 2.0 * MARGIN,
            8.5,
            false,
            &parts.join(" · "),
        );
    }
    if let Some(hh) = &s.nearest_hospital {
        l.para(
            MARGIN,
            PAGE_W - 2.0 * MARGIN,
            8.5,
            true,
            &format!(
                "Nearest hospital: {}, {}, {}",
                hh.name, hh.address, hh.phone
            ),
        );
    }

    if !s.scenes.is_empty() {
        l.heading("Scenes");
        let rows: Vec<Vec<String>> = s
            .scenes
            .iter()
            .map(|x| {
                vec![
                    x.number.clone(),
                    forms::int_ext(x.int_ext).to_owned(),
                    x.set.clone(),
                    forms::day_night(x.day_night).to_owned(),
                    x.description.clone(),
                    x.cast_numbers.join(", "),
                    forms::fmt_eighths(x.pages_eighths),
                    o(&x.location),
                ]
            })
            .collect();
        l.table(
            &[
                ("Sc", 1.0),
                ("I/E", 1.2),
                ("Set", 3.0),
                ("D/N", 1.0),
                ("Description", 5.0),
                ("Cast", 1.6),
                ("Pgs", 1.2),
                ("Location", 2.6),
            ],
            &rows,
        );
        let total: i64 = s.scenes.iter().map(|x| x.pages_eighths).sum();
        l.para(
            MARGIN,
            100.0,
            8.0,
            true,
            &format!("Total pages: {}", forms::fmt_eighths(total)),
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
                ("#", 0.8),
                ("Character", 2.6),
                ("Actor", 2.8),
                ("Status", 1.2),
                ("Pickup", 1.3),
                ("H/MU", 1.3),
                ("On set", 1.3),
                ("Notes", 3.5),
            ],
            &rows,
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
                ("Count", 1.0),
                ("Description", 4.0),
                ("Report", 1.3),
                ("Where", 2.5),
                ("Notes", 3.5),
            ],
            &rows,
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
        l.table(
            &[
                ("Department", 3.0),
                ("Position", 3.0),
                ("Name", 3.0),
                ("Call", 2.0),
            ],
            &rows,
        );
    }

    let width = PAGE_W - 2.0 * MARGIN;
    if !s.department_notes.is_empty() {
        l.heading("Department notes");
        for d in &s.department_notes {
            l.para(
                MARGIN,
                width,
                8.5,
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
                width,
                8.5,
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
        l.para(MARGIN, width, 8.5, false, &text);
    }
    if !s.safety_notes.is_empty() {
        l.heading("Safety");
        for n in &s.safety_notes {
            l.para(MARGIN, width, 8.5, false, n);
        }
    }

    l.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use setlink_core::model::callsheet::{CallSheet, CrewCall, Scene};

    fn revision(scenes: usize) -> Revision {
        let mut sheet = CallSheet::for_day("2026-11-24", "Night Shift");
        sheet.times.general_call = Some(420);
        for i in 0..scenes {
            sheet.scenes.push(Scene {
                id: format!("s{i}"),
                number: format!("{}", 10 + i),
                set: "Warehouse office".into(),
                description: "Kai finds the missing tape and runs for the pier before the tide"
                    .into(),
                cast_numbers: vec!["1".into(), "2".into()],
                pages_eighths: 11,
                ..Default::default()
            });
        }
        for d in [
            "Camera",
            "Grip",
            "Electric",
            "Sound",
            "Art",
            "Props",
            "Wardrobe",
            "Hair",
            "Makeup",
            "Locations",
        ] {
            sheet.crew_calls.push(CrewCall {
                id: d.into(),
                department: d.into(),
                position: Some("Head".into()),
                name: Some("Someone".into()),
                member_id: None,
                call: CallSpec::Offset(-30),
            });
        }
        Revision {
            id: "r".into(),
            number: 2,
            colour: Colour::Blue,
            published_at: 0,
            published_by: "m".into(),
            summary: "General call moved".into(),
            sheet,
        }
    }

    #[test]
    fn a_typical_day_fits_one_or_two_pages_and_a_long_one_flows_on() {
        assert_eq!(pages(&revision(8), "Casey", &[], &Zone::utc()).len(), 1);
        let long = pages(&revision(60), "Casey", &[], &Zone::utc()).len();
        assert!(long >= 2, "60 scenes on {long} page(s)");
        let bytes = render(
            &revision(8),
            "Casey",
            &["1 scene could not be read".into()],
            &Zone::utc(),
        );
        assert!(bytes.starts_with(b"%PDF-"));
    }

    #[test]
    fn wrapping_respects_the_width() {
        let lines = wrap(
            "the quick brown fox jumps over the lazy dog",
            30.0,
            8.0,
            false,
        );
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(width_mm(l, 8.0, false) <= 30.0, "{l}");
        }
        assert_eq!(
            lines.join(" "),
            "the quick brown fox jumps over the lazy dog"
        );
        let long = wrap("Supercalifragilisticexpialidocious", 10.0, 8.0, false);
        assert!(long.len() > 1 && long.concat() == "Supercalifragilisticexpialidocious");
    }
}
