//! Kong-style route sets and requests, matched by the registry and by the
//! reference matcher the core's property test uses.

use arbitrary::{Result, Unstructured};
use routeyard::PathMode;

use crate::reference_matcher::{
    run as compare, Op, Req, Spec, HEADER_NAMES, METHODS, PLAIN_PATHS, REGEX_PATHS,
    REQUEST_HEADER_VALUES, REQUEST_HOSTS, REQUEST_PATHS, REQUEST_SNIS, ROUTE_HOSTS, SNIS,
};

/// Up to `max` distinct indices below `len`, in increasing order.
fn subset(u: &mut Unstructured<'_>, len: usize, max: usize) -> Result<Vec<usize>> {
    let n = u.int_in_range(0..=max)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(u.choose_index(len)?);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Mostly nothing, sometimes a subset: most routes set few fields.
fn sometimes(u: &mut Unstructured<'_>, len: usize, max: usize) -> Result<Vec<usize>> {
    if u.ratio(1, 2)? {
        Ok(Vec::new())
    } else {
        subset(u, len, max)
    }
}

fn spec(u: &mut Unstructured<'_>) -> Result<Spec> {
    let mut headers = Vec::new();
    if u.ratio(1, 3)? {
        for name in 0..HEADER_NAMES.len() {
            if u.arbitrary()? {
                // Plain values (any of the first three), or the one regex value alone.
                let values = if u.ratio(1, 4)? {
                    vec![3]
                } else {
                    let mut v = subset(u, 3, 2)?;
                    if v.is_empty() {
                        v.push(u.choose_index(3)?);
                    }
                    v
                };
                headers.push((name, values));
            }
        }
    }
    let mut spec = Spec {
        hosts: sometimes(u, ROUTE_HOSTS.len(), 2)?,
        plain: subset(u, PLAIN_PATHS.len(), 2)?,
        regex: if u.ratio(1, 3)? {
            subset(u, REGEX_PATHS.len(), 1)?
        } else {
            Vec::new()
        },
        methods: if u.ratio(1, 3)? {
            subset(u, METHODS.len(), 2)?
        } else {
            Vec::new()
        },
        headers,
        snis: if u.ratio(1, 4)? {
            subset(u, SNIS.len(), 1)?
        } else {
            Vec::new()
        },
        priority: *u.choose(&[0, 0, 0, 0, 0, 0, 1, -1])?,
        regex_priority: u.int_in_range(0..=2)?,
        mode: *u.choose(&[PathMode::Prefix, PathMode::Segment, PathMode::Exact])?,
    };
    spec.make_matchable();
    Ok(spec)
}

fn request(u: &mut Unstructured<'_>) -> Result<Req> {
    let n = u.int_in_range(0..=2)?;
    let mut headers = Vec::with_capacity(n);
    for _ in 0..n {
        headers.push((
            u.choose_index(HEADER_NAMES.len())?,
            u.choose_index(REQUEST_HEADER_VALUES.len())?,
        ));
    }
    Ok(Req {
        method: u.choose_index(METHODS.len())?,
        host: u.choose_index(REQUEST_HOSTS.len())?,
        path: u.choose_index(REQUEST_PATHS.len())?,
        headers,
        https: u.arbitrary()?,
        sni: if u.arbitrary()? {
            Some(u.choose_index(REQUEST_SNIS.len())?)
        } else {
            None
        },
    })
}

fn op(u: &mut Unstructured<'_>) -> Result<Op> {
    Ok(match u.int_in_range(0u8..=10)? {
        0..=5 => Op::Create(spec(u)?),
        6 | 7 => Op::Update(u.arbitrary()?, spec(u)?),
        8 => Op::Delete(u.arbitrary()?),
        _ => Op::Tick(u.int_in_range(0..=1)?),
    })
}

/// The operations and requests the bytes describe (as many as they hold).
pub(crate) fn input(data: &[u8]) -> (Vec<Op>, Vec<Req>) {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    let mut requests = Vec::new();
    let n_ops = u.int_in_range(1..=24).unwrap_or(1);
    let n_requests = u.int_in_range(1..=24).unwrap_or(1);
    for _ in 0..n_requests {
        match request(&mut u) {
            Ok(r) => requests.push(r),
            Err(_) => break,
        }
    }
    for _ in 0..n_ops {
        match op(&mut u) {
            Ok(o) => ops.push(o),
            Err(_) => break,
        }
    }
    (ops, requests)
}

/// See [`crate::match_reference`].
pub(crate) fn run(data: &[u8]) {
    let (ops, requests) = input(data);
    if ops.is_empty() || requests.is_empty() {
        return;
    }
    if let Err(difference) = compare(&ops, &requests) {
        panic!("{difference}\nops: {ops:?}\nrequests: {requests:?}");
    }
}
