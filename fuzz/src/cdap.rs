//! CDAP route configs: a service's split between versions.

use std::collections::BTreeMap;

use arbitrary::Unstructured;
use routeyard::balance::{Backend, PoolConfig, Split, SplitConfig};
use routeyard::dialect::cdap::{self, CdapErrorKind, RouteConfig, ServiceId};
use routeyard::{Config, ErrorKind, ManualClock, Registry, Service, Timestamp};

/// The registry service standing for CDAP's `ns/app/svc`.
const KEY: &str = "ns.app.svc";
/// The version labels of its backends.
const VERSIONS: &[&str] = &["v1", "v2", "v3"];

const KEYS: &[&str] = &["v1", "v2", "v3", "v4", "V1", "", "v1 ", "é"];
const VALUES: &[&str] = &[
    "0",
    "1",
    "20",
    "30",
    "50",
    "80",
    "100",
    "101",
    "-1",
    "-50",
    "150",
    "\"50\"",
    "50.0",
    "5e1",
    "\"5e1\"",
    "50.5",
    "null",
    "true",
    "\"x\"",
    "2147483648",
    "-2147483649",
    "[]",
    "{}",
    "\"NaN\"",
    "\"Infinity\"",
    "1e400",
];

fn service_id() -> ServiceId {
    ServiceId::new("ns", "app", "svc")
}

/// A registry whose service `ns.app.svc` has backends labelled v1, v2, v3 and
/// one without a label.
fn fresh() -> Registry {
    let clock = ManualClock::new(Timestamp::from_secs(1_000));
    let registry = Registry::new(Config::new().clock(clock));
    registry
        .create_service(Service {
            name: Some(KEY.to_string()),
            host: "svc.internal".to_string(),
            ..Service::default()
        })
        .expect("a valid service");
    let mut backends: Vec<Backend> = VERSIONS
        .iter()
        .enumerate()
        .map(|(i, v)| Backend::new(format!("10.0.0.{i}"), 8080).with_version(*v))
        .collect();
    backends.push(Backend::new("10.0.0.9", 8080));
    registry
        .put_upstream(KEY, backends, PoolConfig::new())
        .expect("valid backends");
    registry
}

fn check(body: &[u8]) {
    let id = service_id();
    let entries = match cdap::decode(body) {
        Ok(entries) => entries,
        Err(err) => {
            assert_eq!(err.kind(), CdapErrorKind::Malformed, "{err:?}");
            assert_eq!(err.status(), 400);
            assert!(!err.message().is_empty());
            return;
        }
    };
    let checked = RouteConfig::try_new(entries.clone(), &id, |v| VERSIONS.contains(&v));
    assert_eq!(
        checked,
        cdap::decode_and_validate(body, &id, VERSIONS),
        "decode then check differs from both at once"
    );
    // The registry applies the same rules to the same entries.
    let registry = fresh();
    let before = registry.snapshot();
    let split = entries
        .iter()
        .fold(Split::new(), |s, (v, p)| s.with(v.clone(), i64::from(*p)));
    let applied = registry.set_split(KEY, SplitConfig::new(split));
    match checked {
        Ok(config) => {
            applied.unwrap_or_else(|e| panic!("CDAP accepts {entries:?}, the registry says {e}"));
            assert_eq!(registry.revision(), before.revision + 1);
            let want: BTreeMap<String, i64> = config
                .routes()
                .iter()
                .map(|(v, p)| (v.clone(), i64::from(*p)))
                .collect();
            let stored = registry
                .split(KEY)
                .and_then(|c| c.split)
                .expect("the split is stored");
            assert_eq!(stored.percentages(), &want);
            // Encoding and reading back gives the same config.
            let text = cdap::encode(&config);
            let back = cdap::decode_and_validate(text.as_bytes(), &id, VERSIONS)
                .unwrap_or_else(|e| panic!("our own config {text} is refused: {e}"));
            assert_eq!(back, config, "{text}");
            assert_eq!(
                config
                    .routes()
                    .iter()
                    .map(|(_, p)| u32::from(*p))
                    .sum::<u32>(),
                100
            );
        }
        Err(err) => {
            assert_eq!(err.status(), 400);
            let refused = applied.expect_err("CDAP refuses it, the registry took it");
            assert_eq!(refused.kind(), ErrorKind::InvalidArgument, "{refused:?}");
            match err.kind() {
                // The registry names versions by label, CDAP by program id.
                CdapErrorKind::UnknownVersions => assert!(refused.message().starts_with(
                    "The following versions of the application/service could not be found : ["
                )),
                // The registry reports the first version in label order, CDAP in
                // body order: the same rule, maybe another version.
                CdapErrorKind::PercentageOutOfRange => assert!(
                    refused
                        .message()
                        .starts_with("Route Percentage for version "),
                    "{refused}"
                ),
                _ => assert_eq!(refused.message(), err.message()),
            }
            crate::assert_unchanged(&registry, &before, "split");
        }
    }
}

/// A body written by hand rather than through a map, so keys can repeat.
fn structured(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>> {
    let n = u.int_in_range(0..=5)?;
    let mut text = String::from("{");
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        let key = if u.ratio(1, 10)? {
            u.arbitrary::<String>()?
        } else {
            (*u.choose(KEYS)?).to_string()
        };
        let value = if u.ratio(1, 10)? {
            crate::gen::any_value(u, 1)?.to_string()
        } else {
            (*u.choose(VALUES)?).to_string()
        };
        text.push_str(&serde_json::Value::String(key).to_string());
        text.push(':');
        text.push_str(&value);
    }
    text.push('}');
    Ok(match u.int_in_range(0u8..=19)? {
        0 => b"null".to_vec(),
        1 => b"  ".to_vec(),
        2 => text.as_bytes()[..text.len() - 1].to_vec(),
        _ => text.into_bytes(),
    })
}

/// See [`crate::cdap_json`].
pub(crate) fn run(data: &[u8]) {
    check(data);
    let mut u = Unstructured::new(data);
    if let Ok(body) = structured(&mut u) {
        check(&body);
    }
}
