//! The `setlink` command line: `serve` the relay, and administer productions, invites and
//! members directly in its storage (safe while a relay runs on it: SQLite WAL or
//! PostgreSQL, and the relay picks up revocations within half a second). `--database
//! postgres://...` selects PostgreSQL for every command; without it, SQLite in
//! `--data-dir`.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::admin;
use crate::http::Settings;
use crate::hub::HubConfig;
use crate::serve::{self, ServeOptions};
use crate::storage::{files, PostgresOptions, PostgresStorage, SqliteStorage, Storage};
use crate::today::Today;
use clap::{Args, Parser, Subcommand};
use setlink_core::Role;

#[derive(Parser)]
#[command(
    name = "setlink",
    version,
    about = "setlink relay: offline-first sync for production crews"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DataDir {
    /// Where the relay keeps its SQLite database.
    #[arg(
        long,
        env = "SETLINK_DATA_DIR",
        default_value = "./setlink-data",
        global = true
    )]
    data_dir: PathBuf,
    /// Keep everything in this PostgreSQL database instead (`postgres://user@host/db`):
    /// several relays may share it. Absent: SQLite in --data-dir.
    #[arg(long, env = "SETLINK_DATABASE", global = true, value_name = "URL")]
    database: Option<String>,
}

impl DataDir {
    /// The PostgreSQL URL, when --database names one; an error for anything else.
    fn postgres(&self) -> Result<Option<&str>, String> {
        match self.database.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(url) if crate::storage::is_postgres_url(url) => Ok(Some(url)),
            Some(_) => Err(
                "--database takes a PostgreSQL URL (postgres://user@host:5432/db); leave it out to use SQLite in --data-dir"
                    .into(),
            ),
        }
    }

    /// `backup` and `restore` copy the SQLite file; PostgreSQL has its own tools.
    fn refuse_postgres(&self, what: &str) -> Result<(), String> {
        match self.postgres()? {
            Some(_) => Err(format!(
                "`setlink {what}` copies the SQLite database in --data-dir; this relay's storage is PostgreSQL (--database): use pg_dump / pg_restore"
            )),
            None => Ok(()),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay.
    Serve(Box<ServeArgs>),
    /// Create and list productions.
    #[command(subcommand)]
    Production(ProductionCmd),
    /// Create invite codes.
    #[command(subcommand)]
    Invite(InviteCmd),
    /// List and revoke members.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Copy the database to FILE, consistently, while a relay keeps running on it.
    Backup {
        /// The backup file to create (never overwritten).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        #[command(flatten)]
        data: DataDir,
    },
    /// Replace the data directory's database with a backup (refused while a relay runs
    /// on it; the backup is checked first and the replaced database is moved aside).
    Restore {
        /// A file made by `setlink backup`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, env = "SETLINK_LISTEN", default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    #[command(flatten)]
    data: DataDir,
    /// Seed a demo production and print its invite codes.
    #[arg(long, env = "SETLINK_DEMO")]
    demo: bool,
    /// Pin "today" instead of reading the system clock in each production's time zone:
    /// a day (YYYY-MM-DD, the day --demo seeds and the dashboard opens on) or an instant
    /// with its offset (e.g. 2026-12-01T10:30:00Z, a stopped clock: today is its date in
    /// the production's zone, and late flags compare against it). For tests and demos
    /// that must not depend on the date.
    #[arg(long, env = "SETLINK_TODAY", value_name = "YYYY-MM-DD|INSTANT")]
    today: Option<Today>,
    /// Also write the bound address to this file.
    #[arg(long, env = "SETLINK_ADDR_FILE")]
    addr_file: Option<PathBuf>,
    /// Drop a document from memory after this many seconds without subscribers.
    #[arg(long, env = "SETLINK_IDLE_EVICT_SECS", default_value_t = 60)]
    idle_evict_secs: u64,
    /// Largest WebSocket frame accepted, in bytes.
    #[arg(long, env = "SETLINK_MAX_FRAME_BYTES", default_value_t = 16 * 1024 * 1024)]
    max_frame_bytes: usize,
    /// Largest size one incoming Automerge chunk may inflate to, in bytes; checked before
    /// it is inflated.
    #[arg(long, env = "SETLINK_MAX_CHANGE_BYTES", default_value_t = 8 * 1024 * 1024)]
    max_change_bytes: usize,
    /// Most operations one incoming Automerge chunk may hold.
    #[arg(long, env = "SETLINK_MAX_CHANGE_OPS", default_value_t = 100_000)]
    max_change_ops: usize,
    /// Benchmarks only: accept changes without the write rules, to measure what they cost.
    /// Never on a relay anyone uses: members could then forge history.
    #[arg(long, hide = true)]
    unsafe_skip_write_rules: bool,
    /// Sustained messages per second allowed per connection.
    #[arg(long, env = "SETLINK_RATE_PER_SEC", default_value = "500")]
    rate_per_sec: NonZeroU32,
    /// Burst of messages allowed above the sustained rate.
    #[arg(long, env = "SETLINK_RATE_BURST", default_value = "2000")]
    rate_burst: NonZeroU32,
    /// Bytes queued towards one connection before it counts as a stalled reader and is
    /// dropped (it resyncs when it reconnects).
    #[arg(long, env = "SETLINK_MAX_QUEUED_BYTES", default_value_t = 8 * 1024 * 1024)]
    max_queued_bytes: usize,
    /// Seconds a connection may take to send a request's headers; slower ones (slow
    /// loris, sockets that never speak) are closed.
    #[arg(long, env = "SETLINK_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    header_timeout_secs: u64,
    /// Connections one IP address may hold open (phones behind an office router share one).
    #[arg(long, env = "SETLINK_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    max_connections_per_ip: usize,
    /// Load balancers (IP addresses, comma-separated) whose connections start with a PROXY
    /// protocol header (haproxy `send-proxy-v2`): the client address in it is the one the
    /// per-address caps and sign-in limits count. Connections from these addresses without
    /// a header are refused; nobody else's header is read.
    #[arg(
        long,
        env = "SETLINK_PROXY_PROTOCOL_FROM",
        value_delimiter = ',',
        value_name = "IP"
    )]
    proxy_protocol_from: Vec<std::net::IpAddr>,
    /// Connections open at once in all; 0 means as many as the open-file limit allows
    /// (raised to its hard limit at start) less 128 kept for storage and /healthz.
    #[arg(long, env = "SETLINK_MAX_CONNECTIONS", default_value_t = 0)]
    max_connections: usize,
    /// Connections one member may hold open at once.
    #[arg(long, env = "SETLINK_MAX_MEMBER_CONNECTIONS", default_value_t = 16)]
    max_member_connections: usize,
    /// Ephemeral (presence) messages one member may send per second, over all their
    /// connections; more are dropped.
    #[arg(long, env = "SETLINK_EPHEMERAL_PER_SEC", default_value = "20")]
    ephemeral_per_sec: NonZeroU32,
    /// Burst of ephemeral messages allowed above that rate.
    #[arg(long, env = "SETLINK_EPHEMERAL_BURST", default_value = "60")]
    ephemeral_burst: NonZeroU32,
    /// Lifetime of bearer tokens issued by redeeming invites, in seconds.
    #[arg(long, env = "SETLINK_TOKEN_TTL_SECS", default_value_t = 90 * 24 * 3600)]
    token_ttl_secs: u64,
    /// Seconds between keepalive pings; a peer silent for three is dropped.
    #[arg(long, env = "SETLINK_PING_SECS", default_value_t = 15)]
    ping_secs: u64,
    /// Serve TLS (https://, wss://) with this PEM certificate chain, leaf first. The file
    /// and --tls-key are read again when they change (a renewal needs no restart). Without
    /// it the relay speaks plain HTTP: put it behind a TLS proxy anywhere but localhost.
    #[arg(
        long,
        env = "SETLINK_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "SETLINK_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// The address crew members reach this relay at (`https://set.example.com`), used in
    /// personal call-sheet links. Without it a link is made from the address the
    /// coordinator's browser used, which is only right when crew reach the relay the same way.
    #[arg(long, env = "SETLINK_PUBLIC_URL", value_name = "URL", value_parser = parse_public_url)]
    public_url: Option<String>,
    /// Send call sheets by email through this SMTP server (mail is off without it).
    #[arg(
        long,
        env = "SETLINK_SMTP_HOST",
        value_name = "HOST",
        requires = "mail_from"
    )]
    smtp_host: Option<String>,
    /// The SMTP server's port (default: 587 with STARTTLS, 465 with TLS, 25 without).
    #[arg(long, env = "SETLINK_SMTP_PORT")]
    smtp_port: Option<u16>,
    /// How to secure the SMTP connection.
    #[arg(
        long,
        env = "SETLINK_SMTP_SECURITY",
        value_enum,
        default_value = "starttls"
    )]
    smtp_security: crate::mail::SmtpSecurity,
    /// Trust this CA (PEM) for the SMTP server's certificate as well as the public roots:
    /// a company mail server with its own CA.
    #[arg(long, env = "SETLINK_SMTP_CA", value_name = "PEM")]
    smtp_ca: Option<PathBuf>,
    /// The SMTP user name, when the server wants one (with --smtp-password).
    #[arg(long, env = "SETLINK_SMTP_USER", requires = "smtp_password")]
    smtp_user: Option<String>,
    /// The SMTP password (better in the environment than on the command line).
    #[arg(
        long,
        env = "SETLINK_SMTP_PASSWORD",
        hide_env_values = true,
        requires = "smtp_user"
    )]
    smtp_password: Option<String>,
    /// Who call-sheet email comes from: `Production Office <office@example.com>`.
    #[arg(long, env = "SETLINK_MAIL_FROM", value_name = "MAILBOX", value_parser = parse_mailbox)]
    mail_from: Option<lettre::message::Mailbox>,
    /// Seconds before the first retry of an email that could not be sent; each next retry
    /// waits twice as long, up to an hour, 8 tries in all.
    #[arg(long, env = "SETLINK_MAIL_RETRY_SECS", default_value_t = 60)]
    mail_retry_secs: u64,
    /// The largest receipt or proof-of-delivery photo (or PDF) a device may upload, in bytes.
    #[arg(long, env = "SETLINK_MAX_ATTACHMENT_BYTES", default_value_t = setlink_core::attachment::MAX_ATTACHMENT_BYTES)]
    max_attachment_bytes: u64,
    /// Seconds an unfinished upload, or a photo no document references any more, is kept
    /// before it is deleted.
    #[arg(long, env = "SETLINK_ATTACHMENT_GRACE_SECS", default_value_t = 24 * 3600)]
    attachment_grace_secs: u64,
    /// Serve /metrics (Prometheus text) to scrapers that send this bearer token; /metrics
    /// is off without it. Counters cover every production, so member tokens never open it.
    #[arg(long, env = "SETLINK_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "SETLINK_LOG_JSON")]
    log_json: bool,
    /// Seconds the database integrity check at start may take (a damaged database is
    /// refused); past it the relay starts and logs that the check was cut short. 0 skips it.
    #[arg(long, env = "SETLINK_INTEGRITY_CHECK_SECS", default_value_t = 30.0)]
    integrity_check_secs: f64,
    /// Invite-code redemptions and dashboard sign-in attempts allowed per client IP address
    /// per minute (all at once as a burst, then evenly); past it, 429 with Retry-After.
    #[arg(long, env = "SETLINK_SIGN_IN_PER_IP_PER_MIN", default_value_t = crate::limits::DEFAULT_PER_IP_PER_MIN)]
    sign_in_per_ip_per_min: u32,
    /// The same attempts allowed per code, key or token tried, from anywhere, per minute.
    #[arg(long, env = "SETLINK_SIGN_IN_PER_CODE_PER_MIN", default_value_t = crate::limits::DEFAULT_PER_SECRET_PER_MIN)]
    sign_in_per_code_per_min: u32,
    /// Tests only: while this file exists every storage commit fails as on a full disk.
    #[arg(long, env = "SETLINK_UNSAFE_FAULT_FILE", hide = true)]
    unsafe_fault_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ProductionCmd {
    /// Create a production and its first coordinator; prints the coordinator's invite code.
    Create {
        #[arg(long)]
        title: String,
        #[arg(long)]
        coordinator_name: String,
        /// Production company (defaults to the title).
        #[arg(long)]
        company: Option<String>,
        /// IANA time zone of the shoot, e.g. America/Los_Angeles.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// List productions.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum InviteCmd {
    /// Create an invite code for a role in a production.
    Create {
        /// Production id (see `setlink production list`).
        #[arg(long)]
        production: String,
        /// coordinator, office, pa or crew.
        #[arg(long)]
        role: Role,
        /// How many times the code may be redeemed.
        #[arg(long, default_value_t = 1)]
        uses: i64,
        /// Hours until the code expires.
        #[arg(long, default_value_t = 168)]
        expires_hours: u64,
        /// Bind the code to an existing member (a new device for them).
        #[arg(long)]
        member: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum MemberCmd {
    /// List members: of one production, or of every production on this relay (under a
    /// line naming each) when --production is not given.
    List {
        #[arg(long)]
        production: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Revoke a member: their tokens stop working and connections end at once.
    Revoke {
        member_id: String,
        #[command(flatten)]
        data: DataDir,
    },
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The store an admin command works on: PostgreSQL with --database, else SQLite in
/// --data-dir (safe while a relay runs on either).
async fn open_storage(data: &DataDir) -> Result<Arc<dyn Storage>, String> {
    if let Some(url) = data.postgres()? {
        let options = PostgresOptions {
            listen: false,
            ..PostgresOptions::default()
        };
        let s = PostgresStorage::connect(url, options)
            .await
            .map_err(|e| format!("cannot open the PostgreSQL database: {e}"))?;
        return Ok(Arc::new(s));
    }
    let dir = &data.data_dir;
    let s = SqliteStorage::open(dir).map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
    Ok(Arc::new(s))
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(a) => {
            init_logs(a.log_json);
            let database = a.data.postgres()?.map(str::to_owned);
            let serves_tls = a.tls_cert.is_some();
            let mail = mail_settings(&a)?;
            let opts = ServeOptions {
                listen: a.listen,
                database,
                data_dir: a.data.data_dir,
                demo: a.demo,
                addr_file: a.addr_file,
                tls: a
                    .tls_cert
                    .zip(a.tls_key)
                    .map(|(cert, key)| serve::TlsPaths { cert, key }),
                listen_limits: crate::listen::ListenLimits {
                    header_timeout: Duration::from_secs(a.header_timeout_secs.max(1)),
                    per_ip: a.max_connections_per_ip.max(1),
                    total: match a.max_connections {
                        0 => crate::listen::connection_budget(),
                        n => n,
                    },
                    proxy_protocol_from: a.proxy_protocol_from.into(),
                },
                settings: Settings {
                    token_ttl: Duration::from_secs(a.token_ttl_secs),
                    rate_per_sec: a.rate_per_sec,
                    rate_burst: a.rate_burst,
                    ping_interval: Duration::from_secs(a.ping_secs.max(1)),
                    today: a.today.unwrap_or_default(),
                    metrics_token: a.metrics_token.filter(|t| !t.trim().is_empty()),
                    public_url: a.public_url,
                    mail,
                    attachments: crate::attachments::AttachmentSettings::new(
                        a.max_attachment_bytes,
                        Duration::from_secs(a.attachment_grace_secs.max(1)),
                    ),
                    tls: serves_tls,
                    sign_in_limits: Arc::new(crate::limits::SignInLimits::new(
                        a.sign_in_per_ip_per_min,
                        a.sign_in_per_code_per_min,
                    )),
                    ..Settings::default()
                },
                hub: HubConfig {
                    idle_evict: Duration::from_secs(a.idle_evict_secs),
                    max_frame_bytes: a.max_frame_bytes,
                    write_rules: !a.unsafe_skip_write_rules,
                    ephemeral_per_sec: a.ephemeral_per_sec,
                    outbound_bytes: a.max_queued_bytes,
                    max_member_connections: a.max_member_connections.max(1),
                    ephemeral_burst: a.ephemeral_burst,
                    cost: setlink_core::rules::cost::CostLimits {
                        max_decompressed_bytes: a.max_change_bytes,
                        max_ops: a.max_change_ops,
                    },
                    ..HubConfig::default()
                },
                integrity_budget: Duration::try_from_secs_f64(a.integrity_check_secs)
                    .map_err(|e| format!("--integrity-check-secs: {e}"))?,
                storage: crate::storage::SqliteOptions {
                    fault_file: a.unsafe_fault_file,
                },
            };
            serve::serve(opts).await.map_err(|e| e.to_string())
        }
        Command::Production(ProductionCmd::Create {
            title,
            coordinator_name,
            company,
            timezone,
            data,
        }) => {
            let storage = open_storage(&data).await?;
            let details = admin::ProductionDetails {
                title: &title,
                company: company.as_deref(),
                timezone: Some(&timezone),
            };
            let p = admin::create_production(
                &*storage,
                details,
                &coordinator_name,
                &Settings::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
            println!("production:        {}", p.production_id);
            println!("production doc:    automerge:{}", p.production_doc_id);
            println!(
                "coordinator:       {} ({})",
                coordinator_name.trim(),
                p.coordinator_member_id
            );
            println!("coordinator code:  {}", p.coordinator_invite);
            println!(
                "\nRedeem the code on the coordinator's device (POST /api/redeem) within 7 days."
            );
            Ok(())
        }
        Command::Production(ProductionCmd::List { data }) => {
            let storage = open_storage(&data).await?;
            for p in storage.productions().await.map_err(|e| e.to_string())? {
                println!("{}  automerge:{}  {}", p.id, p.production_doc, p.title);
            }
            Ok(())
        }
        Command::Invite(InviteCmd::Create {
            production,
            role,
            uses,
            expires_hours,
            member,
            data,
        }) => {
            let storage = open_storage(&data).await?;
            if let Some(m) = &member {
                let found = storage.member(m.clone()).await.map_err(|e| e.to_string())?;
                match found {
                    Some(found) if found.production_id == production && found.role == role => {}
                    Some(_) => {
                        return Err(format!(
                            "member `{m}` is not a {role} of production `{production}`"
                        ))
                    }
                    None => return Err(format!("no member `{m}`")),
                }
            }
            let inv = admin::create_invite(
                &*storage,
                &production,
                role,
                member.as_deref(),
                None,
                Duration::from_secs(expires_hours.saturating_mul(3600)),
                Some(uses),
            )
            .await
            .map_err(|e| e.to_string())?;
            println!("{}", inv.code);
            eprintln!("{role} invite, {uses} use(s), expires in {expires_hours} h");
            Ok(())
        }
        Command::Member(MemberCmd::List { production, data }) => {
            let storage = open_storage(&data).await?;
            let productions = storage.productions().await.map_err(|e| e.to_string())?;
            let chosen: Vec<_> = match &production {
                Some(id) => {
                    let p: Vec<_> = productions.into_iter().filter(|p| p.id == *id).collect();
                    if p.is_empty() {
                        return Err(format!(
                            "no production `{id}` on this relay; `setlink production list` shows them"
                        ));
                    }
                    p
                }
                None => productions,
            };
            for p in chosen {
                if production.is_none() {
                    println!("production {}  {}", p.id, p.title);
                }
                for m in storage.members(p.id).await.map_err(|e| e.to_string())? {
                    let state = if m.revoked_at_ms.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!("{}  {:<12} {:<8} {}", m.id, m.role.as_str(), state, m.name);
                }
            }
            Ok(())
        }
        Command::Backup { to, data } => {
            data.refuse_postgres("backup")?;
            let from = data.data_dir.clone();
            let bytes =
                tokio::task::spawn_blocking(move || files::backup(&from, &to).map(|n| (n, to)))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("backup failed, nothing was written: {e}"))?;
            println!(
                "backed up {} to {} ({} bytes, integrity checked)",
                files::db_path(&data.data_dir).display(),
                bytes.1.display(),
                bytes.0
            );
            Ok(())
        }
        Command::Restore { from, data } => {
            data.refuse_postgres("restore")?;
            let dir = data.data_dir.clone();
            let src = from.clone();
            let r = tokio::task::spawn_blocking(move || files::restore(&dir, &src))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("restore failed: {e}"))?;
            println!(
                "restored {} from {}",
                files::db_path(&data.data_dir).display(),
                from.display()
            );
            if let Some(aside) = r.moved_aside {
                println!("the database it replaced is kept in {}", aside.display());
            }
            Ok(())
        }
        Command::Member(MemberCmd::Revoke { member_id, data }) => {
            let storage = open_storage(&data).await?;
            let found = storage
                .revoke_member(member_id.clone(), crate::auth::now_ms())
                .await
                .map_err(|e| e.to_string())?;
            if !found {
                return Err(format!("no member `{member_id}`"));
            }
            println!("revoked {member_id}; a running relay ends their connections within a second");
            Ok(())
        }
    }
}

/// `--smtp-*` and `--mail-*` as the mailer's settings; `None` without `--smtp-host`.
/// Refuses to start with a CA file that cannot be read or a security setting that cannot
/// be built, rather than failing at the first email.
fn mail_settings(a: &ServeArgs) -> Result<Option<Arc<crate::mail::MailSettings>>, String> {
    use crate::mail::SmtpSecurity;
    let Some((host, from)) = a.smtp_host.clone().zip(a.mail_from.clone()) else {
        return Ok(None);
    };
    let extra_ca = match &a.smtp_ca {
        Some(path) => Some(
            std::fs::read(path)
                .map_err(|e| format!("cannot read --smtp-ca {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let settings = crate::mail::MailSettings {
        port: a.smtp_port.unwrap_or(match a.smtp_security {
            SmtpSecurity::None => 25,
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
        }),
        host,
        security: a.smtp_security,
        credentials: a.smtp_user.clone().zip(a.smtp_password.clone()),
        from,
        retry_after: Duration::from_secs(a.mail_retry_secs.max(1)),
        extra_ca,
    };
    settings.transport()?;
    Ok(Some(Arc::new(settings)))
}

fn parse_mailbox(raw: &str) -> Result<lettre::message::Mailbox, String> {
    raw.trim()
        .parse()
        .map_err(|e| format!("{raw:?} is not a mailbox such as `Office <office@example.com>`: {e}"))
}

/// An `http://` or `https://` origin (a path is kept: a relay may sit under one), without
/// the trailing slash.
fn parse_public_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{raw:?} is not an http:// or https:// address"))?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "{raw:?} is not an address crew can open (expected https://host[:port][/path])"
        ));
    }
    Ok(url.to_owned())
}

/// Parses the command line and runs it; the `setlink` binary is exactly this.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("setlink: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("setlink: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_is_an_http_origin_kept_without_its_trailing_slash() {
        assert_eq!(
            parse_public_url("https://set.example.com/").unwrap(),
            "https://set.example.com"
        );
        assert_eq!(
            parse_public_url(" http://10.0.0.2:7878/relay ").unwrap(),
            "http://10.0.0.2:7878/relay"
        );
        for bad in [
            "set.example.com",
            "ftp://x",
            "https://",
            "https://x/?a=1",
            "https://x#k",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from(["setlink", "serve", "--public-url", "mailto:me"]);
        assert!(cli.is_err(), "clap refuses it before the relay starts");
    }
}
