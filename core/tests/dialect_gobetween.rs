//! gobetween servers: backend lines, decoding JSON bodies and TOML/JSON config
//! files with Go's type errors, `prepareConfig`'s defaults and rules with its
//! texts, dumps that read back unchanged, the stats and info shapes, and
//! garbage input.
//!
//! Rules and texts come from gobetween v0.8 (`src/manager/manager.go`
//! `prepareConfig` and `Create`, `src/utils/parsers/backend.go`,
//! `src/config/config.go`, `src/core/backend.go`, `src/stats/stats.go`,
//! `src/api/*.go`).

use proptest::prelude::*;
use routeyard::dialect::gobetween::{
    already_exists, decode_config, decode_server, dump, encode_json, fill_defaults, not_found,
    parse_backend, prepare_config, prepare_server, BackendErrorKind, BackendSpec, BackendStats,
    BackendStatus, Balance, ConfigSource, ConnectionOptions, Discovery, DiscoveryKind, FailPolicy,
    Format, GbErrorKind, GoDuration, Healthcheck, HealthcheckKind, HostnameMatching, Info,
    InitialStatus, ProbeProtocol, ProbeStrategy, Protocol, Server, ServerStats, Sni, Udp,
    UnexpectedHostname, PING_BODY,
};
use routeyard::dialect::gobetween::{Access, Api, BasicAuth, Config, Logging, ProxyProtocol, Tls};
use serde_json::{json, Value};

fn spec(host: &str, port: u16, weight: u32, priority: u32) -> BackendSpec {
    BackendSpec {
        weight,
        priority,
        ..BackendSpec::new(host, port)
    }
}

// ---------------------------------------------------------------------------
// Backend lines
// ---------------------------------------------------------------------------

#[test]
fn backend_lines_parse_like_gobetween() {
    let full = BackendSpec {
        max_connections: 7,
        sni: Some("a.example.com".into()),
        ..spec("10.0.0.1", 8080, 3, 2)
    };
    let ok: Vec<(&str, BackendSpec)> = vec![
        ("localhost:8000", spec("localhost", 8000, 1, 1)),
        ("10.0.0.1:8080 weight=5", spec("10.0.0.1", 8080, 5, 1)),
        ("10.0.0.1:8080 priority=2", spec("10.0.0.1", 8080, 1, 2)),
        (
            "10.0.0.1:8080 weight=0 priority=0",
            spec("10.0.0.1", 8080, 0, 0),
        ),
        (
            "10.0.0.1:8080 weight=3 priority=2 max_connections=7 sni=a.example.com",
            full,
        ),
        ("  10.0.0.1:8080 weight=3  ", spec("10.0.0.1", 8080, 3, 1)),
        ("\t10.0.0.1:8080\n", spec("10.0.0.1", 8080, 1, 1)),
        // One whitespace character of any of Go's kinds between fields.
        ("h:1\tweight=2\npriority=3", spec("h", 1, 2, 3)),
        // The host is any run of non-spaces; the last `:digits` is the port.
        ("[::1]:443", spec("[::1]", 443, 1, 1)),
        ("::1:443", spec("::1", 443, 1, 1)),
        ("a:1:2", spec("a:1", 2, 1, 1)),
        ("héllo:80", spec("héllo", 80, 1, 1)),
        // Leading zeros are digits like any others.
        ("h:0080 weight=007", spec("h", 80, 7, 1)),
        ("h:65535", spec("h", 65535, 1, 1)),
        (
            "h:1 weight=4294967295 priority=4294967295",
            spec("h", 1, u32::MAX, u32::MAX),
        ),
    ];
    for (line, want) in ok {
        assert_eq!(parse_backend(line), Ok(want.clone()), "{line:?}");
        assert_eq!(line.parse::<BackendSpec>(), Ok(want.clone()), "{line:?}");
        // Written back, the line reads the same.
        assert_eq!(parse_backend(&want.to_string()), Ok(want), "{line:?}");
    }

    use BackendErrorKind::*;
    let bad: Vec<(&str, BackendErrorKind, &str)> = vec![
        ("", Syntax, "Cant parse "),
        ("   ", Syntax, "Cant parse "),
        ("localhost", Syntax, "Cant parse localhost"),
        ("localhost:", Syntax, "Cant parse localhost:"),
        (":8080", Syntax, "Cant parse :8080"),
        ("h:http", Syntax, "Cant parse h:http"),
        ("h:-1", Syntax, "Cant parse h:-1"),
        ("h:+80", Syntax, "Cant parse h:+80"),
        ("h:80 weight=-1", Syntax, "Cant parse h:80 weight=-1"),
        ("h:80 weight=1.5", Syntax, "Cant parse h:80 weight=1.5"),
        ("h:80 weight=", Syntax, "Cant parse h:80 weight="),
        // Fields only in gobetween's order, each once, one space apart.
        (
            "h:80 priority=1 weight=1",
            Syntax,
            "Cant parse h:80 priority=1 weight=1",
        ),
        ("h:80 weight=1 weight=2", Syntax, "Cant parse h:80 weight=1 weight=2"),
        ("h:80  weight=1", Syntax, "Cant parse h:80  weight=1"),
        ("h:80 Weight=1", Syntax, "Cant parse h:80 Weight=1"),
        ("h:80 color=red", Syntax, "Cant parse h:80 color=red"),
        ("h:80 sni=", Syntax, "Cant parse h:80 sni="),
        ("h:80 sni=a b", Syntax, "Cant parse h:80 sni=a b"),
        // Go's `\s` has no vertical tab; its `\d` no other digits.
        ("h:80\x0bweight=1", Syntax, "Cant parse h:80\x0bweight=1"),
        ("h:８０", Syntax, "Cant parse h:８０"),
        // Ranges gobetween does not check.
        ("h:0", PortRange, "Cant parse h:0: port 0 is not between 1 and 65535"),
        ("h:000", PortRange, "Cant parse h:000: port 000 is not between 1 and 65535"),
        (
            "h:65536",
            PortRange,
            "Cant parse h:65536: port 65536 is not between 1 and 65535",
        ),
        (
            "h:99999999999999999999",
            PortRange,
            "Cant parse h:99999999999999999999: port 99999999999999999999 is not between 1 and 65535",
        ),
        (
            "h:80 weight=4294967296",
            Overflow,
            "Cant parse h:80 weight=4294967296: weight is larger than 4294967295",
        ),
        (
            "h:80 priority=99999999999999999999999",
            Overflow,
            "Cant parse h:80 priority=99999999999999999999999: priority is larger than 4294967295",
        ),
        (
            "h:80 max_connections=4294967296",
            Overflow,
            "Cant parse h:80 max_connections=4294967296: max_connections is larger than 4294967295",
        ),
    ];
    for (line, kind, message) in bad {
        let err = parse_backend(line).unwrap_err();
        assert_eq!(err.kind(), kind, "{line:?}");
        assert_eq!(err.to_string(), message, "{line:?}");
        assert_eq!(err.line(), line.trim(), "{line:?}");
    }
}

