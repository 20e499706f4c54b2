//! Operator accounts through the dashboard's server functions, as a browser calls them: the
//! CLI makes the first admin, sessions live in HttpOnly cookies, admins alone manage members
//! and keys (checked on the server, not just hidden), failed sign-ins lock an account,
//! operators switch tenants, and cross-site posts are refused.

mod support;

use support::{cli, TestApp};

use support::{OPERATOR as ADMIN, OPERATOR_PASSWORD as PASSWORD};

/// One browser's session: its cookie, sent with every call.
struct Browser<'a> {
    app: &'a TestApp,
    cookie: String,
}

/// A server function's answer: status, the session cookie it set (if any), the body.
struct Answer {
    status: u16,
    set_cookie: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    /// The session token this answer set.
    fn session(&self) -> String {
        let cookie = self.set_cookie.as_deref().expect("a session cookie");
        let value = cookie
            .strip_prefix("recoscope_session=")
            .unwrap_or_else(|| panic!("{cookie}"));
        value.split(';').next().unwrap().to_string()
    }
}

async fn call(
    app: &TestApp,
    cookie: &str,
    endpoint: &str,
    form: &[(&str, &str)],
    origin: Option<&str>,
) -> Answer {
    let mut request = app
        .http
        .post(app.url(&format!("/api/{endpoint}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(serde_urlencoded::to_string(form).unwrap());
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let set_cookie = support::set_cookie(&response, "recoscope_session");
    Answer {
        status,
        set_cookie,
        body: response.text().await.unwrap(),
    }
}

impl<'a> Browser<'a> {
    /// Signs in through `/api/sign_in`, as the sign-in form does.
    async fn sign_in(app: &'a TestApp, email: &str, password: &str) -> Browser<'a> {
        let answer = call(
            app,
            "",
            "sign_in",
            &[("email", email), ("password", password)],
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        Browser::with_session(app, &answer.session())
    }

    fn with_session(app: &'a TestApp, token: &str) -> Browser<'a> {
        Browser {
            app,
            cookie: format!("recoscope_session={token}"),
        }
    }

    async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> Answer {
        call(self.app, &self.cookie, endpoint, form, None).await
    }

    /// `whoami`: the identity, or null.
    async fn whoami(&self) -> serde_json::Value {
        let answer = self.call("whoami", &[]).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()
    }

    /// A server function that must succeed.
    async fn ok(&self, endpoint: &str, form: &[(&str, &str)]) -> serde_json::Value {
        let answer = self.call(endpoint, form).await;
        assert_eq!(answer.status, 200, "{endpoint}: {}", answer.body);
        if answer.body.is_empty() {
            serde_json::Value::Null
        } else {
            answer.json()
        }
    }
}

/// The token of an invitation link (`…/invite#token=…`).
fn invitation_token(link: &serde_json::Value) -> String {
    let path = link["path"].as_str().unwrap();
    path.split_once("#token=").unwrap().1.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_sign_in_with_passwords_and_only_admins_manage_the_tenant() {
    let app = TestApp::start().await;
    support::add_operator(&app, ADMIN, PASSWORD, &app.tenant, "admin");

    // The session cookie: HttpOnly, SameSite=Strict, for the configured 7 days.
    let answer = call(
        &app,
        "",
        "sign_in",
        &[("email", "Ada@Acme.example"), ("password", PASSWORD)],
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let cookie = answer.set_cookie.clone().unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Max-Age=604800", "Path=/"] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert_eq!(answer.json()["email"], ADMIN);
    let ada = Browser::with_session(&app, &answer.session());
    let me = ada.whoami().await;
    assert_eq!(
        (&me["tenant"], &me["role"]),
        (&serde_json::json!(app.tenant), &serde_json::json!("admin"))
    );
    // The session reads the tenant's analytics like a read key does.
    assert_eq!(ada.ok("scopes", &[]).await["tenant"], app.tenant);

    // An admin invites a viewer, who sets a password through the link.
    let link = ada
        .ok(
            "invite_member",
            &[("email", "bob@acme.example"), ("role", "viewer")],
        )
        .await;
    assert_eq!(link["valid_hours"], 72);
    let token = invitation_token(&link);
    let mismatch = call(
        &app,
        "",
        "accept_invitation",
        &[
            ("token", &token),
            ("password", "bob's long password"),
            ("confirm", "bob's other password"),
        ],
        None,
    )
    .await;
    assert_eq!(mismatch.status, 400);
    assert!(mismatch.body.contains("differ"), "{}", mismatch.body);
    let joined = call(
        &app,
        "",
        "accept_invitation",
        &[
            ("token", &token),
            ("password", "bob's long password"),
            ("confirm", "bob's long password"),
        ],
        None,
    )
    .await;
    assert_eq!(joined.status, 200, "{}", joined.body);
    let bob = Browser::with_session(&app, &joined.session());
    assert_eq!(bob.whoami().await["role"], "viewer");
    assert_eq!(bob.ok("scopes", &[]).await["tenant"], app.tenant);

    // A viewer reaches no admin action: not the page, not the server functions.
    let keys_before = app.tenant_store().keys(&app.tenant).unwrap().len();
    for (endpoint, form) in [
        ("admin_view", vec![]),
        ("issue_write_key", vec![]),
        ("issue_read_key", vec![]),
        (
            "invite_member",
            vec![("email", "eve@acme.example"), ("role", "admin")],
        ),
        (
            "set_member_role",
            vec![("email", "bob@acme.example"), ("role", "admin")],
        ),
        ("remove_member", vec![("email", ADMIN)]),
    ] {
        let answer = bob.call(endpoint, &form).await;
        assert_eq!(answer.status, 403, "{endpoint}: {}", answer.body);
        assert!(
            answer.body.contains("only the tenant's admins"),
            "{}",
            answer.body
        );
    }
    assert_eq!(
        app.tenant_store().keys(&app.tenant).unwrap().len(),
        keys_before
    );
    let page = app
        .http
        .get(app.url("/admin"))
        .header("cookie", &bob.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("admins may manage the tenant") && !page.contains("Issue a write key"),
        "{page}"
    );

    // The admin's page lists both members; write keys are issued and revoked.
    let view = ada.ok("admin_view", &[]).await;
    let members: Vec<_> = view["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(members, [(ADMIN, "admin"), ("bob@acme.example", "viewer")]);
    let key = ada.ok("issue_write_key", &[]).await;
    let key = key.as_str().unwrap();
    assert_eq!(
        app.tenant_store().tenant_for_key(key).unwrap().unwrap().id,
        app.tenant
    );
    ada.ok("revoke_write_key", &[("key", key)]).await;
    assert!(app.tenant_store().tenant_for_key(key).unwrap().is_none());
    // Another tenant's key is out of reach.
    let store = app.tenant_store();
    store.create_tenant("elsewhere_acct").ok();
    let theirs = store.issue_key("elsewhere_acct").unwrap().key;
    let answer = ada.call("revoke_write_key", &[("key", &theirs)]).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(store.tenant_for_key(&theirs).unwrap().is_some());

    // A read key issued on the page reads the JSON API until revoked there.
    let read_key = ada.ok("issue_read_key", &[]).await;
    let read_key = read_key.as_str().unwrap();
    let (status, _) = app
        .get_json("/api/v1/analytics/scopes", Some(read_key))
        .await;
    assert_eq!(status, 200);
    ada.ok("revoke_read_key", &[("key", read_key)]).await;
    let (status, _) = app
        .get_json("/api/v1/analytics/scopes", Some(read_key))
        .await;
    assert_eq!(status, 401);

    // The admin imports a catalog file from the page (multipart, as the browser sends it);
    // the good records are kept beside a bad one, and a viewer may not import.
    let upload = |cookie: &str, kind: &str| {
        let csv = "item_id,name,price\nsku-1,First,1.50\nsku-2,Second,2\n,No id,3\n";
        let form = reqwest::multipart::Form::new()
            .text("kind", kind.to_string())
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec())
                    .file_name("items.csv")
                    .mime_str("text/csv")
                    .unwrap(),
            );
        app.http
            .post(app.url("/api/import_catalog"))
            .header("cookie", cookie.to_string())
            .multipart(form)
            .send()
    };
    let refused = upload(&bob.cookie, "items").await.unwrap();
    assert_eq!(refused.status(), 403);
    let imported = upload(&ada.cookie, "items").await.unwrap();
    assert_eq!(imported.status(), 200);
    let report: serde_json::Value = imported.json().await.unwrap();
    assert_eq!(
        (
            &report["records"],
            &report["inserted"],
            &report["rejected_count"]
        ),
        (
            &serde_json::json!(3),
            &serde_json::json!(2),
            &serde_json::json!(1)
        ),
        "{report}"
    );
    assert_eq!(ada.ok("catalog_counts", &[]).await["items"], 2);
    let wrong_kind = upload(&ada.cookie, "prices").await.unwrap();
    assert_eq!(wrong_kind.status(), 400);

    // A role change applies to the live session; the last admin cannot step down.
    ada.ok(
        "set_member_role",
        &[("email", "bob@acme.example"), ("role", "admin")],
    )
    .await;
    assert_eq!(bob.whoami().await["role"], "admin");
    ada.ok("remove_member", &[("email", "bob@acme.example")])
        .await;
    assert_eq!(bob.whoami().await, serde_json::Value::Null);
    let answer = ada
        .call("set_member_role", &[("email", ADMIN), ("role", "viewer")])
        .await;
    assert!(
        answer.body.contains("at least one admin"),
        "{}",
        answer.body
    );

    // Signing out ends the session on the server, not just in the browser.
    let out = ada.call("sign_out", &[]).await;
    assert!(
        out.set_cookie.as_deref().unwrap().contains("Max-Age=0"),
        "{:?}",
        out.set_cookie
    );
    assert_eq!(ada.whoami().await, serde_json::Value::Null);
    assert_eq!(ada.call("scopes", &[]).await.status, 401);
    store.revoke_key(&theirs).ok();
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_lock_an_account_until_the_cli_unlocks_it() {
    let app = TestApp::start().await;
    support::add_operator(&app, ADMIN, PASSWORD, &app.tenant, "viewer");
    let attempt = async |password: &str| {
        call(
            &app,
            "",
            "sign_in",
            &[("email", ADMIN), ("password", password)],
            None,
        )
        .await
    };
    for _ in 0..4 {
        let answer = attempt("wrong password").await;
        assert_eq!(answer.status, 400);
        assert!(
            answer.body.contains("wrong email or password"),
            "{}",
            answer.body
        );
        assert!(answer.set_cookie.is_none());
    }
    let locked = attempt("wrong password").await;
    assert_eq!(locked.status, 429);
    assert!(
        locked.body.contains("locked for 15 more minutes"),
        "{}",
        locked.body
    );
    assert_eq!(
        attempt(PASSWORD).await.status,
        429,
        "locked: even the password"
    );
    // Unknown emails answer as wrong passwords do: nothing tells who has an account.
    let unknown = call(
        &app,
        "",
        "sign_in",
        &[("email", "nobody@acme.example"), ("password", PASSWORD)],
        None,
    )
    .await;
    assert_eq!(
        (
            unknown.status,
            unknown.body.contains("wrong email or password")
        ),
        (400, true)
    );

    let (ok, out, err) = cli(&app, &["users", "unlock", ADMIN]);
    assert!(ok, "{out}{err}");
    assert_eq!(attempt(PASSWORD).await.status, 200);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_of_two_tenants_switches_between_them() {
    let app = TestApp::start().await;
    let other = support::unique("second");
    let (ok, out, err) = cli(&app, &["tenants", "create", &other]);
    assert!(ok, "{out}{err}");
    support::add_operator(&app, ADMIN, PASSWORD, &app.tenant, "viewer");
    let (ok, out, err) = cli(
        &app,
        &[
            "users", "grant", ADMIN, "--tenant", &other, "--role", "admin",
        ],
    );
    assert!(ok, "{out}{err}");
    let (ok, listed, err) = cli(&app, &["users", "list", "--tenant", &other]);
    assert!(
        ok && listed.contains(ADMIN) && listed.contains("admin"),
        "{listed}{err}"
    );

    let ada = Browser::sign_in(&app, ADMIN, PASSWORD).await;
    let me = ada.whoami().await;
    assert_eq!(me["tenants"].as_array().unwrap().len(), 2);
    let switched = ada.ok("switch_tenant", &[("tenant", &other)]).await;
    assert_eq!(
        (&switched["tenant"], &switched["role"]),
        (&serde_json::json!(other), &serde_json::json!("admin"))
    );
    // Every read now shows the other tenant, and admin actions apply there.
    assert_eq!(ada.ok("scopes", &[]).await["tenant"], other);
    ada.ok("issue_write_key", &[]).await;
    assert_eq!(app.tenant_store().keys(&other).unwrap().len(), 1);
    ada.ok("switch_tenant", &[("tenant", &app.tenant)]).await;
    let me = ada.whoami().await;
    assert_eq!(
        (&me["tenant"], &me["role"]),
        (&serde_json::json!(app.tenant), &serde_json::json!("viewer"))
    );
    assert_eq!(ada.call("issue_write_key", &[]).await.status, 403);
    let answer = ada.call("switch_tenant", &[("tenant", "not_mine")]).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_signs_out_every_other_browser() {
    let app = TestApp::start().await;
    support::add_operator(&app, ADMIN, PASSWORD, &app.tenant, "admin");
    let here = Browser::sign_in(&app, ADMIN, PASSWORD).await;
    let there = Browser::sign_in(&app, ADMIN, PASSWORD).await;
    let new = "a brand new password";
    let answer = here
        .call(
            "change_password",
            &[("current", PASSWORD), ("new", new), ("confirm", new)],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(here.whoami().await["email"], ADMIN);
    assert_eq!(there.whoami().await, serde_json::Value::Null);
    Browser::sign_in(&app, ADMIN, new).await;
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_change_nothing() {
    let app = TestApp::start().await;
    support::add_operator(&app, ADMIN, PASSWORD, &app.tenant, "admin");
    let form = [("email", ADMIN), ("password", PASSWORD)];
    // Another site's page posting the sign-in form (login CSRF) is refused ...
    let refused = call(&app, "", "sign_in", &form, Some("https://evil.example")).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.set_cookie.is_none());
    let fetch_metadata = app
        .http
        .post(app.url("/api/sign_in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(fetch_metadata.status(), 403);
    // ... as is an admin action carrying a stolen cookie from another origin.
    let ada = Browser::sign_in(&app, ADMIN, PASSWORD).await;
    let keys = app.tenant_store().keys(&app.tenant).unwrap().len();
    let forged = call(
        &app,
        &ada.cookie,
        "issue_write_key",
        &[],
        Some("http://evil.example"),
    )
    .await;
    assert_eq!(forged.status, 403);
    assert_eq!(app.tenant_store().keys(&app.tenant).unwrap().len(), keys);
    // The dashboard's own origin passes.
    let own = app.url("");
    let allowed = call(&app, "", "sign_in", &form, Some(own.trim_end_matches('/'))).await;
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    app.cleanup().await;
}
