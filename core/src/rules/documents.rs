//! Rules for call sheets, member documents and the production document.
//!
//! - Draft: `day` and `sheet` are created once; the sheet always reads as a valid call sheet.
//! - Published: `day` and `revisions` are created once; a revision never changes and is
//!   never deleted; a new revision is numbered one past the highest its writer saw (two
//!   coordinators publishing offline at once may both make that number) and names its writer.
//! - Member: `owner` is the member and never changes; an acknowledgement is set once and
//!   never changed or deleted; only known keys.
//! - Production: `members` and `documents` are created once; an index entry never changes
//!   and never names another production's document.

use automerge::{Automerge, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use autosurgeon::hydrate_prop;

use super::walk::{Op, Touched};
use super::{Refusal, Rule, RuleContext};
use crate::model::callsheet::{CallSheet, Revision};
use crate::model::production::{parse_index_entry, MemberInfo, ProductionInfo};
use crate::model::util::{check_day, get_list};

fn created_once(touched: &Touched<'_>, e: &super::walk::Edit, key: &str) -> Result<(), Refusal> {
    if e.op == Op::Delete || touched.existed_before(&ROOT, key) {
        return Err(Refusal::new(
            Rule::Containers,
            key,
            format!("`{key}` is set when the document is created and never replaced"),
        ));
    }
    Ok(())
}

fn only_root_keys(touched: &Touched<'_>, allowed: &[&str], what: &str) -> Result<(), Refusal> {
    for e in &touched.edits {
        match e.key(0) {
            Some(k) if allowed.contains(&k) => {}
            _ => {
                return Err(Refusal::new(
                    Rule::Shape,
                    e.path_string(),
                    format!("a {what} holds only {}", allowed.join(", ")),
                ))
            }
        }
    }
    Ok(())
}

pub(super) fn check_draft(doc: &Automerge, touched: &Touched<'_>) -> Result<(), Refusal> {
    only_root_keys(touched, &["day", "sheet"], "call sheet draft")?;
    for e in touched.edits.iter().filter(|e| e.path.len() == 1) {
        let key = e.key(0).unwrap_or_default();
        created_once(touched, e, key)?;
    }
    if let Some(day) = crate::model::util::get_str(doc, &ROOT, "day") {
        check_day("call sheet day", &day)
            .map_err(|err| Refusal::new(Rule::Shape, "day", err.to_string()))?;
    }
    let sheet: CallSheet = hydrate_prop(doc, &ROOT, "sheet")
        .map_err(|err| Refusal::new(Rule::Shape, "sheet", err.to_string()))?;
    sheet
        .validate()
        .map_err(|err| Refusal::new(Rule::Shape, "sheet", err.to_string()))
}

pub(super) fn check_published(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    only_root_keys(touched, &["day", "revisions"], "published call sheet")?;
    let mut inserted = false;
    for e in &touched.edits {
        let key = e.key(0).unwrap_or_default();
        if e.path.len() == 1 {
            created_once(touched, e, key)?;
            continue;
        }
        if key != "revisions" {
            continue;
        }
        if e.path.len() == 2 && e.op == Op::Insert {
            inserted = true;
            continue;
        }
        if !e.in_new_object || e.op == Op::Delete || e.path.len() == 2 {
            return Err(Refusal::new(
                Rule::PublishedRevision,
                e.path_string(),
                "a published revision never changes; publish a new revision instead",
            ));
        }
    }
    if !inserted {
        return Ok(());
    }
    let list = get_list(doc, &ROOT, "revisions")
        .ok_or_else(|| Refusal::new(Rule::Containers, "revisions", "`revisions` is a list"))?;
    let revisions: Vec<Revision> = hydrate_prop(doc, &ROOT, "revisions")
        .map_err(|err| Refusal::new(Rule::Shape, "revisions", err.to_string()))?;
    // Which revisions are new: the elements of the list that are objects these changes made.
    let new_objs: std::collections::HashSet<automerge::ObjId> = touched
        .edits
        .iter()
        .flat_map(|e| e.inserted.iter().cloned())
        .collect();
    let is_new: Vec<bool> = doc
        .list_range(&list, ..)
        .map(|item| new_objs.contains(&item.id()))
        .collect();
    let old_max = revisions
        .iter()
        .zip(&is_new)
        .filter(|(_, new)| !**new)
        .map(|(r, _)| r.number)
        .max()
        .unwrap_or(0);
    let new_count = is_new.iter().filter(|n| **n).count() as i64;
    for (i, (r, _)) in revisions
        .iter()
        .zip(&is_new)
        .enumerate()
        .filter(|(_, (_, n))| **n)
    {
        let path = format!("revisions/{i}");
        r.sheet
            .validate()
            .map_err(|err| Refusal::new(Rule::Shape, path.clone(), err.to_string()))?;
        if r.number < old_max || r.number > old_max.saturating_add(new_count) || r.number < 1 {
            return Err(Refusal::new(
                Rule::PublishedRevision,
                path,
                format!(
                    "revision {} cannot follow revision {old_max}: numbers only grow, one at a time",
                    r.number
                ),
            ));
        }
        if let Some(w) = ctx.writer {
            if r.published_by != w.member_id {
                return Err(Refusal::new(
                    Rule::Authorship,
                    path,
                    format!(
                        "the revision names {} as its publisher, but it was written by {}",
                        r.published_by, w.member_id
                    ),
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn check_member(
    ctx: &RuleContext<'_>,
    owner: &str,
    doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    if let Some(w) = ctx.writer {
        if w.member_id != owner {
            return Err(Refusal::new(
                Rule::Authorship,
                "the document root",
                format!("only {owner} writes their member document"),
            ));
        }
    }
    for e in &touched.edits {
        let key = e.key(0).unwrap_or_default();
        if e.path.len() != 1 {
            return Err(Refusal::new(
                Rule::Shape,
                e.path_string(),
                "a member document holds flat values only",
            ));
        }
        let value = doc.get(ROOT, key).ok().flatten().map(|(v, _)| v);
        let path = key.to_owned();
        if key == "owner" {
            created_once(touched, e, key)?;
            if !matches!(&value, Some(Value::Scalar(s)) if scalar_str(s) == Some(owner)) {
                return Err(Refusal::new(
                    Rule::Authorship,
                    path,
                    format!("the owner of this member document is {owner}"),
                ));
            }
        } else if let Some(rest) = key.strip_prefix("ack/") {
            if e.op == Op::Delete || touched.existed_before(&ROOT, key) {
                return Err(Refusal::new(
                    Rule::AppendOnly,
                    path,
                    "an acknowledgement is recorded once and never changed",
                ));
            }
            let parts: Vec<&str> = rest.split('/').collect();
            let well_formed = matches!(parts.as_slice(), [day, rev, level]
                if check_day("day", day).is_ok()
                    && rev.parse::<i64>().is_ok_and(|n| n >= 1)
                    && matches!(*level, "received" | "opened" | "confirmed"));
            let is_time = matches!(&value, Some(Value::Scalar(s)) if matches!(s.as_ref(), ScalarValue::Int(_) | ScalarValue::Uint(_) | ScalarValue::Timestamp(_)));
            if !well_formed || !is_time {
                return Err(Refusal::new(
                    Rule::Shape,
                    path,
                    "an acknowledgement is `ack/<day>/<revision>/<received|opened|confirmed>` = a time",
                ));
            }
        } else if let Some(day) = key
            .strip_prefix("availability/")
            .or_else(|| key.strip_prefix("availability_note/"))
        {
            let ok_day = check_day("day", day).is_ok();
            let ok_value = e.op == Op::Delete
                || matches!(&value, Some(Value::Scalar(s)) if scalar_str(s).is_some_and(|v| v.len() <= 2_000))
                || matches!(&value, Some(Value::Object(ObjType::Text)));
            if !ok_day || !ok_value {
                return Err(Refusal::new(
                    Rule::Shape,
                    path,
                    "availability is a short text per day",
                ));
            }
        } else {
            return Err(Refusal::new(
                Rule::Shape,
                path,
                "a member document holds only owner, acknowledgements and availability",
            ));
        }
    }
    Ok(())
}

fn scalar_str(s: &ScalarValue) -> Option<&str> {
    match s {
        ScalarValue::Str(v) => Some(v.as_str()),
        _ => None,
    }
}

pub(super) fn check_production(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    let mut info_touched = false;
    let mut members_touched: std::collections::BTreeSet<String> = Default::default();
    for e in &touched.edits {
        let key = e.key(0).unwrap_or_default();
        if e.path.len() == 1 && matches!(key, "members" | "documents") {
            created_once(touched, e, key)?;
            continue;
        }
        match key {
            "production" => info_touched = true,
            "members" => {
                if let Some(m) = e.key(1) {
                    members_touched.insert(m.to_owned());
                }
            }
            _ => {}
        }
        if key != "documents" || e.path.len() < 2 {
            continue;
        }
        let entry = e.key(1).unwrap_or_default();
        if e.path.len() > 2 && !e.in_new_object {
            return Err(Refusal::new(
                Rule::Index,
                e.path_string(),
                "an index entry never changes once made",
            ));
        }
        if e.path.len() == 2 && (e.op == Op::Delete || touched.existed_before(&e.obj, entry)) {
            return Err(Refusal::new(
                Rule::Index,
                e.path_string(),
                "an index entry is never replaced or removed",
            ));
        }
        if e.path.len() == 2 {
            if (ctx.foreign_document)(entry) {
                return Err(Refusal::new(
                    Rule::Index,
                    e.path_string(),
                    "the index may only name this production's own documents",
                ));
            }
            let entry_obj = crate::model::util::get_map(doc, &e.obj, entry).ok_or_else(|| {
                Refusal::new(Rule::Shape, e.path_string(), "an index entry is a map")
            })?;
            parse_index_entry(doc, entry, &entry_obj)
                .map_err(|why| Refusal::new(Rule::Shape, e.path_string(), why))?;
        }
    }
    if info_touched {
        let info = hydrate_prop::<_, ProductionInfo, _, _>(doc, &ROOT, "production")
            .map_err(|err| Refusal::new(Rule::Shape, "production", err.to_string()))?;
        info.validate()
            .map_err(|err| Refusal::new(Rule::Shape, "production", err.to_string()))?;
    }
    if let (false, Some(members)) = (
        members_touched.is_empty(),
        crate::model::util::get_map(doc, &ROOT, "members"),
    ) {
        for m in &members_touched {
            // A removed member is gone; one that is there reads as a member.
            if doc.get(&members, m.as_str()).ok().flatten().is_some() {
                hydrate_prop::<_, MemberInfo, _, _>(doc, &members, m.as_str()).map_err(|err| {
                    Refusal::new(Rule::Shape, format!("members/{m}"), err.to_string())
                })?;
            }
        }
    }
    Ok(())
}
