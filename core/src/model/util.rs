//! Small shared helpers: value checks, typed reads of Automerge scalars, and the lenient
//! hydrators every model struct uses for its text fields.

use std::cell::RefCell;
use std::collections::HashMap;

use automerge::{ObjId, ObjType, ReadDoc, Value};
use autosurgeon::{Hydrate, HydrateError, Prop};

use super::{DomainError, Unreadable};

/// Longest single-line text we accept (titles, names, labels), in characters.
pub(crate) const MAX_SHORT: usize = 200;
/// Longest free text (notes, comments, descriptions), in characters.
pub(crate) const MAX_LONG: usize = 5_000;
/// Largest amount of money in one field: one million in cents. Anything above is a typo.
pub(crate) const MAX_CENTS: i64 = 100_000_000;
/// 2000-01-01 and 2200-01-01 in ms: device clocks outside this range are broken.
const MIN_TIME_MS: i64 = 946_684_800_000;
const MAX_TIME_MS: i64 = 7_258_118_400_000;

pub(crate) fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), DomainError> {
    let n = s.chars().count();
    if n > max {
        return Err(DomainError::OutOfRange {
            field,
            reason: format!("{n} characters is longer than the {max} allowed"),
        });
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(DomainError::InvalidValue {
            field,
            reason: "contains control characters".into(),
        });
    }
    Ok(())
}

/// A required single-line text: not blank, not too long.
pub(crate) fn check_required(field: &'static str, s: &str) -> Result<(), DomainError> {
    if s.trim().is_empty() {
        return Err(DomainError::InvalidValue {
            field,
            reason: "must not be empty".into(),
        });
    }
    check_len(field, s, MAX_SHORT)
}

pub(crate) fn check_opt(
    field: &'static str,
    s: &Option<String>,
    max: usize,
) -> Result<(), DomainError> {
    match s {
        Some(s) => check_len(field, s, max),
        None => Ok(()),
    }
}

pub(crate) fn check_cents(field: &'static str, cents: i64) -> Result<(), DomainError> {
    if cents < 0 {
        return Err(DomainError::OutOfRange {
            field,
            reason: format!("{cents} cents is negative"),
        });
    }
    if cents > MAX_CENTS {
        return Err(DomainError::OutOfRange {
            field,
            reason: format!("{cents} cents is more than the 1,000,000.00 allowed"),
        });
    }
    Ok(())
}

pub(crate) fn check_time(field: &'static str, ms: i64) -> Result<(), DomainError> {
    if !(MIN_TIME_MS..=MAX_TIME_MS).contains(&ms) {
        return Err(DomainError::OutOfRange {
            field,
            reason: format!(
                "{ms} ms since 1970 is not between the years 2000 and 2200; check the device clock"
            ),
        });
    }
    Ok(())
}

/// Checks an ISO date `YYYY-MM-DD` (shoot days, call sheet days).
pub(crate) fn check_day(field: &'static str, day: &str) -> Result<(), DomainError> {
    let bad = || DomainError::InvalidValue {
        field,
        reason: format!("`{day}` is not a date written YYYY-MM-DD"),
    };
    let parts: Vec<&str> = day.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return Err(bad());
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1..=days_in_month).contains(&d) || !(2000..2200).contains(&y) {
        return Err(bad());
    }
    Ok(())
}

/// The map object at `obj[key]`, if there is one.
pub(crate) fn get_map<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<ObjId> {
    get_obj(doc, obj, key, ObjType::Map)
}

pub(crate) fn get_list<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<ObjId> {
    get_obj(doc, obj, key, ObjType::List)
}

fn get_obj<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str, ty: ObjType) -> Option<ObjId> {
    match doc.get(obj, key) {
        Ok(Some((Value::Object(t), id))) if t == ty => Some(id),
        _ => None,
    }
}

/// Like [`get_map`] but a missing object is corruption: used for the containers every
/// record of a kind is created with.
pub(crate) fn require_map<R: ReadDoc>(
    doc: &R,
    obj: &ObjId,
    key: &str,
    what: &str,
) -> Result<ObjId, DomainError> {
    get_map(doc, obj, key).ok_or_else(|| DomainError::Corrupt(format!("{what} has no `{key}` map")))
}

