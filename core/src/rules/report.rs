//! Rules for the report document (being written).

use automerge::Automerge;

use super::walk::Touched;
use super::{Refusal, Rule, RuleContext};

pub(super) fn check(
    _ctx: &RuleContext<'_>,
    _doc: &Automerge,
    touched: &Touched<'_>,
) -> Result<(), Refusal> {
    match touched.edits.first() {
        None => Ok(()),
        Some(e) => Err(Refusal::new(
            Rule::Shape,
            e.path_string(),
            "this relay does not take these documents yet",
        )),
    }
}
