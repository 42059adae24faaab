//! Command-line options.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// What `--help` prints.
pub(crate) const USAGE: &str = "\
Usage: routeyard-facade [OPTIONS]

Serves a routeyard registry over HTTP in four dialects:
  Cloud Foundry routing-api v1   /routing/v1/routes, /routing/v1/tcp_routes[/create|/delete],
                                 /routing/v1/router_groups[/GUID], /routing/v1/events,
                                 /routing/v1/tcp_routes/events (server-sent events)
  Kong Admin API                 /services[/ID], /routes[/ID], /services/ID/routes[/ID],
                                 /routes/ID/service; backends: /services/ID/upstream,
                                 /services/ID/stats
  CDAP route configs             /v3/namespaces/NS/apps/APP/services/SVC/routeconfig
                                 (the split of the service named NS.APP.SVC)
  gobetween API                  GET /, /ping, /dump?format=toml|json, /servers,
                                 /servers/NAME[/stats]; POST and DELETE /servers/NAME
  debugging                      POST /debug/match, GET /debug/stats

Options:
  --listen ADDR                IP:PORT to listen on [default: 127.0.0.1:8080]; port 0 picks a free port
  --max-ttl SECONDS            longest lease a registration may ask for [default: 120]
  --seed-router-group N:T:P    seed router group NAME:TYPE:PORTS (repeatable; replaces the
                               default default-tcp:tcp:1024-65535); PORTS may be empty for http
  --jwt-hs256-secret SECRET    accept bearer tokens signed with this HS256 secret
  --jwt-rs256-public-key FILE  accept bearer tokens signed by the RSA key in this PEM file
  --jwt-issuer ISSUER          also require this `iss` claim
  --basic-auth USER:PASS       require these Basic credentials on /debug/* and gobetween's
                               API (not /ping)
  --tls-cert FILE              serve HTTPS with this PEM certificate chain (needs --tls-key)
  --tls-key FILE               the PEM private key of --tls-cert
  --heartbeat SECONDS          interval of comment lines on idle event streams [default: 15]
  --event-buffer EVENTS        events a stream may fall behind before it must resync [default: 1024]
  --event-history EVENTS       events kept for resuming streams by Last-Event-ID [default: 65536]
  --max-body-bytes BYTES       largest request body [default: 1048576]
  --insecure                   allow a non-loopback --listen address without JWT authentication
  -h, --help                   print this help
";

/// A router group to create at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SeedGroup {
    /// Its name.
    pub(crate) name: String,
    /// Its type (`tcp`, `http`, ...).
    pub(crate) kind: String,
    /// Its reservable ports, CF syntax.
    pub(crate) ports: String,
}

/// Options of a run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Options {
    /// Where to listen.
    pub(crate) listen: SocketAddr,
    /// The registry's maximum lease, in seconds.
    pub(crate) max_ttl: u64,
    /// Router groups created at start.
    pub(crate) seed_groups: Vec<SeedGroup>,
    /// HS256 secret for bearer tokens.
    pub(crate) jwt_hs256_secret: Option<String>,
    /// PEM file of the RS256 public key for bearer tokens.
    pub(crate) jwt_rs256_public_key: Option<PathBuf>,
    /// Required `iss` claim.
    pub(crate) jwt_issuer: Option<String>,
    /// Basic credentials for the debug endpoints and gobetween's API.
    pub(crate) basic_auth: Option<(String, String)>,
    /// Certificate chain and key for HTTPS.
    pub(crate) tls: Option<(PathBuf, PathBuf)>,
    /// Heartbeat interval of event streams.
    pub(crate) heartbeat: Duration,
    /// Per-stream event buffer.
    pub(crate) event_buffer: usize,
    /// Events kept for resuming.
    pub(crate) event_history: usize,
    /// Largest request body in bytes.
    pub(crate) max_body_bytes: usize,
}

impl Options {
    /// Whether bearer tokens are checked.
    pub(crate) fn has_jwt(&self) -> bool {
        self.jwt_hs256_secret.is_some() || self.jwt_rs256_public_key.is_some()
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_ttl: 120,
            seed_groups: vec![SeedGroup {
                name: "default-tcp".into(),
                kind: "tcp".into(),
                ports: "1024-65535".into(),
            }],
            jwt_hs256_secret: None,
            jwt_rs256_public_key: None,
            jwt_issuer: None,
            basic_auth: None,
            tls: None,
            heartbeat: Duration::from_secs(15),
            event_buffer: 1024,
            event_history: 1 << 16,
            max_body_bytes: 1 << 20,
        }
    }
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Command {
    /// Serve with these options.
    Run(Box<Options>),
    /// Print the usage and exit.
    Help,
}

fn number<T: std::str::FromStr>(flag: &str, text: &str, what: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: expected {what}, got {text:?}"))
}

fn seed_group(text: &str) -> Result<SeedGroup, String> {
    let mut parts = text.splitn(3, ':');
    let name = parts.next().unwrap_or_default();
    let kind = parts.next().unwrap_or_default();
    let ports = parts.next().unwrap_or_default();
    if name.is_empty() || kind.is_empty() {
        return Err(format!(
            "--seed-router-group: expected NAME:TYPE:PORTS, got {text:?}"
        ));
    }
    Ok(SeedGroup {
        name: name.into(),
        kind: kind.into(),
        ports: ports.into(),
    })
}

/// Parses the arguments after the program name. Flags take their value as the next
/// argument or after `=`.
///
/// # Errors
///
/// A message for an unknown flag, a missing or malformed value, an incomplete TLS
/// pair, or a non-loopback address without JWT authentication or `--insecure`.
pub(crate) fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
{
    let mut options = Options::default();
    let mut seeds = Vec::new();
    let mut insecure = false;
    let mut tls_cert = None;
    let mut tls_key = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = |what: &str| {
            inline_value
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value ({what})"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--listen" => {
                let text = value("IP:PORT")?;
                options.listen = number(&flag, &text, "IP:PORT")?;
            }
            "--max-ttl" => {
                let text = value("SECONDS")?;
                options.max_ttl = number(&flag, &text, "whole seconds")?;
            }
            "--seed-router-group" => seeds.push(seed_group(&value("NAME:TYPE:PORTS")?)?),
            "--jwt-hs256-secret" => {
                let secret = value("SECRET")?;
                if secret.is_empty() {
                    return Err("--jwt-hs256-secret: the secret is empty".into());
                }
                options.jwt_hs256_secret = Some(secret);
            }
            "--jwt-rs256-public-key" => {
                options.jwt_rs256_public_key = Some(value("FILE")?.into());
            }
            "--jwt-issuer" => options.jwt_issuer = Some(value("ISSUER")?),
            "--basic-auth" => {
                let text = value("USER:PASS")?;
                match text.split_once(':') {
                    Some((user, pass)) if !user.is_empty() => {
                        options.basic_auth = Some((user.into(), pass.into()));
                    }
                    _ => return Err(format!("--basic-auth: expected USER:PASS, got {text:?}")),
                }
            }
            "--tls-cert" => tls_cert = Some(PathBuf::from(value("FILE")?)),
            "--tls-key" => tls_key = Some(PathBuf::from(value("FILE")?)),
            "--heartbeat" => {
                let text = value("SECONDS")?;
                options.heartbeat = number::<f64>(&flag, &text, "seconds")
                    .ok()
                    .filter(|s| *s > 0.0)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("{flag}: expected positive seconds, got {text:?}"))?;
            }
            "--event-buffer" => {
                let text = value("EVENTS")?;
                options.event_buffer = number::<usize>(&flag, &text, "a count")?.max(1);
            }
            "--event-history" => {
                let text = value("EVENTS")?;
                options.event_history = number(&flag, &text, "a count")?;
            }
            "--max-body-bytes" => {
                let text = value("BYTES")?;
                options.max_body_bytes = number(&flag, &text, "a byte count")?;
            }
            "--insecure" if inline_value.is_none() => insecure = true,
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    if !seeds.is_empty() {
        options.seed_groups = seeds;
    }
    options.tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    if options.jwt_issuer.is_some() && !options.has_jwt() {
        return Err("--jwt-issuer needs --jwt-hs256-secret or --jwt-rs256-public-key".into());
    }
    if !options.listen.ip().is_loopback() && !options.has_jwt() && !insecure {
        return Err(format!(
            "refusing to listen on {}: it is not a loopback address and no JWT authentication \
             is configured (--jwt-hs256-secret or --jwt-rs256-public-key); pass --insecure to \
             listen there anyway",
            options.listen
        ));
    }
    Ok(Command::Run(Box::new(options)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|arg| arg.to_string()))
    }

    fn options(args: &[&str]) -> Options {
        match parse_args(args) {
            Ok(Command::Run(options)) => *options,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let o = options(&[]);
        assert_eq!(o, Options::default());
        assert_eq!(o.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(o.max_ttl, 120);
        assert_eq!(o.seed_groups.len(), 1);
        assert_eq!(o.seed_groups[0].name, "default-tcp");
        assert!(!o.has_jwt());
    }

    #[test]
    fn flags_take_their_value_separately_or_after_an_equals_sign() {
        let o = options(&["--listen", "127.0.0.1:0", "--max-ttl", "30"]);
        assert_eq!((o.listen, o.max_ttl), ("127.0.0.1:0".parse().unwrap(), 30));
        let o = options(&["--listen=[::1]:9000", "--max-ttl=5", "--heartbeat=0.25"]);
        assert_eq!((o.listen, o.max_ttl), ("[::1]:9000".parse().unwrap(), 5));
        assert_eq!(o.heartbeat, Duration::from_millis(250));
    }

    #[test]
    fn seeds_replace_the_default_group() {
        let o = options(&[
            "--seed-router-group",
            "edge:tcp:5000-5010,6000",
            "--seed-router-group=web:http:",
        ]);
        assert_eq!(
            o.seed_groups,
            [
                SeedGroup {
                    name: "edge".into(),
                    kind: "tcp".into(),
                    ports: "5000-5010,6000".into()
                },
                SeedGroup {
                    name: "web".into(),
                    kind: "http".into(),
                    ports: String::new()
                },
            ]
        );
    }

    #[test]
    fn auth_and_tls_flags() {
        let o = options(&[
            "--jwt-hs256-secret",
            "s3cret",
            "--jwt-issuer",
            "uaa",
            "--basic-auth",
            "admin:pa:ss",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ]);
        assert!(o.has_jwt());
        assert_eq!(o.jwt_issuer.as_deref(), Some("uaa"));
        assert_eq!(o.basic_auth, Some(("admin".into(), "pa:ss".into())));
        assert_eq!(o.tls, Some(("c.pem".into(), "k.pem".into())));
    }

    #[test]
    fn help() {
        assert_eq!(parse_args(&["--help"]), Ok(Command::Help));
        assert_eq!(
            parse_args(&["--listen", "127.0.0.1:1", "-h"]),
            Ok(Command::Help)
        );
    }

    #[test]
    fn non_loopback_addresses_need_authentication_or_insecure() {
        let err = parse_args(&["--listen", "0.0.0.0:8080"]).unwrap_err();
        assert!(err.contains("--insecure"), "{err}");
        assert_eq!(
            options(&["--listen", "0.0.0.0:8080", "--insecure"]).listen,
            "0.0.0.0:8080".parse().unwrap()
        );
        let o = options(&["--listen", "0.0.0.0:8080", "--jwt-hs256-secret", "k"]);
        assert!(o.has_jwt());
        // Basic credentials guard only the debug and gobetween endpoints: not enough.
        assert!(parse_args(&["--listen", "0.0.0.0:1", "--basic-auth", "a:b"]).is_err());
    }

    #[test]
    fn bad_input_is_reported() {
        for (args, expected) in [
            (&["--listen"][..], "--listen needs a value"),
            (&["--listen", "localhost:80"][..], "expected IP:PORT"),
            (&["--max-ttl", "-1"][..], "expected whole seconds"),
            (&["--max-ttl=two"][..], "expected whole seconds"),
            (&["--insecure=yes"][..], "unknown argument \"--insecure\""),
            (&["serve"][..], "unknown argument \"serve\""),
            (
                &["--seed-router-group", "x"][..],
                "expected NAME:TYPE:PORTS",
            ),
            (
                &["--seed-router-group", ":tcp:1"][..],
                "expected NAME:TYPE:PORTS",
            ),
            (&["--basic-auth", "nocolon"][..], "expected USER:PASS"),
            (&["--basic-auth", ":pass"][..], "expected USER:PASS"),
            (&["--tls-cert", "c.pem"][..], "go together"),
            (&["--heartbeat", "0"][..], "expected positive seconds"),
            (&["--heartbeat", "soon"][..], "expected positive seconds"),
            (&["--jwt-issuer", "uaa"][..], "--jwt-issuer needs"),
            (&["--jwt-hs256-secret="][..], "the secret is empty"),
            (&["--event-buffer", "x"][..], "expected a count"),
            (&["--max-body-bytes", "-5"][..], "expected a byte count"),
        ] {
            let err = parse_args(args).unwrap_err();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }
}