pub(crate) fn require_list<R: ReadDoc>(
    doc: &R,
    obj: &ObjId,
    key: &str,
    what: &str,
) -> Result<ObjId, DomainError> {
    get_list(doc, obj, key)
        .ok_or_else(|| DomainError::Corrupt(format!("{what} has no `{key}` list")))
}

/// A scalar string only. The production index is read with this (the relay's registry and
/// every device must agree on it, so its format stays exactly what setlink writes).
pub(crate) fn get_str<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key) {
        Ok(Some((v, _))) => v.as_str().map(str::to_owned),
        _ => None,
    }
}

/// A scalar string or a Text object's content: what a JavaScript automerge client writes
/// for `doc.key = "…"` is a Text object.
pub(crate) fn get_text<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<String> {
    match doc.get(obj, key) {
        Ok(Some((Value::Object(ObjType::Text), id))) => doc.text(&id).ok(),
        Ok(Some((v, _))) => v.as_str().map(str::to_owned),
        _ => None,
    }
}

pub(crate) fn get_i64<R: ReadDoc>(doc: &R, obj: &ObjId, key: &str) -> Option<i64> {
    match doc.get(obj, key) {
        Ok(Some((v, _))) => v.as_i64(),
        _ => None,
    }
}

/// Sorts board records by deadline (unset last), then creation time, then id: a total
/// order on fields every replica has, so every device lists the board the same way.
pub(crate) fn sort_by_deadline<T>(
    items: &mut [T],
    key: impl for<'a> Fn(&'a T) -> (Option<i64>, i64, &'a str),
) {
    items.sort_by(|a, b| {
        let (deadline_a, created_a, id_a) = key(a);
        let (deadline_b, created_b, id_b) = key(b);
        (deadline_a.unwrap_or(i64::MAX), created_a, id_a).cmp(&(
            deadline_b.unwrap_or(i64::MAX),
            created_b,
            id_b,
        ))
    });
}

