//! The MongoDB `AccountStore`: `users` (by email), `memberships` (one document per user and
//! tenant), `sessions` and `invitations` (by their token's digest). Passes the same
//! conformance suite as the SQLite tables.

use crate::accounts::{AccountStore, Invitation, Membership, Role, Session, User};
use crate::mongo::{backend, Mongo};
use crate::StoreError;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use mongodb::Collection;
use std::sync::Arc;

pub struct MongoAccountStore {
    mongo: Arc<Mongo>,
}

impl MongoAccountStore {
    pub fn new(mongo: Arc<Mongo>) -> Self {
        MongoAccountStore { mongo }
    }

    fn users(&self) -> Collection<Document> {
        self.mongo.collection("users")
    }
}

fn not_found(what: String) -> StoreError {
    StoreError::NotFound(what)
}

fn user_from(d: &Document) -> Result<User, StoreError> {
    Ok(User {
        email: d.get_str("_id").map_err(backend)?.to_string(),
        password_hash: d.get_str("password_hash").map_err(backend)?.to_string(),
        created_at: d.get_i64("created_at").map_err(backend)?,
        failed_sign_ins: d.get_i64("failed_sign_ins").map_err(backend)? as u32,
        locked_until: d.get_i64("locked_until").ok(),
    })
}

fn membership_from(d: &Document) -> Result<Membership, StoreError> {
    Ok(Membership {
        email: d.get_str("email").map_err(backend)?.to_string(),
        tenant_id: d.get_str("tenant_id").map_err(backend)?.to_string(),
        role: Role::parse(d.get_str("role").map_err(backend)?)?,
    })
}

fn session_from(d: &Document) -> Result<Session, StoreError> {
    Ok(Session {
        digest: d.get_str("_id").map_err(backend)?.to_string(),
        email: d.get_str("email").map_err(backend)?.to_string(),
        tenant_id: d.get_str("tenant_id").map_err(backend)?.to_string(),
        created_at: d.get_i64("created_at").map_err(backend)?,
        expires_at: d.get_i64("expires_at").map_err(backend)?,
    })
}

fn invitation_from(d: &Document) -> Result<Invitation, StoreError> {
    Ok(Invitation {
        digest: d.get_str("_id").map_err(backend)?.to_string(),
        email: d.get_str("email").map_err(backend)?.to_string(),
        tenant_id: d.get_str("tenant_id").map_err(backend)?.to_string(),
        role: Role::parse(d.get_str("role").map_err(backend)?)?,
        invited_by: d.get_str("invited_by").map_err(backend)?.to_string(),
        expires_at: d.get_i64("expires_at").map_err(backend)?,
    })
}

/// The id of the membership of `email` in `tenant_id` (tenant ids have no `/`).
fn membership_id(email: &str, tenant_id: &str) -> String {
    format!("{tenant_id}/{email}")
}

async fn find_memberships(
    memberships: Collection<Document>,
    filter: Document,
) -> Result<Vec<Membership>, StoreError> {
    let documents: Vec<Document> = memberships
        .find(filter)
        .sort(doc! {"tenant_id": 1, "email": 1})
        .await
        .map_err(backend)?
        .try_collect()
        .await
        .map_err(backend)?;
    documents.iter().map(membership_from).collect()
}

