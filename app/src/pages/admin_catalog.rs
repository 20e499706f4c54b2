//! The admin page's catalog: how many items and scenarios the tenant has, and importing a
//! file of either (JSON or CSV, the same files `recoscope catalog import-…` and the catalog
//! API take), with the report of what was written and what was rejected.

use crate::i18n::{fill, t, Msg};
use crate::pages::sign_in::clean_error;
use leptos::prelude::*;
use leptos::server_fn::codec::{MultipartData, MultipartFormData};
use serde::{Deserialize, Serialize};

/// Largest catalog file the page takes (the catalog API's limit too).
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;
/// Rejected records listed on the page; the count covers the rest.
#[cfg(feature = "ssr")]
const LISTED_REJECTIONS: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogCounts {
    pub items: u64,
    pub scenarios: usize,
}

/// What an import did, for the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub records: usize,
    pub inserted: usize,
    pub updated: usize,
    pub rejected_count: usize,
    /// The first rejections, each "record N (id): message".
    pub rejected: Vec<String>,
    pub ignored_fields: Vec<String>,
}

/// The caller's tenant's catalog size; admins only.
#[server(endpoint = "catalog_counts")]
pub async fn get_catalog_counts() -> Result<CatalogCounts, ServerFnError> {
    let tenant =
        crate::identity::server::admin(crate::identity::server::AdminAction::ManageCatalog)
            .await?
            .tenant_id;
    let stores = crate::pages::admin::stores()?;
    stores
        .catalog(move |s| {
            Ok(CatalogCounts {
                items: s.count_items(&tenant)?,
                scenarios: s.scenarios(&tenant)?.len(),
            })
        })
        .await
        .map_err(crate::pages::admin::store_failed)
}

/// Imports the uploaded file (`file`) as items or scenarios (`kind`) into the caller's tenant.
#[server(endpoint = "import_catalog", input = MultipartFormData)]
pub async fn import_catalog(data: MultipartData) -> Result<ImportSummary, ServerFnError> {
    use recoscope_stores::catalog_import::{self, Format, ImportError};
    let tenant =
        crate::identity::server::admin(crate::identity::server::AdminAction::ManageCatalog)
            .await?
            .tenant_id;
    // Refusals in the caller's language, with what the file or upload said.
    let locale = crate::i18n::current_locale();
    let invalid = |msg: Msg, args: &[&dyn std::fmt::Display]| {
        crate::identity::server::account_failed(recoscope_accounts::AccountError::Invalid(
            msg.fill(locale, args),
        ))
    };
    let mut form = data
        .into_inner()
        .ok_or_else(|| ServerFnError::new("no form data"))?;
    let (mut kind, mut file) = (String::new(), None);
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| invalid(Msg::ErrUnreadableUpload, &[&e]))?
    {
        match field.name() {
            Some("kind") => kind = field.text().await.unwrap_or_default(),
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_string();
                let content_type = field.content_type().map(|m| m.to_string());
                let mut bytes = Vec::new();
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| invalid(Msg::ErrUnreadableUpload, &[&e]))?
                {
                    if bytes.len() + chunk.len() > MAX_FILE_BYTES {
                        return Err(invalid(Msg::ErrFileTooLarge, &[&(MAX_FILE_BYTES >> 20)]));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                file = Some((name, content_type, bytes));
            }
            _ => {}
        }
    }
    let Some((name, content_type, bytes)) = file.filter(|(_, _, b)| !b.is_empty()) else {
        return Err(invalid(Msg::ErrChooseFile, &[]));
    };
    let format = Format::from_path(std::path::Path::new(&name))
        .or_else(|| content_type.as_deref().and_then(Format::from_content_type))
        .ok_or_else(|| invalid(Msg::ErrFileName, &[&name]))?;
    let scenarios = match kind.as_str() {
        "items" => false,
        "scenarios" => true,
        other => return Err(invalid(Msg::ErrImportKind, &[&format!("{other:?}")])),
    };
    let stores = crate::pages::admin::stores()?;
    let imported = stores
        .catalog(move |catalog| {
            Ok(if scenarios {
                catalog_import::import_scenarios(catalog, &tenant, &bytes, format)
            } else {
                catalog_import::import_items(catalog, &tenant, &bytes, format)
            })
        })
        .await
        .map_err(crate::pages::admin::store_failed)?;
    let report = imported.map_err(|e| match e {
        // Why the file is unreadable stays in English (the catalog's own words).
        ImportError::File(e) => invalid(Msg::ErrUnreadableFile, &[&name, &e]),
        ImportError::Write(e) => crate::pages::admin::store_failed(e.error),
    })?;
    Ok(ImportSummary {
        records: report.records,
        inserted: report.inserted,
        updated: report.updated,
        rejected_count: report.rejected_count,
        rejected: report
            .rejected
            .iter()
            .take(LISTED_REJECTIONS)
            .map(|r| match &r.id {
                Some(id) => format!("record {} ({id}): {}", r.record, r.message),
                None => format!("record {}: {}", r.record, r.message),
            })
            .collect(),
        ignored_fields: report.ignored_fields,
    })
}