#[test]
fn backend_objects_become_lines() {
    let body = br#"{"bind": ":3000", "discovery": {"kind": "static", "static_list": [
        {"host": "10.0.0.1", "port": 8080},
        {"host": "10.0.0.2", "port": "8081", "weight": 5, "priority": 2},
        {"host": "10.0.0.3", "port": 8082, "max_connections": 9, "sni": "x.test"},
        {"host": "10.0.0.4", "port": 8083, "sni": ""},
        "10.0.0.5:8084 weight=2"
    ]}}"#;
    let server = decode_server(body).unwrap();
    assert_eq!(
        server
            .discovery
            .as_ref()
            .unwrap()
            .static_list
            .as_deref()
            .unwrap(),
        [
            "10.0.0.1:8080 weight=1 priority=1",
            "10.0.0.2:8081 weight=5 priority=2",
            "10.0.0.3:8082 weight=1 priority=1 max_connections=9 sni=x.test",
            "10.0.0.4:8083 weight=1 priority=1",
            "10.0.0.5:8084 weight=2",
        ]
    );
    let backends = server.backends().unwrap();
    assert_eq!(backends[1], spec("10.0.0.2", 8081, 5, 2));
    assert_eq!(backends[2].sni.as_deref(), Some("x.test"));
    assert_eq!(backends[3].sni, None);

    // The same in TOML, with inline tables.
    let toml = br#"
        [servers.a]
        bind = ":3000"
        [servers.a.discovery]
        kind = "static"
        static_list = [{host = "10.0.0.2", port = 8081, weight = 5, priority = 2}]
    "#;
    let config = decode_config(toml, Format::Toml).unwrap();
    assert_eq!(
        config.servers["a"]
            .discovery
            .as_ref()
            .unwrap()
            .static_list
            .as_deref()
            .unwrap(),
        ["10.0.0.2:8081 weight=5 priority=2"]
    );

    let bad: Vec<(&str, &str)> = vec![
        (r#"{"port": 80}"#, "backend discovery.static_list[0] has no host"),
        (r#"{"host": "h"}"#, "backend discovery.static_list[0] has no port"),
        (
            r#"{"host": "h", "port": 0}"#,
            "backend discovery.static_list[0] has a port that is not between 1 and 65535",
        ),
        (
            r#"{"host": "h", "port": 65536}"#,
            "backend discovery.static_list[0] has a port that is not between 1 and 65535",
        ),
        (
            r#"{"host": "h", "port": "http"}"#,
            "backend discovery.static_list[0] has a port that is not between 1 and 65535",
        ),
        (
            r#"{"host": "h", "port": -1}"#,
            "json: cannot unmarshal number -1 into Go struct field Backend.discovery.static_list.port of type string",
        ),
        (
            r#"{"host": "h", "port": true}"#,
            "json: cannot unmarshal bool into Go struct field Backend.discovery.static_list.port of type string",
        ),
        (
            r#"{"host": 1, "port": 80}"#,
            "json: cannot unmarshal number into Go struct field Backend.discovery.static_list.host of type string",
        ),
        (
            r#"{"host": "h", "port": 80, "weight": -1}"#,
            "backend discovery.static_list[0] has a weight that is not between 0 and 4294967295",
        ),
        (
            r#"{"host": "h", "port": 80, "priority": 4294967296}"#,
            "backend discovery.static_list[0] has a priority that is not between 0 and 4294967295",
        ),
        (
            r#"{"host": "", "port": 80}"#,
            "backend discovery.static_list[0] has a host or sni that is empty or holds whitespace",
        ),
        (
            r#"{"host": "a b", "port": 80}"#,
            "backend discovery.static_list[0] has a host or sni that is empty or holds whitespace",
        ),
        (
            r#"{"host": "h", "port": 80, "sni": "a b"}"#,
            "backend discovery.static_list[0] has a host or sni that is empty or holds whitespace",
        ),
    ];
    for (entry, message) in bad {
        let body = format!(r#"{{"discovery": {{"static_list": [{entry}]}}}}"#);
        let err = decode_server(body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), GbErrorKind::Decode, "{entry}");
        assert_eq!(err.status(), 400, "{entry}");
        assert_eq!(err.message(), message, "{entry}");
    }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

#[test]
fn json_type_errors_name_the_field_as_go_does() {
    let rows: Vec<(&str, &str)> = vec![
        ("", "EOF"),
        (" \n", "EOF"),
        ("[]", "json: cannot unmarshal array into Go value of type config.Server"),
        ("\"x\"", "json: cannot unmarshal string into Go value of type config.Server"),
        ("5", "json: cannot unmarshal number into Go value of type config.Server"),
        (
            r#"{"bind": 3000}"#,
            "json: cannot unmarshal number into Go struct field Server.bind of type string",
        ),
        (
            r#"{"bind": [":1"]}"#,
            "json: cannot unmarshal array into Go struct field Server.bind of type string",
        ),
        (
            r#"{"max_connections": "10"}"#,
            "json: cannot unmarshal string into Go struct field Server.max_connections of type int",
        ),
        (
            r#"{"max_connections": 1.5}"#,
            "json: cannot unmarshal number 1.5 into Go struct field Server.max_connections of type int",
        ),
        (
            r#"{"max_connections": 9223372036854775808}"#,
            "json: cannot unmarshal number 9223372036854775808 into Go struct field Server.max_connections of type int",
        ),
        (
            r#"{"client_idle_timeout": 5}"#,
            "json: cannot unmarshal number into Go struct field Server.client_idle_timeout of type string",
        ),
        (
            r#"{"protocol": 1}"#,
            "json: cannot unmarshal number into Go struct field Server.protocol of type string",
        ),
        (
            r#"{"sni": "exact"}"#,
            "json: cannot unmarshal string into Go struct field Server.sni of type config.Sni",
        ),
        (
            r#"{"sni": {"read_timeout": 2}}"#,
            "json: cannot unmarshal number into Go struct field Sni.sni.read_timeout of type string",
        ),
        (
            r#"{"udp": {"max_requests": -1}}"#,
            "json: cannot unmarshal number -1 into Go struct field Udp.udp.max_requests of type uint64",
        ),
        (
            r#"{"udp": {"transparent": "yes"}}"#,
            "json: cannot unmarshal string into Go struct field Udp.udp.transparent of type bool",
        ),
        (
            r#"{"discovery": {"static_list": "h:80"}}"#,
            "json: cannot unmarshal string into Go struct field DiscoveryConfig.discovery.static_list of type []string",
        ),
        (
            r#"{"discovery": {"static_list": [80]}}"#,
            "json: cannot unmarshal number into Go struct field DiscoveryConfig.discovery.static_list of type string",
        ),
        (
            r#"{"healthcheck": {"fails": "3"}}"#,
            "json: cannot unmarshal string into Go struct field HealthcheckConfig.healthcheck.fails of type int",
        ),
        (
            r#"{"tls": {"acme_hosts": [true]}}"#,
            "json: cannot unmarshal bool into Go struct field Tls.tls.acme_hosts of type string",
        ),
        (
            r#"{"access": {"rules": {}}}"#,
            "json: cannot unmarshal object into Go struct field AccessConfig.access.rules of type []string",
        ),
    ];
    for (body, message) in rows {
        let err = decode_server(body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), GbErrorKind::Decode, "{body}");
        assert_eq!(err.status(), 400, "{body}");
        assert_eq!(err.message(), message, "{body}");
        assert_eq!(
            err.body(),
            Value::String(message.into()).to_string(),
            "{body}"
        );
    }
    // Malformed JSON carries the parser's text.
    for body in [
        &b"{"[..],
        b"{\"bind\": }",
        b"\xff",
        b"{} {}",
        b"{'bind': 1}",
    ] {
        let err = decode_server(body).unwrap_err();
        assert_eq!(err.kind(), GbErrorKind::Decode, "{body:?}");
        assert!(!err.message().is_empty());
    }
}

#[test]
fn go_json_leniencies() {
    // Unknown keys are ignored, null leaves a field unset, keys match
    // ignoring case, an empty string in a named field means unset.
    let server = decode_server(
        br#"{"BIND": ":1", "Balance": "iphash1", "protocol": "", "sni": null,
             "colour": "blue", "discovery": {"KIND": "static", "static_list": ["h:1", null]}}"#,
    )
    .unwrap();
    assert_eq!(server.bind.as_deref(), Some(":1"));
    assert_eq!(server.balance, Some(Balance::IpHash1));
    assert_eq!(server.protocol, None);
    assert_eq!(server.sni, None);
    let discovery = server.discovery.unwrap();
    assert_eq!(discovery.kind, Some(DiscoveryKind::Static));
    assert_eq!(discovery.static_list.unwrap(), ["h:1", ""]);
    // An exact key wins over one that differs in case.
    let server = decode_server(br#"{"Bind": ":2", "bind": ":1"}"#).unwrap();
    assert_eq!(server.bind.as_deref(), Some(":1"));
    // `null` is a server with nothing set.
    assert_eq!(decode_server(b"null").unwrap(), Server::default());
}

#[test]
fn unknown_names_are_refused_with_gobetween_texts() {
    let rows: Vec<(&str, &str)> = vec![
        (r#"{"protocol": "http"}"#, "Not supported protocol http"),
        (r#"{"protocol": "TCP"}"#, "Not supported protocol TCP"),
        (
            r#"{"balance": "random"}"#,
            "Not supported balance type random",
        ),
        (
            r#"{"sni": {"hostname_matching_strategy": "glob"}}"#,
            "Not supported sni matching glob",
        ),
        (
            r#"{"sni": {"unexpected_hostname_strategy": "drop"}}"#,
            "Not supported sni unexprected hostname strategy drop",
        ),
        (
            r#"{"healthcheck": {"kind": "http"}}"#,
            "Not supported healthcheck type http",
        ),
        (
            r#"{"healthcheck": {"initial_status": "up"}}"#,
            "Unsupported healthcheck initial_status",
        ),
        (
            r#"{"healthcheck": {"probe_protocol": "http"}}"#,
            "Unsupported probe_protocol",
        ),
        (
            r#"{"healthcheck": {"probe_strategy": "ends_with"}}"#,
            "Unsupported probe_strategy ends_with",
        ),
        (
            r#"{"discovery": {"failpolicy": "retry"}}"#,
            "Not supported failpolicy retry",
        ),
        (
            r#"{"discovery": {"kind": "srv"}}"#,
            "Not supported discovery kind srv",
        ),
        (
            r#"{"discovery": {"kind": "consul"}}"#,
            "Not supported discovery kind consul",
        ),
    ];
    for (body, message) in rows {
        let err = decode_server(body.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), GbErrorKind::Invalid, "{body}");
        assert_eq!(err.status(), 409, "{body}");
        assert_eq!(err.message(), message, "{body}");
    }
    // Every name reads back from what it writes.
    for b in Balance::ALL {
        assert_eq!(b.as_str().parse::<Balance>().unwrap(), *b);
    }
    let names: Vec<&str> = Balance::ALL.iter().map(|b| b.as_str()).collect();
    assert_eq!(
        names,
        [
            "weight",
            "leastconn",
            "roundrobin",
            "leastbandwidth",
            "iphash",
            "iphash1"
        ]
    );
    assert_eq!(
        Protocol::ALL
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        ["tcp", "tls", "udp"]
    );
    assert_eq!(HealthcheckKind::Disabled.as_str(), "none");
    assert_eq!(ProbeStrategy::StartsWith.as_str(), "starts_with");
}

#[test]
fn toml_type_errors_name_the_key() {
    let rows: Vec<(&str, &str)> = vec![
        (
            "[servers.a]\nbind = 3000",
            r#"toml: incompatible types: TOML value has type integer; destination has type string (key "servers.a.bind")"#,
        ),
        (
            "[servers.a]\nmax_connections = 1.5",
            r#"toml: incompatible types: TOML value has type float; destination has type int (key "servers.a.max_connections")"#,
        ),
        (
            "[servers.a]\nmax_connections = nan",
            r#"toml: incompatible types: TOML value has type float; destination has type int (key "servers.a.max_connections")"#,
        ),
        (
            "[servers.a]\nbind = 1979-05-27T07:32:00Z",
            r#"toml: incompatible types: TOML value has type datetime; destination has type string (key "servers.a.bind")"#,
        ),
        (
            "servers = 1",
            r#"toml: incompatible types: TOML value has type integer; destination has type map[string]config.Server (key "servers")"#,
        ),
        (
            "servers = { a = 1 }",
            r#"toml: incompatible types: TOML value has type integer; destination has type config.Server (key "servers")"#,
        ),
        (
            "[servers.a.discovery]\nstatic_list = [1]",
            r#"toml: incompatible types: TOML value has type integer; destination has type string (key "servers.a.discovery.static_list")"#,
        ),
        (
            "[api]\nenabled = \"true\"",
            r#"toml: incompatible types: TOML value has type string; destination has type bool (key "api.enabled")"#,
        ),
        (
            "[defaults]\nclient_idle_timeout = 0",
            r#"toml: incompatible types: TOML value has type integer; destination has type string (key "defaults.client_idle_timeout")"#,
        ),
    ];
    for (text, message) in rows {
        let err = decode_config(text.as_bytes(), Format::Toml).unwrap_err();
        assert_eq!(err.kind(), GbErrorKind::Decode, "{text}");
        assert_eq!(err.message(), message, "{text}");
    }
    // Syntax errors and bytes that are not UTF-8.
    for text in [
        &b"[servers"[..],
        b"a = ",
        b"a = 1\na = 2",
        b"\xff = 1",
        b"[a]\n[a]",
    ] {
        let err = decode_config(text, Format::Toml).unwrap_err();
        assert_eq!(err.kind(), GbErrorKind::Decode, "{text:?}");
        assert!(err.message().starts_with("toml: "), "{text:?}: {err}");
    }
    // JSON configs name fields without the server's name, as Go does.
    let err = decode_config(br#"{"servers": {"a": {"bind": 1}}}"#, Format::Json).unwrap_err();
    assert_eq!(
        err.message(),
        "json: cannot unmarshal number into Go struct field Server.servers.bind of type string"
    );
    let err = decode_config(b"[]", Format::Json).unwrap_err();
    assert_eq!(
        err.message(),
        "json: cannot unmarshal array into Go value of type config.Config"
    );
    // A null server is a server with nothing set, which preparing refuses.
    let config = decode_config(br#"{"servers": {"a": null}}"#, Format::Json).unwrap();
    assert_eq!(config.servers["a"], Server::default());
}

// ---------------------------------------------------------------------------
// prepareConfig
// ---------------------------------------------------------------------------

fn prepare(body: &str) -> Result<Server, (GbErrorKind, String)> {
    let server = decode_server(body.as_bytes()).map_err(|e| (e.kind(), e.message().to_string()))?;
    prepare_server("web", &server, &ConnectionOptions::default())
        .map_err(|e| (e.kind(), e.message().to_string()))
}

const D: &str = r#""discovery": {"kind": "static", "static_list": ["h:1"]}"#;

#[test]
fn prepare_rules_in_gobetween_order() {
    let rows: Vec<(String, &str)> = vec![
        ("{}".into(), "No bind specified for server web"),
        (r#"{"bind": ""}"#.into(), "No bind specified for server web"),
        // bind before discovery.
        (r#"{"protocol": "udp"}"#.into(), "No bind specified for server web"),
        (r#"{"bind": ":1"}"#.into(), "No .discovery specified for server web"),
        // Health check.
        (
            format!(r#"{{"bind": ":1", {D}, "healthcheck": {{}}}}"#),
            "Not supported healthcheck type ",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "ping"}}}}"#),
            "Healthcheck interval should be greater than 0s",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "ping", "interval": "-1s"}}}}"#),
            "Healthcheck interval should be greater than 0s",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "exec", "interval": "5"}}}}"#),
            r#"Could not parse healtcheck interval: time: missing unit in duration "5""#,
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "probe", "interval": "1s"}}}}"#),
            "Unsupported probe_protocol",
        ),
        (
            format!(
                r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "probe", "interval": "1s", "probe_protocol": "tcp", "probe_send": "x"}}}}"#
            ),
            "probe healthcheck should have both probe_send and probe_recv specified",
        ),
        (
            format!(
                r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "probe", "interval": "1s", "probe_protocol": "tcp", "probe_send": "\\q", "probe_recv": "y"}}}}"#
            ),
            "probe_send has invalid syntax invalid syntax",
        ),
        (
            format!(
                r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "probe", "interval": "1s", "probe_protocol": "tcp", "probe_send": "x", "probe_recv": "y", "probe_recv_len": 4}}}}"#
            ),
            "probe_recv_len is redundant for 'starts_with' strategy",
        ),
        (
            format!(
                r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "probe", "interval": "1s", "probe_protocol": "tcp", "probe_send": "x", "probe_recv": "\"y"}}}}"#
            ),
            "probe_recv has invalid syntax invalid syntax",
        ),
        (
            format!(
                r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "probe", "interval": "1s", "probe_protocol": "udp", "probe_strategy": "regexp", "probe_send": "x", "probe_recv": "y"}}}}"#
            ),
            "probe_recv_len required",
        ),
        // PROXY protocol.
        (
            format!(r#"{{"bind": ":1", {D}, "protocol": "tls", "proxy_protocol": {{"version": "1"}}}}"#),
            "proxy_protocol may be used only with 'tcp' protocol, not with tls",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "proxy_protocol": {{}}}}"#),
            "version field for proxy_protocol is not specified",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "proxy_protocol": {{"version": "2"}}}}"#),
            "Unsupported proxy_protocol version 2",
        ),
        // SNI and the health check's durations.
        (
            format!(r#"{{"bind": ":1", {D}, "sni": {{"read_timeout": "soon"}}}}"#),
            "timeout parsing error",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "none", "timeout": "1"}}}}"#),
            "timeout parsing error",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "none", "interval": "x"}}}}"#),
            "interval parsing error",
        ),
        // TLS.
        (
            format!(r#"{{"bind": ":1", {D}, "backends_tls": {{"cert_path": "/c"}}}}"#),
            "backend_tls.cert_path and .key_path should be specified together",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "tls": {{"cert_path": "/c"}}}}"#),
            "tls requires specify either acme hosts or both key and cert paths",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "tls": {{"acme_hosts": [], "key_path": "/k"}}}}"#),
            "tls requires specify either acme hosts or both key and cert paths",
        ),
        // Protocol.
        (
            format!(r#"{{"bind": ":1", {D}, "protocol": "tls"}}"#),
            "Need tls section for tls protocol",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "protocol": "udp", "backends_tls": {{}}}}"#),
            "backends_tls should not be enabled for udp protocol",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "protocol": "udp"}}"#),
            "udp protocol requires to specify at least one of (client|backend)_idle_timeout, udp.max_requests, udp.max_responses",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "protocol": "udp", "udp": {{"max_requests": 0}}}}"#),
            "udp protocol requires to specify at least one of (client|backend)_idle_timeout, udp.max_requests, udp.max_responses",
        ),
        (
            format!(
                r#"{{"bind": ":1", {D}, "protocol": "udp", "udp": {{"max_responses": 1}}, "healthcheck": {{"kind": "ping", "interval": "1s"}}}}"#
            ),
            "Cant use ping healthcheck with udp server",
        ),
        // routeyard's own checks, after gobetween's.
        (
            format!(r#"{{"bind": ":1", {D}, "max_connections": -1}}"#),
            "max_connections should not be negative",
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "client_idle_timeout": "10"}}"#),
            r#"client_idle_timeout parsing error: time: missing unit in duration "10""#,
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "backend_idle_timeout": "1x"}}"#),
            r#"backend_idle_timeout parsing error: time: unknown unit "x" in duration "1x""#,
        ),
        (
            format!(r#"{{"bind": ":1", {D}, "backend_connection_timeout": ""}}"#),
            r#"backend_connection_timeout parsing error: time: invalid duration """#,
        ),
        (
            r#"{"bind": ":1", "discovery": {}}"#.into(),
            "Not supported discovery kind ",
        ),
        (
            r#"{"bind": ":1", "discovery": {"kind": "static", "interval": "often"}}"#.into(),
            r#"discovery.interval parsing error: time: invalid duration "often""#,
        ),
        (
            r#"{"bind": ":1", "discovery": {"kind": "static", "timeout": "5"}}"#.into(),
            r#"discovery.timeout parsing error: time: missing unit in duration "5""#,
        ),
        (
            r#"{"bind": ":1", "discovery": {"kind": "static", "static_list": ["h:1", "h", "h:0"]}}"#.into(),
            "Cant parse h",
        ),
        (
            r#"{"bind": ":1", "discovery": {"kind": "static", "static_list": ["h:70000"]}}"#.into(),
            "Cant parse h:70000: port 70000 is not between 1 and 65535",
        ),
        (
            format!(r#"{{"bind": "3000", {D}}}"#),
            "bind 3000 is not host:port with a port between 1 and 65535",
        ),
        (
            format!(r#"{{"bind": ":0", {D}}}"#),
            "bind :0 is not host:port with a port between 1 and 65535",
        ),
        (
            format!(r#"{{"bind": "0.0.0.0:65536", {D}}}"#),
            "bind 0.0.0.0:65536 is not host:port with a port between 1 and 65535",
        ),
    ];
    for (body, message) in rows {
        let got = prepare(&body);
        assert_eq!(
            got,
            Err((GbErrorKind::Invalid, message.to_string())),
            "body {body}"
        );
    }
}

#[test]
fn prepare_fills_gobetween_defaults() {
    let ready = prepare(&format!(r#"{{"bind": ":3000", {D}}}"#)).unwrap();
    let want = Server {
        bind: Some(":3000".into()),
        protocol: Some(Protocol::Tcp),
        balance: Some(Balance::Weight),
        max_connections: Some(0),
        client_idle_timeout: Some("0".into()),
        backend_idle_timeout: Some("0".into()),
        backend_connection_timeout: Some("0".into()),
        discovery: Some(Discovery {
            kind: Some(DiscoveryKind::Static),
            failpolicy: Some(FailPolicy::KeepLast),
            interval: Some("0".into()),
            timeout: Some("0".into()),
            static_list: Some(vec!["h:1".into()]),
        }),
        healthcheck: Some(Healthcheck {
            kind: Some(HealthcheckKind::Disabled),
            interval: Some("0".into()),
            timeout: Some("0".into()),
            passes: Some(1),
            fails: Some(1),
            ..Healthcheck::default()
        }),
        ..Server::default()
    };
    assert_eq!(ready, want);
    // Preparing again changes nothing.
    assert_eq!(
        prepare_server("web", &ready, &ConnectionOptions::default()),
        Ok(ready.clone())
    );

    // SNI, probe and UDP defaults; the server's options win over [defaults].
    let body = r#"{"bind": "[::1]:53", "protocol": "udp", "client_idle_timeout": "30s",
        "sni": {}, "discovery": {"kind": "static", "failpolicy": "setempty", "interval": "10s"},
        "healthcheck": {"kind": "probe", "interval": "5s", "fails": -3, "passes": 2,
                        "probe_protocol": "udp", "probe_send": "ping\\n", "probe_recv": "pong"}}"#;
    let server = decode_server(body.as_bytes()).unwrap();
    let defaults = ConnectionOptions {
        max_connections: Some(100),
        client_idle_timeout: Some("1m".into()),
        backend_idle_timeout: None,
        backend_connection_timeout: Some("5s".into()),
    };
    let ready = prepare_server("dns", &server, &defaults).unwrap();
    assert_eq!(ready.max_connections, Some(100));
    assert_eq!(ready.client_idle_timeout.as_deref(), Some("30s"));
    assert_eq!(ready.backend_idle_timeout.as_deref(), Some("0"));
    assert_eq!(ready.backend_connection_timeout.as_deref(), Some("5s"));
    assert_eq!(ready.udp, Some(Udp::default()));
    assert_eq!(
        ready.sni,
        Some(Sni {
            hostname_matching_strategy: Some(HostnameMatching::Exact),
            unexpected_hostname_strategy: Some(UnexpectedHostname::Default),
            read_timeout: Some("2s".into()),
        })
    );
    let hc = ready.healthcheck.as_ref().unwrap();
    assert_eq!((hc.fails, hc.passes), (Some(1), Some(2)));
    assert_eq!(hc.probe_strategy, Some(ProbeStrategy::StartsWith));
    assert_eq!(hc.probe_protocol, Some(ProbeProtocol::Udp));
    // The escaped text stays as written; the bytes are at hand.
    assert_eq!(hc.probe_send.as_deref(), Some("ping\\n"));
    assert_eq!(hc.probe_send_bytes().as_deref(), Some(&b"ping\n"[..]));
    assert_eq!(hc.probe_recv_bytes().as_deref(), Some(&b"pong"[..]));
    let d = ready.discovery.as_ref().unwrap();
    assert_eq!(d.failpolicy, Some(FailPolicy::SetEmpty));
    assert_eq!(
        (d.interval.as_deref(), d.timeout.as_deref()),
        (Some("10s"), Some("0"))
    );
    assert_eq!(ready.bind_port(), Some(53));

    // PROXY protocol with the protocol left to its default, tcp.
    let ready = prepare(&format!(
        r#"{{"bind": ":1", {D}, "proxy_protocol": {{"version": "1"}}}}"#
    ))
    .unwrap();
    assert_eq!(ready.protocol, Some(Protocol::Tcp));
    // TLS by ACME hosts alone; regexp probes with a length.
    assert!(prepare(&format!(
        r#"{{"bind": ":1", {D}, "protocol": "tls", "tls": {{"acme_hosts": ["a.test"]}}}}"#
    ))
    .is_ok());
    assert!(prepare(&format!(
        r#"{{"bind": ":1", {D}, "healthcheck": {{"kind": "probe", "interval": "1s", "probe_protocol": "tls",
            "probe_strategy": "regexp", "probe_send": "x", "probe_recv": "^OK", "probe_recv_len": 2,
            "initial_status": "unhealthy"}}}}"#
    ))
    .is_ok());

    assert_eq!(
        fill_defaults(&ConnectionOptions::default()),
        ConnectionOptions {
            max_connections: Some(0),
            client_idle_timeout: Some("0".into()),
            backend_idle_timeout: Some("0".into()),
            backend_connection_timeout: Some("0".into()),
        }
    );
}

