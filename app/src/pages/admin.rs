//! The tenant's admin page (admins only, checked by every server function here, not just by
//! hiding the link): members and their roles, invitations, write keys (public, for product
//! pages), read keys (secret, for scripts and the JSON API), and the catalog
//! ([`crate::pages::admin_catalog`]).

use crate::components::nav::role_name;
use crate::components::page::LoadError;
use crate::i18n::{fill, t, with_code, Msg};
use crate::identity::Role;
use crate::pages::sign_in::action_error;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteKeyRow {
    pub key: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// What the admin page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminView {
    pub tenant: String,
    /// The admin looking (they may not remove themselves while the last admin).
    pub you: String,
    pub members: Vec<Member>,
    pub write_keys: Vec<WriteKeyRow>,
}

#[cfg(feature = "ssr")]
pub use server::{store_failed, stores};

#[cfg(feature = "ssr")]
mod server {
    use crate::identity::server::account_failed;
    use leptos::prelude::*;
    use recoscope_accounts::{AccountError, Role};
    use recoscope_stores::{StoreError, Stores};

    pub fn stores() -> Result<Stores, ServerFnError> {
        use_context::<Stores>()
            .ok_or_else(|| ServerFnError::new("the stores are not configured on this server"))
    }

    pub fn store_failed(error: StoreError) -> ServerFnError {
        account_failed(AccountError::from(error))
    }

    pub fn role(text: &str) -> Result<Role, ServerFnError> {
        Role::parse(text).map_err(store_failed)
    }
}

/// The admin page's data for the caller's tenant; 403 for a viewer.
#[server(endpoint = "admin_view")]
pub async fn get_admin_view() -> Result<AdminView, ServerFnError> {
    use crate::identity::server::{account_failed, accounts, admin};
    let admin = admin(crate::identity::server::AdminAction::ManageTenant).await?;
    let members = accounts()?
        .members(&admin)
        .await
        .map_err(account_failed)?
        .into_iter()
        .map(|m| Member {
            email: m.email,
            role: match m.role {
                recoscope_accounts::Role::Admin => Role::Admin,
                recoscope_accounts::Role::Viewer => Role::Viewer,
            },
        })
        .collect();
    let tenant = admin.tenant_id.clone();
    let write_keys = server::stores()?
        .tenants(move |s| s.keys(&tenant))
        .await
        .map_err(server::store_failed)?
        .into_iter()
        .map(|k| WriteKeyRow {
            key: k.key,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        })
        .collect();
    Ok(AdminView {
        tenant: admin.tenant_id,
        you: admin.email,
        members,
        write_keys,
    })
}

/// A new invitation: the link's path and how long it works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationLink {
    /// `/invite#token=…`: the token rides in the fragment, which browsers never send.
    pub path: String,
    pub valid_hours: u32,
}

/// An invitation for `email` to join the caller's tenant as `role`.
#[server(endpoint = "invite_member")]
pub async fn invite_member(email: String, role: String) -> Result<InvitationLink, ServerFnError> {
    use crate::identity::server::{account_failed, accounts, admin};
    let admin = admin(crate::identity::server::AdminAction::InviteMembers).await?;
    let accounts = accounts()?;
    let token = accounts
        .invite(&admin, &email, server::role(&role)?)
        .await
        .map_err(account_failed)?;
    Ok(InvitationLink {
        path: format!("/invite#token={token}"),
        valid_hours: accounts.config().invitation_ttl_hours,
    })
}

#[server(endpoint = "set_member_role")]
pub async fn set_member_role(email: String, role: String) -> Result<(), ServerFnError> {
    use crate::identity::server::{account_failed, accounts, admin};
    let admin = admin(crate::identity::server::AdminAction::ChangeRoles).await?;
    accounts()?
        .set_role(&admin, &email, server::role(&role)?)
        .await
        .map_err(account_failed)
}

#[server(endpoint = "remove_member")]
pub async fn remove_member(email: String) -> Result<(), ServerFnError> {
    use crate::identity::server::{account_failed, accounts, admin};
    let admin = admin(crate::identity::server::AdminAction::RemoveMembers).await?;
    accounts()?
        .remove_member(&admin, &email)
        .await
        .map_err(account_failed)
}

/// A new write key for the caller's tenant.
#[server(endpoint = "issue_write_key")]
pub async fn issue_write_key() -> Result<String, ServerFnError> {
    let tenant = crate::identity::server::admin(crate::identity::server::AdminAction::IssueKeys)
        .await?
        .tenant_id;
    let key = server::stores()?
        .tenants(move |s| s.issue_key(&tenant))
        .await
        .map_err(server::store_failed)?;
    Ok(key.key)
}

/// Revokes one of the caller's tenant's write keys (another tenant's key is "not found").
#[server(endpoint = "revoke_write_key")]
pub async fn revoke_write_key(key: String) -> Result<(), ServerFnError> {
    use recoscope_stores::StoreError;
    let tenant = crate::identity::server::admin(crate::identity::server::AdminAction::RevokeKeys)
        .await?
        .tenant_id;
    server::stores()?
        .tenants(move |s| {
            if !s.keys(&tenant)?.iter().any(|k| k.key == key) {
                return Err(StoreError::NotFound("write key".into()));
            }
            s.revoke_key(&key)
        })
        .await
        .map_err(server::store_failed)
}

