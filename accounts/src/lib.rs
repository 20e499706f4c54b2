//! Operator accounts for the dashboard: who may sign in, to which tenants, as what.
//!
//! - [`Accounts`]: the one face: sign in and out, the signed-in operator of a session token,
//!   switching tenants, changing passwords, invitations, and the admins' member management.
//! - [`AccountsConfig`]: session and invitation lifetimes, the lockout policy.
//! - [`password`]: what passwords are accepted, and their argon2id hashes.
//!
//! The records live in the stores (`recoscope_stores::accounts`: SQLite beside the tenants,
//! or MongoDB). Session and invitation tokens go to the browser once; the stores keep their
//! SHA-256 only, so a copy of the store signs nobody in. Roles are read from the store on
//! every request, so removing a member or changing a role takes effect at once.

mod config;
pub mod password;

pub use config::AccountsConfig;
pub use recoscope_stores::accounts::{Membership, Role};

use governor::{DefaultKeyedRateLimiter, Quota};
use recoscope_core::clock::now_ms;
use recoscope_stores::accounts::{normalize_email, AccountStore, Invitation, Session, User};
use recoscope_stores::{read_key_digest, StoreError, Stores};
use std::num::NonZeroU32;
use std::sync::Arc;
use thiserror::Error;

/// What an account operation can answer besides success. Only [`AccountError::Unavailable`]
/// is worth retrying as it is.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AccountError {
    #[error("wrong email or password")]
    WrongCredentials,
    #[error("too many wrong passwords: this account is locked for {minutes} more minutes")]
    Locked { minutes: i64 },
    #[error("too many sign-in attempts for this email; wait a minute and try again")]
    RateLimited,
    #[error("your account is not a member of any tenant; ask one of its admins to invite you")]
    NoTenant,
    #[error("not signed in")]
    SignedOut,
    #[error("only the tenant's admins may {0}")]
    Forbidden(AdminAction),
    #[error("this invitation link is unknown, already used or expired; ask for a new one")]
    BadInvitation,
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("the account store is unavailable; try again shortly ({0})")]
    Unavailable(String),
}

impl AccountError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, AccountError::Unavailable(_))
    }
}

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => AccountError::NotFound(what),
            StoreError::Conflict(what) => AccountError::Conflict(what),
            StoreError::Invalid(message) => AccountError::Invalid(message),
            StoreError::Backend(message) => AccountError::Unavailable(message),
        }
    }
}

/// What only a tenant's admins may do (named in a refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    ManageTenant,
    InviteMembers,
    ListMembers,
    ChangeRoles,
    RemoveMembers,
    IssueKeys,
    RevokeKeys,
    ManageCatalog,
}

impl std::fmt::Display for AdminAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdminAction::ManageTenant => "manage the tenant",
            AdminAction::InviteMembers => "invite members",
            AdminAction::ListMembers => "list members",
            AdminAction::ChangeRoles => "change roles",
            AdminAction::RemoveMembers => "remove members",
            AdminAction::IssueKeys => "issue keys",
            AdminAction::RevokeKeys => "revoke keys",
            AdminAction::ManageCatalog => "manage the catalog",
        })
    }
}

/// The operator behind a session: who, the tenant the dashboard shows, their role there, and
/// every tenant they may switch to.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedIn {
    pub email: String,
    pub tenant_id: String,
    pub role: Role,
    pub tenants: Vec<Membership>,
}

impl SignedIn {
    /// Ok for an admin of the current tenant; `action` names what was refused.
    pub fn require_admin(&self, action: AdminAction) -> Result<(), AccountError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Viewer => Err(AccountError::Forbidden(action)),
        }
    }
}

/// A session just opened: its token (for the cookie, never stored) and who it is.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub signed_in: SignedIn,
}

const SESSION_PREFIX: &str = "rs_";
const INVITATION_PREFIX: &str = "ri_";

/// A new secret token: `prefix` and 40 random alphanumerics (about 238 bits).
fn new_token(prefix: &str) -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 40)
    )
}

