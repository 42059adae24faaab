//! Kong's Route and Service schema as the Kong dialect applies it: bodies Kong
//! accepts, each rule broken once with Kong's path and text, Kong's error
//! bodies, PATCH semantics, the service `url` shorthand and tag filters.
//!
//! Rules and texts come from Kong 3.x: `kong/db/schema/entities/routes.lua`,
//! `routes_subschemas.lua`, `services.lua`, `kong/db/schema/typedefs.lua` and the
//! specs `spec/01-unit/01-db/01-schema/05-services_spec.lua`,
//! `06-routes_spec.lua` and `spec/02-integration/04-admin_api/09-routes_routes_spec.lua`.

use routeyard::dialect::kong::{
    decode_route, decode_service, encode_page, encode_route, encode_service, patch_route,
    patch_service, KongError, TagFilter, Wire,
};
use routeyard::{Config, Error, ErrorKind, Protocol, Registry, Route, Service};
use serde_json::{json, Value};

const SVC: &str = "64a8670b-900f-44e7-a900-6ec7ef5aa4d3";

/// Each field a failing body is expected to break, as `(path, rule)`; `""` is a
/// rule about the whole object.
type Broken = &'static [(&'static str, &'static str)];

fn check_violation(body: &str, err: &Error, want: Broken) {
    assert_eq!(err.kind(), ErrorKind::SchemaViolation, "{body}: {err:?}");
    let got: Vec<(&str, &str)> = err
        .fields()
        .iter()
        .map(|(p, r)| (p.as_str(), r.as_str()))
        .collect();
    assert_eq!(got, want, "{body}");
    let parts: Vec<String> = want
        .iter()
        .map(|(p, r)| {
            if p.is_empty() {
                r.to_string()
            } else {
                format!("{p}: {r}")
            }
        })
        .collect();
    // Kong's message: one rule, or a count and the list.
    let kong = if parts.len() == 1 {
        format!("schema violation ({})", parts[0])
    } else {
        format!("{} schema violations ({})", parts.len(), parts.join("; "))
    };
    assert_eq!(KongError::from(err).message, kong, "{body}");
    if want.len() == 1 {
        assert_eq!(err.message(), kong, "{body}");
    }
}

