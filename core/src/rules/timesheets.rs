//! Rules for a member's timesheets document (layout in [`crate::model::timesheet`]).
//!
//! - `owner` and `days` are set once when the document is created; `owner` is the member
//!   the index names.
//! - A day is added once and never replaced or deleted; it holds only `submissions` and
//!   `reviews`, lists created with it.
//! - Submissions and reviews are append-only: never deleted, replaced or edited.
//! - A new submission reads as one `submit` could have written for its day; it names the
//!   owner as `submitted_by`, and on the relay it was written by the owner (a coordinator
//!   does not submit for someone else).
//! - A new review reads as one `review` could have written, names a submission of the same
//!   day, and on the relay was written by a coordinator whom it names as `by`.
//!
//! Which submission a review decides is not checked against what its author saw: a review
//! of a submission that a concurrent re-submission replaced is allowed, and the derived
//! status ignores it (it names a submission that is no longer current).

use std::collections::{BTreeMap, HashSet};

use automerge::{Automerge, ObjId, ReadDoc, Value, ROOT};
use autosurgeon::{hydrate_prop, Hydrate};

use super::walk::{Edit, Op, Touched};
use super::{Refusal, Rule, RuleContext};
use crate::model::timesheet::{self, Review, Submission};
use crate::model::util::{check_day, get_list, get_map, get_text};

/// What the changes added to one day.
#[derive(Default)]
struct DayTouch {
    submissions: HashSet<ObjId>,
    reviews: HashSet<ObjId>,
}

pub(super) fn check(
    ctx: &RuleContext<'_>,
    owner: &str,
    doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    let mut days: BTreeMap<String, DayTouch> = BTreeMap::new();
    for e in &touched.edits {
        let top = e.key(0).unwrap_or_default();
        if e.path.len() == 1 {
            check_root(touched, e, top, owner, doc)?;
            continue;
        }
        if top != "days" {
            return Err(shape(
                e,
                "a timesheets document holds only `owner` and `days`",
            ));
        }
        let Some(day) = e.key(1) else {
            return Err(shape(e, "days are keyed by their date"));
        };
        check_day("timesheet day", day).map_err(|err| shape(e, &err.to_string()))?;
        let touch = days.entry(day.to_owned()).or_default();
        if e.path.len() == 2 {
            if e.op == Op::Delete || touched.existed_before(&e.obj, day) {
                return Err(Refusal::new(
                    Rule::AppendOnly,
                    e.path_string(),
                    "a day's timesheets are never replaced or deleted",
                ));
            }
            // Only the owner starts a day (with their submission): a day made by anyone
            // else could hide the owner's own when both are merged.
            if let Some(w) = ctx.writer.filter(|w| w.member_id != owner) {
                return Err(Refusal::new(
                    Rule::Authorship,
                    e.path_string(),
                    format!(
                        "only {owner} starts a day of their timesheets, not {}",
                        w.member_id
                    ),
                ));
            }
            continue;
        }
        let list = e.key(2).unwrap_or_default();
        if !matches!(list, "submissions" | "reviews") {
            return Err(shape(
                e,
                "a timesheet day holds only `submissions` and `reviews`",
            ));
        }
        if e.path.len() == 3 {
            // The list itself: only made together with its (new) day.
            if e.op == Op::Delete || !e.in_new_object {
                return Err(Refusal::new(
                    Rule::AppendOnly,
                    e.path_string(),
                    format!("a day's `{list}` list is never replaced or deleted"),
                ));
            }
            continue;
        }
        check_element_edit(e, list)?;
        let set = if list == "submissions" {
            &mut touch.submissions
        } else {
            &mut touch.reviews
        };
        set.extend(e.inserted.iter().cloned());
    }
    if days.is_empty() {
        return Ok(());
    }
    let days_obj = get_map(doc, &ROOT, "days")
        .ok_or_else(|| Refusal::new(Rule::Containers, "days", "`days` is a map"))?;
    for (day, touch) in &days {
        check_day_additions(ctx, owner, doc, &days_obj, day, touch)?;
    }
    Ok(())
}

fn shape(e: &Edit, detail: &str) -> Refusal {
    Refusal::new(Rule::Shape, e.path_string(), detail)
}

/// `owner` and `days`: set once, the owner being the member the index names.
fn check_root(
    touched: &Touched<'_>,
    e: &Edit,
    key: &str,
    owner: &str,
    doc: &Automerge,
) -> Result<(), Refusal> {
    if !matches!(key, "owner" | "days") {
        return Err(shape(
            e,
            "a timesheets document holds only `owner` and `days`",
        ));
    }
    if e.op == Op::Delete || touched.existed_before(&ROOT, key) {
        return Err(Refusal::new(
            Rule::Containers,
            key,
            format!("`{key}` is set when the document is created and never replaced"),
        ));
    }
    match key {
        "owner" if timesheet::owner(doc).as_deref() != Some(owner) => Err(Refusal::new(
            Rule::Authorship,
            key,
            format!("the owner of these timesheets is {owner}"),
        )),
        "days" if get_map(doc, &ROOT, "days").is_none() => Err(shape(e, "`days` is a map")),
        _ => Ok(()),
    }
}