/// Whether `token` could be one of ours (also what keeps it safe in a cookie header).
pub fn is_token_shaped(token: &str, prefix: &str) -> bool {
    token.starts_with(prefix)
        && token.len() == prefix.len() + 40
        && token[prefix.len()..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
}

/// Whether `token` looks like a session token.
pub fn is_session_token(token: &str) -> bool {
    is_token_shaped(token, SESSION_PREFIX)
}

/// Accounts over the stores, with the lockout policy. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    stores: Stores,
    config: Arc<AccountsConfig>,
    attempts: Arc<DefaultKeyedRateLimiter<String>>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Accounts")
    }
}

impl Accounts {
    pub fn new(stores: Stores, config: AccountsConfig) -> Self {
        let per_minute = NonZeroU32::new(config.attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        Accounts {
            stores,
            attempts: Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                per_minute,
            ))),
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &AccountsConfig {
        &self.config
    }

    async fn store<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn AccountStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, AccountError> {
        self.stores
            .accounts(move |store| call(store).map_err(AccountError::from))
            .await
    }

    /// Checks `password` against `user`'s hash off the async threads (argon2 is CPU-bound).
    async fn password_matches(password: &str, user: Option<&User>) -> bool {
        let password = password.to_string();
        let stored = user.map(|u| u.password_hash.clone());
        tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
            .await
            .unwrap_or(false)
    }

    /// A wrong password for an existing `email`: counted, and the account locked at the
    /// limit (the answer then says so).
    async fn wrong_password(&self, email: &str) -> AccountError {
        let owned = email.to_string();
        let failures = match self.store(move |s| s.add_failed_sign_in(&owned)).await {
            Ok(failures) => failures,
            Err(error) => return error,
        };
        if failures < self.config.max_failures {
            return AccountError::WrongCredentials;
        }
        let until = now_ms() + AccountsConfig::ms(self.config.lock());
        let owned = email.to_string();
        if let Err(error) = self.store(move |s| s.set_lock(&owned, Some(until))).await {
            return error;
        }
        tracing::warn!(%email, failures, "account locked after failed sign-ins");
        AccountError::Locked {
            minutes: i64::from(self.config.lock_minutes),
        }
    }

    fn locked(user: &User, now: i64) -> Option<AccountError> {
        let until = user.locked_until.filter(|until| *until > now)?;
        Some(AccountError::Locked {
            minutes: (until - now + 59_999) / 60_000,
        })
    }

