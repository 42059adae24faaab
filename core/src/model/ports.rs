//! `reservable_ports`: CF's comma-separated list of ports and port ranges.

use std::fmt;

/// The message CF gives for a port outside 1024..=65535 or one that is not a number.
pub(crate) const INVALID_PORT: &str = "port must be between 1024 and 65535";

/// The lowest port a router group may reserve.
pub(crate) const MIN_RESERVABLE_PORT: u16 = 1024;

/// An inclusive range of ports, both ends at least 1024.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortRange {
    start: u16,
    end: u16,
}

impl PortRange {
    /// The first port of the range.
    pub fn start(self) -> u16 {
        self.start
    }

    /// The last port of the range (inclusive).
    pub fn end(self) -> u16 {
        self.end
    }

    /// Whether `port` lies in the range.
    pub fn contains(self, port: u16) -> bool {
        self.start <= port && port <= self.end
    }

    /// The number of ports in the range.
    pub fn len(self) -> u32 {
        u32::from(self.end) - u32::from(self.start) + 1
    }

    /// Always false: a range holds at least one port.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Every port of the range; an end of 65535 is handled (no `u16` overflow).
    pub fn ports(self) -> impl Iterator<Item = u16> {
        (u32::from(self.start)..=u32::from(self.end)).map(|p| p as u16)
    }

    fn overlaps(self, other: PortRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

impl fmt::Display for PortRange {
    /// CF's form: a single port prints as `6001`, a range as `[6010-6020]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "[{}-{}]", self.start, self.end)
        }
    }
}

/// Go's `strconv.ParseUint(s, 10, 16)`: ASCII digits only (no sign, no spaces),
/// leading zeros allowed, at most 65535.
fn parse_u16(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: u32 = 0;
    for b in s.bytes() {
        n = n * 10 + u32::from(b - b'0');
        if n > u32::from(u16::MAX) {
            return None;
        }
    }
    Some(n as u16)
}

fn new_range(start: u16, end: u16) -> Result<PortRange, String> {
    if start < MIN_RESERVABLE_PORT || end < MIN_RESERVABLE_PORT {
        return Err(INVALID_PORT.to_string());
    }
    Ok(PortRange { start, end })
}

fn parse_range(item: &str) -> Result<PortRange, String> {
    let parts: Vec<&str> = item.split('-').collect();
    match parts.as_slice() {
        [single] => {
            let port = parse_u16(single).ok_or_else(|| INVALID_PORT.to_string())?;
            new_range(port, port)
        }
        [start, end] => {
            let start = parse_u16(start)
                .ok_or_else(|| format!("range ({item}) requires a starting port"))?;
            let end =
                parse_u16(end).ok_or_else(|| format!("range ({item}) requires an ending port"))?;
            if start > end {
                return Err(format!("range ({item}) must be in ascending numeric order"));
            }
            new_range(start, end)
        }
        _ => Err(format!("range ({item}) has too many '-' separators")),
    }
}

/// Parses a `reservable_ports` string the way CF's `ReservablePorts.Parse` does:
/// split on `,` without trimming, each item a port or an `a-b` range.
///
/// Overlaps are not checked here; see [`validate`].
pub(crate) fn parse(spec: &str) -> Result<Vec<PortRange>, String> {
    spec.split(',').map(parse_range).collect()
}

/// Parses and validates a `reservable_ports` string as CF's
/// `ReservablePorts.Validate` does: every item parses, no two items overlap
/// (duplicates count), and, when `reserved` is not empty, no range holds one of
/// the reserved system component ports.
pub(crate) fn validate(spec: &str, reserved: &[u16]) -> Result<Vec<PortRange>, String> {
    let ranges = parse(spec)?;
    for (i, a) in ranges.iter().enumerate() {
        for (j, b) in ranges.iter().enumerate() {
            if i != j && a.overlaps(*b) {
                return Err(format!("Overlapping values: {a} and {b}"));
            }
        }
    }
    if ranges
        .iter()
        .any(|r| reserved.iter().any(|&p| r.contains(p)))
    {
        // Go prints a []uint16 with %v as `[a b c]`.
        let list: Vec<String> = reserved.iter().map(u16::to_string).collect();
        return Err(format!(
            "Invalid ports. Reservable ports must not include the following reserved system component ports: [{}].",
            list.join(" ")
        ));
    }
    Ok(ranges)
}

