//! Operator accounts in a real browser (Chromium, the hydrated dashboard): signing in through
//! the form, the menu that shows who is signed in, an admin inviting a viewer from the admin
//! page, switching tenants, signing out, and the viewer who joins through the link and finds
//! no admin action, neither on the page nor by calling the server function.
//!
//! Ignored in a bare `cargo test` (it needs the browser bundle and Chromium); `scripts/test`
//! runs it.

mod support;

use support::cli_with_env;

use support::page::{click, fill, hydrated, text, wait_for_text};
use support::{OPERATOR as ADMIN, OPERATOR_PASSWORD as PASSWORD};

const WHO: &str = "(document.querySelector('[data-testid=who]') || {textContent: ''}).textContent";
const PATH: &str = "location.pathname";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the browser bundle and Chromium: run scripts/test"]
async fn an_admin_signs_in_invites_a_viewer_and_switches_tenants_in_the_browser() {
    let shop = support::shop::Shop::start().await;
    let app = &shop.app;
    // Sorts after the test's tenant (`t_…`): sign-in opens an operator's first tenant by id.
    let other = support::unique("zz_second");
    let password = [("RECOSCOPE_PASSWORD", PASSWORD)];
    for args in [
        vec!["tenants", "create", &other],
        vec![
            "users",
            "add",
            ADMIN,
            "--tenant",
            &app.tenant,
            "--role",
            "admin",
        ],
        vec![
            "users", "grant", ADMIN, "--tenant", &other, "--role", "admin",
        ],
    ] {
        let (ok, out, err) = cli_with_env(app, &args, &password);
        assert!(ok, "{args:?}: {out}{err}");
    }

    // Signed out, the menu offers to sign in.
    let page = shop
        .browser
        .new_page(app.url("/signin?next=%2Fadmin"))
        .await
        .unwrap();
    hydrated(&page).await;
    assert_eq!(
        text(&page, "String(!!document.querySelector('a.sign-in-nav'))").await,
        "true"
    );
    fill(&page, "#sign-in-email", ADMIN).await;
    fill(&page, "#sign-in-password", PASSWORD).await;
    page.find_element("#sign-in-password")
        .await
        .unwrap()
        .press_key("Enter")
        .await
        .unwrap();
    // The page asked for opens, and the menu shows who is signed in, not "Sign in".
    wait_for_text(&page, PATH, "/admin").await;
    wait_for_text(&page, WHO, &format!("{ADMIN} · {} (admin)", app.tenant)).await;
    assert_eq!(
        text(&page, "String(!!document.querySelector('a.sign-in-nav'))").await,
        "false"
    );
    wait_for_text(
        &page,
        "String(document.querySelectorAll('[data-testid=members] tbody tr').length)",
        "1",
    )
    .await;

    // The admin invites a viewer from the page.
    fill(&page, "#invite-email", "bob@acme.example").await;
    click(&page, "#invite-role + button").await;
    let link_script =
        "(document.querySelector('[data-testid=invitation-link]') || {textContent: ''}).textContent";
    support::wait_until(
        20,
        async || match text(&page, link_script).await {
            link if link.contains("/invite#token=ri_") => Ok(()),
            link => Err(format!("invitation link: {link:?}")),
        },
        String::new,
    )
    .await;
    let link = text(&page, link_script).await;
    assert!(link.starts_with(&app.url("/invite#token=")), "{link}");

    // The admin imports a catalog file through the page (the browser sends it as multipart);
    // the report and the counts show what was written.
    let file = std::env::temp_dir().join(format!("{}.csv", support::unique("catalog")));
    std::fs::write(
        &file,
        "item_id,name\nsku-a,Alpha\nsku-b,Beta\nsku-c,Gamma\n",
    )
    .unwrap();
    let input = page.find_element("#catalog-file").await.unwrap();
    page.execute(
        chromiumoxide::cdp::browser_protocol::dom::SetFileInputFilesParams::builder()
            .file(file.display().to_string())
            .backend_node_id(input.backend_node_id)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    click(&page, "#catalog-file + button").await;
    wait_for_text(
        &page,
        "(document.querySelector('[data-testid=import-report] p') || {textContent: ''}).textContent",
        "3 records: 3 new, 0 updated.",
    )
    .await;
    wait_for_text(
        &page,
        "document.querySelector('[data-testid=catalog-counts]').textContent",
        // The shop's own catalog plus the three.
        &format!("{} items, 0 scenarios.", support::shop::CATALOG_ITEMS + 3),
    )
    .await;
    std::fs::remove_file(&file).ok();

    // Switching tenants reloads the page for the other one.
    page.evaluate(format!(
        "document.querySelector('#tenant-switch').value = '{other}'"
    ))
    .await
    .unwrap();
    click(&page, ".tenant-switch button").await;
    wait_for_text(
        &page,
        "(document.querySelector('[data-testid=tenant]') || {textContent: ''}).textContent",
        &other,
    )
    .await;
    wait_for_text(
        &page,
        "document.querySelector('main h1').textContent",
        &format!("Admin · {other}"),
    )
    .await;

    // Signing out goes back to the sign-in page and the menu forgets the operator.
    hydrated(&page).await;
    click(&page, ".sign-out button").await;
    wait_for_text(&page, PATH, "/signin").await;
    wait_for_text(
        &page,
        "String(!!document.querySelector('a.sign-in-nav'))",
        "true",
    )
    .await;

    // The invited viewer opens the link, chooses a password and lands on the overview.
    page.goto(link.as_str()).await.unwrap();
    hydrated(&page).await;
    // The token left the address bar at once.
    wait_for_text(&page, "location.hash", "").await;
    fill(&page, "#invite-password", "bob's long password").await;
    fill(&page, "#invite-confirm", "bob's long password").await;
    click(&page, "main form button[type=submit]").await;
    wait_for_text(&page, PATH, "/").await;
    wait_for_text(
        &page,
        WHO,
        &format!("bob@acme.example · {} (viewer)", app.tenant),
    )
    .await;
    assert_eq!(
        text(
            &page,
            "String(!!document.querySelector('nav a[href=\"/admin\"]'))"
        )
        .await,
        "false",
        "no admin link for a viewer"
    );
    // Typing the admin page's address shows a refusal, not its actions ...
    page.goto(app.url("/admin").as_str()).await.unwrap();
    hydrated(&page).await;
    let alert = text(&page, "document.querySelector('[role=alert]').textContent").await;
    assert!(alert.contains("admins may manage the tenant"), "{alert}");
    assert_eq!(
        text(
            &page,
            "String(document.querySelectorAll('main form button').length)"
        )
        .await,
        "0",
        "no admin action on the page"
    );
    // ... and calling the server function from the page is refused too.
    let status = page
        .evaluate("fetch('/api/issue_write_key', {method: 'POST'}).then(r => String(r.status))")
        .await
        .unwrap()
        .into_value::<String>()
        .unwrap();
    assert_eq!(status, "403");
    page.close().await.unwrap();
    shop.finish().await;
}
