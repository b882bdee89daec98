//! The run page's form handlers: each checks role and CSRF, parses its form, runs one
//! domain op on the day's board through `data::write`, and redirects back to the run
//! page; a refusal of the input shows the page again with what was typed.

use std::sync::{Arc, Mutex};

use automerge::Automerge;
use axum::extract::Path;
use axum::response::Response;
use setlink_core::model::run;
use setlink_core::model::EventContext;
use setlink_core::{Author, DomainError};

use crate::dashboard::data;
use crate::dashboard::forms::Fields;
use crate::dashboard::refill::Refill;
use crate::dashboard::run_forms;
use crate::dashboard::session::Ctx;
use crate::dashboard::DashResult;

use super::board::check_assignee;
use super::run::{run_page, run_url, RunRefill};
use super::{form, see_other, F};

/// One domain op on the board, ready to run.
type Op = Box<dyn FnOnce(&mut Automerge, &Author, i64) -> Result<(), DomainError> + Send>;

fn op<T>(
    f: impl FnOnce(&mut Automerge, &Author, i64) -> Result<T, DomainError> + Send + 'static,
) -> Op {
    Box::new(move |d, by, at| f(d, by, at).map(drop))
}

/// Parses the form into an op (`parse` gets the day and the run id), runs it, and goes
/// back to the run page at `section`; a refusal of the input re-renders the page with
/// form `key` as typed, the error by the field it is about.
async fn submit(
    ctx: Ctx,
    run_id: String,
    f: F,
    key: String,
    section: &str,
    parse: impl FnOnce(&Ctx, &str, &str, &Fields) -> DashResult<Op>,
) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    submit_checked(ctx, run_id, f, key, section, parse).await
}