/// An edit inside a day's list: only inserts of new maps, and the fields of those maps.
fn check_element_edit(e: &Edit, list: &str) -> Result<(), Refusal> {
    let what = if list == "submissions" {
        "a submission"
    } else {
        "a review"
    };
    let append = e.path.len() == 4 && e.op == Op::Insert;
    let inside_new = e.path.len() > 4 && e.in_new_object;
    if !(append || inside_new) {
        return Err(Refusal::new(
            Rule::AppendOnly,
            e.path_string(),
            format!("{what} is never deleted or edited; add a new one"),
        ));
    }
    if e.inserted_scalar {
        return Err(shape(e, &format!("{what} is a map")));
    }
    Ok(())
}

/// The elements of `list` that these changes inserted, each read on its own.
fn new_rows<T: Hydrate>(
    doc: &Automerge,
    list: &ObjId,
    new: &HashSet<ObjId>,
    path: &str,
) -> Result<Vec<T>, Refusal> {
    doc.list_range(list, ..)
        .filter(|item| new.contains(&item.id()))
        .map(|item| item.index)
        .collect::<Vec<_>>()
        .into_iter()
        .map(|i| {
            hydrate_prop(doc, list, i).map_err(|e: autosurgeon::HydrateError| {
                Refusal::new(Rule::Shape, format!("{path}/{i}"), e.to_string())
            })
        })
        .collect()
}

fn day_list(doc: &Automerge, day_obj: &ObjId, key: &str, day: &str) -> Result<ObjId, Refusal> {
    get_list(doc, day_obj, key).ok_or_else(|| {
        Refusal::new(
            Rule::Shape,
            format!("days/{day}/{key}"),
            format!("a timesheet day's `{key}` is a list"),
        )
    })
}

fn check_day_additions(
    ctx: &RuleContext<'_>,
    owner: &str,
    doc: &Automerge,
    days: &ObjId,
    day: &str,
    touch: &DayTouch,
) -> Result<(), Refusal> {
    let path = format!("days/{day}");
    let day_obj = match doc.get(days, day) {
        Ok(Some((Value::Object(automerge::ObjType::Map), o))) => o,
        _ => return Err(Refusal::new(Rule::Shape, path, "a timesheet day is a map")),
    };
    let submissions = day_list(doc, &day_obj, "submissions", day)?;
    let reviews = day_list(doc, &day_obj, "reviews", day)?;
    let sub_path = format!("{path}/submissions");
    for s in new_rows::<Submission>(doc, &submissions, &touch.submissions, &sub_path)? {
        let at = format!("{sub_path}/{}", s.id);
        timesheet::validate_submission(day, &s)
            .map_err(|err| Refusal::new(Rule::Shape, at.clone(), err.to_string()))?;
        if s.submitted_by != owner {
            return Err(Refusal::new(
                Rule::Authorship,
                at,
                format!(
                    "the submission names {} as its author, but these are {owner}'s timesheets",
                    s.submitted_by
                ),
            ));
        }
        if let Some(w) = ctx.writer.filter(|w| w.member_id != owner) {
            return Err(Refusal::new(
                Rule::Authorship,
                at,
                format!(
                    "only {owner} submits their timesheets, but this was written by {}",
                    w.member_id
                ),
            ));
        }
    }
    if touch.reviews.is_empty() {
        return Ok(());
    }
    let known: HashSet<String> = doc
        .list_range(&submissions, ..)
        .filter(|item| matches!(item.value, automerge::ValueRef::Object(_)))
        .filter_map(|item| get_text(doc, &item.id(), "id"))
        .collect();
    let rev_path = format!("{path}/reviews");
    for r in new_rows::<Review>(doc, &reviews, &touch.reviews, &rev_path)? {
        let at = format!("{rev_path}/{}", r.id);
        timesheet::validate_review(&r)
            .map_err(|err| Refusal::new(Rule::Shape, at.clone(), err.to_string()))?;
        if !known.contains(&r.submission_id) {
            return Err(Refusal::new(
                Rule::Shape,
                at,
                format!(
                    "the review names submission `{}`, which {day} does not have",
                    r.submission_id
                ),
            ));
        }
        if let Some(w) = ctx.writer {
            if !w.role.may_review_wrap_paperwork() {
                return Err(Refusal::new(
                    Rule::Transition,
                    at,
                    format!(
                        "a {} may not approve or return a timesheet; ask a coordinator",
                        w.role
                    ),
                ));
            }
            if r.by != w.member_id {
                return Err(Refusal::new(
                    Rule::Authorship,
                    at,
                    format!(
                        "the review names {} as its reviewer, but it was written by {}",
                        r.by, w.member_id
                    ),
                ));
            }
        }
    }
    Ok(())
}
