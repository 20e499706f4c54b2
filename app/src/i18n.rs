//! The dashboard in English and Simplified Chinese.
//!
//! - [`Locale`]: the two languages; the request's comes from the `recoscope_locale` cookie
//!   (set by the language switch), else the browser's `Accept-Language`, else English. The
//!   server writes it into `<html lang>`, which the browser reads back when it hydrates, so
//!   both render the same words.
//! - [`Msg`]: every label, heading, hint and message the pages show, each with both texts.
//!   The catalog is one `messages!` table: a message without its Chinese text does not
//!   compile, and `server/tests/localization.rs` renders every page in Chinese and fails on
//!   any English word left in it.
//! - [`t`] / [`fill`]: a message in the page's language (with `{0}`, `{1}` … filled in).
//!
//! Why not a crate: two fixed languages and a few hundred messages; `leptos_i18n` and
//! `leptos-fluent` bring ICU or Fluent runtimes into the browser bundle, where an enum and a
//! `match` cost nothing and make a missing translation a compile error.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The cookie that keeps the operator's choice of language.
pub const LOCALE_COOKIE: &str = "recoscope_locale";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Locale {
    #[default]
    En,
    Zh,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Zh];

    /// The BCP 47 tag, as `<html lang>` and the cookie carry it.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Zh => "zh-CN",
        }
    }

    /// The language's own name, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Locale::En => "English",
            Locale::Zh => "简体中文",
        }
    }

    /// A language tag we have (`zh`, `zh-CN`, `zh-Hans`, `en-GB` …), or `None`.
    pub fn parse(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Locale::En),
            "zh" => Some(Locale::Zh),
            _ => None,
        }
    }

    /// The first language of an `Accept-Language` header we have, by its weights.
    pub fn from_accept_language(header: &str) -> Option<Locale> {
        let mut weighted: Vec<(f32, Locale)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let locale = Locale::parse(pieces.next()?)?;
                let weight = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse().ok())
                    .unwrap_or(1.0);
                (weight > 0.0).then_some((weight, locale))
            })
            .collect();
        // Stable: equal weights keep the header's order.
        weighted.sort_by(|a, b| b.0.total_cmp(&a.0));
        weighted.first().map(|(_, locale)| *locale)
    }
}

/// The language of the request being rendered (server) or of the page (browser).
pub fn current_locale() -> Locale {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .map(|parts| {
                crate::identity::server::cookie(&parts.headers, LOCALE_COOKIE)
                    .and_then(|c| Locale::parse(&c))
                    .or_else(|| {
                        parts
                            .headers
                            .get(http::header::ACCEPT_LANGUAGE)
                            .and_then(|v| v.to_str().ok())
                            .and_then(Locale::from_accept_language)
                    })
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        document()
            .document_element()
            .and_then(|root| root.get_attribute("lang"))
            .and_then(|lang| Locale::parse(&lang))
            .unwrap_or_default()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        Locale::default()
    }
}

/// Puts the page's language in the context (the app's root does, once).
pub fn provide_locale() -> Locale {
    let locale = current_locale();
    provide_context(locale);
    locale
}

/// The page's language.
pub fn use_locale() -> Locale {
    use_context::<Locale>().unwrap_or_default()
}

/// `msg` in the page's language.
pub fn t(msg: Msg) -> &'static str {
    msg.text(use_locale())
}

/// `msg` in the page's language with `{0}`, `{1}` … replaced by `args`.
pub fn fill(msg: Msg, args: &[&dyn std::fmt::Display]) -> String {
    msg.fill(use_locale(), args)
}

/// `msg` with its `{0}` shown as code (a command or a name to type, the same in every
/// language).
pub fn with_code(msg: Msg, code: &'static str) -> impl IntoView {
    let text = t(msg);
    let (before, after) = text.split_once("{0}").unwrap_or((text, ""));
    view! { {before} <code>{code}</code> {after} }
}

/// Keeps the chosen language in its cookie (a year); the page then loads again.
#[server(endpoint = "set_locale")]
pub async fn set_locale(locale: String) -> Result<(), ServerFnError> {
    let locale = Locale::parse(&locale)
        .ok_or_else(|| ServerFnError::new(format!("unknown language {locale:?}")))?;
    crate::identity::server::set_cookie(LOCALE_COOKIE, locale.tag(), 365 * 24 * 3600)
}