/// A new read key for the caller's tenant: the only time it is shown.
#[server(endpoint = "issue_read_key")]
pub async fn issue_read_key() -> Result<String, ServerFnError> {
    let tenant = crate::identity::server::admin(crate::identity::server::AdminAction::IssueKeys)
        .await?
        .tenant_id;
    let key = server::stores()?
        .tenants(move |s| s.issue_read_key(&tenant))
        .await
        .map_err(server::store_failed)?;
    Ok(key.key)
}

/// Revokes one of the caller's tenant's read keys (another tenant's key is "not found").
#[server(endpoint = "revoke_read_key")]
pub async fn revoke_read_key(key: String) -> Result<(), ServerFnError> {
    use recoscope_stores::StoreError;
    let tenant = crate::identity::server::admin(crate::identity::server::AdminAction::RevokeKeys)
        .await?
        .tenant_id;
    let key = key.trim().to_string();
    server::stores()?
        .tenants(move |s| {
            let owner = s.tenant_for_read_key(&key)?.map(|t| t.id);
            if owner.as_deref() != Some(tenant.as_str()) {
                return Err(StoreError::NotFound("read key".into()));
            }
            s.revoke_read_key(&key)
        })
        .await
        .map_err(server::store_failed)
}

/// `ms` as a UTC date and minute.
fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let actions = Actions {
        invite: ServerAction::new(),
        set_role: ServerAction::new(),
        remove: ServerAction::new(),
        issue_write: ServerAction::new(),
        revoke_write: ServerAction::new(),
        issue_read: ServerAction::new(),
        revoke_read: ServerAction::new(),
    };
    // Every change reads the page's data again.
    let data = Resource::new(
        move || {
            (
                actions.invite.version().get(),
                actions.set_role.version().get(),
                actions.remove.version().get(),
                actions.issue_write.version().get(),
                actions.revoke_write.version().get(),
            )
        },
        |_| get_admin_view(),
    );
    view! {
        <section class="admin">
            <Transition fallback=|| view! { <p class="loading">{t(Msg::Loading)}</p> }>
                <ErrorBoundary fallback=|errors| view! {
                    <h1>{t(Msg::AdminTitle)}</h1>
                    <LoadError what=t(Msg::WhatAdmin) errors />
                }>
                    {move || Suspend::new(async move {
                        let view = data.await?;
                        Ok::<_, ServerFnError>(view! { <AdminTables view actions /> })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

/// The page's actions (each a server function above); only an admin's page shows them.
#[derive(Clone, Copy)]
struct Actions {
    invite: ServerAction<InviteMember>,
    set_role: ServerAction<SetMemberRole>,
    remove: ServerAction<RemoveMember>,
    issue_write: ServerAction<IssueWriteKey>,
    revoke_write: ServerAction<RevokeWriteKey>,
    issue_read: ServerAction<IssueReadKey>,
    revoke_read: ServerAction<RevokeReadKey>,
}

#[component]
fn AdminTables(view: AdminView, actions: Actions) -> impl IntoView {
    view! {
        <h1>{t(Msg::AdminTitle)} " · " {view.tenant}</h1>
        <Members members=view.members you=view.you actions />
        <WriteKeys keys=view.write_keys actions />
        <ReadKeys actions />
        <crate::pages::admin_catalog::CatalogSection />
    }
}

#[component]
fn Members(members: Vec<Member>, you: String, actions: Actions) -> impl IntoView {
    let rows = members
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let select_id = format!("role-{i}");
            let yours = (m.email == you).then(|| t(Msg::You));
            let (email, role) = (m.email, m.role);
            let (for_role, for_label, for_remove) = (email.clone(), email.clone(), email.clone());
            let remove_label = fill(Msg::RemoveWho, &[&email]);
            view! {
                <tr>
                    <td>{email}{yours}</td>
                    <td>{role_name(role)}</td>
                    <td>
                        <ActionForm action=actions.set_role attr:class="inline-form">
                            <input type="hidden" name="email" value=for_role />
                            <label for=select_id.clone() class="visually-hidden">
                                {fill(Msg::RoleOf, &[&for_label])}
                            </label>
                            <RoleSelect id=select_id selected=role />
                            <button type="submit">{t(Msg::Save)}</button>
                        </ActionForm>
                    </td>
                    <td>
                        <ActionForm action=actions.remove attr:class="inline-form">
                            <input type="hidden" name="email" value=for_remove />
                            <button type="submit" aria-label=remove_label>{t(Msg::Remove)}</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let invite = actions.invite;
    view! {
        <h2>{t(Msg::Members)}</h2>
        <crate::components::page::ScrollTable label=t(Msg::Members).to_string()>
            <table class="data" data-testid="members">
                <thead><tr>
                    <th scope="col">{t(Msg::Email)}</th><th scope="col">{t(Msg::Role)}</th>
                    <th scope="col">{t(Msg::ChangeRole)}</th><th scope="col">{t(Msg::Remove)}</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </crate::components::page::ScrollTable>
        {action_error(actions.set_role.value())}
        {action_error(actions.remove.value())}
        <h3>{t(Msg::InviteMember)}</h3>
        <ActionForm action=invite attr:class="inline-form">
            <label for="invite-email">{t(Msg::Email)}</label>
            <input id="invite-email" type="email" name="email" required=true />
            <label for="invite-role">{t(Msg::Role)}</label>
            <RoleSelect id="invite-role".to_string() selected=Role::Viewer />
            <button type="submit">{t(Msg::CreateInvitation)}</button>
        </ActionForm>
        {action_error(invite.value())}
        {move || match invite.value().get() {
            Some(Ok(link)) => Some(view! { <SecretOutput
                label=fill(Msg::InvitationLinkIs, &[&link.valid_hours])
                value=absolute(&link.path) testid="invitation-link" /> }),
            _ => None,
        }}
    }
}

#[component]
fn WriteKeys(keys: Vec<WriteKeyRow>, actions: Actions) -> impl IntoView {
    let rows = keys
        .into_iter()
        .map(|k| {
            let status = match k.revoked_at {
                Some(at) => fill(Msg::RevokedAt, &[&when(at)]),
                None => t(Msg::Live).to_string(),
            };
            let (key, label) = (k.key.clone(), fill(Msg::RevokeWho, &[&k.key]));
            let revoke = k.revoked_at.is_none().then(move || {
                view! {
                    <ActionForm action=actions.revoke_write attr:class="inline-form">
                        <input type="hidden" name="key" value=key />
                        <button type="submit" aria-label=label>{t(Msg::Revoke)}</button>
                    </ActionForm>
                }
            });
            view! {
                <tr>
                    <td><code>{k.key.clone()}</code></td>
                    <td>{when(k.created_at)}</td>
                    <td>{status}</td>
                    <td>{revoke}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <h2>{t(Msg::WriteKeys)}</h2>
        <p>{with_code(Msg::WriteKeysExplained, "data-key")}</p>
        <crate::components::page::ScrollTable label=t(Msg::WriteKeys).to_string()>
            <table class="data" data-testid="write-keys">
                <thead><tr>
                    <th scope="col">{t(Msg::Key)}</th><th scope="col">{t(Msg::Created)}</th>
                    <th scope="col">{t(Msg::Status)}</th><th scope="col">{t(Msg::Revoke)}</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </crate::components::page::ScrollTable>
        {action_error(actions.revoke_write.value())}
        <ActionForm action=actions.issue_write attr:class="inline-form">
            <button type="submit">{t(Msg::IssueWriteKey)}</button>
        </ActionForm>
        {action_error(actions.issue_write.value())}
    }
}

#[component]
fn ReadKeys(actions: Actions) -> impl IntoView {
    let (issue, revoke) = (actions.issue_read, actions.revoke_read);
    view! {
        <h2>{t(Msg::ReadKeys)}</h2>
        <p>{t(Msg::ReadKeysExplained)}</p>
        <ActionForm action=issue attr:class="inline-form">
            <button type="submit">{t(Msg::IssueReadKey)}</button>
        </ActionForm>
        {action_error(issue.value())}
        {move || match issue.value().get() {
            Some(Ok(key)) => Some(view! { <SecretOutput
                label=t(Msg::NewReadKey).to_string() value=key testid="read-key" /> }),
            _ => None,
        }}
        <ActionForm action=revoke attr:class="inline-form">
            <label for="revoke-read-key">{t(Msg::ReadKeyToRevoke)}</label>
            <input id="revoke-read-key" type="password" name="key" autocomplete="off"
                required=true />
            <button type="submit">{t(Msg::Revoke)}</button>
        </ActionForm>
        {action_error(revoke.value())}
        <Show when=move || matches!(revoke.value().get(), Some(Ok(())))>
            <p class="notice" role="status">{t(Msg::ReadKeyRevoked)}</p>
        </Show>
    }
}

#[component]
fn RoleSelect(id: String, selected: Role) -> impl IntoView {
    view! {
        <select id=id name="role">
            <option value="viewer" selected=selected == Role::Viewer>{role_name(Role::Viewer)}</option>
            <option value="admin" selected=selected == Role::Admin>{role_name(Role::Admin)}</option>
        </select>
    }
}

/// A secret or link shown once, selectable for copying.
#[component]
fn SecretOutput(label: String, value: String, testid: &'static str) -> impl IntoView {
    view! {
        <div class="notice" role="status">
            <p>{label}</p>
            <code class="secret" data-testid=testid>{value}</code>
        </div>
    }
}

/// `path` as an absolute URL of this site (in the browser; the path itself on the server).
fn absolute(path: &str) -> String {
    #[cfg(feature = "hydrate")]
    if let Ok(origin) = window().location().origin() {
        return format!("{origin}{path}");
    }
    path.to_string()
}