impl AccountStore for MongoAccountStore {
    fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let users = self.users();
        let document = doc! {
            "_id": &user.email, "password_hash": &user.password_hash,
            "created_at": user.created_at, "failed_sign_ins": i64::from(user.failed_sign_ins),
            "locked_until": user.locked_until.map_or(Bson::Null, Bson::Int64),
        };
        let email = user.email.clone();
        self.mongo.run(async move {
            match users.insert_one(document).await {
                Ok(_) => Ok(()),
                Err(e) if crate::mongo::is_duplicate(&e) => {
                    Err(StoreError::Conflict(format!("user {email:?}")))
                }
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn user(&self, email: &str) -> Result<Option<User>, StoreError> {
        let users = self.users();
        let email = email.to_string();
        self.mongo.run(async move {
            match users
                .find_one(doc! {"_id": &email})
                .await
                .map_err(backend)?
            {
                Some(d) => user_from(&d).map(Some),
                None => Ok(None),
            }
        })
    }

    fn set_password(&self, email: &str, password_hash: &str) -> Result<(), StoreError> {
        let update = doc! {"$set": {
            "password_hash": password_hash, "failed_sign_ins": 0_i64, "locked_until": Bson::Null,
        }};
        self.update_user(email, update)
    }

    fn add_failed_sign_in(&self, email: &str) -> Result<u32, StoreError> {
        let users = self.users();
        let email = email.to_string();
        self.mongo.run(async move {
            let updated = users
                .find_one_and_update(
                    doc! {"_id": &email},
                    doc! {"$inc": {"failed_sign_ins": 1_i64}},
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(backend)?
                .ok_or_else(|| not_found(format!("user {email:?}")))?;
            Ok(user_from(&updated)?.failed_sign_ins)
        })
    }

    fn set_lock(&self, email: &str, locked_until: Option<i64>) -> Result<(), StoreError> {
        let update = doc! {"$set": {
            "failed_sign_ins": 0_i64, "locked_until": locked_until.map_or(Bson::Null, Bson::Int64),
        }};
        self.update_user(email, update)
    }

    fn set_role(&self, email: &str, tenant_id: &str, role: Role) -> Result<(), StoreError> {
        let users = self.users();
        let tenants = self.mongo.collection("tenants");
        let memberships = self.mongo.collection("memberships");
        let (email, tenant_id) = (email.to_string(), tenant_id.to_string());
        self.mongo.run(async move {
            if users
                .find_one(doc! {"_id": &email})
                .await
                .map_err(backend)?
                .is_none()
            {
                return Err(not_found(format!("user {email:?}")));
            }
            if tenants
                .find_one(doc! {"_id": &tenant_id})
                .await
                .map_err(backend)?
                .is_none()
            {
                return Err(not_found(format!("tenant {tenant_id:?}")));
            }
            memberships
                .replace_one(
                    doc! {"_id": membership_id(&email, &tenant_id)},
                    doc! {"email": &email, "tenant_id": &tenant_id, "role": role.as_str()},
                )
                .upsert(true)
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn remove_member(&self, email: &str, tenant_id: &str) -> Result<(), StoreError> {
        let memberships = self.mongo.collection("memberships");
        let (email, tenant_id) = (email.to_string(), tenant_id.to_string());
        self.mongo.run(async move {
            let deleted = memberships
                .delete_one(doc! {"_id": membership_id(&email, &tenant_id)})
                .await
                .map_err(backend)?;
            if deleted.deleted_count == 0 {
                return Err(not_found(format!("member {email:?} of {tenant_id:?}")));
            }
            Ok(())
        })
    }

    fn memberships(&self, email: &str) -> Result<Vec<Membership>, StoreError> {
        let memberships = self.mongo.collection("memberships");
        let filter = doc! {"email": email};
        self.mongo.run(find_memberships(memberships, filter))
    }

    fn members(&self, tenant_id: &str) -> Result<Vec<Membership>, StoreError> {
        let memberships = self.mongo.collection("memberships");
        let filter = doc! {"tenant_id": tenant_id};
        self.mongo.run(find_memberships(memberships, filter))
    }

    fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let sessions = self.mongo.collection("sessions");
        let digest = session.digest.clone();
        let document = doc! {
            "email": &session.email, "tenant_id": &session.tenant_id,
            "created_at": session.created_at, "expires_at": session.expires_at,
        };
        self.mongo.run(async move {
            sessions
                .replace_one(doc! {"_id": &digest}, document)
                .upsert(true)
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn session(&self, digest: &str) -> Result<Option<Session>, StoreError> {
        let sessions = self.mongo.collection("sessions");
        let digest = digest.to_string();
        self.mongo.run(async move {
            match sessions
                .find_one(doc! {"_id": &digest})
                .await
                .map_err(backend)?
            {
                Some(d) => session_from(&d).map(Some),
                None => Ok(None),
            }
        })
    }

    fn delete_session(&self, digest: &str) -> Result<(), StoreError> {
        let sessions = self.mongo.collection("sessions");
        let digest = digest.to_string();
        self.mongo.run(async move {
            sessions
                .delete_one(doc! {"_id": &digest})
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn delete_sessions_of(&self, email: &str, keep: Option<&str>) -> Result<u64, StoreError> {
        let sessions = self.mongo.collection("sessions");
        let mut filter = doc! {"email": email};
        if let Some(keep) = keep {
            filter.insert("_id", doc! {"$ne": keep});
        }
        self.mongo.run(async move {
            let deleted = sessions.delete_many(filter).await.map_err(backend)?;
            Ok(deleted.deleted_count)
        })
    }

    fn put_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let invitations = self.mongo.collection("invitations");
        let document = doc! {
            "_id": &invitation.digest, "email": &invitation.email,
            "tenant_id": &invitation.tenant_id, "role": invitation.role.as_str(),
            "invited_by": &invitation.invited_by, "expires_at": invitation.expires_at,
        };
        self.mongo.run(async move {
            invitations.insert_one(document).await.map_err(backend)?;
            Ok(())
        })
    }

    fn take_invitation(&self, digest: &str) -> Result<Option<Invitation>, StoreError> {
        let invitations = self.mongo.collection("invitations");
        let digest = digest.to_string();
        self.mongo.run(async move {
            match invitations
                .find_one_and_delete(doc! {"_id": &digest})
                .await
                .map_err(backend)?
            {
                Some(d) => invitation_from(&d).map(Some),
                None => Ok(None),
            }
        })
    }
}

impl MongoAccountStore {
    fn update_user(&self, email: &str, update: Document) -> Result<(), StoreError> {
        let users = self.users();
        let email = email.to_string();
        self.mongo.run(async move {
            let updated = users
                .update_one(doc! {"_id": &email}, update)
                .await
                .map_err(backend)?;
            if updated.matched_count == 0 {
                return Err(not_found(format!("user {email:?}")));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mongo::MongoTenantStore;
    use crate::TenantStore;

    #[test]
    fn mongodb_passes_the_account_conformance_suite() {
        let mongo = crate::mongo::test_connection();
        let tenants = MongoTenantStore::new(mongo.clone());
        tenants.create_tenant("acme").unwrap();
        tenants.create_tenant("beta").unwrap();
        crate::accounts::conformance::run(&MongoAccountStore::new(mongo.clone()));
        mongo.drop_database().unwrap();
    }
}
