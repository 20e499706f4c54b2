//! The hot items now: rank, item and decayed score, with a bar relative to the best.

use super::csv::{self, CsvDownload, CsvTable};
use super::item_name::ItemName;
use crate::analytics::live::HotItem;
use crate::i18n::{t, Msg};
use leptos::prelude::*;

#[component]
pub fn HotItems(items: Vec<HotItem>) -> impl IntoView {
    if items.is_empty() {
        return view! {
            <section class="hot-items">
                <h2>{t(Msg::HotItemsNow)}</h2>
                <p class="empty">{t(Msg::NoEngagement)}</p>
            </section>
        }
        .into_any();
    }
    let best = items
        .first()
        .map_or(1.0, |i| i.score)
        .max(f64::MIN_POSITIVE);
    let mut export = CsvTable::new(vec!["rank", "item_id", "name", "score"]);
    for (rank, item) in items.iter().enumerate() {
        export.push(vec![
            csv::count(rank as u64 + 1),
            csv::text(&item.item_id),
            csv::text(item.name.as_deref().unwrap_or_default()),
            format!("{:.1}", item.score),
        ]);
    }
    let rows = items
        .into_iter()
        .enumerate()
        .map(|(rank, item)| {
            let width = format!("width: {:.1}%", item.score / best * 100.0);
            view! {
                <tr>
                    <td class="rank">{rank + 1}</td>
                    <td class="item"><ItemName id=item.item_id name=item.name url=item.url /></td>
                    <td class="score">
                        <span class="bar" style=width></span>
                        <span class="value">{format!("{:.1}", item.score)}</span>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="hot-items">
            <h2>{t(Msg::HotItemsNow)}</h2>
            <crate::components::page::ScrollTable label=t(Msg::HotItemsNow).to_string()>
                <table data-testid="hot-items">
                    <thead>
                        <tr><th>"#"</th><th>{t(Msg::Item)}</th><th title=t(Msg::ScoreHint)>{t(Msg::Score)}</th></tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </crate::components::page::ScrollTable>
            <CsvDownload table=export filename="hot-items.csv".to_string() />
        </section>
    }
    .into_any()
}
