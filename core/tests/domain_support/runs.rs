//! Runs the run tests share: a pickup with a stop and an item, a drop-off, and a status
//! event recorded at a fixed time.

use automerge::Automerge;
use setlink_core::model::run::{self, *};
use setlink_core::model::{DomainError, EventContext, Priority};

use super::{office, T0};

pub fn pickup_run(doc: &mut Automerge) -> String {
    let mut new = NewRun::new(
        RunKind::Pickup,
        "Pick up lenses from Panavision",
        "Camera dept",
    );
    new.department = Some("Camera".into());
    new.priority = Priority::Urgent;
    new.needed_by = Some(T0 + 3_600_000);
    new.vehicle = Some(Vehicle::Production);
    new.stops.push(StopInput {
        label: "Panavision".into(),
        address: Some("6735 Forest Lawn Dr".into()),
        ..Default::default()
    });
    new.items.push(ItemInput {
        description: "Cooke S4 set".into(),
        quantity: 1,
    });
    run::create_run(doc, &office(), T0 + 1, new).unwrap()
}

pub fn drop_off_run(doc: &mut Automerge) -> String {
    run::create_run(
        doc,
        &office(),
        T0 + 1,
        NewRun::new(RunKind::DropOff, "Sides to set", "2nd AD"),
    )
    .unwrap()
}

pub fn go(
    doc: &mut Automerge,
    by: &setlink_core::Author,
    id: &str,
    ev: RunEvent,
) -> Result<String, DomainError> {
    run::record_status(doc, by, T0 + 100, id, ev, EventContext::none())
}
