//! Fuzz harness for the write rules, shared by the libFuzzer target `write_rules` and the
//! stable smoke test `core/tests/rules_fuzz_smoke.rs`. Input bytes become a writer, a
//! document kind and up to 16 edits of a seeded board (puts, deletes, inserts, text, forged
//! status events) that a peer would send; the rules must answer every one without
//! panicking, and whatever they accept must still read.

use std::sync::OnceLock;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ObjId, ObjType, PatchLog, ReadDoc, ScalarValue, ROOT};
use setlink_core::access::{Author, DocKind, Role};
use setlink_core::model::run::{self, NewRun, RunKind};
use setlink_core::model::task::{self, NewTask, TaskCategory};
use setlink_core::model::EventContext;
use setlink_core::rules::{self, RuleContext, Writer};

const T0: i64 = 1_900_000_000_000;
const KEYS: [&str; 14] = [
    "title",
    "priority",
    "kind",
    "id",
    "events",
    "comments",
    "receipts",
    "created_by",
    "created_at",
    "stops",
    "money",
    "runs",
    "tasks",
    "x",
];
const KINDS: [&str; 12] = [
    "created",
    "assigned",
    "accepted",
    "en_route",
    "picked_up",
    "delivered",
    "failed",
    "cancelled",
    "reopened",
    "reconciled",
    "started",
    "done",
];
const MEMBERS: [&str; 4] = ["coord", "office", "pa1", "crew"];
const ROLES: [Role; 4] = [Role::Coordinator, Role::Office, Role::Pa, Role::Crew];

fn base() -> &'static Automerge {
    static BASE: OnceLock<Automerge> = OnceLock::new();
    BASE.get_or_init(|| {
        let by = Author {
            member_id: "coord".into(),
            device_id: "c".into(),
            role: Role::Coordinator,
        };
        let mut doc = Automerge::new().with_actor(ActorId::from(&b"seed-actor"[..]));
        run::init_board(&mut doc, &by, T0).expect("board");
        for kind in [RunKind::Pickup, RunKind::Other] {
            let id =
                run::create_run(&mut doc, &by, T0, NewRun::new(kind, "Run", "Set")).expect("run");
            run::assign(&mut doc, &by, T0, &id, "pa1", EventContext::none()).expect("assign");
            run::add_comment(&mut doc, &by, T0, &id, "hello").expect("comment");
        }
        task::create_task(
            &mut doc,
            &by,
            T0,
            NewTask::new("Phones", TaskCategory::Phones),
        )
        .expect("task");
        doc
    })
}

/// Objects an edit may target: the root, the maps, the first run's and task's parts.
fn targets(doc: &Automerge) -> Vec<ObjId> {
    let mut out = vec![ROOT];
    let child = |o: &ObjId, k: &str| match doc.get(o, k) {
        Ok(Some((automerge::Value::Object(_), id))) => Some(id),
        _ => None,
    };
    for top in ["runs", "tasks"] {
        if let Some(m) = child(&ROOT, top) {
            out.push(m.clone());
            for k in doc.keys(&m).take(2).collect::<Vec<_>>() {
                if let Some(r) = child(&m, &k) {
                    out.push(r.clone());
                    for part in ["events", "comments", "receipts", "stops"] {
                        if let Some(p) = child(&r, part) {
                            out.push(p);
                        }
                    }
                }
            }
        }
    }
    out
}

struct Bytes<'a>(&'a [u8]);
impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
}

