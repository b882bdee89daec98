//! The run page's forms to domain inputs, and amounts back to text. Money is typed and
//! shown as decimal currency (`12.50`, `$1,234.5`), stored as whole cents; mileage as
//! miles with at most one decimal, stored in tenths. Every error names its form field, so
//! a refused form shows the message next to it (`refill`).

use setlink_core::model::run::{
    FoodOrderInput, ItemInput, MoneyEdit, ReceiptInput, RunEdit, RunEvent, StopInput, Vehicle,
};
use setlink_core::DomainError;

use super::forms::{self, Fields};
use super::{DashError, DashResult};
use crate::zone::Zone;

/// Largest amount a form takes: the domain's own bound (1,000,000.00).
const MAX_CENTS: i64 = 100_000_000;
/// Longest run the mileage field takes: the domain's own bound (10,000.0).
const MAX_TENTHS: i64 = 100_000;

fn bad(field: &str, msg: String) -> DashError {
    DashError::bad_request(format!("{msg}; nothing was changed")).on(field)
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// A decimal number with at most `places` decimals, as a whole number of its smallest
/// unit: `"12.5"` with 2 places is 1250. A leading `$` and thousands commas are allowed;
/// a sign is not.
fn fixed(s: &str, places: u32) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_prefix('$').unwrap_or(s).trim();
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    let whole: String = if whole.contains(',') {
        // Thousands commas only in their places: 1,234,567.
        let groups: Vec<&str> = whole.split(',').collect();
        let ok = groups.first().is_some_and(|g| (1..=3).contains(&g.len()))
            && groups.iter().skip(1).all(|g| g.len() == 3);
        if !ok {
            return None;
        }
        groups.concat()
    } else {
        whole.to_owned()
    };
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty())
        || !digits(&whole)
        || !digits(frac)
        || frac.len() > places as usize
        || whole.len() > 12
    {
        return None;
    }
    let w: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..places as usize {
        f *= 10;
    }
    w.checked_mul(10_i64.pow(places))?.checked_add(f)
}

/// An amount of money as cents, from `12`, `12.5`, `12.50`, `$1,234.50`.
pub fn cents(field: &str, label: &str, s: &str) -> DashResult<i64> {
    match fixed(s, 2) {
        Some(c) if c <= MAX_CENTS => Ok(c),
        Some(_) => Err(bad(
            field,
            format!("{label}: {} is more than 1,000,000.00", clip(s.trim())),
        )),
        None => Err(bad(
            field,
            format!(
                "{label}: `{}` is not an amount; write it like 12.50",
                clip(s.trim())
            ),
        )),
    }
}

fn opt_cents(f: &Fields, field: &str, label: &str) -> DashResult<Option<i64>> {
    match f.opt(field)? {
        Some(s) => cents(field, label, &s).map(Some),
        None => Ok(None),
    }
}

