//! Rules for a day's production report (`model::report`).
//!
//! - `day`, `draft` and `revisions` are created once and never replaced or deleted; the
//!   root holds nothing else; `day` is a date.
//! - The draft always reads as a valid report for the document's day.
//! - A published revision never changes and is never deleted; a new one is numbered one
//!   past the highest its writer saw (two coordinators publishing offline at once may both
//!   make that number), names its writer as publisher, and holds a valid report for the
//!   document's day.

use std::collections::HashSet;

use automerge::{Automerge, ObjId, ReadDoc, ROOT};
use autosurgeon::hydrate_prop;

use super::walk::{Op, Touched};
use super::{Refusal, Rule, RuleContext};
use crate::model::report::{ReportContent, ReportRevision};
use crate::model::util::{check_day, check_time, get_list, get_text};

const ROOT_KEYS: [&str; 3] = ["day", "draft", "revisions"];

pub(super) fn check(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    let mut draft = false;
    let mut inserted = false;
    for e in &touched.edits {
        let key = match e.key(0) {
            Some(k) if ROOT_KEYS.contains(&k) => k,
            _ => {
                return Err(Refusal::new(
                    Rule::Shape,
                    e.path_string(),
                    "a production report holds only day, draft and revisions",
                ))
            }
        };
        if e.path.len() == 1 {
            if e.op == Op::Delete || touched.existed_before(&ROOT, key) {
                return Err(Refusal::new(
                    Rule::Containers,
                    key,
                    format!("`{key}` is set when the report is created and never replaced"),
                ));
            }
            draft |= key == "draft";
            continue;
        }
        match key {
            "draft" => draft = true,
            "revisions" if e.path.len() == 2 && e.op == Op::Insert && !e.inserted_scalar => {
                inserted = true
            }
            // Inside a revision these changes made (its fields being filled in).
            "revisions" if e.in_new_object && e.op != Op::Delete && e.path.len() > 2 => {}
            _ => {
                return Err(Refusal::new(
                    Rule::PublishedRevision,
                    e.path_string(),
                    "a published report revision never changes; publish a new revision instead",
                ))
            }
        }
    }
    let day = get_text(doc, &ROOT, "day")
        .ok_or_else(|| Refusal::new(Rule::Shape, "day", "a production report has a day"))?;
    check_day("report day", &day)
        .map_err(|err| Refusal::new(Rule::Shape, "day", err.to_string()))?;
    if draft {
        let content: ReportContent = hydrate_prop(doc, &ROOT, "draft")
            .map_err(|err| Refusal::new(Rule::Shape, "draft", err.to_string()))?;
        check_content(&content, &day, "draft")?;
    }
    if inserted {
        check_new_revisions(ctx, doc, touched, &day)?;
    }
    Ok(())
}

fn check_content(content: &ReportContent, day: &str, path: &str) -> Result<(), Refusal> {
    if content.day != day {
        return Err(Refusal::new(
            Rule::Shape,
            path,
            format!(
                "the report is for {}, but this is {day}'s report",
                content.day
            ),
        ));
    }
    content
        .validate()
        .map_err(|err| Refusal::new(Rule::Shape, path, err.to_string()))
}

fn check_new_revisions(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    touched: &Touched<'_>,
    day: &str,
) -> Result<(), Refusal> {
    let list = get_list(doc, &ROOT, "revisions")
        .ok_or_else(|| Refusal::new(Rule::Containers, "revisions", "`revisions` is a list"))?;
    let revisions: Vec<ReportRevision> = hydrate_prop(doc, &ROOT, "revisions")
        .map_err(|err| Refusal::new(Rule::Shape, "revisions", err.to_string()))?;
    // Which revisions are new: the elements of the list that are objects these changes made.
    let new_objs: HashSet<ObjId> = touched
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
    for (i, r) in revisions
        .iter()
        .zip(&is_new)
        .enumerate()
        .filter_map(|(i, (r, new))| new.then_some((i, r)))
    {
        let path = format!("revisions/{i}");
        check_content(&r.report, day, &path)?;
        check_time("published at", r.published_at)
            .map_err(|err| Refusal::new(Rule::Shape, path.clone(), err.to_string()))?;
        if r.number < old_max.max(1) || r.number > old_max.saturating_add(new_count) {
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
