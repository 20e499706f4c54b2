//! Server-side enrichment: what the server knows better than the client.
//!
//! - The client IP: the TCP peer, or the `X-Forwarded-For` hop just before our trusted
//!   proxies (only when the peer itself is a trusted proxy), stored anonymised (IPv4 /24,
//!   IPv6 /48) so no full address is kept.
//! - Device type and OS from the `User-Agent` (woothee), used where the event did not say.

use ipnet::IpNet;
use recoscope_core::{Event, EventContext, Label};
use std::net::IpAddr;
use std::sync::OnceLock;

/// Networks whose `X-Forwarded-For` we believe (load balancers, CDNs).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses or CIDR networks.
    pub fn parse(spec: &str) -> Result<Self, String> {
        spec.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn contains(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client's address: walk `X-Forwarded-For` from the right while the hop is a trusted
    /// proxy; the first untrusted hop is the client. Without a trusted peer the header is
    /// ignored (anyone can send it).
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.contains(&peer) {
            return peer;
        }
        let mut client = peer;
        if let Some(chain) = forwarded_for {
            for hop in chain.rsplit(',').map(str::trim) {
                match hop.parse::<IpAddr>() {
                    Ok(ip) => {
                        client = ip;
                        if !self.contains(&ip) {
                            break;
                        }
                    }
                    // A malformed hop: stop at the last address we could trust.
                    Err(_) => break,
                }
            }
        }
        client
    }
}

/// IPv4 without its last octet, IPv6 without its last 80 bits.
pub fn anonymize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            for s in &mut segments[3..] {
                *s = 0;
            }
            IpAddr::from(segments)
        }
    }
}

/// Device type and OS as the dashboard groups them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub device_type: &'static str,
    pub os: String,
}

pub fn parse_user_agent(user_agent: &str) -> Option<Device> {
    static PARSER: OnceLock<woothee::parser::Parser> = OnceLock::new();
    let parsed = PARSER
        .get_or_init(woothee::parser::Parser::new)
        .parse(user_agent)?;
    if parsed.category == "crawler" {
        return Some(Device {
            device_type: "bot",
            os: "Bot".into(),
        });
    }
    let os = match parsed.os {
        "UNKNOWN" => return None,
        "iPhone" | "iPod" => "iOS",
        "iPad" => "iPadOS",
        "Mac OSX" => "macOS",
        os if os.starts_with("Windows") => "Windows",
        os => os,
    }
    .to_string();
    let device_type = match (parsed.category, parsed.os) {
        (_, "iPad") => "tablet",
        ("smartphone" | "mobilephone", _) => "mobile",
        ("pc", _) => "desktop",
        _ => "other",
    };
    Some(Device { device_type, os })
}

/// What the request tells about its sender, applied to each accepted event.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The client's address, anonymised, as stored (computed once per request).
    client_ip: Option<Label>,
    device: Option<Device>,
}

impl RequestInfo {
    pub fn new(client_ip: IpAddr, device: Option<Device>) -> RequestInfo {
        // An address is never blank; `ok()` only guards the type.
        let client_ip = Label::new(anonymize(client_ip).to_string()).ok();
        RequestInfo { client_ip, device }
    }

    /// The server's IP always replaces the client's (anonymised); device type and OS fill in
    /// only what the event left out.
    pub fn apply(&self, event: &mut Event) {
        let context = event.context.get_or_insert_with(EventContext::default);
        context.ip = self.client_ip.clone();
        if let Some(device) = &self.device {
            // The parser's names are never blank; `ok()` only guards the type.
            if context.device_type.is_none() {
                context.device_type = Label::new(device.device_type).ok();
            }
            if context.os.is_none() {
                context.os = Label::new(device.os.as_str()).ok();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recoscope_core::ActionType;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").unwrap();
        let xff = Some("203.0.113.7, 10.1.2.3");
        // Peer is not a proxy: the header is ignored.
        assert_eq!(
            proxies.client_ip(ip("198.51.100.1"), xff),
            ip("198.51.100.1")
        );
        // Peer is a proxy: walk back over trusted hops to the client.
        assert_eq!(proxies.client_ip(ip("192.168.1.1"), xff), ip("203.0.113.7"));
        // A spoofed left-most entry does not win over the real client.
        let spoofed = Some("1.2.3.4, 203.0.113.7, 10.1.2.3");
        assert_eq!(
            proxies.client_ip(ip("10.9.9.9"), spoofed),
            ip("203.0.113.7")
        );
        // Garbage stops the walk at the last trusted address.
        assert_eq!(
            proxies.client_ip(ip("10.9.9.9"), Some("nonsense")),
            ip("10.9.9.9")
        );
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
    }

    #[test]
    fn addresses_are_anonymised() {
        assert_eq!(anonymize(ip("203.0.113.77")), ip("203.0.113.0"));
        assert_eq!(
            anonymize(ip("2001:db8:abcd:12:34:56:78:9")),
            ip("2001:db8:abcd::")
        );
    }

    #[test]
    fn user_agents_map_to_device_type_and_os() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        let ipad = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";
        let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
        let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        let device = |ua| parse_user_agent(ua).map(|d| (d.device_type, d.os));
        assert_eq!(device(iphone), Some(("mobile", "iOS".into())));
        assert_eq!(device(ipad), Some(("tablet", "iPadOS".into())));
        assert_eq!(device(windows), Some(("desktop", "Windows".into())));
        assert_eq!(device(android), Some(("mobile", "Android".into())));
        assert_eq!(device(bot).map(|d| d.0), Some("bot"));
        assert_eq!(device("curl/8.0"), None);
    }

    #[test]
    fn the_server_ip_wins_and_the_event_context_is_kept() {
        let info = RequestInfo::new(
            ip("198.51.100.23"),
            Some(Device {
                device_type: "mobile",
                os: "Android".into(),
            }),
        );
        let mut event = Event::new("s", "u", "i", ActionType::View).unwrap();
        event.context = Some(EventContext {
            device_type: Label::new("tv").ok(),
            ip: Label::new("1.1.1.1").ok(),
            ..Default::default()
        });
        info.apply(&mut event);
        let c = event.context.unwrap();
        assert_eq!(c.ip.as_deref(), Some("198.51.100.0"));
        assert_eq!(c.device_type.as_deref(), Some("tv"));
        assert_eq!(c.os.as_deref(), Some("Android"));
    }
}
