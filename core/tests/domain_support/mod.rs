//! Shared fixtures for the domain tests.
#![allow(dead_code)]

pub mod runs;

use automerge::{Automerge, ChangeHash};
use setlink_core::access::{Author, Role};
use setlink_core::model::run;
use setlink_core::DomainError;

/// 2026-11-24 08:00 UTC in ms.
pub const T0: i64 = 1_795_507_200_000;

pub fn author(member: &str, role: Role) -> Author {
    Author {
        member_id: member.into(),
        device_id: format!("{member}-phone"),
        role,
    }
}

pub fn coord() -> Author {
    author("coord", Role::Coordinator)
}
pub fn office() -> Author {
    author("office", Role::Office)
}
pub fn pa1() -> Author {
    author("pa1", Role::Pa)
}
pub fn pa2() -> Author {
    author("pa2", Role::Pa)
}
pub fn crew() -> Author {
    author("crew1", Role::Crew)
}

pub fn board() -> Automerge {
    let mut doc = Automerge::new();
    run::init_board(&mut doc, &coord(), T0).unwrap();
    doc
}

pub fn heads(doc: &Automerge) -> Vec<ChangeHash> {
    doc.get_heads()
}

/// Runs an op that must fail, checks the error and that the document did not change.
pub fn refused<T: std::fmt::Debug>(
    doc: &mut Automerge,
    op: impl FnOnce(&mut Automerge) -> Result<T, DomainError>,
) -> DomainError {
    let before = doc.get_heads();
    let saved = doc.save();
    let err = op(doc).expect_err("the operation should have been refused");
    assert_eq!(
        doc.get_heads(),
        before,
        "a refused operation changed the heads ({err})"
    );
    assert_eq!(
        doc.save(),
        saved,
        "a refused operation changed the document ({err})"
    );
    // The message is for people: it must say something.
    assert!(err.to_string().len() > 10);
    err
}

/// Merges `b` into `a` and `a` into `b`.
pub fn sync_pair(a: &mut Automerge, b: &mut Automerge) {
    a.merge(b).unwrap();
    b.merge(a).unwrap();
}