/// Formats ranges as a comma-separated list in CF's form (`[1024-2000],3000`).
pub(crate) fn describe(ranges: &[PortRange]) -> String {
    let parts: Vec<String> = ranges.iter().map(PortRange::to_string).collect();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(spec: &str) -> Vec<(u16, u16)> {
        validate(spec, &[])
            .unwrap_or_else(|e| panic!("{spec:?}: {e}"))
            .iter()
            .map(|r| (r.start(), r.end()))
            .collect()
    }

    fn err(spec: &str) -> String {
        validate(spec, &[]).expect_err(spec)
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(ok("1024"), [(1024, 1024)]);
        assert_eq!(ok("1024-65535"), [(1024, 65535)]);
        assert_eq!(
            ok("6001-6010,6020-6022,6045,6050-6060"),
            [(6001, 6010), (6020, 6022), (6045, 6045), (6050, 6060)]
        );
        assert_eq!(ok("6010-6020,6021-6030"), [(6010, 6020), (6021, 6030)]);
        assert_eq!(ok("01024"), [(1024, 1024)]);
        // Order between items is free.
        assert_eq!(ok("7000,6000-6005"), [(7000, 7000), (6000, 6005)]);
    }

    #[test]
    fn rejected_forms_with_cf_messages() {
        let table: &[(&str, &str)] = &[
            ("1024, 2000", INVALID_PORT),
            (" 1024", INVALID_PORT),
            ("adsfasdf", INVALID_PORT),
            ("", INVALID_PORT),
            ("1024,", INVALID_PORT),
            ("+1024", INVALID_PORT),
            ("1023", INVALID_PORT),
            ("65536", INVALID_PORT),
            ("80-1030", INVALID_PORT),
            ("-9999", "range (-9999) requires a starting port"),
            ("1030-", "range (1030-) requires an ending port"),
            ("1024-70000", "range (1024-70000) requires an ending port"),
            (
                "10000-9999",
                "range (10000-9999) must be in ascending numeric order",
            ),
            (
                "10-999-1000",
                "range (10-999-1000) has too many '-' separators",
            ),
            (
                "6010-6020,6015-6030",
                "Overlapping values: [6010-6020] and [6015-6030]",
            ),
            ("2000,2000", "Overlapping values: 2000 and 2000"),
            ("2000,1500-2500", "Overlapping values: 2000 and [1500-2500]"),
            (
                "3000,1500-2500,2500",
                "Overlapping values: [1500-2500] and 2500",
            ),
        ];
        for (spec, message) in table {
            assert_eq!(err(spec), *message, "spec {spec:?}");
        }
    }

    #[test]
    fn reserved_system_ports() {
        assert_eq!(
            validate("2000-3000", &[2822, 2825]).unwrap_err(),
            "Invalid ports. Reservable ports must not include the following reserved system component ports: [2822 2825]."
        );
        assert!(validate("3000-4000", &[2822, 2825]).is_ok());
    }

    #[test]
    fn range_iteration_reaches_65535() {
        let r = parse("65530-65535").unwrap()[0];
        assert_eq!(
            r.ports().collect::<Vec<_>>(),
            [65530, 65531, 65532, 65533, 65534, 65535]
        );
        assert_eq!(r.len(), 6);
        assert_eq!(
            describe(&parse("1024-2000,3000").unwrap()),
            "[1024-2000],3000"
        );
    }
}