/// A button for each other language; choosing one reloads the page in it.
#[component]
pub fn LanguageSwitch() -> impl IntoView {
    let switch = ServerAction::<SetLocale>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(Ok(())) = switch.value().get() {
            let _ = window().location().reload();
        }
    });
    let current = use_locale();
    let buttons = Locale::ALL
        .into_iter()
        .filter(|l| *l != current)
        .map(|l| {
            view! {
                <button type="submit" name="locale" value=l.tag() lang=l.tag()>{l.name()}</button>
            }
        })
        .collect_view();
    view! {
        <ActionForm action=switch attr:class="language-switch" attr:aria-label=t(Msg::Language)>
            {buttons}
        </ActionForm>
    }
}

macro_rules! messages {
    ($($key:ident => $en:literal, $zh:literal;)*) => {
        /// Every text the pages show (see the module's documentation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Msg { $($key),* }

        impl Msg {
            /// Every message, for the catalog's own tests.
            pub const ALL: &'static [Msg] = &[$(Msg::$key),*];

            pub fn text(self, locale: Locale) -> &'static str {
                match (self, locale) {
                    $((Msg::$key, Locale::En) => $en, (Msg::$key, Locale::Zh) => $zh,)*
                }
            }
        }
    };
}

impl Msg {
    /// The text with `{0}`, `{1}` … replaced by `args`.
    pub fn fill(self, locale: Locale, args: &[&dyn std::fmt::Display]) -> String {
        let mut text = self.text(locale).to_string();
        for (i, arg) in args.iter().enumerate() {
            text = text.replace(&format!("{{{i}}}"), &arg.to_string());
        }
        text
    }
}