/// Index of the list element (a map) whose `id` is `id`.
pub(crate) fn find_by_id<R: ReadDoc>(doc: &R, list: &ObjId, id: &str) -> Option<(usize, ObjId)> {
    let len = doc.length(list);
    (0..len).find_map(|i| match doc.get(list, i) {
        Ok(Some((Value::Object(ObjType::Map), obj)))
            if get_text(doc, &obj, "id").as_deref() == Some(id) =>
        {
            Some((i, obj))
        }
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------
// Lenient hydration
//
// autosurgeon's `String: Hydrate` takes scalar strings only, but any automerge-repo
// JavaScript client stores `d.runs[id].title = "…"` as a Text object. Model structs read
// every text field (and every enum stored as its name) through these, as
// `#[autosurgeon(hydrate = "…")]` field attributes; writes stay scalar strings.

/// What `T::hydrate` does with the value at `obj[prop]`, except that a Text object is read
/// as the string it holds.
fn hydrate_value<D: autosurgeon::ReadDoc, T: Hydrate>(
    doc: &D,
    value: Option<(Value<'_>, ObjId)>,
) -> Result<T, HydrateError> {
    match value {
        None => T::hydrate_none(),
        Some((Value::Object(ObjType::Text), id)) => T::hydrate_string(&doc.text(&id)?),
        Some((Value::Object(ObjType::Map | ObjType::Table), id)) => T::hydrate_map(doc, &id),
        Some((Value::Object(ObjType::List), id)) => T::hydrate_seq(doc, &id),
        Some((Value::Scalar(v), _)) => T::hydrate_scalar(v),
    }
}

/// A string (or an enum stored as its name) written either as a scalar or as Text.
pub(crate) fn text<D: autosurgeon::ReadDoc, T: Hydrate>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<T, HydrateError> {
    hydrate_value(doc, doc.get(obj, &prop)?)
}

/// An optional string (or enum) written as a scalar, as Text, or as null. A missing key is
/// `None` too: a JavaScript client leaves out what it has no value for.
pub(crate) fn opt_text<D: autosurgeon::ReadDoc, T: Hydrate>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<Option<T>, HydrateError> {
    match doc.get(obj, &prop)? {
        None => Ok(None),
        Some((Value::Scalar(v), _)) if v.is_null() => Ok(None),
        value => hydrate_value(doc, value).map(Some),
    }
}

/// A list of strings, each a scalar or Text.
pub(crate) fn text_list<D: autosurgeon::ReadDoc, T: Hydrate>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<Vec<T>, HydrateError> {
    match doc.get(obj, &prop)? {
        Some((Value::Object(ObjType::List), list)) => (0..doc.length(&list))
            .map(|i| text(doc, &list, i.into()))
            .collect(),
        value => hydrate_value(doc, value),
    }
}

/// Hydrates `T` at `obj[prop]`; when that fails, the error names the field at fault
/// relative to `obj[prop]` (`priority`, `stops[0].label`), found by hydrating again
/// through a document wrapper that remembers the last property read. The happy path costs
/// nothing extra.
pub(crate) fn hydrate_at<'p, D: autosurgeon::ReadDoc, T: Hydrate>(
    doc: &D,
    obj: &ObjId,
    prop: impl Into<Prop<'p>> + Clone,
) -> Result<T, DomainError> {
    match autosurgeon::hydrate_prop::<_, T, _, _>(doc, obj, prop.clone()) {
        Ok(v) => Ok(v),
        Err(e) => Err(DomainError::Corrupt(locate::<D, T>(
            doc,
            obj,
            prop.into(),
            e,
        ))),
    }
}

fn locate<D: autosurgeon::ReadDoc, T: Hydrate>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
    first: HydrateError,
) -> String {
    let traced = Traced {
        doc,
        top: obj.clone(),
        paths: RefCell::new(HashMap::new()),
        last: RefCell::new(String::new()),
    };
    match autosurgeon::hydrate_prop::<_, T, _, _>(&traced, obj, prop) {
        Err(e) => {
            let path = traced.last.into_inner();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("field `{path}`: {e}")
            }
        }
        Ok(_) => first.to_string(),
    }
}

/// A read-only view of a document that records the path of the last property read.
struct Traced<'a, D> {
    doc: &'a D,
    /// The object holding the record: properties read from it are the record itself.
    top: ObjId,
    /// Path of every object reached so far, relative to the record.
    paths: RefCell<HashMap<ObjId, String>>,
    last: RefCell<String>,
}

impl<D: autosurgeon::ReadDoc> autosurgeon::ReadDoc for Traced<'_, D> {
    type Parents<'b>
        = D::Parents<'b>
    where
        Self: 'b;

    fn get_heads(&self) -> Vec<automerge::ChangeHash> {
        self.doc.get_heads()
    }

    fn get<P: Into<automerge::Prop>>(
        &self,
        obj: &ObjId,
        prop: P,
    ) -> Result<Option<(Value<'_>, ObjId)>, automerge::AutomergeError> {
        let prop = prop.into();
        let path = if *obj == self.top {
            String::new()
        } else {
            let parent = self.paths.borrow().get(obj).cloned().unwrap_or_default();
            match &prop {
                automerge::Prop::Map(k) if parent.is_empty() => k.clone(),
                automerge::Prop::Map(k) => format!("{parent}.{k}"),
                automerge::Prop::Seq(i) => format!("{parent}[{i}]"),
            }
        };
        let out = self.doc.get(obj, prop)?;
        if let Some((Value::Object(_), id)) = &out {
            self.paths.borrow_mut().insert(id.clone(), path.clone());
        }
        *self.last.borrow_mut() = path;
        Ok(out)
    }

    fn object_type<O: AsRef<ObjId>>(&self, obj: O) -> Option<ObjType> {
        self.doc.object_type(obj)
    }

    fn map_range<'b, O, R>(&'b self, obj: O, range: R) -> automerge::iter::MapRange<'b>
    where
        R: std::ops::RangeBounds<String> + 'b,
        O: AsRef<ObjId>,
    {
        self.doc.map_range(obj, range)
    }

    fn list_range<O: AsRef<ObjId>, R: std::ops::RangeBounds<usize>>(
        &self,
        obj: O,
        range: R,
    ) -> automerge::iter::ListRange<'_> {
        self.doc.list_range(obj, range)
    }

    fn length<O: AsRef<ObjId>>(&self, obj: O) -> usize {
        self.doc.length(obj)
    }

    fn text<O: AsRef<ObjId>>(&self, obj: O) -> Result<String, automerge::AutomergeError> {
        self.doc.text(obj)
    }

    fn parents<O: AsRef<ObjId>>(
        &self,
        obj: O,
    ) -> Result<Self::Parents<'_>, automerge::AutomergeError> {
        self.doc.parents(obj)
    }

    fn is_empty(&self) -> bool {
        self.doc.is_empty()
    }
}