/// Cents as decimal currency, `1234.50`; a negative amount (a difference) as `-3.20`.
pub fn fmt_cents(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let a = c.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Mileage as tenths, from `12`, `12.3`.
pub fn tenths(field: &str, s: &str) -> DashResult<i64> {
    match fixed(s, 1) {
        Some(t) if t <= MAX_TENTHS => Ok(t),
        _ => Err(bad(
            field,
            format!(
                "Mileage: `{}` is not a distance between 0 and 10000, with at most one decimal",
                clip(s.trim())
            ),
        )),
    }
}

pub fn fmt_tenths(t: i64) -> String {
    format!("{}.{}", t / 10, t % 10)
}

pub fn vehicle(s: Option<&str>) -> DashResult<Option<Vehicle>> {
    match s.map(str::trim).unwrap_or("") {
        "" => Ok(None),
        "personal" => Ok(Some(Vehicle::Personal)),
        "production" => Ok(Some(Vehicle::Production)),
        other => Err(bad(
            "vehicle",
            format!(
                "`{}` is not a vehicle (personal or production)",
                clip(other)
            ),
        )),
    }
}

pub fn vehicle_name(v: Option<Vehicle>) -> (&'static str, &'static str) {
    match v {
        None => ("", "—"),
        Some(Vehicle::Personal) => ("personal", "Personal"),
        Some(Vehicle::Production) => ("production", "Production"),
    }
}

/// The run's details form. Every field is on the form, so each is set as submitted:
/// a blank optional field clears it.
pub fn run_edit(f: &Fields, day: &str, zone: &Zone) -> DashResult<RunEdit> {
    Ok(RunEdit {
        kind: Some(forms::run_kind(f.raw("kind").unwrap_or("")).map_err(|e| e.on("kind"))?),
        title: Some(f.required("title", "A title")?),
        requested_by: Some(f.required("requested_by", "Requested by")?),
        department: Some(f.opt("department")?),
        priority: Some(forms::priority(f.raw("priority")).map_err(|e| e.on("priority"))?),
        needed_by: Some(match f.opt("needed_by")? {
            Some(t) => Some(
                forms::time_on_day("Needed by", day, &t, zone).map_err(|e| e.on("needed_by"))?,
            ),
            None => None,
        }),
        vehicle: Some(vehicle(f.raw("vehicle"))?),
    })
}

pub fn stop(f: &Fields) -> DashResult<StopInput> {
    Ok(StopInput {
        label: f.required("label", "A stop's label")?,
        address: f.opt("address")?,
        contact_name: f.opt("contact_name")?,
        contact_phone: f.opt("contact_phone")?,
        notes: f.opt("notes")?,
    })
}

pub fn item(f: &Fields) -> DashResult<ItemInput> {
    let quantity = match f.opt("quantity")? {
        Some(q) => forms::int("Quantity", &q, 1, 10_000).map_err(|e| e.on("quantity"))?,
        None => 1,
    };
    Ok(ItemInput {
        description: f.required("description", "What to get")?,
        quantity,
    })
}

pub fn checked(f: &Fields) -> DashResult<bool> {
    match f.raw("checked") {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        other => Err(bad(
            "checked",
            format!(
                "`{}` is not a check mark (true or false)",
                clip(other.unwrap_or(""))
            ),
        )),
    }
}

pub fn food_order(f: &Fields) -> DashResult<FoodOrderInput> {
    Ok(FoodOrderInput {
        person: f.required("person", "Who the order is for")?,
        order: f.required("order", "The order")?,
        dietary_notes: f.opt("dietary_notes")?,
    })
}

pub fn receipt(f: &Fields) -> DashResult<ReceiptInput> {
    let vendor = f.required("vendor", "The vendor")?;
    let total = cents(
        "total",
        "Total",
        &f.required("total", "The receipt's total")?,
    )?;
    if total == 0 {
        return Err(bad(
            "total",
            "Total: a receipt of 0.00 is not a receipt".into(),
        ));
    }
    let tax = opt_cents(f, "tax", "Tax")?.unwrap_or(0);
    if tax > total {
        return Err(bad(
            "tax",
            format!(
                "Tax: {} is more than the total {}",
                fmt_cents(tax),
                fmt_cents(total)
            ),
        ));
    }
    Ok(ReceiptInput {
        vendor,
        total_cents: total,
        tax_cents: tax,
        account_code: f.opt("account_code")?,
        photo_ref: f.opt("photo_ref")?,
    })
}

/// The petty-cash form: envelope, amount advanced and cash returned, all set as submitted
/// (blank advanced is 0.00; blank returned means nothing returned yet).
pub fn money(f: &Fields) -> DashResult<MoneyEdit> {
    let advanced = opt_cents(f, "advanced", "Advanced")?.unwrap_or(0);
    let returned = opt_cents(f, "cash_returned", "Cash returned")?;
    if let Some(r) = returned.filter(|r| *r > advanced) {
        return Err(bad(
            "cash_returned",
            format!(
                "Cash returned: {} is more than the {} advanced",
                fmt_cents(r),
                fmt_cents(advanced)
            ),
        ));
    }
    Ok(MoneyEdit {
        envelope: Some(f.opt("envelope")?),
        advanced_cents: Some(advanced),
        cash_returned_cents: Some(returned),
    })
}

pub fn mileage(f: &Fields) -> DashResult<Option<i64>> {
    match f.opt("mileage")? {
        Some(m) => tenths("mileage", &m).map(Some),
        None => Ok(None),
    }
}

/// What the run page's lifecycle buttons ask for: cancel, reopen or reconcile (the PA's
/// steps are theirs, on the phone).
pub fn lifecycle_event(f: &Fields) -> DashResult<RunEvent> {
    match f.raw("action").unwrap_or("") {
        "cancel" => Ok(RunEvent::Cancel),
        "reopen" => Ok(RunEvent::Reopen),
        "reconcile" => Ok(RunEvent::Reconcile),
        other => Err(bad(
            "action",
            format!(
                "`{}` is not something the dashboard does to a run (cancel, reopen, reconcile)",
                clip(other)
            ),
        )),
    }
}

pub fn comment(f: &Fields) -> DashResult<String> {
    f.required("comment", "A comment")
}

/// The run page's form field a domain refusal is about, from the field the domain names.
pub fn field_of(e: &DomainError) -> Option<&'static str> {
    let name = match e {
        DomainError::OutOfRange { field, .. } | DomainError::InvalidValue { field, .. } => *field,
        DomainError::UnknownMember(_) => "assignee",
        _ => return None,
    };
    Some(match name {
        "run title" => "title",
        "requested by" => "requested_by",
        "department" => "department",
        "needed-by time" => "needed_by",
        "stop label" => "label",
        "stop address" => "address",
        "stop contact name" => "contact_name",
        "stop contact phone" => "contact_phone",
        "stop notes" => "notes",
        "item description" => "description",
        "item quantity" => "quantity",
        "food order person" => "person",
        "food order" => "order",
        "dietary notes" => "dietary_notes",
        "receipt vendor" => "vendor",
        "receipt total" => "total",
        "receipt tax" => "tax",
        "account code" => "account_code",
        "receipt photo" => "photo_ref",
        "petty-cash envelope" => "envelope",
        "amount advanced" => "advanced",
        "cash returned" => "cash_returned",
        "mileage" => "mileage",
        "comment" => "comment",
        "note" => "note",
        "assignee" => "assignee",
        _ => return None,
    })
}

