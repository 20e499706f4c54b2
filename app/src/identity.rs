//! Who is using the dashboard, and signing in and out.
//!
//! Two ways in, one cookie each (both HttpOnly, SameSite=Strict, Secure behind HTTPS):
//! - an **operator** signs in with email and password (`recoscope-accounts`): the cookie
//!   holds a session token the server looks up on every call, so a role change or removal
//!   applies at once; operators of several tenants switch between them;
//! - a tenant's **read key** (scripts, the printed sign-in link) signs in as a viewer of its
//!   tenant, with no account.
//!
//! Every server function starts from [`server::caller`] (server side only).

use leptos::prelude::*;
pub use recoscope_analytics::read_keys::{READ_KEY_COOKIE, UNAUTHORIZED};
use serde::{Deserialize, Serialize};

/// The cookie holding an operator's session token.
pub const SESSION_COOKIE: &str = "recoscope_session";

/// What a member may do in a tenant (the accounts' roles, as the browser sees them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRole {
    pub tenant: String,
    pub role: Role,
}

/// Who the dashboard is showing to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The operator's email; `None` when signed in with a read key.
    pub email: Option<String>,
    /// The tenant every page shows.
    pub tenant: String,
    pub role: Role,
    /// Every tenant the operator may switch to (just the one for a read key).
    pub tenants: Vec<TenantRole>,
}

impl Identity {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The caller, or `None` when nobody is signed in.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Identity>, ServerFnError> {
    Ok(server::caller().await?.map(|caller| caller.identity()))
}

/// Signs an operator in with email and password; the session cookie replaces any other.
#[server(endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<Identity, ServerFnError> {
    let opened = server::accounts()?
        .sign_in(&email, &password)
        .await
        .map_err(server::account_failed)?;
    server::start_session(&opened.token)?;
    Ok(server::Caller::operator(opened.token, opened.signed_in).identity())
}

/// Checks a read key and, if it is live, keeps it in its cookie (ending any operator
/// session); returns the tenant it reads.
#[server(endpoint = "sign_in_with_key")]
pub async fn sign_in_with_key(key: String) -> Result<String, ServerFnError> {
    let key = key.trim().to_string();
    let tenant = crate::analytics::analytics_db()?
        .read_keys
        .tenant(&key)
        .await
        .map_err(crate::analytics::failed)?;
    server::end_session().await?;
    server::set_cookie(READ_KEY_COOKIE, &key, 30 * 24 * 3600)?;
    Ok(tenant)
}

/// Ends the session and forgets both cookies.
#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), ServerFnError> {
    server::end_session().await?;
    server::set_cookie(READ_KEY_COOKIE, "", 0)
}

/// Shows another of the operator's tenants.
#[server(endpoint = "switch_tenant")]
pub async fn switch_tenant(tenant: String) -> Result<Identity, ServerFnError> {
    let (token, _) = server::operator().await?;
    let signed_in = server::accounts()?
        .switch_tenant(&token, &tenant)
        .await
        .map_err(server::account_failed)?;
    Ok(server::Caller::operator(token, signed_in).identity())
}

#[cfg(feature = "ssr")]
pub mod server {
    use super::*;
    use http::{header::SET_COOKIE, HeaderMap, HeaderValue, StatusCode};
    pub use recoscope_accounts::AdminAction;
    use recoscope_accounts::{AccountError, Accounts, SignedIn};
    use recoscope_analytics::AnalyticsError;

    /// Who is calling: an operator's session, or a read key.
    pub enum Caller {
        Operator { token: String, signed_in: SignedIn },
        ReadKey { tenant: String },
    }

    fn role(role: recoscope_accounts::Role) -> Role {
        match role {
            recoscope_accounts::Role::Viewer => Role::Viewer,
            recoscope_accounts::Role::Admin => Role::Admin,
        }
    }

