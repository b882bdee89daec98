//! Call sheets by email: the SMTP settings, and the sender that works through the
//! outbox (`AccountsStore::queue_mail`) in the background.
//!
//! Publishing queues one email per member with an address (`queue.rs`), written by
//! `compose.rs`; the office can queue reminders for whoever has not confirmed by a time.
//! The outbox is a table, so a restart loses nothing queued; each email is claimed with a
//! lease (`claim_mail`), so two relays never send one twice, and a relay that dies while
//! sending leaves it to be taken again once the lease ends. The one window for a
//! duplicate is a relay dying between the SMTP server's "250 accepted" and recording it
//! as sent: SMTP has no way to ask whether a message arrived.

pub mod compose;
pub mod queue;

use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::hub::Hub;
use crate::storage::{MailKind, MailOutcome, QueuedMail};

/// How the relay talks to the mail server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SmtpSecurity {
    /// Plain SMTP: only for a server on this machine or a trusted network.
    None,
    /// Plain connection upgraded with STARTTLS (usually port 587).
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

/// `serve --smtp-*`; mail is off without `--smtp-host`.
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, String)>,
    pub from: Mailbox,
    /// The wait before the first retry; each next one waits twice as long (to an hour).
    pub retry_after: Duration,
    /// A CA (PEM) trusted for the server's certificate besides the public roots.
    pub extra_ca: Option<Vec<u8>>,
}

/// Tries per email before it is given up as failed.
pub const MAX_ATTEMPTS: i64 = 8;
/// How long a claimed email is held by its sender.
const LEASE: Duration = Duration::from_secs(120);
/// How often the outbox is looked at when it was empty.
const POLL: Duration = Duration::from_secs(1);

impl MailSettings {
    /// The SMTP client these settings describe (checked at start: `serve` refuses
    /// settings it cannot build).
    pub fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let tls = || -> Result<TlsParameters, String> {
            let mut params = TlsParameters::builder(self.host.clone());
            if let Some(pem) = &self.extra_ca {
                let ca = Certificate::from_pem(pem)
                    .map_err(|e| format!("the SMTP CA is not a PEM certificate: {e}"))?;
                params = params.add_root_certificate(ca);
            }
            params
                .build_rustls()
                .map_err(|e| format!("cannot set up TLS for SMTP: {e}"))
        };
        let tls = match self.security {
            SmtpSecurity::None => Tls::None,
            // Required, not opportunistic: a server (or someone in between) that does not
            // offer STARTTLS gets no password and no email.
            SmtpSecurity::Starttls => Tls::Required(tls()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .tls(tls)
            .port(self.port)
            .timeout(Some(Duration::from_secs(30)));
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }

    /// The wait after the `attempts`th failed try.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let doublings = attempts.clamp(1, 12) as u32 - 1;
        // Saturating: `--mail-retry-secs` may be any u64.
        self.retry_after
            .saturating_mul(2u32.pow(doublings))
            .min(Duration::from_secs(3600))
    }
}

/// Starts the sender: forever takes the next due email and sends it.
pub fn spawn(hub: Arc<Hub>, settings: Arc<MailSettings>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let transport = match settings.transport() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, host = %settings.host, "cannot set up SMTP; no email will be sent");
                return;
            }
        };
        tracing::info!(host = %settings.host, port = settings.port, "sending call sheet email");
        loop {
            let now = crate::auth::now_ms();
            match hub
                .storage()
                .claim_mail(now, LEASE.as_millis() as i64)
                .await
            {
                Ok(Some(mail)) => {
                    let outcome = deliver(&hub, &settings, &transport, &mail).await;
                    log_outcome(&mail, &outcome);
                    let done = crate::auth::now_ms();
                    match hub.storage().finish_mail(mail.id, outcome, done).await {
                        Ok(()) => hub.mail_changed(mail.mail.production_id),
                        Err(e) => {
                            // The lease runs out and the email is tried again: a duplicate
                            // is better than a member never told.
                            tracing::error!(error = %e, mail = mail.id, "cannot record an email's outcome");
                            tokio::time::sleep(POLL).await;
                        }
                    }
                }
                Ok(None) => tokio::time::sleep(POLL).await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the mail outbox; trying again");
                    tokio::time::sleep(POLL * 5).await;
                }
            }
        }
    })
}

fn log_outcome(mail: &QueuedMail, outcome: &MailOutcome) {
    let (id, member, kind) = (mail.id, &mail.mail.member_id, mail.mail.kind.as_str());
    match outcome {
        MailOutcome::Sent => tracing::info!(mail = id, %member, kind, "email sent"),
        MailOutcome::Skipped { why } => {
            tracing::info!(mail = id, %member, kind, %why, "email not needed")
        }
        MailOutcome::Retry { error, .. } => {
            tracing::warn!(mail = id, %member, kind, %error, attempt = mail.attempts, "email not sent; will retry")
        }
        MailOutcome::Failed { error } | MailOutcome::Bounced { error } => {
            tracing::warn!(mail = id, %member, kind, %error, "email given up")
        }
    }
}

async fn deliver(
    hub: &Hub,
    settings: &MailSettings,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    mail: &QueuedMail,
) -> MailOutcome {
    let m = &mail.mail;
    // A member revoked since the email was queued gets nothing more of the production.
    match hub.storage().member(m.member_id.clone()).await {
        Ok(Some(member)) if member.revoked_at_ms.is_none() => {}
        Ok(_) => {
            return MailOutcome::Skipped {
                why: "the member was revoked".into(),
            }
        }
        Err(e) => return retry(settings, mail, format!("cannot read the member: {e}")),
    }
    if m.kind == MailKind::Reminder {
        match queue::has_confirmed(hub, m).await {
            Ok(true) => {
                return MailOutcome::Skipped {
                    why: "confirmed before the reminder was due".into(),
                }
            }
            Ok(false) => {}
            Err(e) => return retry(settings, mail, format!("cannot read acknowledgements: {e}")),
        }
    }
    let to: Mailbox = match m.to_addr.parse() {
        Ok(to) => to,
        Err(e) => {
            return MailOutcome::Failed {
                error: format!("{:?} is not an address mail can go to: {e}", m.to_addr),
            }
        }
    };
    let message = Message::builder()
        .from(settings.from.clone())
        .to(to)
        .subject(m.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(m.body.clone());
    let message = match message {
        Ok(msg) => msg,
        Err(e) => {
            return MailOutcome::Failed {
                error: format!("cannot build the email: {e}"),
            }
        }
    };
    match transport.send(message).await {
        Ok(_) => MailOutcome::Sent,
        Err(e) if e.is_permanent() => MailOutcome::Bounced {
            error: e.to_string(),
        },
        Err(e) => retry(settings, mail, e.to_string()),
    }
}

fn retry(settings: &MailSettings, mail: &QueuedMail, error: String) -> MailOutcome {
    if mail.attempts >= MAX_ATTEMPTS {
        return MailOutcome::Failed {
            error: format!("{error} (gave up after {} tries)", mail.attempts),
        };
    }
    let wait = settings.backoff(mail.attempts).as_millis() as i64;
    MailOutcome::Retry {
        error,
        at_ms: crate::auth::now_ms().saturating_add(wait),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_an_hour() {
        let s = MailSettings {
            host: "localhost".into(),
            port: 25,
            security: SmtpSecurity::None,
            credentials: None,
            from: "Office <office@example.com>".parse().unwrap(),
            retry_after: Duration::from_secs(30),
            extra_ca: None,
        };
        let secs: Vec<u64> = (1..=9).map(|a| s.backoff(a).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
