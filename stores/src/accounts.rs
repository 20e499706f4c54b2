//! Operator accounts as stored: users (an email and an argon2id hash, never the password),
//! their role in each tenant, signed-in sessions and pending invitations. Secrets that reach
//! a browser (session and invitation tokens) are kept only as their SHA-256, like read keys.
//!
//! The policy around them (hashing, lockout, who may invite) lives in `recoscope-accounts`;
//! this module only keeps the records, with one conformance suite every backend passes
//! ([`conformance`]).

use crate::StoreError;
use serde::{Deserialize, Serialize};

/// What a member may do in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads the tenant's analytics.
    Viewer,
    /// Also manages the tenant's keys, catalog and members.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Result<Role, StoreError> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::Invalid(format!(
                "role {other:?}: expected viewer or admin"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Lower-case, as [`normalize_email`] leaves it.
    pub email: String,
    /// A PHC string (`$argon2id$…`).
    pub password_hash: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Wrong passwords since the last successful sign-in or lock.
    pub failed_sign_ins: u32,
    /// Refuses every sign-in until this instant (ms).
    pub locked_until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub email: String,
    pub tenant_id: String,
    pub role: Role,
}

/// A signed-in browser: its token's digest, who, and which of their tenants it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub digest: String,
    pub email: String,
    pub tenant_id: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A one-time link that lets `email` join `tenant_id` as `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub digest: String,
    pub email: String,
    pub tenant_id: String,
    pub role: Role,
    pub invited_by: String,
    pub expires_at: i64,
}

/// An email as stored and compared: trimmed and lower-case; refused unless it looks like
/// `local@domain` (at most 254 characters, no spaces or control characters).
pub fn normalize_email(email: &str) -> Result<String, StoreError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if valid {
        Ok(email)
    } else {
        Err(StoreError::Invalid(format!(
            "email {email:?}: expected name@domain"
        )))
    }
}

/// The records of operator accounts. Emails reach it normalized ([`normalize_email`]).
pub trait AccountStore: Send + Sync + 'static {
    /// A new user; a conflict when the email is taken.
    fn create_user(&self, user: &User) -> Result<(), StoreError>;
    fn user(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// Replaces the password hash; also clears failed sign-ins and any lock.
    fn set_password(&self, email: &str, password_hash: &str) -> Result<(), StoreError>;
    /// Counts one more wrong password, atomically (two replicas may count at once); returns
    /// the new count.
    fn add_failed_sign_in(&self, email: &str) -> Result<u32, StoreError>;
    /// Sets or lifts the lock, and clears the failure count either way.
    fn set_lock(&self, email: &str, locked_until: Option<i64>) -> Result<(), StoreError>;

    /// Gives `email` the role in the tenant (adding the membership or changing it); both
    /// must exist.
    fn set_role(&self, email: &str, tenant_id: &str, role: Role) -> Result<(), StoreError>;
    fn remove_member(&self, email: &str, tenant_id: &str) -> Result<(), StoreError>;
    /// A user's tenants, by tenant id.
    fn memberships(&self, email: &str) -> Result<Vec<Membership>, StoreError>;
    /// A tenant's members, by email.
    fn members(&self, tenant_id: &str) -> Result<Vec<Membership>, StoreError>;

    /// Stores a session, or replaces the one with the same digest.
    fn put_session(&self, session: &Session) -> Result<(), StoreError>;
    fn session(&self, digest: &str) -> Result<Option<Session>, StoreError>;
    fn delete_session(&self, digest: &str) -> Result<(), StoreError>;
    /// Ends every session of `email` but `keep` (a password change signs out elsewhere);
    /// returns how many ended.
    fn delete_sessions_of(&self, email: &str, keep: Option<&str>) -> Result<u64, StoreError>;

    fn put_invitation(&self, invitation: &Invitation) -> Result<(), StoreError>;
    /// Removes and returns the invitation: a link works once, even when two tabs race.
    fn take_invitation(&self, digest: &str) -> Result<Option<Invitation>, StoreError>;
}

/// The behaviour every `AccountStore` backend must have, on a store whose tenant store
/// holds tenants `acme` and `beta` and no users.
pub mod conformance {
    use super::*;

    fn user(email: &str) -> User {
        User {
            email: email.into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: 1_700_000_000_000,
            failed_sign_ins: 0,
            locked_until: None,
        }
    }

    pub fn run(store: &dyn AccountStore) {
        // Users.
        store.create_user(&user("ada@acme.example")).unwrap();
        assert!(matches!(
            store.create_user(&user("ada@acme.example")),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            store.user("ada@acme.example").unwrap(),
            Some(user("ada@acme.example"))
        );
        assert_eq!(store.user("nobody@acme.example").unwrap(), None);

        // Failed sign-ins count up, a lock clears them, a new password clears the lock.
        assert_eq!(store.add_failed_sign_in("ada@acme.example").unwrap(), 1);
        assert_eq!(store.add_failed_sign_in("ada@acme.example").unwrap(), 2);
        assert!(matches!(
            store.add_failed_sign_in("nobody@acme.example"),
            Err(StoreError::NotFound(_))
        ));
        store.set_lock("ada@acme.example", Some(42)).unwrap();
        let ada = store.user("ada@acme.example").unwrap().unwrap();
        assert_eq!((ada.failed_sign_ins, ada.locked_until), (0, Some(42)));
        store.add_failed_sign_in("ada@acme.example").unwrap();
        store
            .set_password("ada@acme.example", "$argon2id$new")
            .unwrap();
        let ada = store.user("ada@acme.example").unwrap().unwrap();
        assert_eq!(
            (
                ada.password_hash.as_str(),
                ada.failed_sign_ins,
                ada.locked_until
            ),
            ("$argon2id$new", 0, None)
        );
        assert!(matches!(
            store.set_password("nobody@acme.example", "x"),
            Err(StoreError::NotFound(_))
        ));

        // Memberships: both ends must exist; a second call changes the role.
        store.create_user(&user("bob@acme.example")).unwrap();
        store
            .set_role("ada@acme.example", "beta", Role::Viewer)
            .unwrap();
        store
            .set_role("ada@acme.example", "acme", Role::Viewer)
            .unwrap();
        store
            .set_role("ada@acme.example", "acme", Role::Admin)
            .unwrap();
        store
            .set_role("bob@acme.example", "acme", Role::Viewer)
            .unwrap();
        assert!(matches!(
            store.set_role("ada@acme.example", "nowhere", Role::Admin),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.set_role("nobody@acme.example", "acme", Role::Admin),
            Err(StoreError::NotFound(_))
        ));
        let membership = |email: &str, tenant: &str, role| Membership {
            email: email.into(),
            tenant_id: tenant.into(),
            role,
        };
        assert_eq!(
            store.memberships("ada@acme.example").unwrap(),
            [
                membership("ada@acme.example", "acme", Role::Admin),
                membership("ada@acme.example", "beta", Role::Viewer)
            ]
        );
        assert_eq!(
            store.members("acme").unwrap(),
            [
                membership("ada@acme.example", "acme", Role::Admin),
                membership("bob@acme.example", "acme", Role::Viewer)
            ]
        );
        store.remove_member("bob@acme.example", "acme").unwrap();
        assert!(matches!(
            store.remove_member("bob@acme.example", "acme"),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(store.memberships("bob@acme.example").unwrap(), []);

        // Sessions.
        let session = |digest: &str, email: &str| Session {
            digest: digest.into(),
            email: email.into(),
            tenant_id: "acme".into(),
            created_at: 1,
            expires_at: 2,
        };
        store
            .put_session(&session("s1", "ada@acme.example"))
            .unwrap();
        store
            .put_session(&session("s2", "ada@acme.example"))
            .unwrap();
        store
            .put_session(&session("s3", "bob@acme.example"))
            .unwrap();
        let switched = Session {
            tenant_id: "beta".into(),
            ..session("s1", "ada@acme.example")
        };
        store.put_session(&switched).unwrap();
        assert_eq!(store.session("s1").unwrap(), Some(switched));
        assert_eq!(store.session("nope").unwrap(), None);
        assert_eq!(
            store
                .delete_sessions_of("ada@acme.example", Some("s1"))
                .unwrap(),
            1
        );
        assert_eq!(store.session("s2").unwrap(), None);
        assert!(store.session("s1").unwrap().is_some());
        store.delete_session("s1").unwrap();
        store.delete_session("s1").unwrap();
        assert_eq!(store.session("s1").unwrap(), None);
        assert!(store.session("s3").unwrap().is_some(), "others stay");

        // Invitations work once.
        let invitation = Invitation {
            digest: "i1".into(),
            email: "cy@acme.example".into(),
            tenant_id: "acme".into(),
            role: Role::Viewer,
            invited_by: "ada@acme.example".into(),
            expires_at: 3,
        };
        store.put_invitation(&invitation).unwrap();
        assert_eq!(store.take_invitation("i1").unwrap(), Some(invitation));
        assert_eq!(store.take_invitation("i1").unwrap(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lowered_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Acme.Example ").unwrap(),
            "ada@acme.example"
        );
        for bad in [
            "",
            "ada",
            "@acme",
            "ada@",
            "a b@c.d",
            "a@b@c",
            "ad\u{7}a@acme",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Role::parse("admin").unwrap(), Role::Admin);
        assert!(Role::parse("owner").is_err());
    }
}
