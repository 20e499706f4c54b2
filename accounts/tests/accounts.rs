//! The account rules on the real embedded store (a SQLite file per test): sign-in and
//! lockout, sessions, invitations, roles, password changes.

use recoscope_accounts::{AccountError, Accounts, AccountsConfig, AdminAction, Role};
use recoscope_stores::{StoreConfig, Stores};

const ADMIN: &str = "ada@acme.example";
const PASSWORD: &str = "correct horse battery";

struct Fixture {
    accounts: Accounts,
    stores: Stores,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Tenants `acme` and `beta`, and Ada, admin of `acme`.
async fn fixture(config: AccountsConfig) -> Fixture {
    let dir = std::env::temp_dir().join(format!("recoscope-accounts-{}", uuid::Uuid::new_v4()));
    let store_config = StoreConfig {
        path: dir.join("config.sqlite3").display().to_string(),
        recent_path: dir.join("recent.sqlite3").display().to_string(),
        write_keys: String::new(),
        ..StoreConfig::default()
    };
    let stores = Stores::open(&store_config).unwrap();
    for tenant in ["acme", "beta"] {
        stores.tenant_store().create_tenant(tenant).unwrap();
    }
    let accounts = Accounts::new(stores.clone(), config);
    accounts
        .add_user(ADMIN, PASSWORD, "acme", Role::Admin)
        .await
        .unwrap();
    Fixture {
        accounts,
        stores,
        dir,
    }
}

#[tokio::test]
async fn a_session_lives_from_sign_in_to_sign_out() {
    let f = fixture(AccountsConfig::default()).await;
    let session = f
        .accounts
        .sign_in(" Ada@ACME.example ", PASSWORD)
        .await
        .unwrap();
    assert_eq!(session.signed_in.email, ADMIN);
    assert_eq!(
        (session.signed_in.tenant_id.as_str(), session.signed_in.role),
        ("acme", Role::Admin)
    );
    let seen = f.accounts.signed_in(&session.token).await.unwrap().unwrap();
    assert_eq!(seen, session.signed_in);
    // The store keeps a digest, not the token.
    let digest = recoscope_stores::read_key_digest(&session.token);
    assert!(f
        .stores
        .account_store()
        .session(&session.token)
        .unwrap()
        .is_none());
    assert!(f.stores.account_store().session(&digest).unwrap().is_some());

    f.accounts.sign_out(&session.token).await.unwrap();
    assert_eq!(f.accounts.signed_in(&session.token).await.unwrap(), None);
    assert_eq!(f.accounts.signed_in("rs_not-a-token").await.unwrap(), None);
}

#[tokio::test]
async fn an_expired_session_signs_nobody_in() {
    let f = fixture(AccountsConfig::default()).await;
    let session = f.accounts.sign_in(ADMIN, PASSWORD).await.unwrap();
    let store = f.stores.account_store();
    let digest = recoscope_stores::read_key_digest(&session.token);
    let mut stored = store.session(&digest).unwrap().unwrap();
    assert_eq!(stored.expires_at - stored.created_at, 168 * 3600 * 1000);
    stored.expires_at = stored.created_at - 1;
    store.put_session(&stored).unwrap();
    assert_eq!(f.accounts.signed_in(&session.token).await.unwrap(), None);
    assert!(
        store.session(&digest).unwrap().is_none(),
        "removed when seen"
    );
}

#[tokio::test]
async fn wrong_passwords_lock_the_account_and_say_so() {
    // More attempts than the per-minute limit allows: that limit has its own test.
    let f = fixture(AccountsConfig {
        attempts_per_minute: 100,
        ..AccountsConfig::default()
    })
    .await;
    for attempt in 1..=4 {
        assert_eq!(
            f.accounts
                .sign_in(ADMIN, "wrong password")
                .await
                .unwrap_err(),
            AccountError::WrongCredentials,
            "attempt {attempt}"
        );
    }
    assert_eq!(
        f.accounts
            .sign_in(ADMIN, "wrong password")
            .await
            .unwrap_err(),
        AccountError::Locked { minutes: 15 }
    );
    // Locked: even the right password is refused, without being checked.
    assert_eq!(
        f.accounts.sign_in(ADMIN, PASSWORD).await.unwrap_err(),
        AccountError::Locked { minutes: 15 }
    );
    f.accounts.unlock(ADMIN).await.unwrap();
    f.accounts.sign_in(ADMIN, PASSWORD).await.unwrap();
    // A success clears the count: four more wrong ones do not lock.
    for _ in 0..3 {
        f.accounts
            .sign_in(ADMIN, "wrong password")
            .await
            .unwrap_err();
    }
    f.accounts.sign_in(ADMIN, PASSWORD).await.unwrap();
    let user = f.stores.account_store().user(ADMIN).unwrap().unwrap();
    assert_eq!((user.failed_sign_ins, user.locked_until), (0, None));
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_email_known_or_not() {
    let config = AccountsConfig {
        attempts_per_minute: 3,
        ..AccountsConfig::default()
    };
    let f = fixture(config).await;
    for _ in 0..3 {
        assert_eq!(
            f.accounts
                .sign_in("nobody@x.example", "whatever!!")
                .await
                .unwrap_err(),
            AccountError::WrongCredentials
        );
    }
    assert_eq!(
        f.accounts
            .sign_in("nobody@x.example", "whatever!!")
            .await
            .unwrap_err(),
        AccountError::RateLimited
    );
    // Another email has its own allowance.
    f.accounts.sign_in(ADMIN, PASSWORD).await.unwrap();
    assert!(matches!(
        f.accounts
            .sign_in("not an email", PASSWORD)
            .await
            .unwrap_err(),
        AccountError::Invalid(_)
    ));
}

#[tokio::test]
async fn an_invitation_makes_a_member_once_and_viewers_cannot_invite() {
    let f = fixture(AccountsConfig::default()).await;
    let ada = f.accounts.sign_in(ADMIN, PASSWORD).await.unwrap().signed_in;
    let link = f
        .accounts
        .invite(&ada, "Bob@Acme.example", Role::Viewer)
        .await
        .unwrap();
    // A password too short is refused and the link still works.
    assert!(matches!(
        f.accounts
            .accept_invitation(&link, "short")
            .await
            .unwrap_err(),
        AccountError::Invalid(_)
    ));
    let bob = f
        .accounts
        .accept_invitation(&link, "bob's long password")
        .await
        .unwrap();
    assert_eq!(bob.signed_in.email, "bob@acme.example");
    assert_eq!(bob.signed_in.role, Role::Viewer);
    assert_eq!(
        f.accounts
            .accept_invitation(&link, "bob's long password")
            .await
            .unwrap_err(),
        AccountError::BadInvitation
    );
    assert_eq!(
        f.accounts
            .invite(&bob.signed_in, "eve@acme.example", Role::Admin)
            .await
            .unwrap_err(),
        AccountError::Forbidden(AdminAction::InviteMembers)
    );
    assert_eq!(
        f.accounts.members(&bob.signed_in).await.unwrap_err(),
        AccountError::Forbidden(AdminAction::ListMembers)
    );
    let members = f.accounts.members(&ada).await.unwrap();
    let emails: Vec<_> = members.iter().map(|m| (m.email.as_str(), m.role)).collect();
    assert_eq!(
        emails,
        [(ADMIN, Role::Admin), ("bob@acme.example", Role::Viewer)]
    );
}

#[tokio::test]
async fn an_operator_of_two_tenants_switches_between_them() {
    let f = fixture(AccountsConfig::default()).await;
    f.accounts
        .add_user("cy@beta.example", "cy's long password", "beta", Role::Admin)
        .await
        .unwrap();
    let cy = f
        .accounts
        .sign_in("cy@beta.example", "cy's long password")
        .await
        .unwrap();
    let link = f
        .accounts
        .invite(&cy.signed_in, ADMIN, Role::Viewer)
        .await
        .unwrap();
    // Ada has an account: she proves it with her password, not a new one.
    assert!(matches!(
        f.accounts
            .accept_invitation(&link, "a new password!")
            .await
            .unwrap_err(),
        AccountError::Invalid(_)
    ));
    let ada = f.accounts.accept_invitation(&link, PASSWORD).await.unwrap();
    assert_eq!(
        (ada.signed_in.tenant_id.as_str(), ada.signed_in.role),
        ("beta", Role::Viewer)
    );
    let tenants: Vec<_> = ada
        .signed_in
        .tenants
        .iter()
        .map(|m| m.tenant_id.as_str())
        .collect();
    assert_eq!(tenants, ["acme", "beta"]);

    let switched = f.accounts.switch_tenant(&ada.token, "acme").await.unwrap();
    assert_eq!(
        (switched.tenant_id.as_str(), switched.role),
        ("acme", Role::Admin)
    );
    let seen = f.accounts.signed_in(&ada.token).await.unwrap().unwrap();
    assert_eq!(seen.tenant_id, "acme", "the switch is kept in the session");
    assert!(matches!(
        f.accounts
            .switch_tenant(&ada.token, "nowhere")
            .await
            .unwrap_err(),
        AccountError::NotFound(_)
    ));

    // Removed from beta: the session falls back to a tenant she still has.
    f.accounts.switch_tenant(&ada.token, "beta").await.unwrap();
    let cy_now = f.accounts.signed_in(&cy.token).await.unwrap().unwrap();
    f.accounts.remove_member(&cy_now, ADMIN).await.unwrap();
    let seen = f.accounts.signed_in(&ada.token).await.unwrap().unwrap();
    assert_eq!(seen.tenant_id, "acme");
}

#[tokio::test]
async fn a_tenant_keeps_its_last_admin() {
    let f = fixture(AccountsConfig::default()).await;
    let ada = f.accounts.sign_in(ADMIN, PASSWORD).await.unwrap();
    assert!(matches!(
        f.accounts.set_role(&ada.signed_in, ADMIN, Role::Viewer).await.unwrap_err(),
        AccountError::Invalid(m) if m.contains("at least one admin")
    ));
    assert!(matches!(
        f.accounts
            .remove_member(&ada.signed_in, ADMIN)
            .await
            .unwrap_err(),
        AccountError::Invalid(_)
    ));
    let link = f
        .accounts
        .invite(&ada.signed_in, "bob@acme.example", Role::Viewer)
        .await
        .unwrap();
    let bob = f
        .accounts
        .accept_invitation(&link, "bob's long password")
        .await
        .unwrap();
    f.accounts
        .set_role(&ada.signed_in, "bob@acme.example", Role::Admin)
        .await
        .unwrap();
    let bob_now = f.accounts.signed_in(&bob.token).await.unwrap().unwrap();
    assert_eq!(bob_now.role, Role::Admin, "a role change applies at once");
    f.accounts
        .set_role(&ada.signed_in, ADMIN, Role::Viewer)
        .await
        .unwrap();
    // A member removed from their only tenant is signed out.
    f.accounts.remove_member(&bob_now, ADMIN).await.unwrap();
    assert_eq!(f.accounts.signed_in(&ada.token).await.unwrap(), None);
    assert_eq!(
        f.accounts.sign_in(ADMIN, PASSWORD).await.unwrap_err(),
        AccountError::NoTenant
    );
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let f = fixture(AccountsConfig::default()).await;
    let here = f.accounts.sign_in(ADMIN, PASSWORD).await.unwrap();
    let elsewhere = f.accounts.sign_in(ADMIN, PASSWORD).await.unwrap();
    assert!(matches!(
        f.accounts
            .change_password(&here.token, "not the password", "a brand new password")
            .await
            .unwrap_err(),
        AccountError::Invalid(m) if m.contains("current password")
    ));
    assert!(matches!(
        f.accounts
            .change_password(&here.token, PASSWORD, "short")
            .await
            .unwrap_err(),
        AccountError::Invalid(_)
    ));
    f.accounts
        .change_password(&here.token, PASSWORD, "a brand new password")
        .await
        .unwrap();
    assert!(f.accounts.signed_in(&here.token).await.unwrap().is_some());
    assert_eq!(f.accounts.signed_in(&elsewhere.token).await.unwrap(), None);
    assert_eq!(
        f.accounts.sign_in(ADMIN, PASSWORD).await.unwrap_err(),
        AccountError::WrongCredentials
    );
    f.accounts
        .sign_in(ADMIN, "a brand new password")
        .await
        .unwrap();
}
