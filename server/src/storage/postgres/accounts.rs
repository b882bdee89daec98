//! [`AccountsStore`] on PostgreSQL: productions, members, invites, tokens, sessions and
//! sign-in keys, each write one transaction.

use futures_util::future::BoxFuture;
use setlink_core::Role;
use tokio_postgres::{GenericClient, Row};

use super::{doc_id_from_sql, pg_err, PostgresStorage};
use crate::storage::{
    outcome_columns, AccountsStore, CrewLink, DashSession, Invite, MailKind, MailOutcome,
    MailStatus, Member, NewMail, Production, QueuedMail, RedeemRefusal, Redeemed, Redemption,
    Revocation, StorageError, StorageResult, TokenRecord,
};

fn role(s: String) -> StorageResult<Role> {
    s.parse::<Role>().map_err(StorageError::Corrupt)
}

const MEMBER_COLS: &str = "id, production_id, name, role, created_at_ms, revoked_at_ms";

fn member_from_row(r: &Row) -> StorageResult<Member> {
    Ok(Member {
        id: r.get(0),
        production_id: r.get(1),
        name: r.get(2),
        role: role(r.get(3))?,
        created_at_ms: r.get(4),
        revoked_at_ms: r.get(5),
    })
}

fn production_from_row(r: &Row) -> StorageResult<Production> {
    Ok(Production {
        id: r.get(0),
        title: r.get(1),
        production_doc: doc_id_from_sql(r.get(2))?,
        created_at_ms: r.get(3),
    })
}

async fn get_member<C: GenericClient>(
    c: &C,
    id: &str,
    lock: bool,
) -> StorageResult<Option<Member>> {
    let sql = format!(
        "SELECT {MEMBER_COLS} FROM members WHERE id = $1{}",
        if lock { " FOR SHARE" } else { "" }
    );
    let row = c.query_opt(&sql, &[&id]).await.map_err(pg_err)?;
    row.as_ref().map(member_from_row).transpose()
}