messages! {
    // The frame.
    Tagline => "Real-time analytics for recommendations", "推荐系统实时分析";
    PageNotFound => "Page not found.", "页面不存在。";
    Language => "Language", "语言";
    NavMain => "Main", "主导航";
    NavOverview => "Overview", "概览";
    NavInsights => "Insights", "洞察";
    NavLive => "Live", "实时";
    NavAdmin => "Admin", "管理";
    NavAccount => "Account", "账户";
    NavSignIn => "Sign in", "登录";
    ReadKeyUser => "read key", "读取密钥";
    RoleViewer => "viewer", "查看者";
    RoleAdmin => "admin", "管理员";
    Tenant => "Tenant", "租户";
    Switch => "Switch", "切换";
    SignOut => "Sign out", "退出登录";
    Loading => "Loading…", "加载中…";
    // Shared pieces.
    CouldNotLoad => "Could not load {0}.", "无法加载{0}。";
    NoDataYetTitle => "No data yet", "暂无数据";
    NoDataYetBody => "This tenant has not sent any events. Start the simulator ({0}) or embed the tracker in a product page.",
        "该租户尚未发送任何事件。请启动模拟器（{0}）或在商品页面中嵌入跟踪脚本。";
    Scenario => "Scenario", "场景";
    AllScenarios => "All scenarios", "全部场景";
    AllScenariosLower => "all scenarios", "全部场景";
    NoDataSuffix => "(no data yet)", "（暂无数据）";
    Apply => "Apply", "应用";
    DownloadCsv => "Download CSV", "下载 CSV";
    VsBefore => "vs before", "较上期";
    New => "new", "新增";
    PercentagePoints => " pp", " 个百分点";
    // Overview.
    WhatDashboard => "the dashboard", "仪表盘";
    Range => "Range", "时间范围";
    Refresh => "Refresh", "自动刷新";
    LastHour => "Last hour", "最近 1 小时";
    Last6Hours => "Last 6 hours", "最近 6 小时";
    Last24Hours => "Last 24 hours", "最近 24 小时";
    Last7Days => "Last 7 days", "最近 7 天";
    Last14Days => "Last 14 days", "最近 14 天";
    Last30Days => "Last 30 days", "最近 30 天";
    RefreshOff => "Off", "关闭";
    Every30s => "Every 30 s", "每 30 秒";
    EveryMinute => "Every minute", "每分钟";
    Every5Minutes => "Every 5 minutes", "每 5 分钟";
    NoEventsInRangeTitle => "No events in this range", "该时间范围内没有事件";
    NoEventsInRangeBody => "Nothing was recorded for this tenant and scenario between these times. Pick a longer range or another scenario.",
        "该租户和场景在这段时间内没有记录。请选择更长的时间范围或其他场景。";
    KeyMetrics => "Key metrics", "关键指标";
    SetUp => "Set-up", "配置";
    Impressions => "Impressions", "曝光";
    ImpressionsHint => "Recommendations really seen", "真正被看到的推荐";
    Clicks => "Clicks", "点击";
    ClicksHint => "Clicks on recommended items", "推荐商品的点击";
    Ctr => "CTR", "点击率";
    CtrHint => "Clicks / impressions; — when there were no impressions", "点击 / 曝光；没有曝光时为 —";
    Conversions => "Conversions", "转化";
    ConversionsHint => "Orders", "订单";
    ConversionRate => "Conversion rate", "转化率";
    ConversionRateHint => "Orders / clicks; — when there were no clicks", "订单 / 点击；没有点击时为 —";
    ActiveUsers => "Active users", "活跃用户";
    ActiveUsersHint => "Distinct users with any event in the range", "在该时间范围内有任何事件的不同用户";
    CatalogItems => "Items in the catalog", "目录中的商品";
    CatalogItemsHint => "Items imported into the catalog; — when the catalog could not be read", "已导入目录的商品；目录无法读取时为 —";
    CatalogScenarios => "Scenarios in the catalog", "目录中的场景";
    CatalogScenariosHint => "Scenarios the catalog names; — when the catalog could not be read", "目录中命名的场景；目录无法读取时为 —";
    ActiveScenarios => "Active scenarios", "活跃场景";
    ActiveScenariosHint => "Scenarios with impressions in this range", "该时间范围内有曝光的场景";
    HourlyTrend => "Hourly trend", "每小时趋势";
    DailyTrend => "Daily trend", "每日趋势";
    TrendSummary => "{0} over {1} {2} (UTC): {3} impressions in all.", "{0}，共 {1} {2}（UTC）：合计 {3} 次曝光。";
    Hours => "hours", "小时";
    Days => "days", "天";
    ClicksConversionsAxis => "Clicks · conversions", "点击 · 转化";
    EventsImpressionsAxis => "Events · impressions", "事件 · 曝光";
    Events => "Events", "事件";
    // Live.
    WhatLive => "the live view", "实时视图";
    LastHourChart => "Last 60 minutes", "最近 60 分钟";
    LiveSummary => "Events per minute over the last {0} minutes (UTC): {1} in all.", "最近 {0} 分钟每分钟的事件数（UTC）：合计 {1}。";
    LiveScope => "{0} · {1} · as of {2} · refreshes every {3} s", "{0} · {1} · 截至 {2} · 每 {3} 秒刷新";
    NothingLastHourTitle => "Nothing in the last 60 minutes", "最近 60 分钟内没有数据";
    NothingLastHourBody => "No events arrived for this tenant and scenario in the last hour.", "最近一小时内该租户和场景没有收到事件。";
    HotItemsNow => "Hot items now", "当前热门商品";
    NoEngagement => "No engagement recorded lately for this scope.", "该范围最近没有互动记录。";
    Item => "Item", "商品";
    Score => "Score", "得分";
    ScoreHint => "Engagement weights (impression 1 … order 10) halving every half-life", "互动权重（曝光 1 … 订单 10），每个半衰期减半";
    // Insights.
    WhatFilters => "the filters", "筛选条件";
    OrFrom => "or from", "或从";
    To => "to", "到";
    TimeZone => "Time zone", "时区";
    EffectPerDay => "Effect per day", "每日效果";
    FunnelTitle => "Funnel (within an hour of the impression)", "漏斗（曝光后一小时内）";
    ByDevice => "By device", "按设备";
    ByPosition => "By list position", "按列表位置";
    TopItemsByClicks => "Top items by clicks", "点击最多的商品";
    Experiments => "Experiments", "实验";
    NothingIn => "No {0} in this range.", "该时间范围内没有{0}。";
    WhatEvents => "events", "事件";
    WhatImpressions => "impressions", "曝光";
    WhatItems => "items", "商品";
    WhatExperiments => "experiments", "实验";
    DailySummary => "CTR and conversion rate per day ({0}), {1} days.", "每日点击率和转化率（{0}），共 {1} 天。";
    CtrAndConversion => "CTR and conversion rate", "点击率和转化率";
    Day => "Day", "日期";
    Orders => "Orders", "订单";
    Conversion => "Conversion", "转化率";
    Users => "Users", "用户";
    FunnelSummary => "Users per step, in order within {0} minutes: {1} saw an impression, {2} of them ordered.",
        "按顺序在 {0} 分钟内到达每一步的用户：{1} 人看到曝光，其中 {2} 人下单。";
    UsersPerStep => "Users per step", "每一步的用户";
    FunnelSampled => "Estimated from a random {0} of users ({1} of them saw an impression): user counts are scaled up and within ±{2} (95%); the rates carry their 95% intervals.",
        "根据随机抽取的 {0} 用户估算（其中 {1} 人看到曝光）：用户数按比例放大，误差在 ±{2} 以内（95%）；比率附 95% 区间。";
    Step => "Step", "步骤";
    FromStepBefore => "From the step before", "相对上一步";
    FromImpressions => "From impressions", "相对曝光";
    Funnel => "Funnel", "漏斗";
    StepImpression => "impression", "曝光";
    StepClick => "click", "点击";
    StepView => "view", "浏览";
    StepAddCart => "add_cart", "加购";
    StepOrder => "order", "下单";
    Device => "Device", "设备";
    Position => "Position", "位置";
    Unknown => "(unknown)", "（未知）";
    DistributionSummary => "Impressions and CTR by {0}: {1} values.", "按{0}的曝光和点击率：{1} 个取值。";
    TopItemsSummary => "The {0} items clicked most in this range.", "该时间范围内点击最多的 {0} 个商品。";
    ClicksPerItem => "Clicks per item", "每个商品的点击";
    Category => "Category", "类别";
    CatalogUnavailable => "The item catalog is unavailable: items show by id.", "商品目录不可用：商品以 ID 显示。";
    Group => "Group", "分组";
    Interval95 => "95% interval", "95% 区间";
    CtrVsControl => "CTR vs control", "点击率对比对照组";
    Control => "control", "对照组";
    NotTestable => "not testable", "无法检验";
    Significant => " ✔ significant", " ✔ 显著";
    Points => "{0} pts, p = {1}", "{0} 个百分点，p = {1}";
    ExperimentTable => "Experiment {0}", "实验 {0}";
    CaveatOneGroup => "only one group has events: nothing to compare", "只有一个分组有事件：无法比较";
    CaveatNoControl => "no group is named \"control\"; comparing against {0}", "没有名为 \"control\" 的分组；以 {0} 为对照";
    CaveatFewForCtr => "group {0}: too few impressions or clicks for a reliable CTR test (needs {1} impressions and {2} clicks and non-clicks)",
        "分组 {0}：曝光或点击太少，点击率检验不可靠（需要 {1} 次曝光，以及各 {2} 次点击和未点击）";
    CaveatOrdersExceedClicks => "group {0}: more orders than clicks; its conversion rate is not a proportion and is not tested",
        "分组 {0}：订单多于点击；其转化率不是比例，不做检验";
    CaveatFewForConversion => "group {0}: too few clicks or orders for a reliable conversion test", "分组 {0}：点击或订单太少，转化率检验不可靠";
    // Sign-in, invitations, the account.
    SignInTitle => "Sign in", "登录";
    Email => "Email", "邮箱";
    Password => "Password", "密码";
    SignInButton => "Sign in", "登录";
    WithReadKey => "Sign in with a read key", "使用读取密钥登录";
    ReadKeyExplained => "A read key shows one tenant's analytics, without an account. Create one with {0}",
        "读取密钥无需账户即可查看一个租户的分析数据。创建命令：{0}";
    ReadKey => "Read key", "读取密钥";
    SignInWithKey => "Sign in with the key", "使用密钥登录";
    Checking => "Checking…", "正在验证…";
    JoinTitle => "Join a tenant", "加入租户";
    JoinExplained => "Choose a password for your new account (at least 10 characters). If you already have an account, enter its password instead.",
        "为新账户设置密码（至少 10 个字符）。如果已有账户，请输入该账户的密码。";
    PasswordAgain => "Password again", "再次输入密码";
    Join => "Join", "加入";
    YourAccount => "Your account", "你的账户";
    WhatAccount => "your account", "你的账户";
    KeyHasNoAccount => "You are signed in with a read key, which has no account.", "你正在使用读取密钥登录，它没有账户。";
    SignInWithPassword => "Sign in with email and password", "使用邮箱和密码登录";
    SignInToSee => "Sign in to see your account.", "登录后查看你的账户。";
    SignedInAs => "Signed in as {0}.", "当前登录：{0}。";
    YourTenants => "Your tenants", "你的租户";
    Role => "Role", "角色";
    ChangePassword => "Change your password", "修改密码";
    OthersSignedOut => "Every other browser signed in as you is signed out.", "以你身份登录的其他浏览器都将退出登录。";
    CurrentPassword => "Current password", "当前密码";
    NewPassword => "New password (at least 10 characters)", "新密码（至少 10 个字符）";
    NewPasswordAgain => "New password again", "再次输入新密码";
    ChangePasswordButton => "Change password", "修改密码";
    PasswordChanged => "Your password is changed.", "密码已修改。";
    // The admin page.
    WhatAdmin => "the admin page", "管理页面";
    AdminTitle => "Admin", "管理";
    Members => "Members", "成员";
    ChangeRole => "Change role", "修改角色";
    Remove => "Remove", "移除";
    RemoveWho => "Remove {0}", "移除 {0}";
    RoleOf => "Role of {0}", "{0} 的角色";
    Save => "Save", "保存";
    You => " (you)", "（你）";
    InviteMember => "Invite a member", "邀请成员";
    CreateInvitation => "Create invitation link", "创建邀请链接";
    InvitationLinkIs => "Send this link to the new member; it works once, within {0} hours:", "把这个链接发给新成员；它只能使用一次，{0} 小时内有效：";
    WriteKeys => "Write keys", "写入密钥";
    WriteKeysExplained => "Public: product pages send events with a write key (the tracker's {0}). A revoked key is refused within seconds.",
        "公开：商品页面用写入密钥发送事件（跟踪脚本的 {0}）。撤销的密钥在几秒内失效。";
    Key => "Key", "密钥";
    Created => "Created", "创建时间";
    Status => "Status", "状态";
    Revoke => "Revoke", "撤销";
    RevokeWho => "Revoke {0}", "撤销 {0}";
    Live => "live", "有效";
    RevokedAt => "revoked {0}", "已于 {0} 撤销";
    IssueWriteKey => "Issue a write key", "签发写入密钥";
    ReadKeys => "Read keys", "读取密钥";
    ReadKeysExplained => "Secret: a read key reads this tenant's analytics through the JSON API, or signs a browser in as a viewer. It is shown once; only its hash is stored.",
        "保密：读取密钥通过 JSON API 读取该租户的分析数据，或让浏览器以查看者身份登录。它只显示一次；只保存其哈希。";
    IssueReadKey => "Issue a read key", "签发读取密钥";
    NewReadKey => "The new read key (copy it now):", "新的读取密钥（请立即复制）：";
    ReadKeyToRevoke => "Read key to revoke", "要撤销的读取密钥";
    ReadKeyRevoked => "The read key is revoked.", "读取密钥已撤销。";
    Catalog => "Catalog", "目录";
    CatalogExplained => "Names for the item and scenario ids events carry: the pages show them.", "事件中商品和场景 ID 的名称：页面会显示它们。";
    CatalogCounts => "{0} items, {1} scenarios.", "{0} 个商品，{1} 个场景。";
    Import => "Import", "导入";
    ItemsKind => "items", "商品";
    ScenariosKind => "scenarios", "场景";
    FromFile => "from file (CSV or JSON)", "来自文件（CSV 或 JSON）";
    Importing => "Importing…", "正在导入…";
    ImportReport => "{0} records: {1} new, {2} updated.", "{0} 条记录：新增 {1} 条，更新 {2} 条。";
    RejectedSome => "{0} rejected (the others were imported):", "{0} 条被拒绝（其他已导入）：";
    AndMore => "… and {0} more", "……还有 {0} 条";
    IgnoredColumns => "Ignored columns: {0}", "忽略的列：{0}";
    // Errors the server explains.
    ErrWrongCredentials => "wrong email or password", "邮箱或密码错误";
    ErrLocked => "too many wrong passwords: this account is locked for {0} more minutes", "密码错误次数过多：该账户还将锁定 {0} 分钟";
    ErrRateLimited => "too many sign-in attempts for this email; wait a minute and try again", "该邮箱的登录尝试过多；请等一分钟再试";
    ErrNoTenant => "your account is not a member of any tenant; ask one of its admins to invite you", "你的账户不属于任何租户；请让租户管理员邀请你";
    ErrSignedOut => "not signed in", "未登录";
    ErrForbidden => "only the tenant's admins may {0}", "只有租户管理员可以{0}";
    ErrBadInvitation => "this invitation link is unknown, already used or expired; ask for a new one", "该邀请链接无效、已使用或已过期；请索取新的链接";
    ErrUnavailable => "the account store is unavailable; try again shortly", "账户存储暂时不可用；请稍后重试";
    ErrPasswordsDiffer => "the two passwords differ", "两次输入的密码不一致";
    ErrInvalid => "{0}", "输入无效：{0}";
    ErrUnreadableUpload => "unreadable upload: {0}", "上传无法读取：{0}";
    ErrFileTooLarge => "the file is larger than {0} MiB; import it in parts or with `recoscope catalog`", "文件超过 {0} MiB；请分批导入，或使用 `recoscope catalog`";
    ErrChooseFile => "choose a file to import", "请选择要导入的文件";
    ErrFileName => "{0}: name the file .csv, .tsv, .json, .jsonl or .ndjson", "{0}：文件名须以 .csv、.tsv、.json、.jsonl 或 .ndjson 结尾";
    ErrImportKind => "import {0}: items or scenarios", "导入 {0}：只能是商品或场景";
    ErrUnreadableFile => "{0}: {1}", "{0} 无法读取：{1}";
    ActManageTenant => "manage the tenant", "管理该租户";
    ActInvite => "invite members", "邀请成员";
    ActChangeRoles => "change roles", "修改角色";
    ActRemoveMembers => "remove members", "移除成员";
    ActListMembers => "list members", "查看成员";
    ActIssueKeys => "issue keys", "签发密钥";
    ActRevokeKeys => "revoke keys", "撤销密钥";
    ActManageCatalog => "manage the catalog", "管理目录";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_language_picks_the_locale() {
        assert_eq!(
            Locale::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Some(Locale::Zh)
        );
        assert_eq!(
            Locale::from_accept_language("en-GB,en;q=0.9"),
            Some(Locale::En)
        );
        assert_eq!(
            Locale::from_accept_language("fr-FR, zh-Hans;q=0.5, en;q=0.4"),
            Some(Locale::Zh)
        );
        assert_eq!(
            Locale::from_accept_language("en;q=0.2, zh-TW;q=0.8"),
            Some(Locale::Zh)
        );
        assert_eq!(Locale::from_accept_language("fr, de"), None);
        assert_eq!(Locale::from_accept_language("zh;q=0"), None);
        assert_eq!(Locale::parse("zh_CN"), Some(Locale::Zh));
    }

    #[test]
    fn every_message_has_both_texts_and_the_same_placeholders() {
        let cjk = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        for msg in Msg::ALL {
            let (en, zh) = (msg.text(Locale::En), msg.text(Locale::Zh));
            assert!(!en.is_empty() && !zh.is_empty(), "{msg:?}");
            // Chinese text, unless the message is only a placeholder.
            assert!(
                cjk(zh) || !zh.chars().any(|c| c.is_ascii_alphabetic()),
                "{msg:?}: {zh}"
            );
            for i in 0..4 {
                let placeholder = format!("{{{i}}}");
                assert_eq!(
                    en.contains(&placeholder),
                    zh.contains(&placeholder),
                    "{msg:?} {placeholder}"
                );
            }
        }
        assert_eq!(
            Msg::CatalogCounts.fill(Locale::Zh, &[&3, &2]),
            "3 个商品，2 个场景。"
        );
    }
}