    impl Caller {
        pub fn operator(token: String, signed_in: SignedIn) -> Caller {
            Caller::Operator { token, signed_in }
        }

        pub fn tenant(&self) -> &str {
            match self {
                Caller::Operator { signed_in, .. } => &signed_in.tenant_id,
                Caller::ReadKey { tenant } => tenant,
            }
        }

        pub fn identity(&self) -> Identity {
            match self {
                Caller::Operator { signed_in, .. } => Identity {
                    email: Some(signed_in.email.clone()),
                    tenant: signed_in.tenant_id.clone(),
                    role: role(signed_in.role),
                    tenants: signed_in
                        .tenants
                        .iter()
                        .map(|m| TenantRole {
                            tenant: m.tenant_id.clone(),
                            role: role(m.role),
                        })
                        .collect(),
                },
                Caller::ReadKey { tenant } => Identity {
                    email: None,
                    tenant: tenant.clone(),
                    role: Role::Viewer,
                    tenants: vec![TenantRole {
                        tenant: tenant.clone(),
                        role: Role::Viewer,
                    }],
                },
            }
        }
    }

    pub fn accounts() -> Result<Accounts, ServerFnError> {
        use_context::<Accounts>()
            .ok_or_else(|| ServerFnError::new("accounts are not configured on this server"))
    }

    fn set_status(status: StatusCode) {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
    }