    /// Signs `email` in with `password`, opening a session on their first tenant.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<NewSession, AccountError> {
        let email = normalize_email(email)?;
        if self.attempts.check_key(&email).is_err() {
            return Err(AccountError::RateLimited);
        }
        let user = {
            let email = email.clone();
            self.store(move |s| s.user(&email)).await?
        };
        if let Some(locked) = user.as_ref().and_then(|u| Self::locked(u, now_ms())) {
            return Err(locked);
        }
        if !Self::password_matches(password, user.as_ref()).await {
            return Err(match user {
                Some(_) => self.wrong_password(&email).await,
                None => AccountError::WrongCredentials,
            });
        }
        if user.is_some_and(|u| u.failed_sign_ins > 0) {
            let email = email.clone();
            self.store(move |s| s.set_lock(&email, None)).await?;
        }
        self.open_session(&email, None).await
    }

    /// A new session for `email` on `tenant` (their first tenant when `None`).
    async fn open_session(
        &self,
        email: &str,
        tenant: Option<&str>,
    ) -> Result<NewSession, AccountError> {
        let tenants = {
            let email = email.to_string();
            self.store(move |s| s.memberships(&email)).await?
        };
        let current = tenant
            .and_then(|t| tenants.iter().find(|m| m.tenant_id == t))
            .or(tenants.first())
            .ok_or(AccountError::NoTenant)?
            .clone();
        let token = new_token(SESSION_PREFIX);
        let now = now_ms();
        let session = Session {
            digest: read_key_digest(&token),
            email: email.to_string(),
            tenant_id: current.tenant_id.clone(),
            created_at: now,
            expires_at: now + AccountsConfig::ms(self.config.session_ttl()),
        };
        self.store(move |s| s.put_session(&session)).await?;
        Ok(NewSession {
            token,
            signed_in: SignedIn {
                email: email.to_string(),
                tenant_id: current.tenant_id,
                role: current.role,
                tenants,
            },
        })
    }

    /// The operator of a session token; `None` when the token is unknown, expired, or its
    /// user belongs to no tenant any more.
    pub async fn signed_in(&self, token: &str) -> Result<Option<SignedIn>, AccountError> {
        Ok(self.session(token).await?.map(|(_, signed_in)| signed_in))
    }

    async fn session(&self, token: &str) -> Result<Option<(Session, SignedIn)>, AccountError> {
        if !is_session_token(token) {
            return Ok(None);
        }
        let digest = read_key_digest(token);
        let Some(mut session) = ({
            let digest = digest.clone();
            self.store(move |s| s.session(&digest)).await?
        }) else {
            return Ok(None);
        };
        if session.expires_at <= now_ms() {
            self.store(move |s| s.delete_session(&digest)).await?;
            return Ok(None);
        }
        let tenants = {
            let email = session.email.clone();
            self.store(move |s| s.memberships(&email)).await?
        };
        let current = match tenants.iter().find(|m| m.tenant_id == session.tenant_id) {
            Some(current) => current.clone(),
            // Removed from the tenant this session showed: show another of theirs.
            None => {
                let Some(first) = tenants.first().cloned() else {
                    return Ok(None);
                };
                session.tenant_id = first.tenant_id.clone();
                let moved = session.clone();
                self.store(move |s| s.put_session(&moved)).await?;
                first
            }
        };
        let signed_in = SignedIn {
            email: session.email.clone(),
            tenant_id: current.tenant_id,
            role: current.role,
            tenants,
        };
        Ok(Some((session, signed_in)))
    }

    async fn require_session(&self, token: &str) -> Result<(Session, SignedIn), AccountError> {
        self.session(token).await?.ok_or(AccountError::SignedOut)
    }

    /// Ends the session (unknown tokens too: signing out always succeeds).
    pub async fn sign_out(&self, token: &str) -> Result<(), AccountError> {
        if !is_session_token(token) {
            return Ok(());
        }
        let digest = read_key_digest(token);
        self.store(move |s| s.delete_session(&digest)).await
    }

    /// Shows `tenant` in this session, when its operator is a member.
    pub async fn switch_tenant(&self, token: &str, tenant: &str) -> Result<SignedIn, AccountError> {
        let (mut session, signed_in) = self.require_session(token).await?;
        let target = signed_in
            .tenants
            .iter()
            .find(|m| m.tenant_id == tenant)
            .cloned()
            .ok_or_else(|| AccountError::NotFound(format!("your membership of {tenant:?}")))?;
        session.tenant_id = target.tenant_id.clone();
        self.store(move |s| s.put_session(&session)).await?;
        Ok(SignedIn {
            tenant_id: target.tenant_id,
            role: target.role,
            ..signed_in
        })
    }

    /// Replaces the password after checking the current one; every other session of the
    /// operator ends (a stolen session does not outlive a password change).
    pub async fn change_password(
        &self,
        token: &str,
        current: &str,
        new: &str,
    ) -> Result<(), AccountError> {
        let (session, signed_in) = self.require_session(token).await?;
        password::check_rules(new)?;
        let email = signed_in.email;
        let user = {
            let email = email.clone();
            self.store(move |s| s.user(&email)).await?
        };
        if let Some(locked) = user.as_ref().and_then(|u| Self::locked(u, now_ms())) {
            return Err(locked);
        }
        if !Self::password_matches(current, user.as_ref()).await {
            return Err(match self.wrong_password(&email).await {
                AccountError::WrongCredentials => {
                    AccountError::Invalid("the current password is wrong".into())
                }
                other => other,
            });
        }
        let hash = hash_off_runtime(new).await?;
        self.store(move |s| {
            s.set_password(&email, &hash)?;
            s.delete_sessions_of(&email, Some(&session.digest))
        })
        .await?;
        Ok(())
    }

    /// An invitation for `email` to join the admin's current tenant as `role`; returns the
    /// token for the link (shown once).
    pub async fn invite(
        &self,
        by: &SignedIn,
        email: &str,
        role: Role,
    ) -> Result<String, AccountError> {
        by.require_admin(AdminAction::InviteMembers)?;
        self.create_invitation(&by.email, &by.tenant_id, email, role)
            .await
    }

    /// An invitation made outside the dashboard (the CLI's first admin).
    pub async fn create_invitation(
        &self,
        invited_by: &str,
        tenant: &str,
        email: &str,
        role: Role,
    ) -> Result<String, AccountError> {
        let email = normalize_email(email)?;
        let tenant_exists = {
            let tenant = tenant.to_string();
            self.stores
                .tenants(move |s| s.tenant(&tenant))
                .await
                .map_err(AccountError::from)?
                .is_some()
        };
        if !tenant_exists {
            return Err(AccountError::NotFound(format!("tenant {tenant:?}")));
        }
        let token = new_token(INVITATION_PREFIX);
        let invitation = Invitation {
            digest: read_key_digest(&token),
            email,
            tenant_id: tenant.to_string(),
            role,
            invited_by: invited_by.to_string(),
            expires_at: now_ms() + AccountsConfig::ms(self.config.invitation_ttl()),
        };
        self.store(move |s| s.put_invitation(&invitation)).await?;
        Ok(token)
    }

    /// Accepts an invitation: a new user sets `password`; an existing one proves it is
    /// theirs. Opens a session on the invited tenant. A link works once; a wrong password for
    /// an existing user leaves it usable.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: &str,
    ) -> Result<NewSession, AccountError> {
        if !is_token_shaped(token, INVITATION_PREFIX) {
            return Err(AccountError::BadInvitation);
        }
        let digest = read_key_digest(token);
        let invitation = self
            .store(move |s| s.take_invitation(&digest))
            .await?
            .filter(|i| i.expires_at > now_ms())
            .ok_or(AccountError::BadInvitation)?;
        let user = {
            let email = invitation.email.clone();
            self.store(move |s| s.user(&email)).await?
        };
        let joined = match &user {
            Some(user) => self.join_as_existing(user, password, &invitation).await,
            None => self.join_as_new(password, &invitation).await,
        };
        if let Err(error) = joined {
            if !matches!(error, AccountError::Unavailable(_)) {
                let back = invitation.clone();
                self.store(move |s| s.put_invitation(&back)).await?;
            }
            return Err(error);
        }
        self.open_session(&invitation.email, Some(&invitation.tenant_id))
            .await
    }

    async fn join_as_existing(
        &self,
        user: &User,
        password: &str,
        invitation: &Invitation,
    ) -> Result<(), AccountError> {
        if let Some(locked) = Self::locked(user, now_ms()) {
            return Err(locked);
        }
        if !Self::password_matches(password, Some(user)).await {
            return Err(match self.wrong_password(&user.email).await {
                AccountError::WrongCredentials => AccountError::Invalid(format!(
                    "{} already has an account: enter its password to join",
                    user.email
                )),
                other => other,
            });
        }
        let (email, tenant, invited) = (
            user.email.clone(),
            invitation.tenant_id.clone(),
            invitation.role,
        );
        self.store(move |s| {
            // An invitation never lowers a role the member already has.
            let current = s
                .memberships(&email)?
                .into_iter()
                .find(|m| m.tenant_id == tenant)
                .map(|m| m.role);
            s.set_role(&email, &tenant, current.map_or(invited, |r| r.max(invited)))
        })
        .await
    }

    async fn join_as_new(
        &self,
        password: &str,
        invitation: &Invitation,
    ) -> Result<(), AccountError> {
        password::check_rules(password)?;
        let hash = hash_off_runtime(password).await?;
        let user = User {
            email: invitation.email.clone(),
            password_hash: hash,
            created_at: now_ms(),
            failed_sign_ins: 0,
            locked_until: None,
        };
        let (tenant, role) = (invitation.tenant_id.clone(), invitation.role);
        self.store(move |s| {
            s.create_user(&user)?;
            s.set_role(&user.email, &tenant, role)
        })
        .await
    }

    /// The members of the admin's current tenant.
    pub async fn members(&self, by: &SignedIn) -> Result<Vec<Membership>, AccountError> {
        by.require_admin(AdminAction::ListMembers)?;
        let tenant = by.tenant_id.clone();
        self.store(move |s| s.members(&tenant)).await
    }

    /// Changes a member's role in the admin's current tenant; the last admin stays one.
    pub async fn set_role(
        &self,
        by: &SignedIn,
        email: &str,
        role: Role,
    ) -> Result<(), AccountError> {
        by.require_admin(AdminAction::ChangeRoles)?;
        let email = normalize_email(email)?;
        let tenant = by.tenant_id.clone();
        self.store(move |s| {
            let members = s.members(&tenant)?;
            if !members.iter().any(|m| m.email == email) {
                return Err(StoreError::NotFound(format!("member {email:?}")));
            }
            if role == Role::Viewer && is_last_admin(&members, &email) {
                return Err(StoreError::Invalid(LAST_ADMIN.into()));
            }
            s.set_role(&email, &tenant, role)
        })
        .await
    }

    /// Removes a member from the admin's current tenant; the last admin stays.
    pub async fn remove_member(&self, by: &SignedIn, email: &str) -> Result<(), AccountError> {
        by.require_admin(AdminAction::RemoveMembers)?;
        let email = normalize_email(email)?;
        let tenant = by.tenant_id.clone();
        self.store(move |s| {
            if is_last_admin(&s.members(&tenant)?, &email) {
                return Err(StoreError::Invalid(LAST_ADMIN.into()));
            }
            s.remove_member(&email, &tenant)
        })
        .await
    }

    /// Creates a user with `password` and gives them `role` in `tenant` (the CLI's way to
    /// make the first admin).
    pub async fn add_user(
        &self,
        email: &str,
        password: &str,
        tenant: &str,
        role: Role,
    ) -> Result<(), AccountError> {
        let email = normalize_email(email)?;
        password::check_rules(password)?;
        let hash = hash_off_runtime(password).await?;
        let user = User {
            email,
            password_hash: hash,
            created_at: now_ms(),
            failed_sign_ins: 0,
            locked_until: None,
        };
        let tenant = tenant.to_string();
        self.store(move |s| {
            s.create_user(&user)?;
            s.set_role(&user.email, &tenant, role)
        })
        .await
    }

    /// Gives an existing user `role` in `tenant` (the CLI).
    pub async fn grant(&self, email: &str, tenant: &str, role: Role) -> Result<(), AccountError> {
        let email = normalize_email(email)?;
        let tenant = tenant.to_string();
        self.store(move |s| s.set_role(&email, &tenant, role)).await
    }

    /// Lifts a lock before its time (the CLI, for an operator who called support).
    pub async fn unlock(&self, email: &str) -> Result<(), AccountError> {
        let email = normalize_email(email)?;
        self.store(move |s| s.set_lock(&email, None)).await
    }

    /// A tenant's members (the CLI).
    pub async fn tenant_members(&self, tenant: &str) -> Result<Vec<Membership>, AccountError> {
        let tenant = tenant.to_string();
        self.store(move |s| s.members(&tenant)).await
    }
}

const LAST_ADMIN: &str = "a tenant keeps at least one admin: make another member admin first";

fn is_last_admin(members: &[Membership], email: &str) -> bool {
    let admins: Vec<&str> = members
        .iter()
        .filter(|m| m.role == Role::Admin)
        .map(|m| m.email.as_str())
        .collect();
    admins == [email]
}

async fn hash_off_runtime(password: &str) -> Result<String, AccountError> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| AccountError::Unavailable(format!("hashing did not finish: {e}")))?
}
