//! gobetween servers: `POST /servers/{name}` bodies.

use arbitrary::Unstructured;
use routeyard::dialect::gobetween::{self, ConnectionOptions, GbErrorKind};
use routeyard::{Config, ErrorKind, ManualClock, Registry, Timestamp};
use serde_json::{Map, Value};

use crate::gen::{self, Field};

/// The name servers are created under.
const NAME: &str = "web";

const SERVER_FIELDS: &[Field] = &[
    (
        "bind",
        &[
            r#""0.0.0.0:3000""#,
            r#""localhost:3001""#,
            r#""[::1]:3002""#,
            r#"":3003""#,
            r#""3004""#,
            r#""a:0""#,
            r#""a:65536""#,
            r#""""#,
        ],
    ),
    (
        "protocol",
        &[r#""tcp""#, r#""udp""#, r#""tls""#, r#""http""#, r#""""#],
    ),
    (
        "balance",
        &[
            r#""weight""#,
            r#""roundrobin""#,
            r#""leastconn""#,
            r#""leastbandwidth""#,
            r#""iphash""#,
            r#""iphash1""#,
            r#""random""#,
        ],
    ),
    (
        "max_connections",
        &["0", "10", "-1", "2147483648", r#""10""#],
    ),
    (
        "client_idle_timeout",
        &[r#""10m""#, r#""0""#, r#""1h2m3.5s""#, r#""x""#, r#""-1s""#],
    ),
    ("backend_idle_timeout", &[r#""10m""#, r#""1us""#]),
    (
        "backend_connection_timeout",
        &[r#""2s""#, r#""9999999999h""#],
    ),
    (
        "sni",
        &[
            r#"{"hostname_matching_strategy":"exact","unexpected_hostname_strategy":"default","read_timeout":"2s"}"#,
            r#"{"hostname_matching_strategy":"regexp"}"#,
            r#"{"unexpected_hostname_strategy":"x"}"#,
        ],
    ),
    (
        "tls",
        &[
            r#"{"cert_path":"/c","key_path":"/k"}"#,
            r#"{"acme_hosts":["a.com"]}"#,
            r#"{"min_version":"tls1.2","max_version":"tls1.0"}"#,
            "{}",
        ],
    ),
    (
        "backends_tls",
        &[r#"{"ignore_verify":true}"#, r#"{"cert_path":"/c"}"#],
    ),
    (
        "udp",
        &[
            r#"{"max_requests":1,"max_responses":1}"#,
            r#"{"max_requests":18446744073709551615}"#,
        ],
    ),
    (
        "access",
        &[
            r#"{"default":"allow","rules":["deny 10.0.0.0/8"]}"#,
            r#"{"default":"x"}"#,
            r#"{"rules":["allow x"]}"#,
        ],
    ),
    (
        "proxy_protocol",
        &[r#"{"version":"1"}"#, r#"{"version":"3"}"#],
    ),
    (
        "discovery",
        &[
            r#"{"kind":"static","static_list":["10.0.0.1:8000 weight=3 priority=1","10.0.0.2:8000"]}"#,
            r#"{"kind":"static","static_list":["10.0.0.1:8000","10.0.0.1:8000"]}"#,
            r#"{"kind":"static","static_list":["10.0.0.1:0"]}"#,
            r#"{"kind":"static","static_list":["[::1]:80 sni=a.com"]}"#,
            r#"{"kind":"static","static_list":["h:1 weight=0"]}"#,
            r#"{"kind":"static","static_list":[]}"#,
            r#"{"kind":"static"}"#,
            r#"{"kind":"srv","srv_lookup_server":"x"}"#,
            r#"{"kind":"static","failpolicy":"keeplast","interval":"1s","timeout":"0s"}"#,
            "{}",
        ],
    ),
    (
        "healthcheck",
        &[
            r#"{"kind":"ping","interval":"2s","timeout":"1s","passes":1,"fails":1}"#,
            r#"{"kind":"probe","probe_protocol":"tcp","probe_send":"\\x00ab","probe_recv":"ok"}"#,
            r#"{"kind":"exec","exec_command":"/bin/true"}"#,
            r#"{"kind":"none"}"#,
            r#"{"interval":"0s"}"#,
            r#"{"kind":"x"}"#,
        ],
    ),
];

fn fresh() -> Registry {
    let clock = ManualClock::new(Timestamp::from_secs(1_000));
    Registry::new(Config::new().clock(clock))
}

fn check(body: &[u8]) {
    let server = match gobetween::decode_server(body) {
        Ok(server) => server,
        Err(err) => {
            assert!(
                matches!(err.kind(), GbErrorKind::Decode | GbErrorKind::Invalid),
                "{err:?}"
            );
            assert!(!err.message().is_empty());
            let _: Value =
                serde_json::from_str(&err.body()).expect("gobetween's error body is JSON");
            return;
        }
    };
    let prepared = gobetween::prepare_server(NAME, &server, &ConnectionOptions::default());
    let registry = fresh();
    let before = registry.snapshot();
    match registry.create_server(NAME, &server) {
        Ok(named) => {
            let prepared = prepared.unwrap_or_else(|e| {
                panic!("gobetween refuses {server:?} ({e}), the registry took it")
            });
            assert_eq!(named.name, NAME);
            assert_eq!(named.server, prepared);
            assert_eq!(registry.server(NAME).as_ref(), Some(&named));
            assert_eq!(registry.servers().get(NAME), Some(&prepared));
            // It landed as a service, a stream route and an upstream of that name.
            assert!(registry.service(NAME).is_some());
            assert!(registry.route(NAME).is_some());
            let backends = prepared.backends().expect("stored backends parse");
            let upstream = registry.upstream(NAME).expect("an upstream");
            assert_eq!(upstream.backends.len(), backends.len());
            // What gobetween shows reads back as the same server.
            let text = gobetween::encode_json(&named.server);
            let back = gobetween::decode_server(text.as_bytes())
                .unwrap_or_else(|e| panic!("our own server {text} is refused: {e}"));
            let again = gobetween::prepare_server(NAME, &back, &ConnectionOptions::default())
                .unwrap_or_else(|e| panic!("our own server {text} is refused: {e}"));
            assert_eq!(again, prepared, "{text}");
            // A second create under the name is a conflict.
            let after = registry.snapshot();
            let err = registry
                .create_server(NAME, &server)
                .expect_err("a name in use");
            assert_eq!(err.kind(), ErrorKind::Conflict);
            assert_eq!(registry.snapshot(), after);
        }
        Err(err) => {
            assert!(
                matches!(err.kind(), ErrorKind::InvalidArgument | ErrorKind::Conflict),
                "{err:?}"
            );
            if let Err(gb) = &prepared {
                assert_eq!(err.message(), gb.message());
            }
            crate::assert_unchanged(&registry, &before, "server");
        }
    }
}

fn structured(u: &mut Unstructured<'_>) -> arbitrary::Result<Value> {
    let mut doc: Map<String, Value> = gen::object(u, SERVER_FIELDS)?;
    // A static list built line by line, sometimes.
    if u.ratio(1, 3)? {
        let n = u.int_in_range(0..=3)?;
        let mut lines = Vec::new();
        for _ in 0..n {
            let host = *u.choose(&["10.0.0.1", "[::1]", "h", "", "a b", "é"])?;
            let port = *u.choose(&["80", "0", "65535", "65536", "x", ""])?;
            let mut line = format!("{host}:{port}");
            for opt in ["weight", "priority", "sni"] {
                if u.ratio(1, 3)? {
                    let value = *u.choose(&["1", "0", "-1", "4294967296", "a.com", ""])?;
                    line.push_str(&format!(" {opt}={value}"));
                }
            }
            lines.push(Value::String(line));
        }
        let mut discovery = Map::new();
        discovery.insert("kind".into(), Value::String("static".into()));
        discovery.insert("static_list".into(), Value::Array(lines));
        doc.insert("discovery".into(), Value::Object(discovery));
    }
    Ok(Value::Object(doc))
}

/// See [`crate::gobetween_json`].
pub(crate) fn run(data: &[u8]) {
    check(data);
    let mut u = Unstructured::new(data);
    if let Ok(doc) = structured(&mut u) {
        let body = gen::render(&mut u, &doc);
        check(&body);
    }
}