#[test]
fn create_and_delete_errors() {
    let err = already_exists("web");
    assert_eq!(err.kind(), GbErrorKind::Exists);
    assert_eq!(err.status(), 409);
    assert_eq!(err.message(), "Server with this name already exists: web");
    let err = not_found();
    assert_eq!((err.kind(), err.status()), (GbErrorKind::NotFound, 404));
    assert_eq!(err.message(), "Server not found");
    assert_eq!(err.body(), r#""Server not found""#);
}

// ---------------------------------------------------------------------------
// Config files and dumps
// ---------------------------------------------------------------------------

/// A config in the style of gobetween's sample `config/gobetween.toml`.
const SAMPLE: &str = r#"
#
# gobetween.toml - sample config file
#

[logging]
level = "info"    # "debug" | "info" | "warn" | "error"
output = "stdout" # "stdout" | "stderr" | "/path/to/gobetween.log"
format = "text"

[api]
enabled = true  # true | false
bind = ":8888"  # "host:port"
cors = false    # cross-origin resource sharing

  [api.basic_auth]
  login = "admin"
  password = "1111"

  [api.tls]
  cert_path = "/path/to/cert.pem"
  key_path = "/path/to/key.pem"

[metrics]
enabled = false
bind = ":9284"

[defaults]
max_connections = 0
client_idle_timeout = "0"
backend_idle_timeout = "0"
backend_connection_timeout = "0"

[servers.sample]
bind = "localhost:3000"
protocol = "tcp"
balance = "weight"
max_connections = 10000
client_idle_timeout = "10m"
backend_idle_timeout = "10m"
backend_connection_timeout = "2s"

    [servers.sample.discovery]
    kind = "static"
    static_list = [
      "localhost:8000 weight=1",
      "localhost:8001 weight=1 priority=2"
    ]

    [servers.sample.healthcheck]
    fails = 1
    passes = 1
    interval = "2s"
    timeout = "1s"
    kind = "ping"

[servers.secure]
bind = "0.0.0.0:443"
protocol = "tls"
balance = "iphash1"

    [servers.secure.tls]
    cert_path = "/etc/ssl/site.crt"
    key_path = "/etc/ssl/site.key"
    ciphers = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
    min_version = "tls1.2"
    session_tickets = true

    [servers.secure.sni]
    hostname_matching_strategy = "regexp"
    unexpected_hostname_strategy = "reject"
    read_timeout = "5s"

    [servers.secure.access]
    default = "deny"
    rules = ["allow 10.0.0.0/8", "deny 10.0.0.66"]

    [servers.secure.discovery]
    kind = "static"
    failpolicy = "setempty"
    static_list = ["10.0.0.1:8443 sni=a.example.com", "10.0.0.2:8443 weight=2 max_connections=100"]

[servers.dns]
bind = ":53"
protocol = "udp"
balance = "roundrobin"
backend_idle_timeout = "1s"

    [servers.dns.udp]
    max_requests = 1
    max_responses = 1
    transparent = false

    [servers.dns.discovery]
    kind = "static"
    static_list = ["8.8.8.8:53", "8.8.4.4:53"]
"#;

#[test]
fn sample_config_reads_prepares_and_round_trips() {
    let config = decode_config(SAMPLE.as_bytes(), Format::Toml).unwrap();
    assert_eq!(
        config.logging,
        Some(Logging {
            level: Some("info".into()),
            output: Some("stdout".into()),
            format: Some("text".into()),
        })
    );
    let api: &Api = config.api.as_ref().unwrap();
    assert_eq!(
        api.basic_auth,
        Some(BasicAuth {
            login: Some("admin".into()),
            password: Some("1111".into()),
        })
    );
    assert_eq!(config.servers.len(), 3);
    let secure = &config.servers["secure"];
    assert_eq!(secure.protocol, Some(Protocol::Tls));
    assert_eq!(secure.balance, Some(Balance::IpHash1));
    assert_eq!(
        secure.tls,
        Some(Tls {
            cert_path: Some("/etc/ssl/site.crt".into()),
            key_path: Some("/etc/ssl/site.key".into()),
            ciphers: Some(vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()]),
            min_version: Some("tls1.2".into()),
            session_tickets: Some(true),
            ..Tls::default()
        })
    );
    assert_eq!(
        secure.access,
        Some(Access {
            default: Some("deny".into()),
            rules: Some(vec!["allow 10.0.0.0/8".into(), "deny 10.0.0.66".into()]),
        })
    );
    assert_eq!(
        secure.backends().unwrap(),
        [
            BackendSpec {
                sni: Some("a.example.com".into()),
                ..BackendSpec::new("10.0.0.1", 8443)
            },
            BackendSpec {
                weight: 2,
                max_connections: 100,
                ..BackendSpec::new("10.0.0.2", 8443)
            },
        ]
    );
    assert_eq!(
        config.servers["sample"].backends().unwrap()[1],
        spec("localhost", 8001, 1, 2)
    );
    assert_eq!(
        config.servers["dns"].udp,
        Some(Udp {
            max_requests: Some(1),
            max_responses: Some(1),
            transparent: Some(false),
        })
    );

    let ready = prepare_config(&config).unwrap();
    assert_eq!(ready.logging, config.logging); // global sections as written
    assert_eq!(ready.servers["dns"].balance, Some(Balance::RoundRobin));
    assert_eq!(
        ready.servers["dns"].client_idle_timeout.as_deref(),
        Some("0")
    );
    assert_eq!(ready.servers["secure"].max_connections, Some(0));

    for c in [&config, &ready] {
        for format in [Format::Toml, Format::Json] {
            let text = dump(c, format).unwrap();
            assert_eq!(
                decode_config(text.as_bytes(), format).as_ref(),
                Ok(c),
                "{format:?}:\n{text}"
            );
        }
    }
    // Servers whose name needs quoting in TOML.
    let mut odd = config.clone();
    let server = odd.servers["sample"].clone();
    for name in ["a.b", "with space", "", "ünï", "\"q\""] {
        odd.servers.insert(name.to_string(), server.clone());
    }
    let text = dump(&odd, Format::Toml).unwrap();
    assert_eq!(decode_config(text.as_bytes(), Format::Toml), Ok(odd));
}

