//! The shop's HTML. Every page embeds the tracker with the loader snippet of the README and
//! marks its recommendation lists with `data-reco-*` attributes; apart from the snippet, the
//! only script is the "show more" button's (a list added later, as infinite scroll adds them)
//! and the order confirmation's one `recoscope('order', …)` call.

use super::recommend::RecoList;
use recoscope_core::catalog::CatalogItem;

/// Text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A string as a JavaScript literal inside a `<script>` (JSON, with `<` escaped so that no
/// `</script>` can end the element early).
fn js(text: &str) -> String {
    serde_json::to_string(text)
        .unwrap_or_default()
        .replace('<', "\\u003c")
}

fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2433;background:#f6f7fb}\
header{display:flex;gap:1.5rem;align-items:center;padding:.8rem 1.5rem;background:#1d2433}\
header a{color:#fff;text-decoration:none}header .brand{font-weight:700;margin-right:auto}\
main{max-width:1100px;margin:0 auto;padding:1rem 1.5rem}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:1rem;\
list-style:none;padding:0}\
.card{background:#fff;border-radius:8px;padding:1rem;min-height:180px;display:flex;\
flex-direction:column;gap:.4rem;box-shadow:0 1px 3px #0002}\
.card .name{font-weight:600;color:#1d2433}.muted{color:#6b7385;font-size:.9rem}\
.actions{margin-top:auto;display:flex;gap:.4rem;flex-wrap:wrap}\
button{cursor:pointer;border:1px solid #c5cad6;background:#fff;border-radius:6px;padding:.3rem .6rem}\
button.primary{background:#3656d4;color:#fff;border-color:#3656d4}\
.hero{background:#fff;border-radius:8px;padding:1.5rem;margin:1rem 0}\
.note{background:#fff8dc;border:1px solid #eadca0;border-radius:8px;padding:.8rem 1rem}";

/// The loader snippet exactly as the README gives it (`tracker-wasm/js/loader.html`, the file
/// the size gate measures), pointed at `src` with `key`, and `options` added to `init`
/// (`", consent: 'required'"`). The shop and the tests embed the tracker through this.
pub fn loader_snippet(src: &str, key: &str, options: &str) -> String {
    const LOADER: &str = include_str!("../../../tracker-wasm/js/loader.html");
    LOADER
        .replace(
            "'https://analytics.example.com/t/recoscope.js'",
            &js(src).replace('"', "'"),
        )
        .replace("'rk_your_write_key'", &js(key).replace('"', "'"))
        .replace("{ key: key }", &format!("{{ key: key{options} }}"))
}

fn snippet(write_key: &str, consent: bool) -> String {
    let options = if consent { ", consent: 'required'" } else { "" };
    loader_snippet("/t/recoscope.js", write_key, options)
}

/// A consent banner whose buttons answer through the JS API.
const CONSENT_BANNER: &str = "<div class=\"note\" id=\"consent\">This shop asks before it \
     measures anything. <button type=\"button\" id=\"consent-yes\" \
     onclick=\"recoscope('consent', true); this.parentNode.remove()\">Accept</button> \
     <button type=\"button\" id=\"consent-no\" onclick=\"recoscope('consent', false); \
     this.parentNode.remove()\">Decline</button></div>";

fn layout(write_key: &str, title: &str, cart_count: usize, body: &str) -> String {
    page(write_key, false, title, cart_count, body)
}

fn page(write_key: &str, consent: bool, title: &str, cart_count: usize, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Recoscope demo shop</title><style>{STYLE}</style>\n{snippet}\n\
         </head><body><header><a class=\"brand\" href=\"/shop\">Recoscope demo shop</a>\
         <a href=\"/shop\">Home</a><a href=\"/shop/cart\" id=\"cart-link\">Cart ({cart_count})</a>\
         <a href=\"/live\">Live view →</a></header><main>{banner}{body}</main></body></html>",
        title = esc(title),
        snippet = snippet(write_key, consent),
        banner = if consent { CONSENT_BANNER } else { "" },
    )
}

fn price(item: &CatalogItem) -> String {
    item.price().map(|p| format!("€{p:.2}")).unwrap_or_default()
}

/// One recommendation list: the list carries scenario, request and experiment; each item its
/// id and position; its buttons their actions.
pub fn list_fragment(list: &RecoList) -> String {
    let experiment = list
        .experiment
        .map(|(id, group)| {
            format!(
                " data-reco-experiment=\"{}\" data-reco-group=\"{}\"",
                esc(id),
                esc(group)
            )
        })
        .unwrap_or_default();
    let mut out = format!(
        "<section class=\"reco\" data-reco-list data-reco-scenario=\"{}\" \
         data-reco-request=\"{}\"{experiment}><h2>{}</h2><ul class=\"grid\">",
        esc(list.scenario),
        esc(&list.request_id),
        esc(list.title),
    );
    for (position, item) in list.items.iter().enumerate() {
        let id = esc(item.item_id());
        out.push_str(&format!(
            "<li class=\"card\" data-reco-item=\"{id}\" data-reco-position=\"{position}\">\
             <a class=\"name\" href=\"/shop/item/{href}\">{name}</a>\
             <span class=\"muted\">{category}</span><span>{price}</span>\
             <div class=\"actions\">\
             <button type=\"button\" data-reco-action=\"like\">♡ Like</button>\
             <button type=\"button\" data-reco-action=\"share\">Share</button>\
             <form method=\"post\" action=\"/shop/cart\"><input type=\"hidden\" name=\"item\" \
             value=\"{id}\"><button class=\"primary\" data-reco-action=\"add_cart\">Add to cart\
             </button></form></div></li>",
            href = esc(&path_segment(item.item_id())),
            name = esc(item.name()),
            category = esc(item.category().unwrap_or("")),
            price = esc(&price(item)),
        ));
    }
    out.push_str("</ul></section>");
    out
}

/// The home page; `consent`: its tracker waits for the visitor's answer to a banner.
pub fn home(
    write_key: &str,
    consent: bool,
    feed: &RecoList,
    trending: &RecoList,
    cart_count: usize,
) -> String {
    let body = format!(
        "<div class=\"hero\"><h1>Welcome</h1><p class=\"muted\">Every list below is a \
         recommendation with a request id of its own. Scroll, click, like, add to cart and \
         order: the tracker reports it, and <a href=\"/live\">the live view</a> shows it \
         within seconds.</p></div>{trending}<div id=\"feed\">{feed}</div>\
         <p><button id=\"more\" type=\"button\">Show more</button></p>\
         <script>(function(){{var page=1,b=document.getElementById('more');\
         b.addEventListener('click',function(){{fetch('/shop/more?page='+page++)\
         .then(function(r){{return r.text()}}).then(function(html){{document.getElementById('feed')\
         .insertAdjacentHTML('beforeend',html)}})}})}})();</script>",
        trending = list_fragment(trending),
        feed = list_fragment(feed),
    );
    page(write_key, consent, "Home", cart_count, &body)
}

pub fn item(write_key: &str, item: &CatalogItem, similar: &RecoList, cart_count: usize) -> String {
    let id = esc(item.item_id());
    let body = format!(
        "<article class=\"hero\" data-reco-view=\"{id}\" data-reco-scenario=\"item_page\">\
         <h1>{name}</h1><p class=\"muted\">{category}</p><p>{price}</p>\
         <p><audio id=\"preview\" controls preload=\"metadata\" src=\"/shop/preview.wav\">\
         </audio> <span class=\"muted\">Listen to the preview</span></p>\
         <form method=\"post\" action=\"/shop/cart\"><input type=\"hidden\" name=\"item\" \
         value=\"{id}\"><button class=\"primary\" data-reco-action=\"add_cart\" \
         data-reco-item=\"{id}\">Add to cart</button></form></article>{similar}",
        name = esc(item.name()),
        category = esc(item.category().unwrap_or("")),
        price = esc(&price(item)),
        similar = list_fragment(similar),
    );
    layout(write_key, item.name(), cart_count, &body)
}

pub fn cart(write_key: &str, items: &[&CatalogItem], also: &RecoList) -> String {
    let mut rows = String::new();
    for item in items {
        rows.push_str(&format!(
            "<li data-cart-item=\"{}\"><a href=\"/shop/item/{}\">{}</a> <span class=\"muted\">{}\
             </span></li>",
            esc(item.item_id()),
            esc(&path_segment(item.item_id())),
            esc(item.name()),
            esc(&price(item)),
        ));
    }
    let checkout = if items.is_empty() {
        "<p class=\"muted\">Your cart is empty.</p>".to_string()
    } else {
        format!(
            "<ul>{rows}</ul><form method=\"post\" action=\"/shop/order\"><button \
             class=\"primary\" id=\"place-order\">Place order</button></form>"
        )
    };
    let body = format!(
        "<div class=\"hero\"><h1>Cart</h1>{checkout}</div>{also}",
        also = list_fragment(also)
    );
    layout(write_key, "Cart", items.len(), &body)
}

/// The confirmation page reports the order with the JS API: markup cannot say "bought".
pub fn order_placed(write_key: &str, order_id: &str, items: &[String]) -> String {
    let list: Vec<String> = items.iter().map(|id| js(id)).collect();
    let body = format!(
        "<div class=\"hero\"><h1>Thank you</h1><p>Order <code id=\"order-id\">{id}</code>: \
         {n} item(s).</p><p><a href=\"/shop\">Continue shopping</a></p></div>\
         <script>recoscope('order', {{ order_id: {order}, items: [{list}] }});</script>",
        id = esc(order_id),
        n = items.len(),
        order = js(order_id),
        list = list.join(", "),
    );
    layout(write_key, "Order placed", 0, &body)
}

/// A page that says why the shop cannot show what was asked.
pub fn problem(message: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Recoscope demo \
         shop</title><style>{STYLE}</style></head><body><main><p class=\"note\">{}</p></main>\
         </body></html>",
        esc(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shop_embeds_the_readmes_snippet() {
        let snippet = loader_snippet("/t/recoscope.js", "key-1", ", consent: 'required'");
        assert!(snippet.contains("'/t/recoscope.js', 'key-1')"), "{snippet}");
        assert!(
            snippet.contains("{ key: key, consent: 'required' }"),
            "{snippet}"
        );
        assert!(!snippet.contains("example.com") && !snippet.contains("rk_your"));
        let readme = include_str!("../../../README.md");
        let loader = include_str!("../../../tracker-wasm/js/loader.html");
        let body = loader
            .lines()
            .skip(1)
            .take(6)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(readme.contains(&body), "the README shows another snippet");
    }

    #[test]
    fn text_cannot_break_out_of_html_or_scripts() {
        assert_eq!(
            esc("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
        assert_eq!(js("</script><b>"), "\"\\u003c/script>\\u003cb>\"");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
    }
}