/// The list at `obj[key]`, each element hydrated on its own: the readable ones in order,
/// and an [`Unreadable`] (`what`, the element's `id` or its position, and why) for each of
/// the others. A missing list reads as empty; a value that is not a list is one unreadable
/// entry named after the list.
pub(crate) fn lenient_rows<T: Hydrate>(
    doc: &automerge::Automerge,
    obj: &ObjId,
    key: &str,
    what: &'static str,
    context: &str,
    unreadable: &mut Vec<Unreadable>,
) -> Vec<T> {
    let list = match doc.get(obj, key) {
        Ok(Some((Value::Object(ObjType::List), list))) => list,
        Ok(None) => return Vec::new(),
        Ok(Some(_)) | Err(_) => {
            unreadable.push(Unreadable {
                id: key.to_owned(),
                what,
                why: format!("{context}`{key}` is not a list"),
            });
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(doc.length(&list));
    for i in 0..doc.length(&list) {
        match hydrate_at::<_, T>(doc, &list, i) {
            Ok(v) => out.push(v),
            Err(e) => {
                let id = doc
                    .get(&list, i)
                    .ok()
                    .flatten()
                    .and_then(|(_, row)| get_text(doc, &row, "id"))
                    .unwrap_or_else(|| format!("{key}[{i}]"));
                unreadable.push(Unreadable {
                    id,
                    what,
                    why: format!("{context}{}", why(&e)),
                });
            }
        }
    }
    out
}

/// The reason to show for a record that could not be read: a [`DomainError::Corrupt`]'s
/// own words (which name the field), any other error in full.
pub(crate) fn why(e: &DomainError) -> String {
    match e {
        DomainError::Corrupt(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_must_be_real_calendar_dates() {
        for ok in ["2026-11-24", "2028-02-29", "2000-01-01"] {
            assert!(check_day("d", ok).is_ok(), "{ok}");
        }
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-04-31",
            "26-11-24",
            "2026/11/24",
            "2026-1-05",
            "",
            "1999-12-31",
            "abcd-ef-gh",
        ] {
            assert!(
                matches!(check_day("d", bad), Err(DomainError::InvalidValue { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn text_limits_and_control_characters() {
        assert!(check_required("t", "ok").is_ok());
        assert!(matches!(
            check_required("t", " \n"),
            Err(DomainError::InvalidValue { .. })
        ));
        assert!(check_len("t", &"é".repeat(MAX_SHORT), MAX_SHORT).is_ok());
        assert!(matches!(
            check_len("t", &"é".repeat(MAX_SHORT + 1), MAX_SHORT),
            Err(DomainError::OutOfRange { .. })
        ));
        assert!(check_len("t", "line\nbreak\tand tab", MAX_SHORT).is_ok());
        assert!(matches!(
            check_len("t", "bell\u{7}", MAX_SHORT),
            Err(DomainError::InvalidValue { .. })
        ));
    }

    #[test]
    fn money_and_clock_ranges() {
        assert!(check_cents("c", 0).is_ok() && check_cents("c", MAX_CENTS).is_ok());
        assert!(check_cents("c", -1).is_err() && check_cents("c", MAX_CENTS + 1).is_err());
        assert!(check_time("t", MIN_TIME_MS).is_ok() && check_time("t", MAX_TIME_MS).is_ok());
        assert!(check_time("t", MIN_TIME_MS - 1).is_err() && check_time("t", i64::MAX).is_err());
    }
}
