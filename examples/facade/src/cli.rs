//! Command-line options.

use std::net::SocketAddr;

/// What `--help` prints.
pub(crate) const USAGE: &str = "\
Usage: routeyard-facade [OPTIONS]

Serves Cloud Foundry routing-api's router group endpoints over HTTP:
  GET  /routing/v1/router_groups[?name=NAME]
  POST /routing/v1/router_groups

Options:
  --listen ADDR        IP:PORT to listen on [default: 127.0.0.1:8080]; port 0 picks a free port
  --max-ttl SECONDS    longest lease a registration may ask for [default: 120]
  --insecure           allow a non-loopback --listen address (there is no authentication yet)
  -h, --help           print this help
";

/// Options of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// Where to listen.
    pub(crate) listen: SocketAddr,
    /// The registry's maximum lease, in seconds.
    pub(crate) max_ttl: u64,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Serve with these options.
    Run(Options),
    /// Print the usage and exit.
    Help,
}

/// Parses the arguments after the program name. Flags take their value as the next
/// argument or after `=`.
///
/// # Errors
///
/// A message for an unknown flag, a missing or malformed value, or a non-loopback
/// address without `--insecure`.
pub(crate) fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = String>,
{
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut max_ttl = 120;
    let mut insecure = false;
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
                listen = text
                    .parse()
                    .map_err(|_| format!("--listen: expected IP:PORT, got {text:?}"))?;
            }
            "--max-ttl" => {
                let text = value("SECONDS")?;
                max_ttl = text
                    .parse()
                    .map_err(|_| format!("--max-ttl: expected whole seconds, got {text:?}"))?;
            }
            "--insecure" if inline_value.is_none() => insecure = true,
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    if !listen.ip().is_loopback() && !insecure {
        return Err(format!(
            "refusing to listen on {listen}: it is not a loopback address and the facade has \
             no authentication yet; pass --insecure to listen there anyway"
        ));
    }
    Ok(Command::Run(Options { listen, max_ttl }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|arg| arg.to_string()))
    }

    fn run(listen: &str, max_ttl: u64) -> Result<Command, String> {
        Ok(Command::Run(Options {
            listen: listen.parse().unwrap(),
            max_ttl,
        }))
    }

    #[test]
    fn defaults() {
        assert_eq!(parse_args(&[]), run("127.0.0.1:8080", 120));
    }

    #[test]
    fn flags_take_their_value_separately_or_after_an_equals_sign() {
        assert_eq!(
            parse_args(&["--listen", "127.0.0.1:0", "--max-ttl", "30"]),
            run("127.0.0.1:0", 30)
        );
        assert_eq!(
            parse_args(&["--listen=[::1]:9000", "--max-ttl=5"]),
            run("[::1]:9000", 5)
        );
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
    fn non_loopback_addresses_need_insecure() {
        let err = parse_args(&["--listen", "0.0.0.0:8080"]).unwrap_err();
        assert!(err.contains("--insecure"), "{err}");
        assert_eq!(
            parse_args(&["--listen", "0.0.0.0:8080", "--insecure"]),
            run("0.0.0.0:8080", 120)
        );
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
        ] {
            let err = parse_args(args).unwrap_err();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }
}
