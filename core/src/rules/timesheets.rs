//! Rules for a member's timesheets document (layout, and why it is that layout, in
//! [`crate::model::timesheet`]).
//!
//! - `owner`, `submissions` and `reviews` are set once, when the document is created, and
//!   never replaced or deleted; `owner` is the member the index names, the other two are
//!   maps. Nothing else sits at the root, and no change ever creates another container:
//!   two devices creating the same container concurrently is how a submission got lost.
//! - An entry of `submissions` or `reviews` is a new key holding one JSON string: never
//!   deleted, replaced or edited, and never an object.
//! - A new submission reads as one `submit` could have written for its day; it names the
//!   owner as `submitted_by`, and on the relay it was written by the owner (a coordinator
//!   does not submit for someone else).
//! - A new review reads as one `review` could have written, names an existing submission
//!   of the same day, and on the relay was written by a coordinator whom it names as `by`.
//!
//! Which submission a review decides is not checked against what its author saw: a review
//! of a submission that a concurrent re-submission replaced is allowed, and the derived
//! status ignores it (it names a submission that is no longer current).

use std::collections::BTreeSet;

use automerge::{Automerge, ObjId, ReadDoc, ROOT};

use super::walk::{Edit, Op, Touched};
use super::{Refusal, Rule, RuleContext};
use crate::model::timesheet::{self, REVIEWS, SUBMISSIONS};
use crate::model::util::{check_day, get_map, why};
use crate::model::DomainError;

const ROOT_KEYS: &str = "a timesheets document holds only `owner`, `submissions` and `reviews`";

pub(super) fn check(
    ctx: &RuleContext<'_>,
    owner: &str,
    doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    let mut new_submissions: BTreeSet<String> = BTreeSet::new();
    let mut new_reviews: BTreeSet<String> = BTreeSet::new();
    for e in &touched.edits {
        let top = e.key(0).unwrap_or_default();
        if e.path.len() == 1 {
            check_root(touched, e, top, owner, doc)?;
            continue;
        }
        let (what, new) = match top {
            SUBMISSIONS => ("a submission", &mut new_submissions),
            REVIEWS => ("a review", &mut new_reviews),
            _ => return Err(shape(e, ROOT_KEYS)),
        };
        let Some(id) = e.key(1) else {
            return Err(shape(e, &format!("`{top}` is a map keyed by id")));
        };
        if e.path.len() > 2 {
            return Err(shape(e, &format!("{what} is one JSON string")));
        }
        if e.op == Op::Delete || touched.existed_before(&e.obj, id) {
            return Err(Refusal::new(
                Rule::AppendOnly,
                e.path_string(),
                format!("{what} is never deleted, replaced or edited; add a new one"),
            ));
        }
        new.insert(id.to_owned());
    }
    if !new_submissions.is_empty() {
        let map = root_map(doc, SUBMISSIONS)?;
        for id in &new_submissions {
            check_submission(ctx, owner, doc, &map, id)?;
        }
    }
    if !new_reviews.is_empty() {
        let submissions = root_map(doc, SUBMISSIONS)?;
        let reviews = root_map(doc, REVIEWS)?;
        for id in &new_reviews {
            check_review(ctx, doc, &submissions, &reviews, id)?;
        }
    }
    Ok(())
}

fn shape(e: &Edit, detail: &str) -> Refusal {
    Refusal::new(Rule::Shape, e.path_string(), detail)
}

fn root_map(doc: &Automerge, key: &str) -> Result<ObjId, Refusal> {
    get_map(doc, &ROOT, key)
        .ok_or_else(|| Refusal::new(Rule::Containers, key, format!("`{key}` is a map")))
}

/// `owner`, `submissions` and `reviews`: set once, the owner being the member the index
/// names.
fn check_root(
    touched: &Touched<'_>,
    e: &Edit,
    key: &str,
    owner: &str,
    doc: &Automerge,
) -> Result<(), Refusal> {
    if !matches!(key, "owner" | SUBMISSIONS | REVIEWS) {
        return Err(shape(e, ROOT_KEYS));
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
        SUBMISSIONS | REVIEWS if get_map(doc, &ROOT, key).is_none() => {
            Err(shape(e, &format!("`{key}` is a map")))
        }
        _ => Ok(()),
    }
}

/// The one value at `map[id]`, read with `parse`. Two values at one new key (only a forged
/// pair of concurrent changes has them) would leave one hidden: refused.
fn read_new<T>(
    doc: &Automerge,
    map: &ObjId,
    id: &str,
    path: &str,
    parse: impl Fn(&str, &automerge::ValueRef<'_>) -> Result<T, DomainError>,
) -> Result<T, Refusal> {
    let values = doc
        .get_all(map, id)
        .map_err(|e| Refusal::new(Rule::Shape, path, e.to_string()))?;
    if values.len() > 1 {
        return Err(Refusal::new(
            Rule::AppendOnly,
            path,
            "an entry is written once, under a new id",
        ));
    }
    let value = doc
        .map_range(map, id.to_owned()..=id.to_owned())
        .find(|item| item.key == id)
        .map(|item| item.value)
        .ok_or_else(|| Refusal::new(Rule::Shape, path, "the entry is missing"))?;
    parse(id, &value).map_err(|e| Refusal::new(Rule::Shape, path, why(&e)))
}

fn check_submission(
    ctx: &RuleContext<'_>,
    owner: &str,
    doc: &Automerge,
    submissions: &ObjId,
    id: &str,
) -> Result<(), Refusal> {
    let at = format!("{SUBMISSIONS}/{id}");
    let (day, s) = read_new(doc, submissions, id, &at, timesheet::parse_submission)?;
    timesheet::validate_submission(&day, &s)
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
    Ok(())
}

fn check_review(
    ctx: &RuleContext<'_>,
    doc: &Automerge,
    submissions: &ObjId,
    reviews: &ObjId,
    id: &str,
) -> Result<(), Refusal> {
    let at = format!("{REVIEWS}/{id}");
    let (day, r) = read_new(doc, reviews, id, &at, timesheet::parse_review)?;
    check_day("timesheet day", &day)
        .and_then(|()| timesheet::validate_review(&r))
        .map_err(|err| Refusal::new(Rule::Shape, at.clone(), err.to_string()))?;
    // The submission it names: present (it came before the review, or with it) and of the
    // same day. One that cannot be read is no submission of that day.
    let named = doc
        .map_range(
            submissions,
            r.submission_id.clone()..=r.submission_id.clone(),
        )
        .find(|item| item.key == r.submission_id)
        .and_then(|item| timesheet::parse_submission(&item.key, &item.value).ok());
    if named.is_none_or(|(d, _)| d != day) {
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
    Ok(())
}
