//! [`AccountsStore`] on SQLite: productions, members, invites, tokens, sessions, sign-in keys.

use futures_util::future::BoxFuture;
use rusqlite::{params, OptionalExtension};

use super::{
    doc_id_from_sql, finish_member, get_member, member_from_row, role_from_sql, SqliteStorage,
    MEMBER_COLS,
};
use crate::storage::{
    outcome_columns, AccountsStore, CrewLink, DashSession, Invite, MailKind, MailOutcome,
    MailStatus, Member, NewMail, Production, QueuedMail, RedeemRefusal, Redeemed, Redemption,
    Revocation, StorageError, StorageResult, TokenRecord,
};

impl AccountsStore for SqliteStorage {
    fn create_production(&self, p: Production) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO productions (id, title, production_doc, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![p.id, p.title, p.production_doc.as_bytes().as_slice(), p.created_at_ms],
            )?;
            Ok(())
        })
    }

    fn production(&self, id: String) -> BoxFuture<'_, StorageResult<Option<Production>>> {
        self.call(move |conn| {
            let row: Option<(String, String, Vec<u8>, i64)> = conn
                .query_row(
                    "SELECT id, title, production_doc, created_at_ms FROM productions WHERE id = ?1",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            row.map(|(id, title, doc, created_at_ms)| {
                Ok(Production {
                    id,
                    title,
                    production_doc: doc_id_from_sql(doc)?,
                    created_at_ms,
                })
            })
            .transpose()
        })
    }

    fn productions(&self) -> BoxFuture<'_, StorageResult<Vec<Production>>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT id, title, production_doc, created_at_ms FROM productions ORDER BY created_at_ms",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, title, doc, created_at_ms)| {
                    Ok(Production {
                        id,
                        title,
                        production_doc: doc_id_from_sql(doc)?,
                        created_at_ms,
                    })
                })
                .collect()
        })
    }

    fn create_member(&self, m: Member) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO members (id, production_id, name, role, created_at_ms, revoked_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    m.id,
                    m.production_id,
                    m.name,
                    m.role.as_str(),
                    m.created_at_ms,
                    m.revoked_at_ms
                ],
            )?;
            Ok(())
        })
    }

    fn member(&self, id: String) -> BoxFuture<'_, StorageResult<Option<Member>>> {
        self.call(move |conn| get_member(conn, &id))
    }

    fn members(&self, production_id: String) -> BoxFuture<'_, StorageResult<Vec<Member>>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {MEMBER_COLS} FROM members WHERE production_id = ?1 ORDER BY created_at_ms, id"
            ))?;
            let rows = stmt
                .query_map(params![production_id], member_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(finish_member).collect()
        })
    }

    fn revoke_member(&self, id: String, now_ms: i64) -> BoxFuture<'_, StorageResult<bool>> {
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE members SET revoked_at_ms = COALESCE(revoked_at_ms, ?2) WHERE id = ?1",
                params![id, now_ms],
            )?;
            if n == 0 {
                return Ok(false);
            }
            conn.execute(
                "UPDATE tokens SET revoked_at_ms = COALESCE(revoked_at_ms, ?2) WHERE member_id = ?1",
                params![id, now_ms],
            )?;
            conn.execute(
                "INSERT INTO revocations (member_id, token_hash, at_ms) VALUES (?1, NULL, ?2)",
                params![id, now_ms],
            )?;
            // The sign-in key goes with the member. Their dashboard sessions stay until
            // used or expired, so the next request can say "revoked" rather than "signed
            // out"; every request checks the member, so none of them works any more.
            conn.execute("DELETE FROM signin_keys WHERE member_id = ?1", params![id])?;
            conn.execute("DELETE FROM crew_links WHERE member_id = ?1", params![id])?;
            Ok(true)
        })
    }

    fn revocations_since(&self, seq: i64) -> BoxFuture<'_, StorageResult<Vec<Revocation>>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, member_id, token_hash FROM revocations WHERE seq > ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![seq], |r| {
                Ok(Revocation {
                    seq: r.get(0)?,
                    member_id: r.get(1)?,
                    token_hash: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn create_invite(&self, i: Invite) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO invites (code_hash, production_id, role, member_id, created_by, created_at_ms,
                                      expires_at_ms, max_uses, uses)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    i.code_hash,
                    i.production_id,
                    i.role.as_str(),
                    i.member_id,
                    i.created_by,
                    i.created_at_ms,
                    i.expires_at_ms,
                    i.max_uses,
                    i.uses
                ],
            )?;
            Ok(())
        })
    }

    fn redeem_invite(
        &self,
        r: Redemption,
    ) -> BoxFuture<'_, StorageResult<Result<Redeemed, RedeemRefusal>>> {
        self.call(move |conn| {
            type InviteRow = (String, String, Option<String>, i64, Option<i64>, i64);
            let invite: Option<InviteRow> = conn
                .query_row(
                    "SELECT production_id, role, member_id, expires_at_ms, max_uses, uses
                     FROM invites WHERE code_hash = ?1",
                    params![r.code_hash],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get(1)?,
                            row.get(2)?,
                            row.get(3)?,
                            row.get(4)?,
                            row.get(5)?,
                        ))
                    },
                )
                .optional()?;
            let Some((production_id, role, bound, expires, max_uses, uses)) = invite else {
                return Ok(Err(RedeemRefusal::Unknown));
            };
            if expires <= r.now_ms {
                return Ok(Err(RedeemRefusal::Expired));
            }
            if max_uses.is_some_and(|m| uses >= m) {
                return Ok(Err(RedeemRefusal::UsedUp));
            }
            let role = role_from_sql(role)?;
            let (member, created_member) = match bound {
                Some(member_id) => match get_member(conn, &member_id)? {
                    Some(m) if m.revoked_at_ms.is_none() => (m, false),
                    _ => return Ok(Err(RedeemRefusal::MemberRevoked)),
                },
                None => {
                    let m = Member {
                        id: r.new_member_id.clone(),
                        production_id,
                        name: r.name.clone(),
                        role,
                        created_at_ms: r.now_ms,
                        revoked_at_ms: None,
                    };
                    conn.execute(
                        "INSERT INTO members (id, production_id, name, role, created_at_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            m.id,
                            m.production_id,
                            m.name,
                            m.role.as_str(),
                            m.created_at_ms
                        ],
                    )?;
                    (m, true)
                }
            };
            conn.execute(
                "UPDATE invites SET uses = uses + 1 WHERE code_hash = ?1",
                params![r.code_hash],
            )?;
            conn.execute(
                "INSERT INTO tokens (token_hash, member_id, device_id, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    r.token_hash,
                    member.id,
                    r.device_id,
                    r.now_ms,
                    r.token_expires_at_ms
                ],
            )?;
            Ok(Ok(Redeemed {
                member,
                created_member,
            }))
        })
    }

    fn token(&self, token_hash: String) -> BoxFuture<'_, StorageResult<Option<TokenRecord>>> {
        self.call(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT token_hash, member_id, device_id, created_at_ms, expires_at_ms, revoked_at_ms
                     FROM tokens WHERE token_hash = ?1",
                )?
                .query_row(params![token_hash], |r| {
                    Ok(TokenRecord {
                        token_hash: r.get(0)?,
                        member_id: r.get(1)?,
                        device_id: r.get(2)?,
                        created_at_ms: r.get(3)?,
                        expires_at_ms: r.get(4)?,
                        revoked_at_ms: r.get(5)?,
                    })
                })
                .optional()?)
        })
    }

    fn create_token(&self, t: TokenRecord) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO tokens (token_hash, member_id, device_id, created_at_ms, expires_at_ms, revoked_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    t.token_hash,
                    t.member_id,
                    t.device_id,
                    t.created_at_ms,
                    t.expires_at_ms,
                    t.revoked_at_ms
                ],
            )?;
            Ok(())
        })
    }

    fn invite(&self, code_hash: String) -> BoxFuture<'_, StorageResult<Option<Invite>>> {
        self.call(move |conn| {
            type Row = (
                String,
                String,
                Option<String>,
                Option<String>,
                i64,
                i64,
                Option<i64>,
                i64,
            );
            let row: Option<Row> = conn
                .query_row(
                    "SELECT production_id, role, member_id, created_by, created_at_ms, expires_at_ms,
                            max_uses, uses
                     FROM invites WHERE code_hash = ?1",
                    params![code_hash],
                    |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                            r.get(7)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(production_id, role, member_id, created_by, created_at_ms, expires_at_ms, max_uses, uses)| {
                Ok(Invite {
                    code_hash: code_hash.clone(),
                    production_id,
                    role: role_from_sql(role)?,
                    member_id,
                    created_by,
                    created_at_ms,
                    expires_at_ms,
                    max_uses,
                    uses,
                })
            })
            .transpose()
        })
    }

    fn create_session(&self, s: DashSession) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM dashboard_sessions WHERE expires_at_ms <= ?1",
                params![s.created_at_ms],
            )?;
            conn.execute(
                "INSERT INTO dashboard_sessions (secret_hash, member_id, device_id, token_hash, csrf,
                                                 created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    s.secret_hash,
                    s.member_id,
                    s.device_id,
                    s.token_hash,
                    s.csrf,
                    s.created_at_ms,
                    s.expires_at_ms
                ],
            )?;
            Ok(())
        })
    }

    fn session(&self, secret_hash: String) -> BoxFuture<'_, StorageResult<Option<DashSession>>> {
        self.call(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT secret_hash, member_id, device_id, token_hash, csrf, created_at_ms, expires_at_ms
                     FROM dashboard_sessions WHERE secret_hash = ?1",
                )?
                .query_row(params![secret_hash], |r| {
                    Ok(DashSession {
                        secret_hash: r.get(0)?,
                        member_id: r.get(1)?,
                        device_id: r.get(2)?,
                        token_hash: r.get(3)?,
                        csrf: r.get(4)?,
                        created_at_ms: r.get(5)?,
                        expires_at_ms: r.get(6)?,
                    })
                })
                .optional()?)
        })
    }

    fn delete_session(&self, secret_hash: String) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM dashboard_sessions WHERE secret_hash = ?1",
                params![secret_hash],
            )?;
            Ok(())
        })
    }

    fn set_signin_key(
        &self,
        member_id: String,
        key_hash: String,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO signin_keys (member_id, key_hash, created_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (member_id) DO UPDATE SET key_hash = excluded.key_hash,
                                                       created_at_ms = excluded.created_at_ms",
                params![member_id, key_hash, now_ms],
            )?;
            Ok(())
        })
    }

    fn signin_key_member(&self, key_hash: String) -> BoxFuture<'_, StorageResult<Option<String>>> {
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT member_id FROM signin_keys WHERE key_hash = ?1",
                    params![key_hash],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn signin_key_created(&self, member_id: String) -> BoxFuture<'_, StorageResult<Option<i64>>> {
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT created_at_ms FROM signin_keys WHERE member_id = ?1",
                    params![member_id],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn set_crew_link(
        &self,
        member_id: String,
        link_key: String,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO crew_links (member_id, link_key, created_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (member_id) DO UPDATE SET link_key = excluded.link_key,
                                                       created_at_ms = excluded.created_at_ms",
                params![member_id, link_key, now_ms],
            )?;
            Ok(())
        })
    }

    fn crew_link(&self, member_id: String) -> BoxFuture<'_, StorageResult<Option<CrewLink>>> {
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT link_key, created_at_ms FROM crew_links WHERE member_id = ?1",
                    params![member_id],
                    |r| {
                        Ok(CrewLink {
                            link_key: r.get(0)?,
                            created_at_ms: r.get(1)?,
                        })
                    },
                )
                .optional()?)
        })
    }

    fn crew_link_member(&self, link_key: String) -> BoxFuture<'_, StorageResult<Option<String>>> {
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT member_id FROM crew_links WHERE link_key = ?1",
                    params![link_key],
                    |r| r.get(0),
                )
                .optional()?)
        })
    }

    fn queue_mail(&self, mails: Vec<NewMail>, now_ms: i64) -> BoxFuture<'_, StorageResult<usize>> {
        self.call(move |conn| {
            let mut new = 0;
            let mut insert = conn.prepare_cached(
                "INSERT OR IGNORE INTO mail_outbox (production_id, member_id, kind, day, revision,
                     to_addr, subject, body, state, next_attempt_ms, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9, ?10)",
            )?;
            for m in mails {
                new += insert.execute(params![
                    m.production_id,
                    m.member_id,
                    m.kind.as_str(),
                    m.day,
                    m.revision,
                    m.to_addr,
                    m.subject,
                    m.body,
                    m.due_at_ms,
                    now_ms
                ])?;
            }
            Ok(new)
        })
    }

    fn claim_mail(
        &self,
        now_ms: i64,
        lease_ms: i64,
    ) -> BoxFuture<'_, StorageResult<Option<QueuedMail>>> {
        self.call(move |conn| {
            // One writer thread runs this whole job, so the select and the update are one
            // step for every other caller.
            let found = conn
                .query_row(
                    "SELECT id, production_id, member_id, kind, day, revision, to_addr, subject,
                            body, attempts
                     FROM mail_outbox
                     WHERE state IN ('queued', 'retrying') AND next_attempt_ms <= ?1
                     ORDER BY next_attempt_ms, id LIMIT 1",
                    params![now_ms],
                    |r| {
                        let kind: String = r.get(3)?;
                        let mail = match MailKind::parse(&kind) {
                            Some(kind) => Ok(NewMail {
                                production_id: r.get(1)?,
                                member_id: r.get(2)?,
                                kind,
                                day: r.get(4)?,
                                revision: r.get(5)?,
                                to_addr: r.get(6)?,
                                subject: r.get(7)?,
                                body: r.get(8)?,
                                due_at_ms: now_ms,
                            }),
                            None => Err(kind),
                        };
                        Ok((r.get::<_, i64>(0)?, mail, r.get::<_, i64>(9)?))
                    },
                )
                .optional()?;
            let Some((id, mail, attempts)) = found else {
                return Ok(None);
            };
            let mail = mail.map_err(|kind| {
                StorageError::Corrupt(format!("outbox email {id} has an unknown kind {kind:?}"))
            })?;
            conn.execute(
                "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_ms = ?2 WHERE id = ?1",
                params![id, now_ms.saturating_add(lease_ms)],
            )?;
            Ok(Some(QueuedMail {
                id,
                mail,
                attempts: attempts + 1,
            }))
        })
    }

    fn finish_mail(
        &self,
        id: i64,
        outcome: MailOutcome,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |conn| {
            let (state, error, next, done) = outcome_columns(outcome, now_ms);
            conn.execute(
                "UPDATE mail_outbox SET state = ?2, last_error = ?3,
                     next_attempt_ms = COALESCE(?4, next_attempt_ms), done_at_ms = ?5
                 WHERE id = ?1",
                params![id, state, error, next, done],
            )?;
            Ok(())
        })
    }

    fn mail_statuses(
        &self,
        production_id: String,
        day: String,
    ) -> BoxFuture<'_, StorageResult<Vec<MailStatus>>> {
        self.call(move |conn| {
            let mut q = conn.prepare_cached(
                "SELECT member_id, kind, revision, state, last_error, attempts,
                        COALESCE(done_at_ms, next_attempt_ms)
                 FROM mail_outbox WHERE production_id = ?1 AND day = ?2 ORDER BY id",
            )?;
            // A row of a kind this relay does not know is left out, not an error: the
            // page shows the rest.
            let rows = q.query_map(params![production_id, day], |r| {
                let kind: String = r.get(1)?;
                Ok(match MailKind::parse(&kind) {
                    Some(kind) => Some(MailStatus {
                        member_id: r.get(0)?,
                        kind,
                        revision: r.get(2)?,
                        state: r.get(3)?,
                        error: r.get(4)?,
                        attempts: r.get(5)?,
                        at_ms: r.get(6)?,
                    }),
                    None => None,
                })
            })?;
            let rows: Vec<Option<MailStatus>> = rows.collect::<Result<_, _>>()?;
            Ok(rows.into_iter().flatten().collect())
        })
    }
}