/// Route bodies for `decode_route`: `Ok` or the fields they break.
struct RouteTest(Vec<(&'static str, Result<(), Broken>)>);

impl RouteTest {
    fn run(self) {
        for (body, want) in self.0 {
            match (decode_route(body.as_bytes()), want) {
                (Ok(_), Ok(())) => {}
                (Err(err), Err(want)) => check_violation(body, &err, want),
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }
}

/// Service bodies for `decode_service`.
struct ServiceTest(Vec<(&'static str, Result<(), Broken>)>);

impl ServiceTest {
    fn run(self) {
        for (body, want) in self.0 {
            match (decode_service(body.as_bytes()), want) {
                (Ok(_), Ok(())) => {}
                (Err(err), Err(want)) => check_violation(body, &err, want),
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }
}

const HTTPS_NEEDS: &str =
    "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'";
const SNIS_ONLY: &str =
    "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'";
const ALL_PROTOCOLS: &str =
    "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp";

#[test]
fn valid_routes() {
    RouteTest(vec![
        (r#"{"paths":["/"]}"#, Ok(())),
        (
            r#"{"name":"my_route","protocols":["http"],"methods":["GET","POST","CUSTOM"],
                "hosts":["example.com","*.example.org:321","example.*","localhost","1.2.3.4:80","[::1]:8080"],
                "headers":{"location":["location-1"]},"paths":["/ovo","/abcd~user~2","/ovo/"],
                "regex_priority":1,"strip_path":false,"preserve_host":true,
                "service":{"id":"64a8670b-900f-44e7-a900-6ec7ef5aa4d3"}}"#,
            Ok(()),
        ),
        (r#"{"protocols":["http"],"methods":[],"hosts":[],"paths":["/"]}"#, Ok(())),
        (r#"{"paths":["~/users/(?<id>\\d+)$"],"regex_priority":-3}"#, Ok(())),
        (r#"{"headers":{"x-version":["~*^v[0-9]+$"]}}"#, Ok(())),
        (r#"{"protocols":["https"],"snis":["www.example.org"]}"#, Ok(())),
        (r#"{"protocols":["tcp"],"sources":[{"ip":"127.0.0.1"}]}"#, Ok(())),
        (r#"{"protocols":["tls"],"snis":["example.org"]}"#, Ok(())),
        (
            r#"{"protocols":["udp"],"destinations":[{"ip":"::/0","port":53},{"port":0}]}"#,
            Ok(()),
        ),
        (r#"{"protocols":["tls_passthrough"],"snis":["a.test"]}"#, Ok(())),
        // gRPC routes default strip_path to false.
        (r#"{"protocols":["grpc","grpcs"],"paths":["/"]}"#, Ok(())),
        (r#"{"protocols":["grpcs"],"snis":["g.test"]}"#, Ok(())),
        (
            r#"{"hosts":["a.test"],"https_redirect_status_code":301,"path_handling":"v1",
                "tags":["a","b c","ü"],"priority":-5,"path_mode":"segment",
                "request_buffering":true,"response_buffering":true,
                "id":"cbb297c0-a956-486d-ad1d-f9b42df9465a","created_at":1422386534,
                "name":"Конг","service":null,"snis":null}"#,
            Ok(()),
        ),
    ])
    .run();
}

#[test]
fn route_field_types() {
    RouteTest(vec![
        (r#"{"paths":["/"],"foo":1}"#, Err(&[("foo", "unknown field")])),
        (
            r#"{"paths":["/"],"regex_priority":"foobar"}"#,
            Err(&[("regex_priority", "expected an integer")]),
        ),
        (
            r#"{"paths":["/"],"regex_priority":1.5}"#,
            Err(&[("regex_priority", "expected an integer")]),
        ),
        (r#"{"paths":"/"}"#, Err(&[("paths", "expected an array")])),
        (r#"{"methods":"GET"}"#, Err(&[("methods", "expected a set")])),
        (r#"{"paths":[false]}"#, Err(&[("paths.1", "expected a string")])),
        (r#"{"hosts":["a",null]}"#, Err(&[("hosts.2", "required field missing")])),
        (
            r#"{"paths":["/"],"strip_path":"yes"}"#,
            Err(&[("strip_path", "expected a boolean")]),
        ),
        (
            r#"{"paths":["/"],"preserve_host":null}"#,
            Err(&[("preserve_host", "required field missing")]),
        ),
        (r#"{"headers":{"location":true}}"#, Err(&[("headers", "expected an array")])),
        (r#"{"headers":{"location":[true]}}"#, Err(&[("headers.1", "expected a string")])),
        (r#"{"headers":[false]}"#, Err(&[("headers", "expected a string")])),
        (r#"{"headers":"x"}"#, Err(&[("headers", "expected a map")])),
        (
            r#"{"protocols":["foo","http"],"methods":["GET"]}"#,
            Err(&[("protocols.1", ALL_PROTOCOLS)]),
        ),
        (
            r#"{"protocols":["ftp"],"foo":1}"#,
            Err(&[("protocols", "unknown type: ftp")]),
        ),
        (r#"{"protocols":"ftp"}"#, Err(&[("protocols", "unknown type: ftp")])),
        (r#"{"protocols":null}"#, Err(&[("protocols", "required field missing")])),
        (
            r#"{"protocols":"http","paths":["/"]}"#,
            Err(&[("protocols", "expected a set")]),
        ),
        (
            r#"{"paths":["/"],"path_handling":"v2"}"#,
            Err(&[("path_handling", "expected one of: v0, v1")]),
        ),
        (
            r#"{"paths":["/"],"path_mode":"regex"}"#,
            Err(&[("path_mode", "expected one of: prefix, segment, exact")]),
        ),
        (
            r#"{"paths":["/"],"https_redirect_status_code":70000}"#,
            Err(&[(
                "https_redirect_status_code",
                "expected one of: 426, 301, 302, 307, 308",
            )]),
        ),
        (
            r#"{"paths":["/"],"service":{"name":"x"}}"#,
            Err(&[("service.id", "missing primary key")]),
        ),
        (
            r#"{"paths":["/"],"service":"x"}"#,
            Err(&[("service", "expected a record")]),
        ),
        (
            r#"{"protocols":["tcp"],"sources":[{"ip":"127.","port":1}]}"#,
            Err(&[("sources.1.ip", "invalid ip or cidr range: '127.'")]),
        ),
        (
            r#"{"protocols":["tcp"],"sources":[{"ip":"127.0.0.1"},{"ip":"127.75.78.72","port":65536}]}"#,
            Err(&[("sources.2.port", "value should be between 0 and 65535")]),
        ),
        (
            r#"{"protocols":["tcp"],"destinations":[{"ip":"1.2.3.4","host":"x"}]}"#,
            Err(&[("destinations.1.host", "unknown field")]),
        ),
        (
            r#"{"protocols":["tcp"],"sources":["1.2.3.4"]}"#,
            Err(&[("sources.1", "expected a record")]),
        ),
        (
            r#"{"paths":["/"],"request_buffering":false}"#,
            Err(&[("request_buffering", "value must be true")]),
        ),
        (r#"{"paths":["/"],"id":5}"#, Err(&[("id", "expected a string")])),
    ])
    .run();
}

#[test]
fn route_schema_rules() {
    RouteTest(vec![
        // What each protocol family must set.
        ("{}", Err(&[("", HTTPS_NEEDS)])),
        (
            r#"{"protocols":["http"]}"#,
            Err(&[(
                "",
                "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'",
            )]),
        ),
        (
            r#"{"protocols":["grpc","grpcs"]}"#,
            Err(&[(
                "",
                "must set one of 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'grpcs'",
            )]),
        ),
        (
            r#"{"protocols":["grpc"]}"#,
            Err(&[("", "must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'")]),
        ),
        (
            r#"{"protocols":["udp"]}"#,
            Err(&[(
                "",
                "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'",
            )]),
        ),
        (
            r#"{"protocols":["tls_passthrough"],"sources":[{"ip":"127.0.0.1"}]}"#,
            Err(&[("", "must set snis when 'protocols' is 'tls_passthrough'")]),
        ),
        // Protocols.
        (
            r#"{"protocols":[],"paths":["/"]}"#,
            Err(&[("protocols", "length must be at least 1")]),
        ),
        (
            r#"{"protocols":["tls","tls_passthrough"],"snis":["foo.grpc.test"]}"#,
            Err(&[(
                "protocols",
                "these sets are mutually exclusive: ('tcp', 'tls', 'udp'), ('tls_passthrough')",
            )]),
        ),
        (
            r#"{"protocols":["https","tcp"],"paths":["/"]}"#,
            Err(&[(
                "protocols",
                "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp')",
            )]),
        ),
        // Kong's protocol conditions inherit the exclusive-groups rule: with
        // mixed groups, neither the SNI rule nor a "must set" rule applies.
        (
            r#"{"protocols":["http","tcp"],"snis":["a.test"]}"#,
            Err(&[(
                "protocols",
                "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp')",
            )]),
        ),
        // Fields a family may not set.
        (
            r#"{"protocols":["grpc"],"paths":["/"],"strip_path":true}"#,
            Err(&[("strip_path", "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'")]),
        ),
        (
            r#"{"protocols":["grpcs"],"paths":["/"],"methods":["GET"]}"#,
            Err(&[("methods", "cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'")]),
        ),
        (
            r#"{"protocols":["grpc"],"paths":["/"],"destinations":[{"port":1}]}"#,
            Err(&[(
                "destinations",
                "cannot set 'destinations' when 'protocols' is 'grpc' or 'grpcs'",
            )]),
        ),
        (
            r#"{"protocols":["http"],"paths":["/"],"sources":[]}"#,
            Err(&[("sources", "cannot set 'sources' when 'protocols' is 'http' or 'https'")]),
        ),
        (
            r#"{"protocols":["tcp"],"sources":[{"ip":"127.0.0.1"}],"paths":["/"]}"#,
            Err(&[(
                "paths",
                "cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
            )]),
        ),
        (
            r#"{"protocols":["tls"],"snis":["a.test"],"methods":["GET"],"hosts":["a"],"headers":{}}"#,
            Err(&[
                ("headers", "cannot set 'headers' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"),
                ("hosts", "cannot set 'hosts' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"),
                ("methods", "cannot set 'methods' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"),
            ]),
        ),
        (
            r#"{"protocols":["tcp"],"sources":[{"ip":null,"port":null}]}"#,
            Err(&[(
                "sources.1.@entity",
                "at least one of these fields must be non-empty: 'ip', 'port'",
            )]),
        ),
        // SNIs only with TLS-capable protocols.
        (
            r#"{"protocols":["tcp","udp"],"snis":["example.org"]}"#,
            Err(&[("", SNIS_ONLY), ("snis", "length must be 0")]),
        ),
        (
            r#"{"protocols":["https"],"snis":["127.0.0.1","example.org:80","*.example.org"]}"#,
            Err(&[
                ("snis.1", "must not be an IP"),
                ("snis.2", "must not have a port"),
                ("snis.3", "invalid value: *.example.org"),
            ]),
        ),
        // Field rules.
        (r#"{"methods":["get"]}"#, Err(&[("methods.1", "invalid value: get")])),
        (r#"{"methods":[""]}"#, Err(&[("methods.1", "length must be at least 1")])),
        (
            r#"{"hosts":["ok.test","*.example.*"]}"#,
            Err(&[("hosts.2", "invalid wildcard: must have at most one wildcard")]),
        ),
        (
            r#"{"hosts":["www.example*"]}"#,
            Err(&[("hosts.1", "invalid wildcard: must be placed at leftmost or rightmost label")]),
        ),
        (
            r#"{"hosts":["hello-.example.com"]}"#,
            Err(&[("hosts.1", "invalid hostname: hello-.example.com")]),
        ),
        (
            r#"{"hosts":["example.com:1000000"]}"#,
            Err(&[("hosts.1", "invalid port number")]),
        ),
        (
            r#"{"paths":["foo"]}"#,
            Err(&[("paths.1", "should start with: / (fixed path) or ~/ (regex path)")]),
        ),
        (
            r#"{"paths":["/foo//bar","/foo/bar//","//foo/bar"]}"#,
            Err(&[
                ("paths.1", "must not have empty segments"),
                ("paths.2", "must not have empty segments"),
                ("paths.3", "must not have empty segments"),
            ]),
        ),
        (r#"{"paths":[""]}"#, Err(&[("paths.1", "length must be at least 1")])),
        (
            r#"{"paths":["/some%2Gwords"]}"#,
            Err(&[("paths.1", "invalid url-encoded value: '%2G'")]),
        ),
        (
            r#"{"paths":["/%c3%A4"]}"#,
            Err(&[("paths.1", "non-normalized path, consider use '/ä' instead")]),
        ),
        (
            r#"{"paths":["~/users/(foo/profile"]}"#,
            Err(&[(
                "paths.1",
                "invalid regex: '/users/(foo/profile' (regex parse error: unclosed group)",
            )]),
        ),
        (
            r#"{"headers":{"HoSt":["example.com"]}}"#,
            Err(&[(
                "headers",
                "cannot contain 'host' header, which must be specified in the 'hosts' attribute",
            )]),
        ),
        (
            r#"{"headers":{"x y":["1"]}}"#,
            Err(&[(
                "headers",
                "bad header name 'x y', allowed characters are A-Z, a-z, 0-9, '_', and '-'",
            )]),
        ),
        (r#"{"headers":{"location":[""]}}"#, Err(&[("headers.1", "length must be at least 1")])),
        (
            r#"{"headers":{"x":["~*[a-"]}}"#,
            Err(&[(
                "headers.1",
                "invalid regex: '[a-' (regex parse error: unclosed character class)",
            )]),
        ),
        (
            r#"{"paths":["/"],"name":"examp:le"}"#,
            Err(&[(
                "name",
                "invalid value 'examp:le': the only accepted ascii characters are alphanumerics or ., -, _, and ~",
            )]),
        ),
        (r#"{"paths":["/"],"name":""}"#, Err(&[("name", "length must be at least 1")])),
        (
            r#"{"paths":["/"],"tags":["ok","a/b"]}"#,
            Err(&[(
                "tags.2",
                "invalid tag 'a/b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
            )]),
        ),
        (
            r#"{"paths":["/"],"https_redirect_status_code":404}"#,
            Err(&[(
                "https_redirect_status_code",
                "expected one of: 426, 301, 302, 307, 308",
            )]),
        ),
        (
            r#"{"paths":["/"],"service":{"id":"blergh"}}"#,
            Err(&[("service.id", "expected a valid UUID")]),
        ),
        (r#"{"paths":["/"],"id":"x"}"#, Err(&[("id", "expected a valid UUID")])),
        (
            r#"{"paths":["/"],"created_at":-1}"#,
            Err(&[("created_at", "expected a valid timestamp")]),
        ),
        // All broken rules at once, in the order of Kong's message.
        (
            r#"{"protocols":["http"],"methods":["get"],"hosts":["a..b"],"paths":["x"],"name":"a b","snis":["s.test"]}"#,
            Err(&[
                ("", SNIS_ONLY),
                ("hosts.1", "invalid hostname: a..b"),
                ("methods.1", "invalid value: get"),
                ("name", "invalid value 'a b': the only accepted ascii characters are alphanumerics or ., -, _, and ~"),
                ("paths.1", "should start with: / (fixed path) or ~/ (regex path)"),
                ("snis", "length must be 0"),
            ]),
        ),
    ])
    .run();
}

#[test]
fn route_decoding_fills_kong_defaults() {
    let route = decode_route(br#"{"paths":["/foo"]}"#).unwrap();
    let want = Route {
        paths: Some(vec!["/foo".into()]),
        ..Route::default()
    };
    assert_eq!(route, want);
    assert_eq!(route.protocols, [Protocol::Http, Protocol::Https]);
    assert!(route.strip_path);
    assert_eq!(route.https_redirect_status_code, 426);

    let grpc = decode_route(br#"{"protocols":["grpc"],"paths":["/"]}"#).unwrap();
    assert!(!grpc.strip_path);
    // Sets lose repeated values; arrays keep them.
    let dup = decode_route(
        br#"{"protocols":["https","https"],"methods":["GET","GET"],"hosts":["a","a"],"tags":["t","t"]}"#,
    )
    .unwrap();
    assert_eq!(dup.protocols, [Protocol::Https]);
    assert_eq!(dup.methods, Some(vec!["GET".into()]));
    assert_eq!(dup.hosts, Some(vec!["a".into(), "a".into()]));
    assert_eq!(dup.tags, Some(vec!["t".into()]));
}

#[test]
fn valid_services() {
    ServiceTest(vec![
        (r#"{"host":"example.com"}"#, Ok(())),
        (
            r#"{"name":"svc","protocol":"https","host":"10.0.0.1","port":8443,"path":"/api",
                "retries":0,"connect_timeout":1,"write_timeout":2147483646,"read_timeout":5,
                "tags":["x"],"enabled":true,"tls_verify":null,"ca_certificates":null,
                "client_certificate":null,"tls_verify_depth":null}"#,
            Ok(()),
        ),
        (r#"{"protocol":"tcp","host":"x.y","port":80}"#, Ok(())),
        (
            r#"{"host":"example.test.","path":"/hello/path$with$!&'()*+,;=stuff"}"#,
            Ok(()),
        ),
        (r#"{"url":"grpcs://g.test:9000"}"#, Ok(())),
    ])
    .run();
}

#[test]
fn service_rules() {
    ServiceTest(vec![
        ("{}", Err(&[("host", "required field missing")])),
        (r#"{"host":""}"#, Err(&[("host", "length must be at least 1")])),
        (r#"{"host":false}"#, Err(&[("host", "expected a string")])),
        (r#"{"host":"example.com:80"}"#, Err(&[("host", "must not have a port")])),
        (r#"{"host":"mock;bin"}"#, Err(&[("host", "invalid value: mock;bin")])),
        (r#"{"host":"h","protocol":"ftp"}"#, Err(&[("protocol", ALL_PROTOCOLS)])),
        (r#"{"host":"h","protocol":null}"#, Err(&[("protocol", "required field missing")])),
        (
            r#"{"host":"h","port":65536}"#,
            Err(&[("port", "value should be between 0 and 65535")]),
        ),
        (r#"{"host":"h","port":"80"}"#, Err(&[("port", "expected an integer")])),
        (
            r#"{"host":"h","retries":32768}"#,
            Err(&[("retries", "value should be between 0 and 32767")]),
        ),
        (
            r#"{"host":"h","retries":-1}"#,
            Err(&[("retries", "value should be between 0 and 32767")]),
        ),
        (
            r#"{"host":"h","connect_timeout":0}"#,
            Err(&[("connect_timeout", "value should be between 1 and 2147483646")]),
        ),
        (
            r#"{"host":"h","read_timeout":"x"}"#,
            Err(&[("read_timeout", "expected an integer")]),
        ),
        (r#"{"host":"h","path":"foo"}"#, Err(&[("path", "should start with: /")])),
        (r#"{"host":"h","path":"/a//b"}"#, Err(&[("path", "must not have empty segments")])),
        (
            r#"{"host":"h","path":"/users/(this|foo/profile)"}"#,
            Err(&[(
                "path",
                "invalid path: '/users/(this|foo/profile)' (characters outside of the reserved list of RFC 3986 found)",
            )]),
        ),
        (
            r#"{"host":"h","path":"/some%20words%a"}"#,
            Err(&[("path", "invalid url-encoded value: '%a'")]),
        ),
        (
            r#"{"host":"h","protocol":"grpc","path":"/"}"#,
            Err(&[
                ("", "failed conditional validation given value of field 'protocol'"),
                ("path", "value must be null"),
            ]),
        ),
        (r#"{"host":"h","enabled":false}"#, Err(&[("enabled", "value must be true")])),
        (r#"{"host":"h","tls_verify":true}"#, Err(&[("tls_verify", "value must be null")])),
        (r#"{"host":"h","url":5}"#, Err(&[("url", "expected a string")])),
        (r#"{"url":""}"#, Err(&[("url", "length must be at least 1")])),
        (r#"{"host":"h","foo":1}"#, Err(&[("foo", "unknown field")])),
        (r#"{"host":"h","name":""}"#, Err(&[("name", "length must be at least 1")])),
        (
            r#"{"host":"h","tags":["a,b"]}"#,
            Err(&[(
                "tags.1",
                "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
            )]),
        ),
        (r#"{"host":"h","id":"nope"}"#, Err(&[("id", "expected a valid UUID")])),
        // The URL's parts are checked as the fields they set.
        (
            r#"{"url":"http://example.test:99999"}"#,
            Err(&[("port", "value should be between 0 and 65535")]),
        ),
        (r#"{"url":"/just/a/path"}"#, Err(&[("host", "required field missing")])),
        (r#"{"url":"http://h:/x"}"#, Err(&[("port", "expected an integer")])),
    ])
    .run();
}

#[test]
fn service_url_shorthand() {
    // (body, protocol, host, port, path)
    let cases: &[(&str, &str, &str, u16, Option<&str>)] = &[
        (
            r#"{"url":"https://example.test:8443/api"}"#,
            "https",
            "example.test",
            8443,
            Some("/api"),
        ),
        (
            r#"{"url":"http://example.test"}"#,
            "http",
            "example.test",
            80,
            None,
        ),
        (
            r#"{"url":"https://example.test"}"#,
            "https",
            "example.test",
            443,
            None,
        ),
        (
            r#"{"url":"//example.test:443/x"}"#,
            "https",
            "example.test",
            443,
            Some("/x"),
        ),
        (
            r#"{"url":"//example.test:80"}"#,
            "http",
            "example.test",
            80,
            None,
        ),
        (
            r#"{"url":"tcp://10.0.0.1:9000"}"#,
            "tcp",
            "10.0.0.1",
            9000,
            None,
        ),
        (
            r#"{"url":"http://[::1]:8080/"}"#,
            "http",
            "::1",
            8080,
            Some("/"),
        ),
        (
            r#"{"url":"http://u:p@example.test/a;p?b=1#c"}"#,
            "http",
            "example.test",
            80,
            Some("/a"),
        ),
        // The URL wins over the fields it sets.
        (
            r#"{"url":"http://example.test/a","host":"other.test","port":1,"path":"/x","protocol":"https"}"#,
            "http",
            "example.test",
            80,
            Some("/a"),
        ),
    ];
    for &(body, protocol, host, port, path) in cases {
        let s = decode_service(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(
            (
                s.protocol.as_str(),
                s.host.as_str(),
                s.port,
                s.path.as_deref()
            ),
            (protocol, host, port, path),
            "{body}"
        );
    }
}

#[test]
fn patch_semantics() {
    let existing = Route {
        id: "cbb297c0-a956-486d-ad1d-f9b42df9465a".into(),
        name: Some("r".into()),
        paths: Some(vec!["/a".into()]),
        hosts: Some(vec!["a.test".into()]),
        regex_priority: 7,
        created_at: 100,
        updated_at: 200,
        ..Route::default()
    };
    // (body, expected route)
    let ok: Vec<(&str, Route)> = vec![
        (
            r#"{"hosts":["b.test"]}"#,
            Route {
                hosts: Some(vec!["b.test".into()]),
                ..existing.clone()
            },
        ),
        (
            r#"{"name":null,"regex_priority":null}"#,
            Route {
                name: None,
                regex_priority: 0,
                ..existing.clone()
            },
        ),
        (
            r#"{"paths":null}"#,
            Route {
                paths: None,
                ..existing.clone()
            },
        ),
        // The path names the route; the registry keeps the times.
        (
            r#"{"id":"64a8670b-900f-44e7-a900-6ec7ef5aa4d3","created_at":5,"updated_at":6}"#,
            existing.clone(),
        ),
        // No gRPC default on PATCH: strip_path stays as stored.
        (
            r#"{"protocols":["grpc"],"strip_path":false}"#,
            Route {
                protocols: vec![Protocol::Grpc],
                strip_path: false,
                ..existing.clone()
            },
        ),
        ("{}", existing.clone()),
    ];
    for (body, want) in ok {
        assert_eq!(patch_route(&existing, body.as_bytes()), Ok(want), "{body}");
    }
    let bad: Vec<(&str, Broken)> = vec![
        (
            r#"{"strip_path":null}"#,
            &[("strip_path", "required field missing")],
        ),
        (
            r#"{"protocols":["grpc"]}"#,
            &[(
                "strip_path",
                "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'",
            )],
        ),
        (r#"{"paths":null,"hosts":[]}"#, &[("", HTTPS_NEEDS)]),
        (r#"{"hosts":5}"#, &[("hosts", "expected an array")]),
    ];
    for (body, want) in bad {
        let err = patch_route(&existing, body.as_bytes()).unwrap_err();
        check_violation(body, &err, want);
    }
    let err = patch_route(&existing, b"[1]").unwrap_err();
    assert_eq!(
        (err.kind(), err.message()),
        (ErrorKind::ProcessRequest, "Cannot parse JSON body")
    );

    let service = decode_service(br#"{"url":"http://a.test:8080/base","name":"s"}"#).unwrap();
    let moved = patch_service(&service, br#"{"url":"https://b.test"}"#).unwrap();
    assert_eq!(
        moved,
        Service {
            protocol: "https".into(),
            host: "b.test".into(),
            port: 443,
            path: None,
            ..service.clone()
        }
    );
    let retried = patch_service(&service, br#"{"retries":null,"read_timeout":7}"#).unwrap();
    assert_eq!(
        (retried.retries, retried.read_timeout, retried.port),
        (5, 7, 8080)
    );
    let err = patch_service(&service, br#"{"port":null}"#).unwrap_err();
    check_violation("port null", &err, &[("port", "required field missing")]);
}

#[test]
fn kong_error_bodies() {
    // (body, status, Kong's error body)
    let cases: &[(&str, u16, Value)] = &[
        (
            "{}",
            400,
            json!({"code": 2, "name": "schema violation",
                   "message": format!("schema violation ({HTTPS_NEEDS})"),
                   "fields": {"@entity": [HTTPS_NEEDS]}}),
        ),
        (
            r#"{"methods":["GET"],"protocols":["foo","http"]}"#,
            400,
            json!({"code": 2, "name": "schema violation",
                   "message": format!("schema violation (protocols.1: {ALL_PROTOCOLS})"),
                   "fields": {"protocols": [ALL_PROTOCOLS]}}),
        ),
        (
            r#"{"paths":["/"],"regex_priority":"foobar"}"#,
            400,
            json!({"code": 2, "name": "schema violation",
                   "message": "schema violation (regex_priority: expected an integer)",
                   "fields": {"regex_priority": "expected an integer"}}),
        ),
        (
            r#"{"protocols":["tcp","udp"],"snis":["example.org"]}"#,
            400,
            json!({"code": 2, "name": "schema violation",
                   "message": format!("2 schema violations ({SNIS_ONLY}; snis: length must be 0)"),
                   "fields": {"@entity": [SNIS_ONLY], "snis": "length must be 0"}}),
        ),
        (
            r#"{"hosts":["a.test","b..test"],"protocols":["tcp"],"sources":[{"ip":"x"}]}"#,
            400,
            json!({"code": 2, "name": "schema violation",
                   "message": "schema violation (sources.1.ip: invalid ip or cidr range: 'x')",
                   "fields": {"sources": [{"ip": "invalid ip or cidr range: 'x'"}]}}),
        ),
        (
            r#"{"hosts":["a.test","b..test"]}"#,
            400,
            json!({"code": 2, "name": "schema violation",
                   "message": "schema violation (hosts.2: invalid hostname: b..test)",
                   "fields": {"hosts": [null, "invalid hostname: b..test"]}}),
        ),
        (
            r#"{"hello": "world""#,
            400,
            json!({"message": "Cannot parse JSON body"}),
        ),
    ];
    for (body, status, want) in cases {
        let err = decode_route(body.as_bytes()).unwrap_err();
        let wire = KongError::from(&err);
        assert_eq!(wire.status, *status, "{body}");
        let got: Value = serde_json::from_str(&wire.body()).unwrap();
        assert_eq!(&got, want, "{body}");
    }
    // The exact text of one body, keys in Kong's order.
    let err = decode_route(br#"{"paths":["/"],"regex_priority":"foobar"}"#).unwrap_err();
    assert_eq!(
        KongError::from(&err).body(),
        r#"{"code":2,"name":"schema violation","message":"schema violation (regex_priority: expected an integer)","fields":{"regex_priority":"expected an integer"}}"#
    );
}

#[test]
fn kong_error_bodies_from_the_registry() {
    let registry = Registry::new(Config::new());
    let route = decode_route(br#"{"name":"taken","paths":["/"]}"#).unwrap();
    registry.create_route(route.clone()).unwrap();
    let err = registry.create_route(route).unwrap_err();
    let wire = KongError::from(&err);
    assert_eq!(wire.status, 409);
    let got: Value = serde_json::from_str(&wire.body()).unwrap();
    assert_eq!(
        got,
        json!({"code": 5, "name": "unique constraint violation",
               "message": "UNIQUE violation detected on '{name=\"taken\"}'",
               "fields": {"name": "taken"}})
    );

    let orphan =
        decode_route(format!(r#"{{"paths":["/"],"service":{{"id":"{SVC}"}}}}"#).as_bytes())
            .unwrap();
    let err = registry.create_route(orphan).unwrap_err();
    let wire = KongError::from(&err);
    assert_eq!(
        (wire.status, wire.code, wire.name, wire.message.as_str()),
        (
            400,
            Some(4),
            Some("foreign key violation"),
            "the foreign key '{id=\"64a8670b-900f-44e7-a900-6ec7ef5aa4d3\"}' does not reference an existing 'services' entity."
        )
    );

    let err = registry
        .update_route("missing", Route::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(KongError::from(&err).body(), r#"{"message":"Not found"}"#);
}

#[test]
fn encoding_as_kong() {
    let route = decode_route(
        br#"{"id":"cbb297c0-a956-486d-ad1d-f9b42df9465a","name":"s","protocols":["tcp"],
             "sources":[{"ip":"10.1.0.0/16","port":1234},{"ip":"10.2.2.2"},{"port":9123}],
             "tags":["a"],"service":{"id":"64a8670b-900f-44e7-a900-6ec7ef5aa4d3"}}"#,
    )
    .unwrap();
    let got: Value = serde_json::from_str(&encode_route(&route)).unwrap();
    assert_eq!(
        got,
        json!({
            "id": "cbb297c0-a956-486d-ad1d-f9b42df9465a", "created_at": 0, "updated_at": 0,
            "name": "s", "protocols": ["tcp"], "methods": null, "hosts": null, "paths": null,
            "headers": null, "https_redirect_status_code": 426, "regex_priority": 0,
            "strip_path": true, "path_handling": "v0", "preserve_host": false,
            "request_buffering": true, "response_buffering": true, "snis": null,
            "sources": [{"ip": "10.1.0.0/16", "port": 1234}, {"ip": "10.2.2.2", "port": null},
                        {"ip": null, "port": 9123}],
            "destinations": null, "tags": ["a"],
            "service": {"id": "64a8670b-900f-44e7-a900-6ec7ef5aa4d3"},
            "priority": 0, "path_mode": "prefix",
        })
    );
    // What routeyard writes, it reads back unchanged.
    assert_eq!(
        decode_route(encode_route(&route).as_bytes()),
        Ok(route.clone())
    );

    let service =
        decode_service(br#"{"url":"https://example.test:8443/api","name":"svc"}"#).unwrap();
    let got: Value = serde_json::from_str(&encode_service(&service)).unwrap();
    assert_eq!(
        got,
        json!({
            "id": "", "created_at": 0, "updated_at": 0, "name": "svc", "retries": 5,
            "protocol": "https", "host": "example.test", "port": 8443, "path": "/api",
            "connect_timeout": 60000, "write_timeout": 60000, "read_timeout": 60000,
            "tags": null, "client_certificate": null, "tls_verify": null,
            "tls_verify_depth": null, "ca_certificates": null, "enabled": true,
        })
    );
    assert_eq!(
        decode_service(encode_service(&service).as_bytes()),
        Ok(service.clone())
    );

    let page: Value =
        serde_json::from_str(&encode_page(&[Wire(&route)], Some("abc=="), "/routes")).unwrap();
    assert_eq!(page["next"], "/routes?offset=abc%3D%3D");
    assert_eq!(page["offset"], "abc==");
    assert_eq!(page["data"][0]["sources"][1]["port"], Value::Null);
    let last: Value =
        serde_json::from_str(&encode_page(&[Wire(&service)], None, "/services")).unwrap();
    assert_eq!(last["next"], Value::Null);
    assert!(last.get("offset").is_none());
    assert_eq!(last["data"][0]["host"], "example.test");
    let nested = encode_page::<Wire<Route>>(&[], Some("o"), "/services/s/routes?tags=a%2Cb&size=2");
    let nested: Value = serde_json::from_str(&nested).unwrap();
    assert_eq!(
        nested["next"],
        "/services/s/routes?offset=o&tags=a%2Cb&size=2"
    );
    assert_eq!(nested["data"], json!([]));
}

#[test]
fn tag_filters() {
    let tags = |list: &[&str]| Some(list.iter().map(|t| t.to_string()).collect::<Vec<_>>());
    // (filter, object tags, passes)
    let cases: &[(&str, Option<Vec<String>>, bool)] = &[
        ("a", tags(&["a", "b"]), true),
        ("a", tags(&["b"]), false),
        ("a,b", tags(&["b", "a", "c"]), true),
        ("a,b", tags(&["a"]), false),
        ("a/b", tags(&["b"]), true),
        ("a/b", tags(&["c"]), false),
        ("a/b", None, false),
        ("a", Some(vec![]), false),
        ("with space", tags(&["with space"]), true),
    ];
    for (filter, object, passes) in cases {
        let f = TagFilter::parse(filter).unwrap();
        assert_eq!(f.matches(object), *passes, "{filter} {object:?}");
    }
    // (filter, Kong's reason)
    for (filter, why) in [
        ("", "cannot be null"),
        ("a,b/c", "invalid filter syntax"),
        ("a/b,c", "invalid filter syntax"),
        ("a,,b", "invalid filter syntax"),
        ("a\nb", "invalid filter syntax"),
        ("1,2,3,4,5,6", "cannot query more than 5 tags"),
    ] {
        let err = TagFilter::parse(filter).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{filter:?}");
        let message = format!("invalid option (tags: {why})");
        assert_eq!(err.message(), message, "{filter:?}");
        let wire = KongError::from(&err);
        assert_eq!(
            (wire.status, wire.code, wire.name, wire.message),
            (400, Some(11), Some("invalid options"), message),
            "{filter:?}"
        );
    }
    assert!(TagFilter::parse("1,2,3,4,5").is_ok());
}