impl AccountsStore for PostgresStorage {
    fn create_production(&self, p: Production) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO productions (id, title, production_doc, created_at_ms)
                     VALUES ($1, $2, $3, $4)",
                    &[
                        &p.id,
                        &p.title,
                        &p.production_doc.as_bytes().as_slice(),
                        &p.created_at_ms,
                    ],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn production(&self, id: String) -> BoxFuture<'_, StorageResult<Option<Production>>> {
        self.call(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT id, title, production_doc, created_at_ms FROM productions WHERE id = $1",
                    &[&id],
                )
                .await
                .map_err(pg_err)?;
            row.as_ref().map(production_from_row).transpose()
        })
    }

    fn productions(&self) -> BoxFuture<'_, StorageResult<Vec<Production>>> {
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT id, title, production_doc, created_at_ms FROM productions
                     ORDER BY created_at_ms, id",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            rows.iter().map(production_from_row).collect()
        })
    }

    fn create_member(&self, m: Member) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO members (id, production_id, name, role, created_at_ms, revoked_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &m.id,
                        &m.production_id,
                        &m.name,
                        &m.role.as_str(),
                        &m.created_at_ms,
                        &m.revoked_at_ms,
                    ],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn member(&self, id: String) -> BoxFuture<'_, StorageResult<Option<Member>>> {
        self.call(move |client| async move { get_member(&**client, &id, false).await })
    }

    fn members(&self, production_id: String) -> BoxFuture<'_, StorageResult<Vec<Member>>> {
        self.call(move |client| async move {
            let rows = client
                .query(
                    &format!(
                        "SELECT {MEMBER_COLS} FROM members WHERE production_id = $1
                         ORDER BY created_at_ms, id"
                    ),
                    &[&production_id],
                )
                .await
                .map_err(pg_err)?;
            rows.iter().map(member_from_row).collect()
        })
    }

    fn revoke_member(&self, id: String, now_ms: i64) -> BoxFuture<'_, StorageResult<bool>> {
        self.call(move |mut client| async move {
            let tx = client.transaction().await.map_err(pg_err)?;
            let n = tx
                .execute(
                    "UPDATE members SET revoked_at_ms = COALESCE(revoked_at_ms, $2) WHERE id = $1",
                    &[&id, &now_ms],
                )
                .await
                .map_err(pg_err)?;
            if n == 0 {
                return Ok(false);
            }
            tx.execute(
                "UPDATE tokens SET revoked_at_ms = COALESCE(revoked_at_ms, $2) WHERE member_id = $1",
                &[&id, &now_ms],
            )
            .await
            .map_err(pg_err)?;
            // Revocations commit in seq order (readers never skip a smaller seq that
            // commits later): writers take turns; readers are not blocked.
            tx.batch_execute("LOCK TABLE revocations IN EXCLUSIVE MODE")
                .await
                .map_err(pg_err)?;
            tx.execute(
                "INSERT INTO revocations (member_id, token_hash, at_ms) VALUES ($1, NULL, $2)",
                &[&id, &now_ms],
            )
            .await
            .map_err(pg_err)?;
            tx.execute("DELETE FROM signin_keys WHERE member_id = $1", &[&id])
                .await
                .map_err(pg_err)?;
            tx.execute("DELETE FROM crew_links WHERE member_id = $1", &[&id])
                .await
                .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            self.committed();
            Ok(true)
        })
    }

    fn revocations_since(&self, seq: i64) -> BoxFuture<'_, StorageResult<Vec<Revocation>>> {
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT seq, member_id, token_hash FROM revocations WHERE seq > $1 ORDER BY seq",
                    &[&seq],
                )
                .await
                .map_err(pg_err)?;
            Ok(rows
                .iter()
                .map(|r| Revocation {
                    seq: r.get(0),
                    member_id: r.get(1),
                    token_hash: r.get(2),
                })
                .collect())
        })
    }

    fn create_invite(&self, i: Invite) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO invites (code_hash, production_id, role, member_id, created_by,
                                          created_at_ms, expires_at_ms, max_uses, uses)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        &i.code_hash,
                        &i.production_id,
                        &i.role.as_str(),
                        &i.member_id,
                        &i.created_by,
                        &i.created_at_ms,
                        &i.expires_at_ms,
                        &i.max_uses,
                        &i.uses,
                    ],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn redeem_invite(
        &self,
        r: Redemption,
    ) -> BoxFuture<'_, StorageResult<Result<Redeemed, RedeemRefusal>>> {
        self.call(move |mut client| async move {
            let tx = client.transaction().await.map_err(pg_err)?;
            // FOR UPDATE: concurrent redemptions of one code (on any relay) take turns, so
            // the use count is never exceeded.
            let row = tx
                .query_opt(
                    "SELECT production_id, role, member_id, expires_at_ms, max_uses, uses
                     FROM invites WHERE code_hash = $1 FOR UPDATE",
                    &[&r.code_hash],
                )
                .await
                .map_err(pg_err)?;
            let Some(row) = row else {
                return Ok(Err(RedeemRefusal::Unknown));
            };
            let production_id: String = row.get(0);
            let invite_role: String = row.get(1);
            let bound: Option<String> = row.get(2);
            let expires: i64 = row.get(3);
            let max_uses: Option<i64> = row.get(4);
            let uses: i64 = row.get(5);
            if expires <= r.now_ms {
                return Ok(Err(RedeemRefusal::Expired));
            }
            if max_uses.is_some_and(|m| uses >= m) {
                return Ok(Err(RedeemRefusal::UsedUp));
            }
            let invite_role = role(invite_role)?;
            let (member, created_member) = match bound {
                Some(member_id) => match get_member(&*tx, &member_id, true).await? {
                    Some(m) if m.revoked_at_ms.is_none() => (m, false),
                    _ => return Ok(Err(RedeemRefusal::MemberRevoked)),
                },
                None => {
                    let m = Member {
                        id: r.new_member_id.clone(),
                        production_id,
                        name: r.name.clone(),
                        role: invite_role,
                        created_at_ms: r.now_ms,
                        revoked_at_ms: None,
                    };
                    tx.execute(
                        "INSERT INTO members (id, production_id, name, role, created_at_ms)
                         VALUES ($1, $2, $3, $4, $5)",
                        &[
                            &m.id,
                            &m.production_id,
                            &m.name,
                            &m.role.as_str(),
                            &m.created_at_ms,
                        ],
                    )
                    .await
                    .map_err(pg_err)?;
                    (m, true)
                }
            };
            tx.execute(
                "UPDATE invites SET uses = uses + 1 WHERE code_hash = $1",
                &[&r.code_hash],
            )
            .await
            .map_err(pg_err)?;
            tx.execute(
                "INSERT INTO tokens (token_hash, member_id, device_id, created_at_ms, expires_at_ms)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &r.token_hash,
                    &member.id,
                    &r.device_id,
                    &r.now_ms,
                    &r.token_expires_at_ms,
                ],
            )
            .await
            .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            self.committed();
            Ok(Ok(Redeemed {
                member,
                created_member,
            }))
        })
    }

    fn token(&self, token_hash: String) -> BoxFuture<'_, StorageResult<Option<TokenRecord>>> {
        self.call(move |client| async move {
            let stmt = client
                .prepare_cached(
                    "SELECT token_hash, member_id, device_id, created_at_ms, expires_at_ms, revoked_at_ms
                     FROM tokens WHERE token_hash = $1",
                )
                .await
                .map_err(pg_err)?;
            let row = client
                .query_opt(&stmt, &[&token_hash])
                .await
                .map_err(pg_err)?;
            Ok(row.map(|r| TokenRecord {
                token_hash: r.get(0),
                member_id: r.get(1),
                device_id: r.get(2),
                created_at_ms: r.get(3),
                expires_at_ms: r.get(4),
                revoked_at_ms: r.get(5),
            }))
        })
    }

    fn create_token(&self, t: TokenRecord) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO tokens (token_hash, member_id, device_id, created_at_ms,
                                         expires_at_ms, revoked_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &t.token_hash,
                        &t.member_id,
                        &t.device_id,
                        &t.created_at_ms,
                        &t.expires_at_ms,
                        &t.revoked_at_ms,
                    ],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn invite(&self, code_hash: String) -> BoxFuture<'_, StorageResult<Option<Invite>>> {
        self.call(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT production_id, role, member_id, created_by, created_at_ms,
                            expires_at_ms, max_uses, uses
                     FROM invites WHERE code_hash = $1",
                    &[&code_hash],
                )
                .await
                .map_err(pg_err)?;
            row.map(|r| {
                Ok(Invite {
                    code_hash: code_hash.clone(),
                    production_id: r.get(0),
                    role: role(r.get(1))?,
                    member_id: r.get(2),
                    created_by: r.get(3),
                    created_at_ms: r.get(4),
                    expires_at_ms: r.get(5),
                    max_uses: r.get(6),
                    uses: r.get(7),
                })
            })
            .transpose()
        })
    }

    fn create_session(&self, s: DashSession) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |mut client| async move {
            let tx = client.transaction().await.map_err(pg_err)?;
            tx.execute(
                "DELETE FROM dashboard_sessions WHERE expires_at_ms <= $1",
                &[&s.created_at_ms],
            )
            .await
            .map_err(pg_err)?;
            tx.execute(
                "INSERT INTO dashboard_sessions (secret_hash, member_id, device_id, token_hash,
                                                 csrf, created_at_ms, expires_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &s.secret_hash,
                    &s.member_id,
                    &s.device_id,
                    &s.token_hash,
                    &s.csrf,
                    &s.created_at_ms,
                    &s.expires_at_ms,
                ],
            )
            .await
            .map_err(pg_err)?;
            tx.commit().await.map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn session(&self, secret_hash: String) -> BoxFuture<'_, StorageResult<Option<DashSession>>> {
        self.call(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT secret_hash, member_id, device_id, token_hash, csrf, created_at_ms,
                            expires_at_ms
                     FROM dashboard_sessions WHERE secret_hash = $1",
                    &[&secret_hash],
                )
                .await
                .map_err(pg_err)?;
            Ok(row.map(|r| DashSession {
                secret_hash: r.get(0),
                member_id: r.get(1),
                device_id: r.get(2),
                token_hash: r.get(3),
                csrf: r.get(4),
                created_at_ms: r.get(5),
                expires_at_ms: r.get(6),
            }))
        })
    }

    fn delete_session(&self, secret_hash: String) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            client
                .execute(
                    "DELETE FROM dashboard_sessions WHERE secret_hash = $1",
                    &[&secret_hash],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn set_signin_key(
        &self,
        member_id: String,
        key_hash: String,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO signin_keys (member_id, key_hash, created_at_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (member_id) DO UPDATE SET key_hash = excluded.key_hash,
                                                           created_at_ms = excluded.created_at_ms",
                    &[&member_id, &key_hash, &now_ms],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn signin_key_member(&self, key_hash: String) -> BoxFuture<'_, StorageResult<Option<String>>> {
        self.call(move |client| async move {
            Ok(client
                .query_opt(
                    "SELECT member_id FROM signin_keys WHERE key_hash = $1",
                    &[&key_hash],
                )
                .await
                .map_err(pg_err)?
                .map(|r| r.get(0)))
        })
    }

    fn signin_key_created(&self, member_id: String) -> BoxFuture<'_, StorageResult<Option<i64>>> {
        self.call(move |client| async move {
            Ok(client
                .query_opt(
                    "SELECT created_at_ms FROM signin_keys WHERE member_id = $1",
                    &[&member_id],
                )
                .await
                .map_err(pg_err)?
                .map(|r| r.get(0)))
        })
    }

    fn set_crew_link(
        &self,
        member_id: String,
        link_key: String,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO crew_links (member_id, link_key, created_at_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (member_id) DO UPDATE SET link_key = excluded.link_key,
                                                           created_at_ms = excluded.created_at_ms",
                    &[&member_id, &link_key, &now_ms],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn crew_link(&self, member_id: String) -> BoxFuture<'_, StorageResult<Option<CrewLink>>> {
        self.call(move |client| async move {
            Ok(client
                .query_opt(
                    "SELECT link_key, created_at_ms FROM crew_links WHERE member_id = $1",
                    &[&member_id],
                )
                .await
                .map_err(pg_err)?
                .map(|r| CrewLink {
                    link_key: r.get(0),
                    created_at_ms: r.get(1),
                }))
        })
    }

    fn crew_link_member(&self, link_key: String) -> BoxFuture<'_, StorageResult<Option<String>>> {
        self.call(move |client| async move {
            Ok(client
                .query_opt(
                    "SELECT member_id FROM crew_links WHERE link_key = $1",
                    &[&link_key],
                )
                .await
                .map_err(pg_err)?
                .map(|r| r.get(0)))
        })
    }

    fn queue_mail(&self, mails: Vec<NewMail>, now_ms: i64) -> BoxFuture<'_, StorageResult<usize>> {
        self.call(move |mut client| async move {
            let tx = client.transaction().await.map_err(pg_err)?;
            let mut new = 0;
            for m in &mails {
                new += tx
                    .execute(
                        "INSERT INTO mail_outbox (production_id, member_id, kind, day, revision,
                             to_addr, subject, body, state, next_attempt_ms, created_at_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $10)
                         ON CONFLICT (member_id, kind, day, revision) DO NOTHING",
                        &[
                            &m.production_id,
                            &m.member_id,
                            &m.kind.as_str(),
                            &m.day,
                            &m.revision,
                            &m.to_addr,
                            &m.subject,
                            &m.body,
                            &m.due_at_ms,
                            &now_ms,
                        ],
                    )
                    .await
                    .map_err(pg_err)? as usize;
            }
            tx.commit().await.map_err(pg_err)?;
            self.committed();
            Ok(new)
        })
    }

    fn claim_mail(
        &self,
        now_ms: i64,
        lease_ms: i64,
    ) -> BoxFuture<'_, StorageResult<Option<QueuedMail>>> {
        self.call(move |client| async move {
            // SKIP LOCKED: relays claiming at once each take a different email.
            let row = client
                .query_opt(
                    "UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_ms = $2
                     WHERE id = (SELECT id FROM mail_outbox
                                 WHERE state IN ('queued', 'retrying') AND next_attempt_ms <= $1
                                 ORDER BY next_attempt_ms, id LIMIT 1
                                 FOR UPDATE SKIP LOCKED)
                     RETURNING id, production_id, member_id, kind, day, revision, to_addr,
                               subject, body, attempts",
                    &[&now_ms, &now_ms.saturating_add(lease_ms)],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            let Some(r) = row else {
                return Ok(None);
            };
            let id: i64 = r.get(0);
            let kind: String = r.get(3);
            let kind = MailKind::parse(&kind).ok_or_else(|| {
                StorageError::Corrupt(format!("outbox email {id} has an unknown kind {kind:?}"))
            })?;
            Ok(Some(QueuedMail {
                id,
                mail: NewMail {
                    production_id: r.get(1),
                    member_id: r.get(2),
                    kind,
                    day: r.get(4),
                    revision: r.get(5),
                    to_addr: r.get(6),
                    subject: r.get(7),
                    body: r.get(8),
                    due_at_ms: now_ms,
                },
                attempts: r.get(9),
            }))
        })
    }

    fn finish_mail(
        &self,
        id: i64,
        outcome: MailOutcome,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>> {
        self.call(move |client| async move {
            let (state, error, next, done) = outcome_columns(outcome, now_ms);
            client
                .execute(
                    "UPDATE mail_outbox SET state = $2, last_error = $3,
                         next_attempt_ms = COALESCE($4, next_attempt_ms), done_at_ms = $5
                     WHERE id = $1",
                    &[&id, &state, &error, &next, &done],
                )
                .await
                .map_err(pg_err)?;
            self.committed();
            Ok(())
        })
    }

    fn mail_statuses(
        &self,
        production_id: String,
        day: String,
    ) -> BoxFuture<'_, StorageResult<Vec<MailStatus>>> {
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT member_id, kind, revision, state, last_error, attempts,
                            COALESCE(done_at_ms, next_attempt_ms)
                     FROM mail_outbox WHERE production_id = $1 AND day = $2 ORDER BY id",
                    &[&production_id, &day],
                )
                .await
                .map_err(pg_err)?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    Some(MailStatus {
                        member_id: r.get(0),
                        kind: MailKind::parse(r.get(1))?,
                        revision: r.get(2),
                        state: r.get(3),
                        error: r.get(4),
                        attempts: r.get(5),
                        at_ms: r.get(6),
                    })
                })
                .collect())
        })
    }

    fn count_sign_in_attempts(
        &self,
        keys: Vec<String>,
        window_start_ms: i64,
    ) -> BoxFuture<'_, StorageResult<Option<Vec<u32>>>> {
        self.call(move |client| async move {
            // One statement: forget windows before the previous one, then count this
            // attempt under every key. Concurrent attempts on other relays serialise on
            // the rows' conflict, so every attempt is counted exactly once.
            let rows = client
                .query(
                    "WITH old AS (
                         DELETE FROM sign_in_attempts WHERE window_start_ms < $2::bigint - 60000
                     )
                     INSERT INTO sign_in_attempts (key, window_start_ms, attempts)
                     SELECT k, $2::bigint, 1 FROM unnest($1::text[]) AS k
                     ON CONFLICT (key, window_start_ms)
                     DO UPDATE SET attempts = sign_in_attempts.attempts + 1
                     RETURNING key, attempts",
                    &[&keys, &window_start_ms],
                )
                .await
                .map_err(pg_err)?;
            let counts = keys
                .iter()
                .map(|k| {
                    rows.iter()
                        .find(|r| r.get::<_, &str>(0) == k)
                        .map(|r| r.get::<_, i32>(1).max(0) as u32)
                        .unwrap_or(0)
                })
                .collect();
            Ok(Some(counts))
        })
    }
}