#[component]
pub fn CatalogSection() -> impl IntoView {
    let import =
        Action::new_local(|data: &leptos::web_sys::FormData| import_catalog(data.clone().into()));
    let counts = Resource::new(move || import.version().get(), |_| get_catalog_counts());
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        use leptos::wasm_bindgen::JsCast;
        event.prevent_default();
        let form = event
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::HtmlFormElement>().ok());
        if let Some(data) = form.and_then(|f| leptos::web_sys::FormData::new_with_form(&f).ok()) {
            import.dispatch_local(data);
        }
    };
    let report = move || {
        import.value().get().map(|result| match result {
            Ok(summary) => view! { <ImportReport summary /> }.into_any(),
            Err(e) => view! { <p class="error" role="alert">{clean_error(&e)}</p> }.into_any(),
        })
    };
    view! {
        <h2>{t(Msg::Catalog)}</h2>
        <p>{t(Msg::CatalogExplained)}</p>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                counts.await.ok().map(|c| view! {
                    <p data-testid="catalog-counts">{fill(Msg::CatalogCounts, &[&c.items, &c.scenarios])}</p>
                })
            })}
        </Transition>
        <form class="inline-form" on:submit=on_submit>
            <label for="catalog-kind">{t(Msg::Import)}</label>
            <select id="catalog-kind" name="kind">
                <option value="items">{t(Msg::ItemsKind)}</option>
                <option value="scenarios">{t(Msg::ScenariosKind)}</option>
            </select>
            <label for="catalog-file">{t(Msg::FromFile)}</label>
            <input id="catalog-file" type="file" name="file" required=true
                accept=".csv,.tsv,.json,.jsonl,.ndjson" />
            <button type="submit">{t(Msg::Import)}</button>
        </form>
        <Show when=move || import.pending().get()>
            <p class="loading" role="status">{t(Msg::Importing)}</p>
        </Show>
        {report}
    }
}

#[component]
fn ImportReport(summary: ImportSummary) -> impl IntoView {
    let rejected = (summary.rejected_count > 0).then(|| {
        let more = summary
            .rejected_count
            .saturating_sub(summary.rejected.len());
        view! {
            <p>{fill(Msg::RejectedSome, &[&summary.rejected_count])}</p>
            <ul>
                {summary.rejected.into_iter().map(|r| view! { <li>{r}</li> }).collect_view()}
                {(more > 0).then(|| view! { <li>{fill(Msg::AndMore, &[&more])}</li> })}
            </ul>
        }
    });
    let ignored = (!summary.ignored_fields.is_empty()).then(|| {
        view! { <p class="muted">{fill(Msg::IgnoredColumns, &[&summary.ignored_fields.join(", ")])}</p> }
    });
    view! {
        <div class="notice" role="status" data-testid="import-report">
            <p>{fill(Msg::ImportReport, &[&summary.records, &summary.inserted, &summary.updated])}</p>
            {rejected}
            {ignored}
        </div>
    }
}