/// [`submit`] once role and CSRF token are checked.
async fn submit_checked(
    ctx: Ctx,
    run_id: String,
    f: Fields,
    key: String,
    section: &str,
    parse: impl FnOnce(&Ctx, &str, &str, &Fields) -> DashResult<Op>,
) -> DashResult<Response> {
    let day = ctx.day(f.raw("day"))?;
    let outcome = match parse(&ctx, &day, &run_id, &f) {
        Ok(op) => {
            let board = data::existing_board(&ctx, &day).await?;
            // The domain names the field it refuses; the form knows it by another name.
            let field: Arc<Mutex<Option<&'static str>>> = Arc::default();
            let seen = field.clone();
            let result = data::write(&ctx, board, move |d, by, at| {
                op(d, by, at).inspect_err(|e| {
                    if let Ok(mut f) = seen.lock() {
                        *f = run_forms::field_of(e);
                    }
                })
            })
            .await;
            let named = field.lock().ok().and_then(|f| *f);
            result.map_err(|e| match named {
                Some(name) => e.on(name),
                None => e,
            })
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Ok(see_other(format!("{}#{section}", run_url(&run_id, &day)))),
        Err(e) => {
            let refill = RunRefill {
                key,
                refill: Refill::of(f, e)?,
            };
            run_page(&ctx, &day, &run_id, Some(refill)).await
        }
    }
}

pub async fn edit_run(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    submit(
        ctx,
        run_id,
        f,
        "edit".into(),
        "details",
        |ctx, day, id, f| {
            let edit = run_forms::run_edit(f, day, &ctx.zone)?;
            let id = id.to_owned();
            Ok(op(move |d, by, at| run::edit_run(d, by, at, &id, edit)))
        },
    )
    .await
}

/// Assigns the run to the member chosen, or takes it off its PA when none is.
pub async fn assign(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    ctx.require_office()?;
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    // Who may take runs is the relay's membership, read before the op.
    let chosen = f.opt("assignee");
    let checked = match &chosen {
        Ok(a) => check_assignee(&ctx, a.as_deref()).await,
        Err(_) => Ok(()),
    };
    let (key, section) = ("assign".to_owned(), "assignment");
    submit_checked(ctx, run_id, f, key, section, |_, _, id, _| {
        let chosen = chosen?;
        checked.map_err(|e| e.on("assignee"))?;
        let id = id.to_owned();
        Ok(match chosen {
            Some(a) => op(move |d, by, at| run::assign(d, by, at, &id, &a, EventContext::none())),
            None => op(move |d, by, at| run::unassign(d, by, at, &id, EventContext::none())),
        })
    })
    .await
}

/// Cancels, reopens or reconciles the run, with an optional note.
pub async fn record_event(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    submit(
        ctx,
        run_id,
        f,
        "event".into(),
        "assignment",
        |_, _, id, f| {
            let event = run_forms::lifecycle_event(f)?;
            let note = f.opt("note")?;
            let id = id.to_owned();
            Ok(op(move |d, by, at| {
                let ctx = EventContext {
                    note,
                    location: None,
                };
                run::record_status(d, by, at, &id, event, ctx)
            }))
        },
    )
    .await
}

pub async fn add_stop(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    submit(ctx, run_id, f, "stop-new".into(), "stops", |_, _, id, f| {
        let stop = run_forms::stop(f)?;
        let id = id.to_owned();
        Ok(op(move |d, by, at| run::add_stop(d, by, at, &id, stop)))
    })
    .await
}

pub async fn edit_stop(
    ctx: Ctx,
    Path((run_id, stop_id)): Path<(String, String)>,
    f: F,
) -> DashResult<Response> {
    let key = format!("stop-{stop_id}");
    submit(ctx, run_id, f, key, "stops", |_, _, id, f| {
        let stop = run_forms::stop(f)?;
        let id = id.to_owned();
        Ok(op(move |d, by, at| {
            run::edit_stop(d, by, at, &id, &stop_id, stop)
        }))
    })
    .await
}

pub async fn remove_stop(
    ctx: Ctx,
    Path((run_id, stop_id)): Path<(String, String)>,
    f: F,
) -> DashResult<Response> {
    let key = format!("stop-{stop_id}");
    submit(ctx, run_id, f, key, "stops", |_, _, id, _| {
        let id = id.to_owned();
        Ok(op(move |d, by, at| {
            run::remove_stop(d, by, at, &id, &stop_id)
        }))
    })
    .await
}

pub async fn add_item(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    submit(ctx, run_id, f, "item-new".into(), "items", |_, _, id, f| {
        let item = run_forms::item(f)?;
        let id = id.to_owned();
        Ok(op(move |d, by, at| run::add_item(d, by, at, &id, item)))
    })
    .await
}

pub async fn edit_item(
    ctx: Ctx,
    Path((run_id, item_id)): Path<(String, String)>,
    f: F,
) -> DashResult<Response> {
    let key = format!("item-edit-{item_id}");
    submit(ctx, run_id, f, key, "items", |_, _, id, f| {
        let item = run_forms::item(f)?;
        let id = id.to_owned();
        Ok(op(move |d, by, at| {
            run::edit_item(d, by, at, &id, &item_id, item)
        }))
    })
    .await
}

pub async fn check_item(
    ctx: Ctx,
    Path((run_id, item_id)): Path<(String, String)>,
    f: F,
) -> DashResult<Response> {
    let key = format!("item-{item_id}");
    submit(ctx, run_id, f, key, "items", |_, _, id, f| {
        let checked = run_forms::checked(f)?;
        let id = id.to_owned();
        Ok(op(move |d, by, at| {
            run::set_item_checked(d, by, at, &id, &item_id, checked)
        }))
    })
    .await
}

pub async fn remove_item(
    ctx: Ctx,
    Path((run_id, item_id)): Path<(String, String)>,
    f: F,
) -> DashResult<Response> {
    let key = format!("item-{item_id}");
    submit(ctx, run_id, f, key, "items", |_, _, id, _| {
        let id = id.to_owned();
        Ok(op(move |d, by, at| {
            run::remove_item(d, by, at, &id, &item_id)
        }))
    })
    .await
}

pub async fn add_food(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    submit(ctx, run_id, f, "food-new".into(), "food", |_, _, id, f| {
        let order = run_forms::food_order(f)?;
        let id = id.to_owned();
        Ok(op(move |d, by, at| {
            run::add_food_order(d, by, at, &id, order)
        }))
    })
    .await
}

pub async fn edit_food(
    ctx: Ctx,
    Path((run_id, order_id)): Path<(String, String)>,
    f: F,
) -> DashResult<Response> {
    let key = format!("food-{order_id}");
    submit(ctx, run_id, f, key, "food", |_, _, id, f| {
        let order = run_forms::food_order(f)?;
        let id = id.to_owned();
        Ok(op(move |d, by, at| {
            run::edit_food_order(d, by, at, &id, &order_id, order)
        }))
    })
    .await
}

pub async fn remove_food(
    ctx: Ctx,
    Path((run_id, order_id)): Path<(String, String)>,
    f: F,
) -> DashResult<Response> {
    let key = format!("food-{order_id}");
    submit(ctx, run_id, f, key, "food", |_, _, id, _| {
        let id = id.to_owned();
        Ok(op(move |d, by, at| {
            run::remove_food_order(d, by, at, &id, &order_id)
        }))
    })
    .await
}

pub async fn set_money(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    submit(ctx, run_id, f, "money".into(), "money", |_, _, id, f| {
        let edit = run_forms::money(f)?;
        let id = id.to_owned();
        Ok(op(move |d, by, at| run::set_money(d, by, at, &id, edit)))
    })
    .await
}

pub async fn add_receipt(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    submit(
        ctx,
        run_id,
        f,
        "receipt-new".into(),
        "receipts",
        |_, _, id, f| {
            let receipt = run_forms::receipt(f)?;
            let id = id.to_owned();
            Ok(op(move |d, by, at| {
                run::add_receipt(d, by, at, &id, receipt)
            }))
        },
    )
    .await
}

pub async fn set_mileage(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    submit(
        ctx,
        run_id,
        f,
        "mileage".into(),
        "mileage",
        |_, _, id, f| {
            let tenths = run_forms::mileage(f)?;
            let id = id.to_owned();
            Ok(op(move |d, by, at| {
                run::set_mileage(d, by, at, &id, tenths)
            }))
        },
    )
    .await
}

pub async fn add_comment(ctx: Ctx, Path(run_id): Path<String>, f: F) -> DashResult<Response> {
    submit(
        ctx,
        run_id,
        f,
        "comment-new".into(),
        "comments",
        |_, _, id, f| {
            let text = run_forms::comment(f)?;
            let id = id.to_owned();
            Ok(op(move |d, by, at| run::add_comment(d, by, at, &id, &text)))
        },
    )
    .await
}