fn edit(doc: &mut Automerge, b: &mut Bytes<'_>) {
    let objs = targets(doc);
    let obj = objs[b.next() as usize % objs.len()].clone();
    let op = b.next() % 8;
    let existing: Vec<String> = doc.keys(&obj).collect();
    let k = b.next() as usize;
    let key = if k.is_multiple_of(2) && !existing.is_empty() {
        existing[(k / 2) % existing.len()].clone()
    } else {
        KEYS[(k / 2) % KEYS.len()].to_owned()
    };
    let is_list = matches!(doc.object_type(&obj), Ok(ObjType::List) | Ok(ObjType::Text));
    let len = doc.length(&obj);
    let mut tx = doc.transaction();
    let _ = match (op, is_list) {
        (0, false) => tx.put(
            &obj,
            key.as_str(),
            ScalarValue::Int(i64::from(b.next()) * 7 - 20),
        ),
        (1, false) => tx.put(&obj, key.as_str(), "fuzzed"),
        (2, false) => tx.delete(&obj, key.as_str()),
        (3, false) => tx.put_object(&obj, key.as_str(), ObjType::Map).map(drop),
        (4, false) => tx
            .put_object(&obj, key.as_str(), ObjType::Text)
            .and_then(|t| tx.splice_text(&t, 0, 0, "txt")),
        (_, false) => {
            let event = serde_json::json!({
                "kind": KINDS[b.next() as usize % KINDS.len()],
                "prev": existing.iter().take(b.next() as usize % 3).collect::<Vec<_>>(),
                "at": T0 + i64::from(b.next()),
                "member": MEMBERS[b.next() as usize % MEMBERS.len()],
                "device": "d",
                "role": ROLES[b.next() as usize % ROLES.len()].as_str(),
            });
            tx.put(&obj, format!("ev-{}", b.next()).as_str(), event.to_string())
        }
        (0 | 1, true) => tx.insert(&obj, (b.next() as usize) % (len + 1), "x"),
        (2, true) if len > 0 => tx.delete(&obj, (b.next() as usize) % len),
        (3, true) => tx
            .insert_object(&obj, (b.next() as usize) % (len + 1), ObjType::Map)
            .map(drop),
        (_, true) if len > 0 => tx.put(&obj, (b.next() as usize) % len, 5),
        _ => Ok(()),
    };
    tx.commit();
}

/// Runs one input. Never panics for any input (that is what is being fuzzed).
pub fn run(data: &[u8]) {
    let mut b = Bytes(data);
    let who = b.next() as usize % MEMBERS.len();
    let kind = match b.next() % 12 {
        0 => DocKind::Production,
        1 => DocKind::CallSheetDraft {
            day: "2030-06-14".into(),
        },
        2 => DocKind::CallSheetPublished {
            day: "2030-06-14".into(),
        },
        3 => DocKind::Member {
            member_id: MEMBERS[who].into(),
        },
        4 => DocKind::Shared,
        5 => DocKind::Gear,
        6 => DocKind::Background {
            day: "2030-06-14".into(),
        },
        7 => DocKind::Timesheets {
            member_id: MEMBERS[who].into(),
        },
        8 => DocKind::ProductionReport {
            day: "2030-06-14".into(),
        },
        _ => DocKind::Board {
            day: "2030-06-14".into(),
        },
    };
    let writer = Writer {
        member_id: MEMBERS[who].into(),
        role: ROLES[who],
    };
    let base = base();
    let mut theirs = base.fork();
    let edits = b.next() % 16;
    for _ in 0..edits {
        edit(&mut theirs, &mut b);
    }
    let mut relay = base.fork();
    let before = relay.get_heads();
    let mut log = PatchLog::active();
    if relay
        .apply_changes_log_patches(theirs.get_changes(&before), &mut log)
        .is_err()
    {
        return;
    }
    let patches = relay.make_patches(&mut log);
    let added = relay.get_changes(&before);
    let none = |_: &str| false;
    let as_device = b.next() % 4 == 0;
    let ctx = RuleContext {
        kind: &kind,
        writer: (!as_device).then_some(&writer),
        foreign_document: &none,
    };
    let verdict = rules::check(&ctx, &relay, &before, &patches, &added);
    if verdict.is_ok() && matches!(kind, DocKind::Board { .. }) {
        // Accepted content must read: every run the rules let through hydrates.
        if let Ok(listing) = run::list_runs(&relay) {
            assert!(
                listing.unreadable.is_empty(),
                "the rules accepted an unreadable run: {:?}",
                listing.unreadable
            );
        }
    }
}
