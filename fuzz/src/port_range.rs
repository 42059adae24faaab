//! The `reservable_ports` parser of router groups.

use routeyard::{Config, ErrorKind, Registry, RouterGroup};

use crate::cf_ports;

/// System component ports the second registry refuses in reservable ranges.
const RESERVED: &[u16] = &[2822, 2825];

/// A straightforward reading of CF's rules, written independently of the
/// parser: items split on `,`, each `port` or `start-end`, ports ASCII digits
/// in 1024..=65535, a range ascending. `None` when any item breaks a rule.
fn model_parse(spec: &str) -> Option<Vec<(u16, u16)>> {
    fn number(s: &str) -> Option<u16> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = s.trim_start_matches('0');
        if digits.len() > 5 {
            return None;
        }
        let n: u32 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        u16::try_from(n).ok()
    }
    let mut out = Vec::new();
    for item in spec.split(',') {
        let parts: Vec<&str> = item.split('-').collect();
        let (start, end) = match parts.as_slice() {
            [one] => {
                let p = number(one)?;
                (p, p)
            }
            [a, b] => (number(a)?, number(b)?),
            _ => return None,
        };
        if start > end || start < 1024 {
            return None;
        }
        out.push((start, end));
    }
    Some(out)
}

fn overlapping(ranges: &[(u16, u16)]) -> bool {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).any(|w| w[1].0 <= w[0].1)
}

/// The canonical text of ranges: `a` or `a-b`, comma separated.
fn render(ranges: &[(u16, u16)]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    parts.join(",")
}

fn local_pairs(ranges: &[cf_ports::PortRange]) -> Vec<(u16, u16)> {
    ranges.iter().map(|r| (r.start(), r.end())).collect()
}

/// See [`crate::port_range`].
pub(crate) fn run(data: &[u8]) {
    let spec = String::from_utf8_lossy(data);
    let spec = spec.as_ref();

    // The parser against the model.
    let parsed = cf_ports::parse(spec);
    let model = model_parse(spec);
    match (&parsed, &model) {
        (Ok(ranges), Some(want)) => assert_eq!(&local_pairs(ranges), want, "{spec:?}"),
        (Err(message), None) => assert!(!message.is_empty(), "{spec:?}: empty message"),
        (got, want) => panic!("{spec:?}: parser says {got:?}, model says {want:?}"),
    }

    // Validation: parsing plus no overlaps plus no reserved port.
    for reserved in [&[][..], RESERVED] {
        let validated = cf_ports::validate(spec, reserved);
        let want_ok = model.as_ref().is_some_and(|m| {
            !overlapping(m)
                && !m
                    .iter()
                    .any(|&(a, b)| reserved.iter().any(|p| (a..=b).contains(p)))
        });
        assert_eq!(
            validated.is_ok(),
            want_ok,
            "{spec:?} reserved {reserved:?}: {validated:?}"
        );
        if let (Ok(v), Ok(p)) = (&validated, &parsed) {
            assert_eq!(v, p, "{spec:?}");
        }
    }

    // Accepted input re-renders and re-parses to the same ranges, in both the
    // canonical form and CF's display form with its brackets taken off.
    if let Some(ranges) = model.as_ref().filter(|m| !overlapping(m)) {
        let canonical = render(ranges);
        let again = cf_ports::validate(&canonical, &[]).expect("canonical form re-parses");
        assert_eq!(&local_pairs(&again), ranges, "{spec:?} -> {canonical:?}");
        let shown = cf_ports::describe(&again).replace(['[', ']'], "");
        let again = cf_ports::parse(&shown).expect("displayed form re-parses");
        assert_eq!(&local_pairs(&again), ranges, "{spec:?} -> {shown:?}");
    }

    // The registry: a tcp group takes exactly the accepted specs, refuses the
    // others with the typed error and CF's message, and changes nothing then.
    for reserved in [&[][..], RESERVED] {
        let registry = Registry::new(Config::new().reserved_ports(reserved.to_vec()));
        let before = registry.snapshot();
        let validated = cf_ports::validate(spec, reserved);
        match registry.create_router_group(RouterGroup::new("g", "tcp", spec)) {
            Ok((group, created)) => {
                assert!(created);
                let ranges =
                    validated.unwrap_or_else(|e| panic!("{spec:?}: registry took it, {e}"));
                assert_eq!(&*group.reservable_ports, spec);
                assert_eq!(registry.router_group(&group.guid).as_ref(), Some(&group));
                // The lowest port of the set is the first one reserved.
                let lowest = ranges
                    .iter()
                    .map(|r| r.start())
                    .min()
                    .expect("at least one range");
                let reservation = registry
                    .reserve_port(&group.guid, None)
                    .expect("a free port");
                assert_eq!(reservation.port, lowest, "{spec:?}");
                // The canonical text describes the same set: updating to it is accepted.
                let canonical = render(&local_pairs(&ranges));
                registry
                    .update_router_group(&group.guid, &canonical)
                    .unwrap_or_else(|e| panic!("{spec:?} -> {canonical:?}: {e}"));
            }
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::RouterGroupInvalid, "{spec:?}: {err}");
                if spec.is_empty() {
                    assert_eq!(err.message(), "missing reservable_ports in router group: g");
                } else {
                    let message = validated.expect_err("the registry refused a valid spec");
                    assert_eq!(err.message(), message, "{spec:?}");
                }
                assert_eq!(
                    registry.snapshot(),
                    before,
                    "{spec:?}: a refusal changed the registry"
                );
                assert_eq!(registry.revision(), before.revision);
            }
        }
    }
    // The range type's own accounting.
    if let Ok(ranges) = &parsed {
        for r in ranges {
            assert!(r.start() <= r.end());
            assert_eq!(r.len(), u32::from(r.end()) - u32::from(r.start()) + 1);
        }
    }
}
