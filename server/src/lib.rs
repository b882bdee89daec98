//! setlink-server: the relay. automerge-repo sync over WebSockets with per-member access
//! control, durable storage behind one trait (SQLite now), and the admin operations the
//! CLI and HTTP API share. `main.rs` only calls [`cli::main`].

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod cli;
pub mod crew;
pub mod dashboard;
pub mod demo;
pub mod ephemeral;
pub mod http;
pub mod hub;
pub mod limits;
pub mod listen;
pub mod mail;
pub mod metrics;
pub mod other_relays;
pub mod outbound;
pub mod production_doc;
pub mod proxy_header;
pub mod serve;
pub mod storage;
pub mod tls;
pub mod today;
pub mod zone;