#[test]
fn dumps_in_gobetween_layout() {
    let mut config = Config::default();
    config.servers.insert(
        "web".into(),
        Server {
            balance: Some(Balance::LeastConn),
            ..Server::with_static_backends(":80", &[spec("10.0.0.1", 8080, 2, 1)])
        },
    );
    assert_eq!(
        dump(&config, Format::Toml).unwrap(),
        "[servers.web]\nbind = \":80\"\nbalance = \"leastconn\"\n\n[servers.web.discovery]\nkind = \"static\"\nstatic_list = [\"10.0.0.1:8080 weight=2 priority=1\"]\n"
    );
    assert_eq!(
        dump(&config, Format::Json).unwrap(),
        r#"{
    "servers": {
        "web": {
            "bind": ":80",
            "balance": "leastconn",
            "discovery": {
                "kind": "static",
                "static_list": [
                    "10.0.0.1:8080 weight=2 priority=1"
                ]
            }
        }
    }
}"#
    );
    assert_eq!(dump(&Config::default(), Format::Json).unwrap(), "{}");
    assert_eq!(dump(&Config::default(), Format::Toml).unwrap(), "");
    let server: Value = serde_json::from_str(&encode_json(&config.servers["web"])).unwrap();
    assert_eq!(
        server,
        json!({
            "bind": ":80",
            "balance": "leastconn",
            "discovery": {"kind": "static", "static_list": ["10.0.0.1:8080 weight=2 priority=1"]}
        })
    );

    // TOML cannot hold integers above i64::MAX; JSON can.
    let mut big = Config::default();
    big.servers.insert(
        "u".into(),
        Server {
            udp: Some(Udp {
                max_requests: Some(u64::MAX),
                ..Udp::default()
            }),
            ..Server::default()
        },
    );
    let err = dump(&big, Format::Toml).unwrap_err();
    assert_eq!((err.kind(), err.status()), (GbErrorKind::Encode, 500));
    assert_eq!(
        err.message(),
        "toml: servers.u.udp.max_requests is above 9223372036854775807, which TOML cannot hold"
    );
    let text = dump(&big, Format::Json).unwrap();
    assert_eq!(decode_config(text.as_bytes(), Format::Json), Ok(big));
}

