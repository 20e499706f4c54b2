//! An item as a person reads it: its catalog name (a link to the product page when the
//! catalog has one) over its id, or only the id when the catalog does not know it.

use leptos::prelude::*;

#[component]
pub fn ItemName(id: String, name: Option<String>, url: Option<String>) -> impl IntoView {
    let Some(name) = name else {
        return view! { <span class="item-id">{id}</span> }.into_any();
    };
    // The catalog only holds absolute http(s) URLs; the page opens outside the dashboard.
    let title = match url {
        Some(url) => view! {
            <a href=url target="_blank" rel="noopener noreferrer">{name}</a>
        }
        .into_any(),
        None => view! { <span>{name}</span> }.into_any(),
    };
    view! {
        <span class="item-name">{title}</span>
        <span class="item-id muted">{id}</span>
    }
    .into_any()
}
