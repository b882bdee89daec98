//! The accounts store: productions, members and their revocations, invites, tokens,
//! dashboard sessions, sign-in keys and personal call-sheet links.

use futures_util::future::BoxFuture;

use super::{
    CrewLink, DashSession, Invite, MailOutcome, MailStatus, Member, NewMail, Production,
    QueuedMail, RedeemRefusal, Redeemed, Redemption, Revocation, StorageResult, TokenRecord,
};

pub trait AccountsStore: Send + Sync + 'static {
    // --- productions and members ---------------------------------------------------
    fn create_production(&self, p: Production) -> BoxFuture<'_, StorageResult<()>>;
    fn production(&self, id: String) -> BoxFuture<'_, StorageResult<Option<Production>>>;
    fn productions(&self) -> BoxFuture<'_, StorageResult<Vec<Production>>>;
    fn create_member(&self, m: Member) -> BoxFuture<'_, StorageResult<()>>;
    fn member(&self, id: String) -> BoxFuture<'_, StorageResult<Option<Member>>>;
    fn members(&self, production_id: String) -> BoxFuture<'_, StorageResult<Vec<Member>>>;
    /// Marks the member and all their tokens revoked; returns false if no such member.
    fn revoke_member(&self, id: String, now_ms: i64) -> BoxFuture<'_, StorageResult<bool>>;
    fn revocations_since(&self, seq: i64) -> BoxFuture<'_, StorageResult<Vec<Revocation>>>;

    // --- invites and tokens --------------------------------------------------------
    fn create_invite(&self, invite: Invite) -> BoxFuture<'_, StorageResult<()>>;
    fn redeem_invite(
        &self,
        r: Redemption,
    ) -> BoxFuture<'_, StorageResult<Result<Redeemed, RedeemRefusal>>>;
    fn token(&self, token_hash: String) -> BoxFuture<'_, StorageResult<Option<TokenRecord>>>;
    /// Issues a token for an existing member (CLI `token create`, dashboard sessions).
    fn create_token(&self, t: TokenRecord) -> BoxFuture<'_, StorageResult<()>>;

    // --- dashboard sign-in (accounts) -----------------------------------------------
    /// An invite by its code's hash, without redeeming it (the dashboard refuses PA and
    /// crew codes before anything is redeemed).
    fn invite(&self, code_hash: String) -> BoxFuture<'_, StorageResult<Option<Invite>>>;
    /// Stores a dashboard session (and forgets expired ones).
    fn create_session(&self, s: DashSession) -> BoxFuture<'_, StorageResult<()>>;
    fn session(&self, secret_hash: String) -> BoxFuture<'_, StorageResult<Option<DashSession>>>;
    fn delete_session(&self, secret_hash: String) -> BoxFuture<'_, StorageResult<()>>;
    /// Sets (or replaces: the old key stops working) a member's dashboard sign-in key.
    fn set_signin_key(
        &self,
        member_id: String,
        key_hash: String,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>>;
    /// The member a sign-in key belongs to.
    fn signin_key_member(&self, key_hash: String) -> BoxFuture<'_, StorageResult<Option<String>>>;
    /// When the member's current sign-in key was made, if they have one.
    fn signin_key_created(&self, member_id: String) -> BoxFuture<'_, StorageResult<Option<i64>>>;
    /// Sets (or replaces: the old link stops working) a member's personal call-sheet link.
    /// Unlike sign-in keys the link is kept as it is, not hashed: the coordinator shows
    /// and copies it again whenever a crew member asks, and it reaches only what the
    /// member's published call sheets and own acknowledgements reach.
    fn set_crew_link(
        &self,
        member_id: String,
        link_key: String,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>>;
    /// The member's personal link, if one was made and they are not revoked.
    fn crew_link(&self, member_id: String) -> BoxFuture<'_, StorageResult<Option<CrewLink>>>;
    /// The member a personal link belongs to.
    fn crew_link_member(&self, link_key: String) -> BoxFuture<'_, StorageResult<Option<String>>>;

    // --- the mail outbox -------------------------------------------------------------
    /// Queues emails, each at most once per (member, kind, day, revision): one already
    /// queued is left as it is. Returns how many were new.
    fn queue_mail(&self, mails: Vec<NewMail>, now_ms: i64) -> BoxFuture<'_, StorageResult<usize>>;
    /// Takes the oldest email due by `now_ms` (queued, or retrying and its time come) and
    /// holds it for `lease_ms`: no other sender (another relay) takes it meanwhile, and
    /// one whose sender died is taken again after the lease.
    fn claim_mail(
        &self,
        now_ms: i64,
        lease_ms: i64,
    ) -> BoxFuture<'_, StorageResult<Option<QueuedMail>>>;
    /// Records how a claimed email's send ended.
    fn finish_mail(
        &self,
        id: i64,
        outcome: MailOutcome,
        now_ms: i64,
    ) -> BoxFuture<'_, StorageResult<()>>;
    /// Every email queued for the production's `day`, oldest first.
    fn mail_statuses(
        &self,
        production_id: String,
        day: String,
    ) -> BoxFuture<'_, StorageResult<Vec<MailStatus>>>;

    // --- rate limits shared between relays -------------------------------------------
    /// Counts one sign-in attempt under each of `keys` in the fixed window starting at
    /// `window_start_ms` and returns each key's count in that window, attempts made through
    /// every relay on this store included. `None` from a store only one relay uses (SQLite:
    /// its data directory is locked), where the relay's own limiter sees every attempt.
    fn count_sign_in_attempts(
        &self,
        _keys: Vec<String>,
        _window_start_ms: i64,
    ) -> BoxFuture<'_, StorageResult<Option<Vec<u32>>>> {
        Box::pin(async { Ok(None) })
    }
}