#[test]
fn json_config_files() {
    let text = br#"{
        "api": {"enabled": true, "bind": ":8888"},
        "defaults": {"max_connections": 50, "backend_connection_timeout": "3s"},
        "acme": {"challenge": "http", "cache_dir": "/var/cache"},
        "profiler": {"enabled": false, "bind": ":6060"},
        "servers": {
            "web": {"bind": ":8080", "discovery": {"kind": "static", "static_list": ["a:1", "b:2 weight=3"]}},
            "api": {"bind": ":8081", "balance": "leastbandwidth", "proxy_protocol": {"version": "1"},
                    "discovery": {"kind": "static", "static_list": []}}
        }
    }"#;
    let config = decode_config(text, Format::Json).unwrap();
    let ready = prepare_config(&config).unwrap();
    assert_eq!(ready.servers["web"].max_connections, Some(50));
    assert_eq!(
        ready.servers["web"].backend_connection_timeout.as_deref(),
        Some("3s")
    );
    assert_eq!(ready.servers["api"].backends().unwrap(), []);
    // The first failing server in name order is reported.
    let mut broken = config.clone();
    broken.servers.get_mut("api").unwrap().bind = None;
    broken.servers.get_mut("web").unwrap().bind = None;
    assert_eq!(
        prepare_config(&broken).unwrap_err().message(),
        "No bind specified for server api"
    );
    for format in [Format::Toml, Format::Json] {
        let out = dump(&config, format).unwrap();
        assert_eq!(decode_config(out.as_bytes(), format), Ok(config.clone()));
    }
}