    /// An account operation that failed, as the server function's error in the caller's
    /// language, with the HTTP status that says why (401 signed out, 403 not allowed, 429
    /// locked or too many tries, 503 the store is down, else 400).
    pub fn account_failed(error: AccountError) -> ServerFnError {
        use crate::i18n::{current_locale, Msg};
        let status = match &error {
            AccountError::SignedOut => StatusCode::UNAUTHORIZED,
            AccountError::Forbidden(_) | AccountError::NoTenant => StatusCode::FORBIDDEN,
            AccountError::Locked { .. } | AccountError::RateLimited => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AccountError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        set_status(status);
        if let AccountError::Unavailable(detail) = &error {
            tracing::error!(%detail, "account store failed");
        }
        let locale = current_locale();
        let message = match &error {
            AccountError::WrongCredentials => Msg::ErrWrongCredentials.text(locale).to_string(),
            AccountError::Locked { minutes } => Msg::ErrLocked.fill(locale, &[minutes]),
            AccountError::RateLimited => Msg::ErrRateLimited.text(locale).to_string(),
            AccountError::NoTenant => Msg::ErrNoTenant.text(locale).to_string(),
            AccountError::SignedOut => {
                format!("{UNAUTHORIZED}: {}", Msg::ErrSignedOut.text(locale))
            }
            AccountError::Forbidden(action) => {
                Msg::ErrForbidden.fill(locale, &[&action_name(*action).text(locale)])
            }
            AccountError::BadInvitation => Msg::ErrBadInvitation.text(locale).to_string(),
            AccountError::Unavailable(_) => Msg::ErrUnavailable.text(locale).to_string(),
            // The rules' own sentences (password length, the last admin, an email's shape).
            other => Msg::ErrInvalid.fill(locale, &[other]),
        };
        ServerFnError::new(message)
    }

    /// A refusal of the form's input, in the caller's language.
    pub fn invalid(msg: crate::i18n::Msg) -> ServerFnError {
        set_status(StatusCode::BAD_REQUEST);
        ServerFnError::new(msg.text(crate::i18n::current_locale()))
    }

    /// What an admin-only action is called, for the refusal.
    fn action_name(action: AdminAction) -> crate::i18n::Msg {
        use crate::i18n::Msg;
        match action {
            AdminAction::ManageTenant => Msg::ActManageTenant,
            AdminAction::InviteMembers => Msg::ActInvite,
            AdminAction::ListMembers => Msg::ActListMembers,
            AdminAction::ChangeRoles => Msg::ActChangeRoles,
            AdminAction::RemoveMembers => Msg::ActRemoveMembers,
            AdminAction::IssueKeys => Msg::ActIssueKeys,
            AdminAction::RevokeKeys => Msg::ActRevokeKeys,
            AdminAction::ManageCatalog => Msg::ActManageCatalog,
        }
    }

    async fn headers() -> Result<HeaderMap, ServerFnError> {
        Ok(leptos_axum::extract().await?)
    }

    /// The value of cookie `name` in the request's headers.
    pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value.to_string())
    }

    /// The caller: an operator's live session first, else a read key (bearer or cookie).
    pub async fn caller() -> Result<Option<Caller>, ServerFnError> {
        let headers = headers().await?;
        if let Some(token) = cookie(&headers, SESSION_COOKIE) {
            let signed_in = accounts()?
                .signed_in(&token)
                .await
                .map_err(account_failed)?;
            if let Some(signed_in) = signed_in {
                return Ok(Some(Caller::operator(token, signed_in)));
            }
        }
        let db = crate::analytics::analytics_db()?;
        match db.read_keys.caller(&headers).await {
            Ok(tenant) => Ok(Some(Caller::ReadKey { tenant })),
            Err(AnalyticsError::Unauthorized) => Ok(None),
            Err(error) => Err(crate::analytics::failed(error)),
        }
    }

    /// The tenant the caller reads; 401 when nobody is signed in.
    pub async fn caller_tenant() -> Result<String, ServerFnError> {
        match caller().await? {
            Some(caller) => Ok(caller.tenant().to_string()),
            None => Err(crate::analytics::failed(AnalyticsError::Unauthorized)),
        }
    }

    /// The signed-in operator (a read key is not one); 401 otherwise.
    pub async fn operator() -> Result<(String, SignedIn), ServerFnError> {
        match caller().await? {
            Some(Caller::Operator { token, signed_in }) => Ok((token, signed_in)),
            _ => Err(account_failed(AccountError::SignedOut)),
        }
    }

    /// The signed-in operator when an admin of the tenant shown; 403 for a viewer.
    pub async fn admin(action: AdminAction) -> Result<SignedIn, ServerFnError> {
        let (_, signed_in) = operator().await?;
        signed_in.require_admin(action).map_err(account_failed)?;
        Ok(signed_in)
    }

    /// Sets the session cookie (dropping a read-key one).
    pub fn start_session(token: &str) -> Result<(), ServerFnError> {
        let max_age = accounts()?.config().session_ttl().as_secs();
        set_cookie(SESSION_COOKIE, token, max_age)?;
        set_cookie(READ_KEY_COOKIE, "", 0)
    }

    /// Ends the caller's operator session, if any, and clears its cookie.
    pub async fn end_session() -> Result<(), ServerFnError> {
        if let Some(token) = cookie(&headers().await?, SESSION_COOKIE) {
            accounts()?.sign_out(&token).await.map_err(account_failed)?;
        }
        set_cookie(SESSION_COOKIE, "", 0)
    }

    /// Whether the browser reached us over HTTPS (through the proxy that ends TLS).
    fn over_https(headers: &HeaderMap) -> bool {
        headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
    }

    /// Sets cookie `name` for the whole site: HttpOnly, SameSite=Strict, Secure over HTTPS;
    /// `max_age` 0 deletes it.
    pub fn set_cookie(name: &str, value: &str, max_age: u64) -> Result<(), ServerFnError> {
        let response = use_context::<leptos_axum::ResponseOptions>()
            .ok_or_else(|| ServerFnError::new("no response to set the cookie on"))?;
        let secure =
            use_context::<http::request::Parts>().is_some_and(|parts| over_https(&parts.headers));
        let cookie = format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
            if secure { "; Secure" } else { "" }
        );
        let value =
            HeaderValue::from_str(&cookie).map_err(|e| ServerFnError::new(e.to_string()))?;
        response.append_header(SET_COOKIE, value);
        Ok(())
    }
}
