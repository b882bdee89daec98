//! The call sheet PDF's fonts: which face draws each character, how wide it is, and the
//! per-document subsets that get embedded.
//!
//! - **DejaVu Sans Condensed**, regular and bold, is compiled into the binary
//!   (`server/assets/fonts/`, Bitstream Vera licence beside it): Latin, Latin Extended,
//!   Greek, Cyrillic and much more, always there, so `setlink serve` prints every name in
//!   those scripts on any machine.
//! - **A CJK fallback** is read from the system once, at the first PDF: the file named by
//!   `SETLINK_PDF_FALLBACK_FONT`, else the first of [`FALLBACK_PATHS`] that exists (Debian's
//!   `fonts-droid-fallback`, then WenQuanYi). Without one, a character no face has prints as
//!   the replacement glyph and the sheet says so in its footer; nothing fails.
//!
//! Each document embeds only the glyphs it uses: the faces are subset with `allsorts`
//! (glyph 0 first, a fresh Unicode cmap), and the subsets are what printpdf embeds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use allsorts::binary::read::ReadScope;
use allsorts::font_data::FontData;
use allsorts::subset::{CmapTarget, SubsetProfile};
use printpdf::ParsedFont;

static REGULAR_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSansCondensed.ttf");
static BOLD_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSansCondensed-Bold.ttf");

/// Where a CJK fallback font is looked for (TrueType outlines; index 0 of a collection).
pub const FALLBACK_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
];

/// The environment variable naming a fallback font file to use instead.
pub const FALLBACK_ENV: &str = "SETLINK_PDF_FALLBACK_FONT";

/// Which face draws a run of text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaceId {
    Regular,
    Bold,
    Fallback,
}

/// One font face: its bytes, the index in a collection, and its parsed cmap and metrics.
pub struct Face {
    bytes: Vec<u8>,
    index: usize,
    parsed: ParsedFont,
}

impl Face {
    fn load(bytes: Vec<u8>, index: usize) -> Option<Face> {
        let mut warnings = Vec::new();
        let parsed = ParsedFont::from_bytes(&bytes, index, &mut warnings)?;
        if parsed.codepoint_to_glyph.is_empty() || parsed.units_per_em == 0 {
            return None;
        }
        Some(Face {
            bytes,
            index,
            parsed,
        })
    }

    pub fn glyph(&self, c: char) -> Option<u16> {
        self.parsed.lookup_glyph_index(c as u32).filter(|g| *g != 0)
    }

    /// Advance of `c` in em (the `.notdef` advance when the face lacks it).
    pub fn advance_em(&self, c: char) -> f32 {
        let gid = self.glyph(c).unwrap_or(0);
        let w = self.parsed.get_glyph_width(gid).unwrap_or(0);
        f32::from(w) / f32::from(self.parsed.units_per_em)
    }

    /// The whole face, for when subsetting fails.
    pub fn whole(&self) -> Option<ParsedFont> {
        let mut warnings = Vec::new();
        ParsedFont::from_bytes(&self.bytes, self.index, &mut warnings)
    }

    /// This face cut down to the glyphs of `chars` (plus `.notdef`), ready to embed.
    pub fn subset(&self, chars: &BTreeSet<char>) -> Result<ParsedFont, String> {
        let gids: BTreeSet<u16> = chars.iter().filter_map(|c| self.glyph(*c)).collect();
        let ids: Vec<u16> = std::iter::once(0).chain(gids).collect();
        let file = ReadScope::new(&self.bytes)
            .read::<FontData<'_>>()
            .map_err(|e| e.to_string())?;
        let provider = file.table_provider(self.index).map_err(|e| e.to_string())?;
        let bytes =
            allsorts::subset::subset(&provider, &ids, &SubsetProfile::Pdf, CmapTarget::Unicode)
                .map_err(|e| e.to_string())?;
        let mut warnings = Vec::new();
        ParsedFont::from_bytes(&bytes, 0, &mut warnings)
            .ok_or_else(|| "the subset font does not parse".to_owned())
    }
}