/// A path segment for a URL: ids come from synced documents, so anything but letters,
/// digits, `-` and `_` is percent-encoded.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_people_write_them_and_print_as_decimals() {
        for (s, c) in [
            ("12", 1200),
            ("12.5", 1250),
            ("12.50", 1250),
            ("$12.05", 1205),
            (" 0.99 ", 99),
            (".5", 50),
            ("1,234.50", 123_450),
            ("1000000", 100_000_000),
        ] {
            assert_eq!(cents("x", "X", s).ok(), Some(c), "{s}");
        }
        for s in [
            "",
            "-1",
            "12.345",
            "1,23",
            "12,34.00",
            "abc",
            "1.2.3",
            "$",
            "1000000.01",
            "1e3",
            "99999999999999999999",
        ] {
            let e = cents("total", "Total", s).expect_err(s);
            assert_eq!(e.field.as_deref(), Some("total"), "{s}");
        }
        assert_eq!(fmt_cents(123_450), "1234.50");
        assert_eq!(fmt_cents(5), "0.05");
        assert_eq!(fmt_cents(-320), "-3.20");
        assert_eq!(fmt_cents(i64::MIN), "-92233720368547758.08");
        assert_eq!(tenths("m", "12.3").ok(), Some(123));
        assert_eq!(tenths("m", "7").ok(), Some(70));
        assert!(tenths("m", "1.25").is_err() && tenths("m", "10000.1").is_err());
        assert_eq!(fmt_tenths(123), "12.3");
    }

    #[test]
    fn a_receipt_names_the_field_at_fault() {
        let ok = receipt(&Fields::of(&[
            ("vendor", "Hardware"),
            ("total", "21.40"),
            ("tax", "1.40"),
            ("account_code", "2150"),
        ]))
        .expect("parses");
        assert_eq!((ok.total_cents, ok.tax_cents), (2140, 140));
        assert_eq!(ok.account_code.as_deref(), Some("2150"));
        let e = receipt(&Fields::of(&[
            ("vendor", "Hardware"),
            ("total", "12.50"),
            ("tax", "20"),
        ]))
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("tax"));
        assert!(
            e.message.contains("more than the total 12.50"),
            "{}",
            e.message
        );
        let e = receipt(&Fields::of(&[("vendor", "Hardware"), ("total", "0")])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("total"));
        let e = receipt(&Fields::of(&[("total", "3")])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("vendor"));
    }

    #[test]
    fn petty_cash_and_the_rest_of_the_run_forms() {
        let m = money(&Fields::of(&[
            ("envelope", "ENV-7"),
            ("advanced", "100"),
            ("cash_returned", ""),
        ]))
        .unwrap();
        assert_eq!(m.envelope, Some(Some("ENV-7".into())));
        assert_eq!(
            (m.advanced_cents, m.cash_returned_cents),
            (Some(10_000), Some(None))
        );
        let e = money(&Fields::of(&[("advanced", "20"), ("cash_returned", "25")])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("cash_returned"));

        let i = item(&Fields::of(&[
            ("description", "AA batteries"),
            ("quantity", ""),
        ]))
        .unwrap();
        assert_eq!(i.quantity, 1);
        let e = item(&Fields::of(&[("description", "AA"), ("quantity", "0")])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("quantity"));
        assert!(checked(&Fields::of(&[("checked", "true")])).unwrap());
        assert!(checked(&Fields::of(&[("checked", "yes")])).is_err());
        assert_eq!(
            lifecycle_event(&Fields::of(&[("action", "reopen")])).unwrap(),
            RunEvent::Reopen
        );
        assert!(lifecycle_event(&Fields::of(&[("action", "deliver")])).is_err());
        let e = food_order(&Fields::of(&[("person", "Ana")])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("order"));
        assert_eq!(mileage(&Fields::of(&[("mileage", "")])).unwrap(), None);
        assert_eq!(
            vehicle(Some("production")).unwrap(),
            Some(Vehicle::Production)
        );
        assert_eq!(
            vehicle(Some("bike")).unwrap_err().field.as_deref(),
            Some("vehicle")
        );

        let z = Zone::utc();
        let e = run_edit(
            &Fields::of(&[
                ("kind", "pickup"),
                ("title", "Lenses"),
                ("requested_by", "Camera"),
                ("needed_by", "25:99"),
            ]),
            "2030-06-14",
            &z,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("needed_by"));
        let edit = run_edit(
            &Fields::of(&[
                ("kind", "pickup"),
                ("title", "Lenses"),
                ("requested_by", "Camera"),
                ("department", ""),
                ("needed_by", "14:30"),
                ("vehicle", ""),
            ]),
            "2030-06-14",
            &z,
        )
        .unwrap();
        assert_eq!(edit.department, Some(None), "a blank field clears it");
        assert_eq!(edit.vehicle, Some(None));
        assert_eq!(edit.needed_by, Some(z.at("2030-06-14", 14 * 60 + 30)));
    }

    #[test]
    fn domain_refusals_point_at_the_form_field_and_ids_are_safe_in_urls() {
        let e = DomainError::OutOfRange {
            field: "receipt tax",
            reason: "x".into(),
        };
        assert_eq!(field_of(&e), Some("tax"));
        assert_eq!(field_of(&DomainError::NotPublished), None);
        assert_eq!(seg("abc-DEF_1"), "abc-DEF_1");
        assert_eq!(seg("a/b?c\n"), "a%2Fb%3Fc%0A");
    }
}
