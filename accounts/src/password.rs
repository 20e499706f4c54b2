//! Passwords: what is accepted, and argon2id (RFC 9106) hashes in PHC strings, with the
//! `argon2` crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's recommended minimum).
//! Hashing costs tens of milliseconds of CPU by design, so callers run it off the async
//! threads.

use crate::AccountError;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use std::sync::OnceLock;

/// Shortest password accepted, in characters.
pub const MIN_CHARS: usize = 10;
/// Longest, so a request cannot make the server hash megabytes.
pub const MAX_CHARS: usize = 256;

/// Refuses a password too short or too long to accept.
pub fn check_rules(password: &str) -> Result<(), AccountError> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(AccountError::Invalid(format!(
            "the password must have at least {MIN_CHARS} characters"
        )));
    }
    if chars > MAX_CHARS {
        return Err(AccountError::Invalid(format!(
            "the password may have at most {MAX_CHARS} characters"
        )));
    }
    Ok(())
}

/// A new argon2id hash of `password` with a random salt.
pub fn hash(password: &str) -> Result<String, AccountError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AccountError::Unavailable(format!("hashing a password: {e}")))
}

/// Whether `password` matches `stored` (a PHC string). Given `None` (no such user) it still
/// spends the time of one check, so answers do not tell which emails have accounts.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DECOY: OnceLock<String> = OnceLock::new();
    let decoy = DECOY.get_or_init(|| hash("not anyone's password").unwrap_or_default());
    let Ok(parsed) = PasswordHash::new(stored.unwrap_or(decoy)) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("correct horse battery", Some(&stored)));
        assert!(!verify("correct horse batterY", Some(&stored)));
        assert!(!verify("correct horse battery", None));
        assert!(!verify("anything", Some("not a phc string")));
        assert_ne!(stored, hash("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn passwords_have_a_length_range() {
        assert!(check_rules("short").is_err());
        assert!(check_rules("ten chars!").is_ok());
        assert!(
            check_rules("密码密码密码密码密码").is_ok(),
            "counted in characters"
        );
        assert!(check_rules(&"x".repeat(257)).is_err());
    }
}
