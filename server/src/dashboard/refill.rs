//! A refused form shown again on its own page: what was typed stays in every field, the
//! error sits next to the field it is about, and a summary at the top (`#error`) reads it
//! out for the whole form. Only a refusal of the input comes back this way (400, and 409
//! when the domain refuses what the form asks for); a missing session, a forged post or a
//! relay fault stays an error page.

use axum::http::StatusCode;
use maud::{html, Markup};

use super::forms::Fields;
use super::DashError;

/// What the page needs to render a refused form again.
pub struct Refill {
    fields: Fields,
    error: DashError,
}

impl Refill {
    /// The refill for `error`, or the error back when it is not about the input.
    pub fn of(fields: Fields, error: DashError) -> Result<Refill, DashError> {
        if matches!(error.status, StatusCode::BAD_REQUEST | StatusCode::CONFLICT) {
            Ok(Refill { fields, error })
        } else {
            Err(error)
        }
    }

    /// What was typed.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The status the page is answered with.
    pub fn status(&self) -> StatusCode {
        self.error.status
    }
}

/// A form's view of an optional refill: fields read what was typed when there was a
/// refusal, their stored value otherwise. `Prefill::none()` renders the form as stored.
#[derive(Clone, Copy)]
pub struct Prefill<'a>(Option<&'a Refill>);

impl<'a> Prefill<'a> {
    pub fn new(refill: Option<&'a Refill>) -> Self {
        Prefill(refill)
    }

    pub fn none() -> Self {
        Prefill(None)
    }

    /// What the field shows: the typed value after a refusal, else `stored`.
    pub fn value(&self, name: &str, stored: impl Into<String>) -> String {
        match self.0 {
            Some(r) => r.fields.raw(name).unwrap_or_default().to_owned(),
            None => stored.into(),
        }
    }

    /// Whether the option `value` of select `name` is selected: as typed after a refusal,
    /// else as stored.
    pub fn selected(&self, name: &str, value: &str, stored: bool) -> bool {
        match self.0 {
            Some(r) => r.fields.raw(name) == Some(value),
            None => stored,
        }
    }

    /// The error next to field `name`, if the refusal is about it.
    pub fn error(&self, name: &str) -> Markup {
        let message = self
            .0
            .filter(|r| r.error.field.as_deref() == Some(name))
            .map(|r| r.error.message.as_str());
        html! {
            @if let Some(m) = message {
                span.field-error data-field=(name) role="alert" { (m) }
            }
        }
    }

    /// Whether the refusal is about field `name` (the page focuses that field).
    pub fn is_about(&self, name: &str) -> bool {
        self.0
            .is_some_and(|r| r.error.field.as_deref() == Some(name))
    }

    /// The summary at the top of the form: the message, whatever field it is about.
    pub fn summary(&self) -> Markup {
        html! {
            @if let Some(r) = self.0 {
                p #error.form-error role="alert" { (r.error.message) }
            }
        }
    }

    /// Whether this form is the one refused (a page with several forms opens that one).
    pub fn is_refused(&self) -> bool {
        self.0.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refill() -> Refill {
        let fields = Fields(vec![
            ("title".into(), "Walkies".into()),
            ("needed_by".into(), "25:99".into()),
            ("priority".into(), "urgent".into()),
        ]);
        let err = DashError::bad_request("Needed by: `25:99` is not a time").on("needed_by");
        Refill::of(fields, err).expect("a 400 refills")
    }

    #[test]
    fn a_refused_form_keeps_what_was_typed_and_puts_the_error_by_its_field() {
        let r = refill();
        let p = Prefill::new(Some(&r));
        assert_eq!(p.value("needed_by", "14:00"), "25:99");
        assert_eq!(
            p.value("notes", "stored notes"),
            "",
            "a field left blank stays blank"
        );
        assert!(p.selected("priority", "urgent", false));
        assert!(!p.selected("priority", "normal", true));
        assert!(p.error("needed_by").into_string().contains("is not a time"));
        assert_eq!(p.error("title").into_string(), "");
        assert!(p.summary().into_string().contains("id=\"error\""));
        assert!(p.is_about("needed_by") && !p.is_about("title"));
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn without_a_refusal_the_form_shows_what_is_stored() {
        let p = Prefill::none();
        assert_eq!(p.value("needed_by", "14:00"), "14:00");
        assert!(p.selected("priority", "normal", true));
        assert_eq!(p.summary().into_string(), "");
    }

    #[test]
    fn only_refusals_of_the_input_come_back_as_the_form() {
        let fields = || Fields(Vec::new());
        assert!(Refill::of(fields(), DashError::forbidden("no")).is_err());
        assert!(Refill::of(fields(), DashError::not_found("gone")).is_err());
        assert!(Refill::of(
            fields(),
            DashError::new(
                StatusCode::CONFLICT,
                "cannot start a task that is signed off"
            )
        )
        .is_ok());
    }
}
