//! The behaviour every `TenantStore` backend must have. Backends call [`run`] from their
//! tests on an empty store.

use super::{StoreError, TenantStore};

pub fn run(store: &dyn TenantStore) {
    // Tenants.
    let acme = store.create_tenant("acme").unwrap();
    assert_eq!(acme.origins, Vec::<String>::new());
    assert!(matches!(
        store.create_tenant("acme"),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_tenant("no-dashes"),
        Err(StoreError::Invalid(_))
    ));
    store.create_tenant("beta").unwrap();
    let ids: Vec<String> = store
        .list_tenants()
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["acme", "beta"]);
    assert_eq!(store.tenant("nobody").unwrap(), None);

    // Origins: validated, de-duplicated, replaced as a whole.
    let origins = vec![
        "https://shop.acme.example".to_string(),
        "http://localhost:8080".to_string(),
        "https://shop.acme.example".to_string(),
    ];
    let acme = store.set_origins("acme", &origins).unwrap();
    assert_eq!(
        acme.origins,
        ["http://localhost:8080", "https://shop.acme.example"]
    );
    assert!(matches!(
        store.set_origins("acme", &["https://x.example/path".to_string()]),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.set_origins("nobody", &[]),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.tenant("acme").unwrap().unwrap().origins.len(), 2);

    // Keys: issued, looked up, revoked.
    let key = store.issue_key("acme").unwrap();
    assert_eq!(key.tenant_id, "acme");
    assert_eq!(store.tenant_for_key(&key.key).unwrap().unwrap().id, "acme");
    assert!(matches!(
        store.issue_key("nobody"),
        Err(StoreError::NotFound(_))
    ));
    let fixed = store.add_key("beta", "beta-fixed-key").unwrap();
    assert_eq!(store.add_key("beta", "beta-fixed-key").unwrap(), fixed);
    assert!(matches!(
        store.add_key("acme", "beta-fixed-key"),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.add_key("acme", "short"),
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(store.keys("acme").unwrap().len(), 1);

    store.revoke_key(&key.key).unwrap();
    assert_eq!(store.tenant_for_key(&key.key).unwrap(), None);
    assert!(store.keys("acme").unwrap()[0].revoked_at.is_some());
    store.revoke_key(&key.key).unwrap();
    assert!(matches!(
        store.revoke_key("rk_unknown"),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.tenant_for_key("rk_unknown").unwrap(), None);
    assert_eq!(
        store.tenant_for_key("beta-fixed-key").unwrap().unwrap().id,
        "beta"
    );

    // Read keys: secret, one tenant each, revocable; a write key is not a read key.
    let read = store.issue_read_key("acme").unwrap();
    assert!(read.key.starts_with("rr_") && read.key.len() == 35);
    assert_eq!(read.tenant_id, "acme");
    let other = store.issue_read_key("beta").unwrap();
    assert_ne!(read.key, other.key);
    assert_eq!(
        store.tenant_for_read_key(&read.key).unwrap().unwrap().id,
        "acme"
    );
    assert_eq!(
        store.tenant_for_read_key(&other.key).unwrap().unwrap().id,
        "beta"
    );
    assert_eq!(store.tenant_for_read_key("beta-fixed-key").unwrap(), None);
    assert_eq!(store.tenant_for_read_key("rr_unknown").unwrap(), None);
    assert!(matches!(
        store.issue_read_key("nobody"),
        Err(StoreError::NotFound(_))
    ));
    store.revoke_read_key(&read.key).unwrap();
    assert_eq!(store.tenant_for_read_key(&read.key).unwrap(), None);
    assert_eq!(
        store.tenant_for_read_key(&other.key).unwrap().unwrap().id,
        "beta"
    );
    assert!(matches!(
        store.revoke_read_key("rr_unknown"),
        Err(StoreError::NotFound(_))
    ));
}
