//! Cloud Foundry routing-api bodies: HTTP routes, TCP route mappings, router groups.

use std::collections::BTreeMap;
use std::sync::Arc;

use arbitrary::Unstructured;
use routeyard::dialect::cf;
use routeyard::{
    Config, ErrorKind, HttpRoute, ManualClock, Registry, RouterGroup, TcpRouteMapping, Timestamp,
};
use serde_json::Value;

use crate::gen::{self, Field};

/// The placeholder seed files and generated documents use for the guid of the
/// router group every fresh registry holds.
const GROUP: &[u8] = b"@GROUP";
/// The registry's `max_ttl`, in seconds.
const MAX_TTL: i64 = 120;

const HTTP_FIELDS: &[Field] = &[
    (
        "route",
        &[
            r#""a.com""#,
            r#""a.com/p""#,
            r#""A.COM/P/""#,
            r#""*.a.com""#,
            r#""a.com:8080/x""#,
            r#""a.com/p?q=1""#,
            r#""a b.com""#,
            r#""""#,
            r#""é.com""#,
            "null",
        ],
    ),
    ("ip", &[r#""10.0.0.1""#, r#""::1""#, r#""""#, "null"]),
    ("port", &["8080", "0", "65535", "65536", "-1", r#""80""#]),
    ("ttl", &["60", "120", "121", "0", "-1", "null", "1.5"]),
    ("log_guid", &[r#""lg""#, r#""""#, "null"]),
    (
        "route_service_url",
        &[
            r#""https://rs.a.com""#,
            r#""http://rs.a.com""#,
            r#""https://""#,
            r#""https://rs a.com""#,
            r#""""#,
        ],
    ),
    (
        "modification_tag",
        &[r#"{"guid":"g","index":3}"#, "null", "[]", r#"{"index":-1}"#],
    ),
];

const TCP_FIELDS: &[Field] = &[
    ("router_group_guid", &[r#""@GROUP""#, r#""nope""#, r#""""#]),
    ("port", &["1024", "1100", "1101", "0", "80", "65535"]),
    ("backend_ip", &[r#""10.0.0.2""#, r#""""#]),
    ("backend_port", &["6000", "0", "65535", "65536"]),
    ("backend_tls_port", &["0", "-1", "443", "65535", "65536"]),
    ("backend_sni_hostname", &[r#""s.com""#, "null", r#""""#]),
    ("sni_rewrite_hostname", &[r#""t.com""#, "null"]),
    ("instance_id", &[r#""i-1""#, r#""""#]),
    ("ttl", &["60", "120", "121", "0", "-1", "null"]),
    ("isolation_segment", &[r#""seg""#, r#""""#]),
    ("terminate_frontend_tls", &["true", "false", "null"]),
    ("alpns", &[r#""h2,http/1.1""#, r#""""#]),
    ("enable_backend_mtls", &["true", "false"]),
    ("modification_tag", &[r#"{"guid":"g","index":1}"#, "null"]),
];

const GROUP_FIELDS: &[Field] = &[
    ("guid", &[r#""x""#, r#""""#]),
    ("name", &[r#""g""#, r#""tcp-1""#, r#""""#]),
    ("type", &[r#""tcp""#, r#""http""#, r#""udp""#, r#""""#]),
    (
        "reservable_ports",
        &[
            r#""2000-2010""#,
            r#""2000""#,
            r#""1024-1100""#,
            r#""""#,
            r#""80""#,
            r#""3000-2999""#,
            r#""2000,2000""#,
        ],
    ),
];

/// A registry at a fixed time holding the tcp router group `tcp-1`
/// (ports 1024-1100), and that group's guid.
fn fresh() -> (Registry, String) {
    let clock = ManualClock::new(Timestamp::from_secs(1_000));
    let registry = Registry::new(Config::new().clock(clock));
    let (group, _) = registry
        .create_router_group(RouterGroup::new("tcp-1", "tcp", "1024-1100"))
        .expect("a valid group");
    (registry, group.guid.to_string())
}

fn decode_error(err: &routeyard::Error) {
    assert_eq!(err.kind(), ErrorKind::ProcessRequest, "{err}");
    assert!(!err.message().is_empty());
}

type HttpKey = (Arc<str>, Arc<str>, u16, Arc<str>);

fn http_key(r: &HttpRoute) -> HttpKey {
    (
        r.route.clone(),
        r.ip.clone(),
        r.port,
        r.route_service_url.clone(),
    )
}

fn without_lease<T: Clone>(list: &[T], clear: impl Fn(&mut T)) -> Vec<T> {
    list.iter()
        .cloned()
        .map(|mut x| {
            clear(&mut x);
            x
        })
        .collect()
}

fn check_http(body: &[u8]) {
    let (registry, _) = fresh();
    let routes = match cf::decode_http_routes(body) {
        Ok(routes) => routes,
        Err(err) => return decode_error(&err),
    };
    let before = registry.snapshot();
    match registry.upsert_http_routes(routes.clone()) {
        Ok(revision) => {
            assert_eq!(revision, registry.revision());
            // What a batch leaves, by upsert key: the last TTL, the last non-empty
            // log guid, and one modification-tag index per repeat.
            let mut want: BTreeMap<HttpKey, (i64, Arc<str>, u32)> = BTreeMap::new();
            for r in &routes {
                let ttl = r.ttl.unwrap_or(MAX_TTL);
                match want.get_mut(&http_key(r)) {
                    Some(entry) => {
                        entry.0 = ttl;
                        if !r.log_guid.is_empty() {
                            entry.1 = r.log_guid.clone();
                        }
                        entry.2 += 1;
                    }
                    None => {
                        want.insert(http_key(r), (ttl, r.log_guid.clone(), 0));
                    }
                }
            }
            let listed = registry.http_routes();
            assert_eq!(listed.len(), want.len(), "{routes:?} listed as {listed:?}");
            for r in &listed {
                let (ttl, log_guid, index) = want
                    .get(&http_key(r))
                    .unwrap_or_else(|| panic!("{r:?} listed but never sent"));
                assert_eq!(r.ttl, Some(*ttl));
                assert_eq!(&r.log_guid, log_guid);
                assert_eq!(r.modification_tag.index, *index);
                assert!(!r.modification_tag.guid.is_empty());
            }
            // The listing round-trips through CF's JSON and is accepted again.
            let listed = without_lease(&listed, |r| r.expires_at = Timestamp::default());
            let text = cf::encode(&listed);
            let back = cf::decode_http_routes(text.as_bytes()).expect("our own listing decodes");
            assert_eq!(back, listed, "{text}");
            let (other, _) = fresh();
            other
                .upsert_http_routes(back)
                .expect("our own listing is accepted");
            // Deleting what was sent empties the table.
            registry
                .delete_http_routes(&routes)
                .expect("delete of valid routes");
            assert!(registry.http_routes().is_empty());
        }
        Err(err) => {
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::RouteInvalid | ErrorKind::RouteServiceUrlInvalid
                ),
                "{err:?}"
            );
            assert!(!err.message().is_empty());
            crate::assert_unchanged(&registry, &before, "batch");
        }
    }
}

type TcpKey = (Arc<str>, u16, Arc<str>, u16, i64, Option<Arc<str>>, bool);

fn tcp_key(m: &TcpRouteMapping) -> TcpKey {
    (
        m.router_group_guid.clone(),
        m.port,
        m.backend_ip.clone(),
        m.backend_port,
        m.backend_tls_port,
        m.backend_sni_hostname.clone(),
        m.enable_backend_mtls,
    )
}

fn check_tcp(body: &[u8]) {
    let (registry, guid) = fresh();
    let body = gen::substitute(body, GROUP, guid.as_bytes());
    let mappings = match cf::decode_tcp_route_mappings(&body) {
        Ok(mappings) => mappings,
        Err(err) => return decode_error(&err),
    };
    let before = registry.snapshot();
    match registry.upsert_tcp_route_mappings(mappings.clone()) {
        Ok(revision) => {
            assert_eq!(revision, registry.revision());
            let mut want: BTreeMap<TcpKey, i64> = BTreeMap::new();
            for m in &mappings {
                want.insert(tcp_key(m), m.ttl.unwrap_or(MAX_TTL));
            }
            let listed = registry.tcp_route_mappings();
            assert_eq!(
                listed.len(),
                want.len(),
                "{mappings:?} listed as {listed:?}"
            );
            for m in &listed {
                let ttl = want
                    .get(&tcp_key(m))
                    .unwrap_or_else(|| panic!("{m:?} listed but never sent"));
                assert_eq!(m.ttl, Some(*ttl));
            }
            let listed = without_lease(&listed, |m| m.expires_at = Timestamp::default());
            let text = cf::encode(&listed);
            let back =
                cf::decode_tcp_route_mappings(text.as_bytes()).expect("our own listing decodes");
            assert_eq!(back, listed, "{text}");
            registry
                .delete_tcp_route_mappings(&mappings)
                .expect("delete of valid mappings");
            assert!(registry.tcp_route_mappings().is_empty());
        }
        Err(err) => {
            assert!(!err.message().is_empty());
            crate::assert_unchanged(&registry, &before, "batch");
        }
    }
}

fn check_group(body: &[u8]) {
    let (registry, _) = fresh();
    let group = match cf::decode_router_group(body) {
        Ok(group) => group,
        Err(err) => return decode_error(&err),
    };
    let before = registry.snapshot();
    match registry.create_router_group(group.clone()) {
        Ok((stored, created)) => {
            assert_eq!(registry.router_group(&stored.guid).as_ref(), Some(&stored));
            assert_eq!(stored.name, group.name);
            assert_eq!(stored.group_type, group.group_type);
            if created {
                assert_eq!(stored.reservable_ports, group.reservable_ports);
                assert_eq!(registry.revision(), before.revision + 1);
            } else {
                assert_eq!(registry.snapshot(), before);
            }
            let text = cf::encode(&stored);
            let back = cf::decode_router_group(text.as_bytes()).expect("our own group decodes");
            assert_eq!(back, stored, "{text}");
            assert_eq!(registry.router_group_by_name(&stored.name), Ok(stored));
        }
        Err(err) => {
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::RouterGroupInvalid | ErrorKind::Conflict
                ),
                "{err:?}"
            );
            crate::assert_unchanged(&registry, &before, "group");
        }
    }
}

fn structured(u: &mut Unstructured<'_>) -> arbitrary::Result<(u8, Value)> {
    let kind = u.int_in_range(0u8..=2)?;
    let fields = [HTTP_FIELDS, TCP_FIELDS, GROUP_FIELDS][usize::from(kind)];
    let doc = if kind == 2 || u.ratio(1, 12)? {
        Value::Object(gen::object(u, fields)?)
    } else {
        gen::list(u, 4, |u| gen::object(u, fields).map(Value::Object))?
    };
    Ok((kind, doc))
}

/// See [`crate::cf_json`].
pub(crate) fn run(data: &[u8]) {
    check_http(data);
    check_tcp(data);
    check_group(data);
    let mut u = Unstructured::new(data);
    if let Ok((kind, doc)) = structured(&mut u) {
        let body = gen::render(&mut u, &doc);
        match kind {
            0 => check_http(&body),
            1 => check_tcp(&body),
            _ => check_group(&body),
        }
    }
}
