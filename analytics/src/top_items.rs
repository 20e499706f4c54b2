//! Top items over a range of UTC days, by clicks, impressions, orders or CTR, from the daily
//! item rollup (`item_stats_daily`), with names, categories and links from the item catalog.

use serde::{Deserialize, Serialize};

pub const MAX_LIMIT: u32 = 100;
/// Ranking by CTR needs this many impressions per item, so one lucky click on one
/// impression does not top the list.
pub const CTR_MIN_IMPRESSIONS: u64 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    Clicks,
    Impressions,
    Orders,
    Ctr,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopItem {
    pub item_id: String,
    /// From the item catalog; `None` when the catalog does not have the item.
    pub name: Option<String>,
    pub category: Option<String>,
    pub url: Option<String>,
    pub impressions: u64,
    pub clicks: u64,
    pub views: u64,
    pub add_carts: u64,
    pub orders: u64,
    pub ctr: Option<f64>,
    pub conversion_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopItems {
    pub tenant: String,
    pub scenario: Option<String>,
    pub rank_by: RankBy,
    /// The UTC days covered: `[from, to)`, epoch seconds at midnight UTC.
    pub from: i64,
    pub to: i64,
    /// Best first; empty when the range has no events.
    pub items: Vec<TopItem>,
    /// The item catalog could not be read: the items have no names this time.
    #[serde(default)]
    pub catalog_unavailable: bool,
}

/// `tenant`'s `limit` best items over the UTC days that `[from, to)` touches.
#[cfg(feature = "server")]
pub async fn top_items_for(
    db: &super::AnalyticsDb,
    tenant: &str,
    scenario: Option<String>,
    from: i64,
    to: i64,
    rank_by: RankBy,
    limit: u32,
) -> Result<TopItems, super::AnalyticsError> {
    use super::overview::ratio;
    use recoscope_clickhouse::{Query, SqlValue};

    #[derive(Deserialize)]
    struct Row {
        item_id: String,
        impressions: u64,
        clicks: u64,
        views: u64,
        add_carts: u64,
        orders: u64,
    }
    if limit == 0 || limit > MAX_LIMIT {
        return Err(super::AnalyticsError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    super::check_range(from, to, super::ROLLUP_MAX_DAYS)?;
    let scenario = scenario.filter(|s| !s.is_empty());
    let (day_from, day_to) = (
        from.div_euclid(86_400) * 86_400,
        (to + 86_399).div_euclid(86_400) * 86_400,
    );
    let (order, having) = match rank_by {
        RankBy::Clicks => ("clicks DESC", String::new()),
        RankBy::Impressions => ("impressions DESC", String::new()),
        RankBy::Orders => ("orders DESC", String::new()),
        RankBy::Ctr => (
            "clicks / impressions DESC",
            format!("HAVING impressions >= {CTR_MIN_IMPRESSIONS}"),
        ),
    };
    let scenario_filter = if scenario.is_some() {
        "AND scenario_id = ?"
    } else {
        ""
    };
    // The ordering and limit are chosen from fixed strings and a checked number; every value
    // the caller gives is bound.
    let mut query = Query::new(format!(
        "SELECT item_id, sum(impressions) AS impressions, sum(clicks) AS clicks, \
         sum(views) AS views, sum(add_carts) AS add_carts, sum(orders) AS orders \
         FROM item_stats_daily \
         WHERE tenant_id = ? {scenario_filter} AND day >= toDate(?) AND day < toDate(?) \
         GROUP BY item_id {having} ORDER BY {order}, item_id LIMIT {limit}"
    ))
    .bind(tenant);
    if let Some(s) = &scenario {
        query = query.bind(s.as_str());
    }
    let query = query
        .bind(SqlValue::DateTime(day_from))
        .bind(SqlValue::DateTime(day_to));
    let rows: Vec<Row> = db
        .clickhouse
        .fetch(query)
        .await
        .map_err(|e| super::query_failed("top items", e))?;
    let catalog = db
        .catalog
        .items_by_id(tenant, rows.iter().map(|r| r.item_id.clone()).collect())
        .await;
    Ok(TopItems {
        tenant: tenant.to_string(),
        scenario,
        rank_by,
        from: day_from,
        to: day_to,
        catalog_unavailable: catalog.is_none(),
        items: rows
            .into_iter()
            .map(|r| {
                let entry = catalog.as_ref().and_then(|c| c.get(&r.item_id));
                TopItem {
                    name: entry.map(|e| e.name().to_string()),
                    category: entry.and_then(|e| e.category()).map(str::to_string),
                    url: entry.and_then(|e| e.url()).map(str::to_string),
                    ctr: ratio(r.clicks, r.impressions),
                    conversion_rate: ratio(r.orders, r.clicks),
                    item_id: r.item_id,
                    impressions: r.impressions,
                    clicks: r.clicks,
                    views: r.views,
                    add_carts: r.add_carts,
                    orders: r.orders,
                }
            })
            .collect(),
    })
}