// ---------------------------------------------------------------------------
// Stats, info, ping
// ---------------------------------------------------------------------------

#[test]
fn stats_shapes() {
    let plain = BackendStatus::new(
        &spec("10.0.0.1", 8080, 3, 1),
        BackendStats {
            live: true,
            discovered: true,
            total_connections: 10,
            active_connections: 2,
            refused_connections: 1,
            rx: 1000,
            tx: 2000,
            rx_second: 50,
            tx_second: 100,
        },
    );
    let capped = BackendStatus::new(
        &BackendSpec {
            max_connections: 5,
            sni: Some("a.test".into()),
            ..spec("10.0.0.2", 8081, 1, 2)
        },
        BackendStats::default(),
    );
    let stats = ServerStats {
        active_connections: 2,
        rx_total: 1000,
        tx_total: 2000,
        rx_second: 50,
        tx_second: 100,
        backends: vec![plain, capped],
    };
    let v: Value = serde_json::from_str(&encode_json(&stats)).unwrap();
    assert_eq!(
        v,
        json!({
            "active_connections": 2,
            "rx_total": 1000,
            "tx_total": 2000,
            "rx_second": 50,
            "tx_second": 100,
            "backends": [
                {
                    "host": "10.0.0.1",
                    "port": "8080",
                    "priority": 1,
                    "weight": 3,
                    "stats": {
                        "live": true,
                        "discovered": true,
                        "total_connections": 10,
                        "active_connections": 2,
                        "refused_connections": 1,
                        "rx": 1000,
                        "tx": 2000,
                        "rx_second": 50,
                        "tx_second": 100
                    }
                },
                {
                    "host": "10.0.0.2",
                    "port": "8081",
                    "priority": 2,
                    "weight": 1,
                    "max_connections": 5,
                    "sni": "a.test",
                    "stats": {
                        "live": false,
                        "discovered": false,
                        "total_connections": 0,
                        "active_connections": 0,
                        "refused_connections": 0,
                        "rx": 0,
                        "tx": 0,
                        "rx_second": 0,
                        "tx_second": 0
                    }
                }
            ]
        })
    );
    // gobetween's own stats JSON reads back into the same structs.
    let back: ServerStats = serde_json::from_value(v).unwrap();
    assert_eq!(back, stats);
    // Key order is gobetween's.
    let text = serde_json::to_string(&stats.backends[1]).unwrap();
    assert!(text.starts_with(r#"{"host":"10.0.0.2","port":"8081","priority":2,"weight":1,"max_connections":5,"sni":"a.test","stats":{"live":false"#), "{text}");
}

#[test]
fn info_and_ping() {
    let info = Info::new(
        ConfigSource::file("/etc/gobetween.toml"),
        4242,
        "2026-01-02T03:04:05.123456789Z",
        "2026-01-02T04:06:08.623456789Z",
        GoDuration(3_723_500_000_000),
        "0.8.0",
    );
    assert_eq!(
        serde_json::to_string(&info).unwrap(),
        r#"{"configuration":{"kind":"file","path":"/etc/gobetween.toml"},"pid":4242,"startTime":"2026-01-02T03:04:05.123456789Z","time":"2026-01-02T04:06:08.623456789Z","uptime":"1h2m3.5s","version":"0.8.0"}"#
    );
    let back: Info = serde_json::from_str(&encode_json(&info)).unwrap();
    assert_eq!(back, info);
    assert_eq!(PING_BODY, "OK");
}

// ---------------------------------------------------------------------------
// Garbage and round-trip properties
// ---------------------------------------------------------------------------

#[test]
fn deep_nesting_is_refused_without_overflow() {
    let json = format!(
        "{{\"bind\": {}1{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(
        decode_server(json.as_bytes()).unwrap_err().kind(),
        GbErrorKind::Decode
    );
    let toml = format!("a = {}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        decode_config(toml.as_bytes(), Format::Toml)
            .unwrap_err()
            .kind(),
        GbErrorKind::Decode
    );
}

fn opt<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop::option::of(s)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9:./]{0,8}",
        ".{0,6}",
        Just(String::new()),
        Just("0".to_string()),
        Just("2s".to_string()),
    ]
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..3)
}

