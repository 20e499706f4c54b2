//! The demo recommender: every list it answers gets a request id of its own (UUIDv7), as a
//! real recommendation service's response would, so impressions, clicks and orders join to
//! it. What it recommends is deliberately simple: samples of the catalog, items of the same
//! category, and an A/B experiment on the home feed (group A in catalog order from a random
//! start, group B cheapest first) so the experiments view has something to compare.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use recoscope_core::catalog::CatalogItem;

/// Items the shop reads from the catalog.
pub const MAX_CATALOG: usize = 1000;
const FEED_SIZE: usize = 12;

/// One recommendation list as the page renders it.
pub struct RecoList {
    pub title: &'static str,
    pub scenario: &'static str,
    pub request_id: String,
    /// Experiment id and group.
    pub experiment: Option<(&'static str, &'static str)>,
    pub items: Vec<CatalogItem>,
}

pub struct Shelf {
    items: Vec<CatalogItem>,
}

fn answer() -> (String, StdRng) {
    let id = uuid::Uuid::now_v7();
    let seed = id.as_u128() as u64 ^ (id.as_u128() >> 64) as u64;
    (
        id.to_string(),
        StdRng::seed_from_u64(seed ^ rand::random::<u64>()),
    )
}

impl Shelf {
    pub fn new(items: Vec<CatalogItem>) -> Shelf {
        Shelf { items }
    }

    pub fn item(&self, id: &str) -> Option<&CatalogItem> {
        self.items.iter().find(|i| i.item_id() == id)
    }

    fn sample(&self, rng: &mut StdRng, n: usize, skip: &[&str]) -> Vec<CatalogItem> {
        let pool: Vec<&CatalogItem> = self
            .items
            .iter()
            .filter(|i| !skip.contains(&i.item_id()))
            .collect();
        pool.choose_multiple(rng, n).map(|i| (*i).clone()).collect()
    }

    /// The home feed, page `page` (0 first; later pages come by infinite scroll).
    pub fn home_feed(&self, page: usize) -> RecoList {
        let (request_id, mut rng) = answer();
        let group = if rand::random::<bool>() { "A" } else { "B" };
        let mut items = self.sample(&mut rng, FEED_SIZE, &[]);
        if group == "B" {
            items.sort_by(|a, b| {
                let price = |i: &CatalogItem| i.price().unwrap_or(f64::MAX);
                price(a).total_cmp(&price(b))
            });
        }
        RecoList {
            title: if page == 0 {
                "Recommended for you"
            } else {
                "More for you"
            },
            scenario: "home_feed",
            request_id,
            experiment: Some(("demo_ranker", group)),
            items,
        }
    }

    pub fn trending(&self) -> RecoList {
        let (request_id, mut rng) = answer();
        RecoList {
            title: "Trending now",
            scenario: "trending",
            request_id,
            experiment: None,
            items: self.sample(&mut rng, 6, &[]),
        }
    }

    /// Items of the same category (topped up from the rest of the catalog).
    pub fn similar(&self, item: &CatalogItem) -> RecoList {
        let (request_id, mut rng) = answer();
        let mut same: Vec<CatalogItem> = self
            .items
            .iter()
            .filter(|i| i.item_id() != item.item_id() && i.category() == item.category())
            .cloned()
            .collect();
        same.shuffle(&mut rng);
        same.truncate(8);
        let mut skip: Vec<&str> = same.iter().map(|i| i.item_id()).collect();
        skip.push(item.item_id());
        let more = self.sample(&mut rng, 8 - same.len(), &skip);
        same.extend(more);
        RecoList {
            title: "Similar items",
            scenario: "similar_items",
            request_id,
            experiment: None,
            items: same,
        }
    }

    /// Suggestions for a cart: items not in it.
    pub fn also_bought(&self, in_cart: &[String]) -> RecoList {
        let (request_id, mut rng) = answer();
        let skip: Vec<&str> = in_cart.iter().map(String::as_str).collect();
        RecoList {
            title: "Customers also bought",
            scenario: "cart_addons",
            request_id,
            experiment: None,
            items: self.sample(&mut rng, 4, &skip),
        }
    }
}