/// The faces a call sheet prints with.
pub struct Fonts {
    pub regular: Face,
    pub bold: Face,
    pub fallback: Option<Face>,
}

impl Fonts {
    pub fn face(&self, id: FaceId) -> &Face {
        match id {
            FaceId::Regular => &self.regular,
            FaceId::Bold => &self.bold,
            FaceId::Fallback => self.fallback.as_ref().unwrap_or(&self.regular),
        }
    }

    /// The face that draws `c` in `bold` or regular type, or `None` when no face has it.
    pub fn face_for(&self, c: char, bold: bool) -> Option<FaceId> {
        let primary = if bold { FaceId::Bold } else { FaceId::Regular };
        if c == ' ' || self.face(primary).glyph(c).is_some() {
            return Some(primary);
        }
        match &self.fallback {
            Some(f) if f.glyph(c).is_some() => Some(FaceId::Fallback),
            _ => None,
        }
    }
}

/// The fonts, loaded at the first call.
pub fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| {
        let regular = Face::load(REGULAR_TTF.to_vec(), 0).expect("the bundled regular font");
        let bold = Face::load(BOLD_TTF.to_vec(), 0).expect("the bundled bold font");
        let (fallback, fallback_source) = load_fallback();
        match &fallback {
            Some(_) => tracing::info!(font = %fallback_source, "PDF fallback font"),
            None => tracing::warn!(
                "no CJK fallback font for PDFs ({fallback_source}): Chinese, Japanese and \
                 Korean text prints as a replacement glyph; install Debian's \
                 fonts-droid-fallback or set {FALLBACK_ENV}"
            ),
        }
        Fonts {
            regular,
            bold,
            fallback,
        }
    })
}

fn load_fallback() -> (Option<Face>, String) {
    let candidates: Vec<PathBuf> = match std::env::var_os(FALLBACK_ENV) {
        Some(p) if !p.is_empty() => vec![PathBuf::from(p)],
        _ => FALLBACK_PATHS.iter().map(PathBuf::from).collect(),
    };
    load_first(&candidates)
}

/// The first of `candidates` that is a usable font, or why none is.
fn load_first(candidates: &[PathBuf]) -> (Option<Face>, String) {
    let mut why = Vec::new();
    for path in candidates {
        match std::fs::read(path) {
            Ok(bytes) => match Face::load(bytes, 0) {
                Some(face) => return (Some(face), path.display().to_string()),
                None => why.push(format!("{} is not a usable font", path.display())),
            },
            Err(e) => why.push(format!("{}: {e}", path.display())),
        }
    }
    (None, why.join("; "))
}

/// Characters each face must carry in one document.
#[derive(Default)]
pub struct Usage(pub BTreeMap<FaceId, BTreeSet<char>>);

impl Usage {
    pub fn add(&mut self, face: FaceId, text: &str) {
        self.0.entry(face).or_default().extend(text.chars());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_broken_fallback_font_is_reported_not_fatal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let junk = dir.path().join("junk.ttf");
        std::fs::write(&junk, b"not a font at all").expect("write");
        let (face, why) = load_first(&[dir.path().join("absent.ttf"), junk]);
        assert!(face.is_none());
        assert!(why.contains("absent.ttf") && why.contains("junk.ttf is not a usable font"));
        // The bundled faces cover what the sheet promises without any system font.
        let f = fonts();
        for c in "Zoë Łukasiewicz Ђорђе Αλέξανδρος Đặng ß ø ñ °".chars() {
            assert!(
                f.face_for(c, false).is_some() && f.face_for(c, true).is_some(),
                "{c}"
            );
            if c != ' ' {
                assert_ne!(f.face_for(c, false), Some(FaceId::Fallback), "{c}");
            }
        }
        let subset = f.regular.subset(&"Zoë".chars().collect()).expect("subset");
        assert!(
            subset.original_bytes.len() < 20_000,
            "{}",
            subset.original_bytes.len()
        );
        assert!(subset.lookup_glyph_index('ë' as u32).is_some());
    }
}