fn pick<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    prop::sample::select(all)
}

fn server() -> impl Strategy<Value = Server> {
    let head = (
        opt(text()),
        opt(pick(Protocol::ALL)),
        opt(pick(Balance::ALL)),
        opt(any::<i64>()),
        opt(text()),
        opt(text()),
        opt(text()),
    );
    let sni = opt((
        opt(pick(HostnameMatching::ALL)),
        opt(pick(UnexpectedHostname::ALL)),
        opt(text()),
    )
        .prop_map(|(h, u, r)| Sni {
            hostname_matching_strategy: h,
            unexpected_hostname_strategy: u,
            read_timeout: r,
        }));
    let tls = opt((
        opt(texts()),
        opt(text()),
        opt(text()),
        opt(texts()),
        opt(any::<bool>()),
    )
        .prop_map(
            |(acme_hosts, cert_path, key_path, ciphers, session_tickets)| Tls {
                acme_hosts,
                cert_path,
                key_path,
                ciphers,
                session_tickets,
                ..Tls::default()
            },
        ));
    let udp = opt((
        opt(0..=i64::MAX as u64),
        opt(0..=i64::MAX as u64),
        opt(any::<bool>()),
    )
        .prop_map(|(max_requests, max_responses, transparent)| Udp {
            max_requests,
            max_responses,
            transparent,
        }));
    let extra = (
        opt((opt(text()), opt(texts())).prop_map(|(default, rules)| Access { default, rules })),
        opt(opt(text()).prop_map(|version| ProxyProtocol { version })),
    );
    let discovery = opt((
        opt(pick(DiscoveryKind::ALL)),
        opt(pick(FailPolicy::ALL)),
        opt(text()),
        opt(text()),
        opt(texts()),
    )
        .prop_map(
            |(kind, failpolicy, interval, timeout, static_list)| Discovery {
                kind,
                failpolicy,
                interval,
                timeout,
                static_list,
            },
        ));
    let healthcheck = opt((
        opt(pick(HealthcheckKind::ALL)),
        opt(text()),
        opt(any::<i64>()),
        opt(any::<i64>()),
        opt(pick(InitialStatus::ALL)),
        opt(pick(ProbeProtocol::ALL)),
        opt(pick(ProbeStrategy::ALL)),
        opt(text()),
        opt(any::<i64>()),
    )
        .prop_map(
            |(
                kind,
                interval,
                passes,
                fails,
                initial_status,
                probe_protocol,
                probe_strategy,
                probe_send,
                probe_recv_len,
            )| {
                Healthcheck {
                    kind,
                    interval,
                    passes,
                    fails,
                    initial_status,
                    probe_protocol,
                    probe_strategy,
                    probe_send,
                    probe_recv_len,
                    ..Healthcheck::default()
                }
            },
        ));
    (head, sni, tls, udp, extra, discovery, healthcheck).prop_map(
        |(
            (bind, protocol, balance, max_connections, cit, bit, bct),
            sni,
            tls,
            udp,
            (access, proxy_protocol),
            discovery,
            healthcheck,
        )| Server {
            bind,
            protocol,
            balance,
            max_connections,
            client_idle_timeout: cit,
            backend_idle_timeout: bit,
            backend_connection_timeout: bct,
            sni,
            tls,
            backends_tls: None,
            udp,
            access,
            proxy_protocol,
            discovery,
            healthcheck,
        },
    )
}

