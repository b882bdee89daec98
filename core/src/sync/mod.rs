//! Sync: the automerge-repo 2.x wire protocol ([`wire`]) and a sans-IO engine that speaks
//! it ([`engine`]). No sockets and no clocks here: transports (the device client, the
//! relay, a phone-to-phone link) move the bytes and pass the time in.

pub mod engine;
pub mod wire;