fn config() -> impl Strategy<Value = Config> {
    (
        opt(
            (opt(text()), opt(text()), opt(text())).prop_map(|(level, output, format)| Logging {
                level,
                output,
                format,
            }),
        ),
        opt(
            (opt(any::<bool>()), opt(text())).prop_map(|(enabled, bind)| Api {
                enabled,
                bind,
                ..Api::default()
            }),
        ),
        opt(
            (opt(any::<i64>()), opt(text())).prop_map(|(max_connections, client_idle_timeout)| {
                ConnectionOptions {
                    max_connections,
                    client_idle_timeout,
                    ..ConnectionOptions::default()
                }
            }),
        ),
        prop::collection::btree_map(".{0,5}", server(), 0..3),
    )
        .prop_map(|(logging, api, defaults, servers)| Config {
            logging,
            api,
            defaults,
            servers,
            ..Config::default()
        })
}

/// Servers gobetween takes: a bind port, static backends, a protocol with
/// what it needs, any balancer.
fn valid_server() -> impl Strategy<Value = (Server, Vec<BackendSpec>)> {
    let backend = (
        "[a-z0-9.-]{1,10}",
        1u16..,
        any::<u32>(),
        0u32..4,
        any::<u32>(),
        opt("[a-z.]{1,8}"),
    )
        .prop_map(
            |(host, port, weight, priority, max_connections, sni)| BackendSpec {
                host,
                port,
                weight,
                priority,
                max_connections,
                sni,
            },
        );
    (
        1u16..,
        prop::collection::vec(backend, 0..5),
        pick(Protocol::ALL),
        pick(Balance::ALL),
        opt(0i64..1000),
    )
        .prop_map(|(port, backends, protocol, balance, max_connections)| {
            let mut server = Server::with_static_backends(format!("0.0.0.0:{port}"), &backends);
            server.protocol = Some(protocol);
            server.balance = Some(balance);
            server.max_connections = max_connections;
            match protocol {
                Protocol::Tls => {
                    server.tls = Some(Tls {
                        cert_path: Some("/c".into()),
                        key_path: Some("/k".into()),
                        ..Tls::default()
                    })
                }
                Protocol::Udp => {
                    server.udp = Some(Udp {
                        max_requests: Some(1),
                        ..Udp::default()
                    })
                }
                Protocol::Tcp => {}
            }
            (server, backends)
        })
}

proptest! {
    #[test]
    fn dumps_read_back_unchanged(config in config()) {
        for format in [Format::Toml, Format::Json] {
            let text = dump(&config, format).unwrap();
            prop_assert_eq!(decode_config(text.as_bytes(), format), Ok(config.clone()), "{}", text);
        }
    }

    #[test]
    fn servers_read_back_unchanged(server in server()) {
        prop_assert_eq!(decode_server(encode_json(&server).as_bytes()), Ok(server.clone()));
        // Preparing never panics, and what it accepts it accepts again unchanged.
        if let Ok(ready) = prepare_server("p", &server, &ConnectionOptions::default()) {
            prop_assert_eq!(prepare_server("p", &ready, &ConnectionOptions::default()), Ok(ready.clone()));
            prop_assert!(ready.bind_port().is_some());
        }
    }

    #[test]
    fn valid_servers_are_prepared((server, backends) in valid_server()) {
        let ready = prepare_server("v", &server, &ConnectionOptions::default()).unwrap();
        prop_assert_eq!(ready.backends().unwrap(), backends);
        prop_assert_eq!(ready.protocol, server.protocol);
        prop_assert_eq!(ready.balance, server.balance);
        prop_assert_eq!(ready.max_connections, Some(server.max_connections.unwrap_or(0)));
        prop_assert_eq!(ready.bind_port(), server.bind_port());
        let body = encode_json(&ready);
        prop_assert_eq!(decode_server(body.as_bytes()), Ok(ready.clone()));
        prop_assert_eq!(prepare_server("v", &ready, &ConnectionOptions::default()), Ok(ready));
    }

    #[test]
    fn backend_specs_read_back_unchanged(
        host in "[a-z0-9.:\\[\\]-]{1,12}",
        port in 1u16..,
        weight in any::<u32>(),
        priority in any::<u32>(),
        max_connections in any::<u32>(),
        sni in opt("[a-z.]{1,8}"),
    ) {
        let b = BackendSpec { host, port, weight, priority, max_connections, sni };
        prop_assert_eq!(parse_backend(&b.to_string()), Ok(b));
    }

    #[test]
    fn garbage_never_panics(body in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_server(&body);
        let _ = decode_config(&body, Format::Json);
        let _ = decode_config(&body, Format::Toml);
        let _ = parse_backend(&String::from_utf8_lossy(&body));
    }

    #[test]
    fn odd_lines_never_panic(line in ".{0,40}") {
        if let Ok(b) = parse_backend(&line) {
            prop_assert_eq!(parse_backend(&b.to_string()), Ok(b));
        }
    }
}
