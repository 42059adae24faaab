//! The compiled, persistent route index and its lookup.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Reverse;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use regex::Regex;

use crate::balance::Pool as BalancePool;
use crate::lease::{Clock, Timestamp};
use crate::matcher::key::Key;
use crate::matcher::normalize;
use crate::matcher::shard::ShardMap;
use crate::matcher::slots::Slots;
use crate::matcher::stream::{StreamRequest, StreamRoute, StreamTable, TcpPool, TcpPools};
use crate::matcher::trie::Trie;
use crate::model::cf::HttpRoute;
use crate::model::kong::{PathHandling, PathMode, Protocol, Route, Service};
use crate::model::upstream::Upstream;
use crate::sync::LeaseCell;

// Kong's field kinds, as bits of a route's category.
const HOST: u8 = 0x40;
const HEADER: u8 = 0x20;
const URI: u8 = 0x10;
const METHOD: u8 = 0x08;
const SNI: u8 = 0x04;

/// A list that holds one item as a rule: that one inline, more (or none) boxed,
/// so that the usual route costs no allocation for it.
#[derive(Debug)]
pub(crate) enum Few<T> {
    One(T),
    Many(Box<[T]>),
}

impl<T> std::ops::Deref for Few<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            Few::One(item) => std::slice::from_ref(item),
            Few::Many(items) => items,
        }
    }
}

impl<T> FromIterator<T> for Few<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Few<T> {
        let mut items = items.into_iter();
        let Some(first) = items.next() else {
            return Few::Many(Box::new([]));
        };
        let Some(second) = items.next() else {
            return Few::One(first);
        };
        let mut all = Vec::with_capacity(2 + items.size_hint().0);
        all.push(first);
        all.push(second);
        all.extend(items);
        Few::Many(all.into_boxed_slice())
    }
}

/// A route's optional list as a slice (empty when unset).
fn listed(list: &Option<Vec<String>>) -> &[String] {
    list.as_deref().unwrap_or_default()
}

/// Where a route ranks: smaller is better. Fields compare in order, which is
/// Kong's traditional order with routeyard's explicit `priority` in front and a
/// wildcard-specificity slot that only CF routes use (nearest suffix first).
///
/// Packed: its 42 bytes would be padded to 48, and an [`Entry`] (a rank, two
/// pointers and six bytes) would then take 72 bytes, not one cache line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(C, packed)]
pub(crate) struct Rank {
    priority: Reverse<i64>,
    fields: Reverse<u8>,
    category: Reverse<u8>,
    weight: Reverse<u8>,
    specificity: Reverse<u16>,
    headers: Reverse<u8>,
    regex_priority: Reverse<i64>,
    uri_len: Reverse<u32>,
    created_at: i64,
    seq: u64,
}

/// A host condition's form. Its text is the route's own (see
/// [`Compiled::host_key`]): the index keeps no copy of it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum HostRule {
    /// `a.com` or `a.com:8080`: the table key is the whole host, lowercased.
    Exact,
    /// `*.a.com[:port]`: key `.a.com`.
    Suffix(Option<u16>),
    /// `a.*[:port]`: key `a.`.
    Prefix(Option<u16>),
}

impl HostRule {
    fn kind(self) -> HostKind {
        match self {
            HostRule::Exact => HostKind::Exact,
            HostRule::Suffix(_) => HostKind::Suffix,
            HostRule::Prefix(_) => HostKind::Prefix,
        }
    }

    /// The port a wildcard host names.
    fn port(self) -> Option<u16> {
        match self {
            HostRule::Exact => None,
            HostRule::Suffix(port) | HostRule::Prefix(port) => port,
        }
    }
}

/// A path condition.
#[derive(Debug)]
pub(crate) enum PathRule {
    /// A plain path (the route's own text, see [`Compiled::path_key`]) and how it
    /// compares.
    Plain(PathMode),
    /// A regex path, boxed: most routes have none, and a plain path's rule is then
    /// two bytes rather than the regex's 48.
    Regex(Box<RegexPath>),
}

/// A regex path: the pattern anchored at the start, and its literal prefix, which
/// places it in the tree so that only requests under that prefix try it.
#[derive(Debug)]
pub(crate) struct RegexPath {
    pub(crate) regex: Regex,
    prefix: Box<str>,
}

#[derive(Debug)]
struct HeaderRule {
    name: Box<str>,
    values: Box<[Box<str>]>,
    regex: Option<Regex>,
}

/// What a route leads to.
#[derive(Debug)]
pub(crate) enum Target {
    /// A Kong-style route and its service id.
    Route(Arc<Route>),
    /// The CF backends registered for one `host/path`, by their pool key.
    CfPool(Arc<str>),
}

/// What an answer reads of a Kong route to forward a request, kept beside its
/// matching rules so that a hit does not read these from the route itself (which
/// spans several cache lines, and its protocols one more).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Forwarding {
    pub(crate) strip_path: bool,
    pub(crate) preserve_host: bool,
    pub(crate) path_handling: PathHandling,
    /// `https_redirect_status_code` when the route accepts HTTPS but not plain HTTP:
    /// a plain HTTP request that matches is told to redirect.
    pub(crate) https_redirect: Option<u16>,
}

impl Forwarding {
    pub(crate) fn of(route: &Route) -> Forwarding {
        let https_only = !route.protocols.contains(&Protocol::Http)
            && route.protocols.contains(&Protocol::Https);
        Forwarding {
            strip_path: route.strip_path,
            preserve_host: route.preserve_host,
            path_handling: route.path_handling,
            https_redirect: https_only.then_some(route.https_redirect_status_code),
        }
    }
}

/// A route ready for matching.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) target: Target,
    /// For a Kong route, how a request it answers is forwarded.
    pub(crate) forwarding: Option<Forwarding>,
    /// The slot of the route's service in the index, if it has one.
    pub(crate) service: Option<u32>,
    /// The route's methods, headers and SNIs, which most routes leave unset.
    rest: Option<Box<Rest>>,
    pub(crate) hosts: Few<HostRule>,
    pub(crate) paths: Few<PathRule>,
    seq: u64,
}

/// The conditions besides hosts and paths, normalised for comparison.
#[derive(Debug)]
struct Rest {
    methods: Box<[Box<str>]>,
    headers: Box<[HeaderRule]>,
    snis: Box<[Box<str>]>,
}

/// One indexed (route, path) pair, with what a lookup needs to pass over it
/// without reading the route.
#[derive(Clone, Debug)]
struct Entry {
    rank: Rank,
    route: Arc<Compiled>,
    /// For a Kong route, the route itself (as `route.target` holds it): an answer
    /// that reads it and the compiled route fetches both at once, not one after
    /// the other.
    kong: Option<Arc<Route>>,
    /// Index into `route.paths`, or `NO_PATH`.
    path: u16,
    /// Index into `route.hosts` that placed the entry in its bucket, or `NO_HOST`.
    host: u16,
    /// How a plain path compares; `None` for a regex or no path.
    mode: Option<PathMode>,
    /// Whether host and path decide alone: no method, header, SNI or port rule.
    simple: bool,
}

// An entry is one cache line on 64-bit targets (see `Rank`).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Entry>() == 64);

impl Entry {
    /// Every field but host and path matches.
    #[inline]
    fn matches_rest(&self, req: &Prepared<'_>) -> bool {
        self.simple || self.route.matches_rest(req, self.host)
    }
}

const NO_PATH: u16 = u16::MAX;
const NO_HOST: u16 = u16::MAX;

#[derive(Clone, Debug, Default)]
struct Slot {
    plain: Vec<Entry>,
    regex: Vec<Entry>,
}

impl Slot {
    fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.regex.is_empty()
    }
}

/// The largest number of path entries a bucket keeps in a flat list.
const FLAT_MAX: usize = 16;

/// The routes of one host (or of no host): those without a path in rank order,
/// and those with one either in a flat list (most hosts have a few) or, past
/// [`FLAT_MAX`], in a [`Tree`].
#[derive(Clone, Debug, Default)]
struct Bucket {
    no_path: Vec<Entry>,
    paths: Paths,
}

#[derive(Clone, Debug)]
enum Paths {
    /// Every path entry, best rank first, with their keys beside them: the first
    /// entry whose key and route fit wins, and a lookup reads a few cache lines.
    Flat {
        entries: Vec<Entry>,
        keys: Keys,
    },
    Tree(Tree),
}

/// A bucket's paths past [`FLAT_MAX`]: `exact`-mode paths by their whole text,
/// which a request finds with one probe, and every other path in a radix tree,
/// under which a request visits each of its prefixes.
#[derive(Clone, Debug, Default)]
struct Tree {
    exact: ShardMap<Ranked>,
    trie: Trie<Slot>,
}

impl Tree {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.trie.len() == 0
    }

    fn insert(&mut self, key: &str, regex: bool, entry: Entry) {
        if entry.mode == Some(PathMode::Exact) {
            self.exact
                .update(key, Ranked::default, |list| list.insert(entry), |_| false);
            return;
        }
        let slot = self.trie.entry(key.as_bytes(), Slot::default);
        let list = if regex {
            &mut slot.regex
        } else {
            &mut slot.plain
        };
        insert_sorted(list, entry);
    }

    /// Removes the entries for which `gone` holds that sit under path `key`.
    fn remove(&mut self, key: &str, mut gone: impl FnMut(&Entry) -> bool) {
        if self.exact.get(key).is_some() {
            self.exact.update(
                key,
                Ranked::default,
                |list| list.retain(|e| !gone(e)),
                Ranked::is_empty,
            );
        }
        if self.trie.get(key.as_bytes()).is_none() {
            return;
        }
        let slot = self.trie.entry(key.as_bytes(), Slot::default);
        slot.plain.retain(|e| !gone(e));
        slot.regex.retain(|e| !gone(e));
        if slot.is_empty() {
            self.trie.remove(key.as_bytes());
        }
    }
}

impl Default for Paths {
    fn default() -> Self {
        Paths::Flat {
            entries: Vec::new(),
            keys: Keys::default(),
        }
    }
}

impl Bucket {
    fn is_empty(&self) -> bool {
        self.no_path.is_empty()
            && match &self.paths {
                Paths::Flat { entries, .. } => entries.is_empty(),
                Paths::Tree(tree) => tree.is_empty(),
            }
    }

    fn insert_path(&mut self, key: &str, regex: bool, entry: Entry) {
        if let Paths::Flat { entries, keys } = &mut self.paths {
            if entries.len() < FLAT_MAX {
                let at = insert_sorted(entries, entry);
                keys.insert(at, key);
                return;
            }
            // Too many for a list: move them to a tree.
            let mut tree = Tree::default();
            for (e, head) in entries.drain(..).zip(&keys.heads) {
                let regex = e.mode.is_none();
                tree.insert(keys.key_str(head), regex, e);
            }
            self.paths = Paths::Tree(tree);
        }
        let Paths::Tree(tree) = &mut self.paths else {
            unreachable!("a full flat list became a tree")
        };
        tree.insert(key, regex, entry);
    }

    /// Removes the entries for which `gone` holds that sit under path `key`.
    fn remove_path(&mut self, key: &str, mut gone: impl FnMut(&Entry) -> bool) {
        match &mut self.paths {
            Paths::Flat { entries, keys } => {
                let before = entries.len();
                entries.retain(|e| !gone(e));
                if entries.len() != before {
                    relay_keys(entries, keys);
                }
            }
            Paths::Tree(tree) => tree.remove(key, gone),
        }
    }
}

/// A flat list's path keys, in the order of its entries: their text side by
/// side, and for each its first eight bytes as a word, so that a key that does
/// not fit is passed over with one comparison.
#[derive(Clone, Debug, Default)]
struct Keys {
    text: String,
    heads: Vec<Head>,
}

#[derive(Clone, Copy, Debug)]
struct Head {
    /// The key's first eight bytes (fewer for a shorter key, zeros above).
    word: u64,
    /// The bytes of `word` that are the key's.
    mask: u64,
    from: u32,
    len: u32,
}

impl Keys {
    fn key(&self, head: &Head) -> &[u8] {
        self.key_str(head).as_bytes()
    }

    fn key_str(&self, head: &Head) -> &str {
        &self.text[head.from as usize..(head.from + head.len) as usize]
    }

    /// Adds `key` as the key of the entry now at `at`. Its text goes at the end:
    /// a head records where its text lies.
    fn insert(&mut self, at: usize, key: &str) {
        let n = key.len().min(8);
        let head = Head {
            word: head_word(&key.as_bytes()[..n]),
            mask: if n == 8 { u64::MAX } else { (1 << (8 * n)) - 1 },
            from: self.text.len() as u32,
            len: key.len() as u32,
        };
        make_room(&mut self.heads, 1);
        self.heads.insert(at, head);
        let text = &mut self.text;
        text.reserve_exact(growth(text.capacity(), text.len(), key.len()));
        text.push_str(key);
    }
}

/// The first eight bytes of `bytes` as a little-endian word, zeros above a
/// shorter string.
#[inline]
fn head_word(bytes: &[u8]) -> u64 {
    match bytes.first_chunk::<8>() {
        Some(first) => u64::from_le_bytes(*first),
        None => {
            let mut word = [0u8; 8];
            word[..bytes.len()].copy_from_slice(bytes);
            u64::from_le_bytes(word)
        }
    }
}

/// Rewrites a flat list's keys from its entries' routes (after a removal,
/// which leaves no text behind this way).
fn relay_keys(entries: &[Entry], keys: &mut Keys) {
    keys.text.clear();
    keys.heads.clear();
    for (at, e) in entries.iter().enumerate() {
        keys.insert(at, e.route.path_key(e.path));
    }
}

#[derive(Clone, Debug, Default)]
struct Table {
    exact: ShardMap<Arc<Bucket>>,
    suffix: ShardMap<Arc<Bucket>>,
    prefix: ShardMap<Arc<Bucket>>,
    any: Arc<Bucket>,
    routes: usize,
}

/// One CF backend in a pool.
///
/// Its expiry lives in a cell shared by every snapshot of the index: a renewal
/// (the registry's most common write) moves it in place and copies nothing.
#[derive(Clone, Debug)]
pub(crate) struct PoolBackend {
    /// The registration that created the backend; its key fields (route, ip,
    /// port, route service URL) never change.
    pub(crate) route: Arc<HttpRoute>,
    expires_at: Arc<LeaseCell>,
}

impl PoolBackend {
    fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at.get() > now.as_nanos()
    }

    fn same_key(&self, route: &HttpRoute) -> bool {
        self.route.ip == route.ip
            && self.route.port == route.port
            && self.route.route_service_url == route.route_service_url
            && self.route.route == route.route
    }
}

/// The CF backends registered for one `host/path`.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    pub(crate) backends: Vec<PoolBackend>,
    cursor: AtomicUsize,
}

impl Clone for Pool {
    fn clone(&self) -> Pool {
        Pool {
            backends: self.backends.clone(),
            cursor: AtomicUsize::new(self.cursor.load(Ordering::Relaxed)),
        }
    }
}

impl Pool {
    fn has_live(&self, now: Timestamp) -> bool {
        self.backends.iter().any(|b| b.is_live(now))
    }

    /// The next live backend, round robin.
    pub(crate) fn pick(&self, now: Timestamp) -> Option<&PoolBackend> {
        let n = self.backends.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.backends[(start + i) % n])
            .find(|b| b.is_live(now))
    }
}

/// The whole index: Kong-style routes (HTTP and stream), CF HTTP routes and
/// TCP mappings, services and CF pools.
#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    kong: Table,
    cf: Table,
    stream: StreamTable,
    stream_routes: ShardMap<Arc<StreamRoute>>,
    tcp: TcpPools,
    /// Services and their backend pools by slot, and each service id's slot (a
    /// slot is never reused).
    services: Slots<ServiceSlot>,
    service_slots: ShardMap<u32>,
    pools: ShardMap<Arc<Pool>>,
    seq: u64,
}

/// A service and the pool of its backends, as a slot of the index holds them.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServiceSlot {
    pub(crate) service: Option<Arc<Service>>,
    pub(crate) pool: Option<Arc<BalancePool>>,
}

/// A request as the matcher sees it.
pub(crate) struct Prepared<'r> {
    pub(crate) protocol: Protocol,
    pub(crate) method: &'r str,
    pub(crate) host: std::borrow::Cow<'r, str>,
    pub(crate) port: Option<u16>,
    pub(crate) path: std::borrow::Cow<'r, str>,
    pub(crate) headers: &'r [(&'r str, &'r str)],
    pub(crate) sni: Option<&'r str>,
    /// Read only when a CF pool needs it: Kong-style lookups never ask.
    clock: &'r dyn Clock,
    now: OnceCell<Timestamp>,
}

impl Prepared<'_> {
    pub(crate) fn now(&self) -> Timestamp {
        *self.now.get_or_init(|| self.clock.now())
    }
}

/// The winning entry of a lookup.
#[derive(Clone, Debug)]
pub(crate) struct Hit<'i> {
    pub(crate) route: &'i Arc<Compiled>,
    /// For a Kong route, the route (the entry's copy of `route.target`).
    pub(crate) kong: Option<&'i Arc<Route>>,
    /// Index into the route's paths, if it matched by path.
    pub(crate) path: Option<usize>,
    /// How many bytes of the (normalised) request path the route's path matched.
    pub(crate) matched: usize,
    /// For a CF route (whose request path the lookup lowercased), its pool of
    /// backends, found live while matching.
    pub(crate) pool: Option<&'i Arc<Pool>>,
}

// -- Compiling --------------------------------------------------------------

/// A CF route key's host and path (`host[/path]`; the path keeps its `/`).
fn cf_parts(key: &str) -> (&str, &str) {
    key.find('/').map_or((key, ""), |i| key.split_at(i))
}

/// `s` lowercased, borrowed when it already is.
fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// A host's rule and the key of its bucket (lowercased; borrowed when the host
/// already is).
fn host_rule(host: &str) -> (HostRule, Cow<'_, str>) {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
            (n, p.parse().ok())
        }
        _ => (host, None),
    };
    if let Some(rest) = name.strip_prefix('*') {
        (HostRule::Suffix(port), lower(rest))
    } else if let Some(rest) = name.strip_suffix('*') {
        (HostRule::Prefix(port), lower(rest))
    } else {
        (HostRule::Exact, lower(host))
    }
}

/// The literal text a regex must start with: its leading characters up to the
/// first one with a special meaning (a character followed by a quantifier is not
/// literal). Empty when the pattern has a top-level alternation or flags.
pub(crate) fn literal_prefix(pattern: &str) -> String {
    if pattern.contains('|') || pattern.starts_with("(?") {
        return String::new();
    }
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let literal = match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => e,
                _ => break,
            },
            '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$' | '|' => break,
            c => c,
        };
        if matches!(chars.peek(), Some('?' | '*' | '{')) {
            break;
        }
        out.push(literal);
    }
    out
}

impl Compiled {
    pub(crate) fn kong(
        route: Arc<Route>,
        seq: u64,
        service: Option<u32>,
    ) -> Result<Compiled, regex::Error> {
        let paths = listed(&route.paths)
            .iter()
            .map(|p| match p.strip_prefix('~') {
                Some(pattern) => Ok(PathRule::Regex(Box::new(RegexPath {
                    regex: Regex::new(&format!("^(?:{pattern})"))?,
                    prefix: literal_prefix(pattern).into(),
                }))),
                None => Ok(PathRule::Plain(route.path_mode)),
            })
            .collect::<Result<Few<_>, regex::Error>>()?;
        let mut headers = Vec::new();
        for (name, values) in route.headers.iter().flatten() {
            let regex = match values.as_slice() {
                [one] if one.starts_with("~*") => Some(Regex::new(&format!("(?i){}", &one[2..]))?),
                _ => None,
            };
            headers.push(HeaderRule {
                name: name.to_ascii_lowercase().into(),
                values: values
                    .iter()
                    .map(|v| v.to_ascii_lowercase().into())
                    .collect(),
                regex,
            });
        }
        let rest = Rest {
            methods: listed(&route.methods)
                .iter()
                .map(|m| m.to_ascii_uppercase().into())
                .collect(),
            headers: headers.into(),
            snis: listed(&route.snis)
                .iter()
                .map(|s| s.trim_end_matches('.').to_ascii_lowercase().into())
                .collect(),
        };
        let unset = rest.methods.is_empty() && rest.headers.is_empty() && rest.snis.is_empty();
        Ok(Compiled {
            service,
            rest: (!unset).then(|| Box::new(rest)),
            hosts: listed(&route.hosts)
                .iter()
                .map(|h| host_rule(h).0)
                .collect(),
            paths,
            seq,
            forwarding: Some(Forwarding::of(&route)),
            target: Target::Route(route),
        })
    }

    /// A CF route: `host[/path]`, lowercased, trailing `/` trimmed, segment paths.
    fn cf(key: &str, seq: u64) -> Compiled {
        let (host, path) = cf_parts(key);
        Compiled {
            service: None,
            rest: None,
            hosts: Few::One(host_rule(host).0),
            paths: if path.is_empty() {
                Few::Many(Box::new([]))
            } else {
                Few::One(PathRule::Plain(PathMode::Segment))
            },
            seq,
            forwarding: None,
            target: Target::CfPool(key.into()),
        }
    }

    fn category(&self) -> u8 {
        let mut c = 0;
        if !self.hosts.is_empty() {
            c |= HOST;
        }
        if !self.paths.is_empty() {
            c |= URI;
        }
        if let Some(rest) = &self.rest {
            if !rest.headers.is_empty() {
                c |= HEADER;
            }
            if !rest.methods.is_empty() {
                c |= METHOD;
            }
            if !rest.snis.is_empty() {
                c |= SNI;
            }
        }
        c
    }

    fn rank(&self, path: Option<usize>) -> Rank {
        let regex = matches!(path.map(|i| &self.paths[i]), Some(PathRule::Regex(..)));
        let uri_len = match path {
            Some(i) if !regex => self.path_key(i as u16).len() as u32,
            _ => 0,
        };
        let route = match &self.target {
            Target::Route(route) => route,
            Target::CfPool(_) => {
                // gorouter: exact host first, then the nearest wildcard, then the
                // longest path.
                let (weight, specificity) = match self.host_key(0) {
                    (HostRule::Exact, _) => (2, 0),
                    (_, key) => (0, key.len() as u16),
                };
                return Rank {
                    priority: Reverse(0),
                    fields: Reverse(1),
                    category: Reverse(HOST),
                    weight: Reverse(weight),
                    specificity: Reverse(specificity),
                    headers: Reverse(0),
                    regex_priority: Reverse(0),
                    uri_len: Reverse(uri_len),
                    created_at: 0,
                    seq: self.seq,
                };
            }
        };
        let category = self.category();
        let wildcard_port = self.hosts.iter().any(|h| h.port().is_some());
        let plain_hosts_only =
            !self.hosts.is_empty() && self.hosts.iter().all(|h| matches!(h, HostRule::Exact));
        let weight = (if wildcard_port { 4 } else { 0 })
            + (if plain_hosts_only { 2 } else { 0 })
            + u8::from(regex);
        Rank {
            priority: Reverse(route.priority),
            fields: Reverse(category.count_ones() as u8),
            category: Reverse(category),
            weight: Reverse(weight),
            specificity: Reverse(0),
            headers: Reverse(
                self.rest
                    .as_ref()
                    .map_or(0, |r| r.headers.len().min(255) as u8),
            ),
            regex_priority: Reverse(if regex { route.regex_priority } else { 0 }),
            uri_len: Reverse(uri_len),
            created_at: route.created_at,
            seq: self.seq,
        }
    }

    /// The key a path sits under in the index: the plain path, or the literal
    /// prefix of a regex. A plain path is read from where the route keeps it: a
    /// Kong route's `paths`, or a CF route's key after its host.
    fn path_key(&self, path: u16) -> &str {
        match &self.paths[path as usize] {
            PathRule::Plain(_) => match &self.target {
                Target::Route(route) => &listed(&route.paths)[path as usize],
                Target::CfPool(key) => cf_parts(key).1,
            },
            PathRule::Regex(regex) => &regex.prefix,
        }
    }

    /// Host `host` of the route: its rule and the key of its bucket, read from
    /// where the route keeps its hosts (a Kong route's `hosts`, or a CF route's
    /// key up to its path).
    fn host_key(&self, host: usize) -> (HostRule, Cow<'_, str>) {
        match &self.target {
            Target::Route(route) => host_rule(&listed(&route.hosts)[host]),
            Target::CfPool(key) => host_rule(cf_parts(key).0),
        }
    }

    /// Whether host and path alone decide for this route, through `host`.
    fn is_simple(&self, host: u16) -> bool {
        let port_rule = host != NO_HOST && self.hosts[host as usize].port().is_some();
        !port_rule && self.rest.is_none() && matches!(self.target, Target::Route(_))
    }

    /// Every field except host and path, which the index already decided.
    #[inline]
    fn matches_rest(&self, req: &Prepared<'_>, host: u16) -> bool {
        if host != NO_HOST {
            if let Some(want) = self.hosts[host as usize].port() {
                let default = if req.protocol == Protocol::Https {
                    443
                } else {
                    80
                };
                if req.port.unwrap_or(default) != want {
                    return false;
                }
            }
        }
        let Some(rest) = &self.rest else {
            return true;
        };
        if !rest.methods.is_empty() && !rest.methods.iter().any(|m| **m == *req.method) {
            return false;
        }
        if !rest.snis.is_empty() && req.protocol != Protocol::Http {
            let Some(sni) = req.sni else {
                return false;
            };
            let sni = sni.trim_end_matches('.');
            if !rest.snis.iter().any(|s| s.eq_ignore_ascii_case(sni)) {
                return false;
            }
        }
        rest.headers.iter().all(|rule| {
            req.headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case(&rule.name))
                .any(|(_, value)| {
                    rule.values.iter().any(|v| v.eq_ignore_ascii_case(value))
                        || rule.regex.as_ref().is_some_and(|r| r.is_match(value))
                })
        })
    }
}

// -- Building -----------------------------------------------------------------

/// Entries in rank order, a lone one (the usual case for an exact path) kept
/// inline, so a lookup finds it in the map's slot.
#[derive(Clone, Debug, Default)]
enum Ranked {
    #[default]
    Empty,
    One(Entry),
    Many(Vec<Entry>),
}

impl Ranked {
    fn as_slice(&self) -> &[Entry] {
        match self {
            Ranked::Empty => &[],
            Ranked::One(entry) => std::slice::from_ref(entry),
            Ranked::Many(list) => list,
        }
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    fn insert(&mut self, entry: Entry) {
        match std::mem::take(self) {
            Ranked::Empty => *self = Ranked::One(entry),
            Ranked::One(first) => {
                let mut list = vec![first];
                insert_sorted(&mut list, entry);
                *self = Ranked::Many(list);
            }
            Ranked::Many(mut list) => {
                insert_sorted(&mut list, entry);
                *self = Ranked::Many(list);
            }
        }
    }

    fn retain(&mut self, keep: impl FnMut(&Entry) -> bool) {
        let mut list = match std::mem::take(self) {
            Ranked::Empty => return,
            Ranked::One(entry) => vec![entry],
            Ranked::Many(list) => list,
        };
        list.retain(keep);
        *self = match list.len() {
            0 => Ranked::Empty,
            1 => Ranked::One(list.remove(0)),
            _ => Ranked::Many(list),
        };
    }
}

/// Inserts `entry` in rank order; returns where.
fn insert_sorted(list: &mut Vec<Entry>, entry: Entry) -> usize {
    let at = list.partition_point(|e| e.rank < entry.rank);
    make_room(list, 1);
    list.insert(at, entry);
    at
}

/// Makes room for `more` items in one of the index's short lists, growing it by a
/// quarter (at least two items) rather than doubling it as `Vec` would. Most
/// lists hold a few entries and are built once: doubling leaves a third of a
/// million-route index's entries unused, this about a tenth, for two more
/// reallocations over a list's first ten items.
#[inline]
fn make_room<T>(list: &mut Vec<T>, more: usize) {
    list.reserve_exact(growth(list.capacity(), list.len(), more));
}

/// How much room to ask for (exactly) to add `more` items to a list of `len` in
/// `capacity`: none when they fit, else a quarter of the list, at least two.
#[inline]
fn growth(capacity: usize, len: usize, more: usize) -> usize {
    if capacity - len >= more {
        return 0;
    }
    more.max(len / 4).max(2)
}

impl Table {
    /// The bucket for a host rule (created if absent), edited by `f`; dropped
    /// when `f` leaves it empty.
    fn with_bucket(&mut self, host: Option<(HostRule, &str)>, f: impl FnOnce(&mut Bucket)) {
        match host {
            None => f(Arc::make_mut(&mut self.any)),
            Some((rule, key)) => self.with_bucket_at(rule.kind(), key, f),
        }
    }

    fn with_bucket_at(&mut self, kind: HostKind, key: &str, f: impl FnOnce(&mut Bucket)) {
        let map = match kind {
            HostKind::Exact => &mut self.exact,
            HostKind::Suffix => &mut self.suffix,
            HostKind::Prefix => &mut self.prefix,
        };
        map.update(
            key,
            Default::default,
            |b| f(Arc::make_mut(b)),
            |b| b.is_empty(),
        );
    }

    /// The entry of one (host, path) pair of a route: `None` stands for "any
    /// host" or "no path" when the route sets none.
    fn entry(route: &Arc<Compiled>, h: Option<usize>, p: Option<usize>) -> Entry {
        let host = h.map_or(NO_HOST, |h| h as u16);
        Entry {
            rank: route.rank(p),
            route: route.clone(),
            kong: match &route.target {
                Target::Route(kong) => Some(kong.clone()),
                Target::CfPool(_) => None,
            },
            path: p.map_or(NO_PATH, |p| p as u16),
            host,
            mode: match p.map(|p| &route.paths[p]) {
                Some(PathRule::Plain(mode)) => Some(*mode),
                _ => None,
            },
            simple: route.is_simple(host),
        }
    }

    /// Files one entry per (host, path) pair of a route.
    fn insert(&mut self, route: &Arc<Compiled>) {
        let some_if = |any: bool, i: usize| any.then_some(i);
        for h in 0..route.hosts.len().max(1) {
            let h = some_if(!route.hosts.is_empty(), h);
            for p in 0..route.paths.len().max(1) {
                let p = some_if(!route.paths.is_empty(), p);
                let entry = Table::entry(route, h, p);
                let host = h.map(|h| route.host_key(h));
                let host = host.as_ref().map(|(rule, key)| (*rule, &**key));
                self.with_bucket(host, |bucket| match p {
                    None => {
                        insert_sorted(&mut bucket.no_path, entry);
                    }
                    Some(p) => {
                        let regex = matches!(route.paths[p], PathRule::Regex(..));
                        bucket.insert_path(route.path_key(p as u16), regex, entry)
                    }
                });
            }
        }
        self.routes += 1;
    }

    /// Removes a Kong-style route's entries: under each of its hosts (or the
    /// any-host bucket), those without a path and those under each of its path
    /// keys, recognised by the route's id. Returns the route's place among its
    /// ties if it was here.
    fn remove_route(&mut self, route: &Route) -> Option<u64> {
        let keys: Vec<Cow<'_, str>> = listed(&route.paths)
            .iter()
            .map(|p| match p.strip_prefix('~') {
                Some(pattern) => Cow::Owned(literal_prefix(pattern)),
                None => Cow::Borrowed(p.as_str()),
            })
            .collect();
        let hosts: Vec<Option<(HostRule, Cow<'_, str>)>> = match listed(&route.hosts) {
            [] => vec![None],
            hosts => hosts.iter().map(|h| Some(host_rule(h))).collect(),
        };
        let mut seq = None;
        let mut gone = |e: &Entry| {
            let same = matches!(&e.route.target, Target::Route(r) if r.id == route.id);
            if same {
                seq = Some(e.route.seq);
            }
            same
        };
        for host in &hosts {
            let host = host.as_ref().map(|(rule, key)| (*rule, &**key));
            if !self.has_bucket(host) {
                continue;
            }
            self.with_bucket(host, |bucket| {
                bucket.no_path.retain(|e| !gone(e));
                for key in &keys {
                    bucket.remove_path(key, &mut gone);
                }
            });
        }
        if seq.is_some() {
            self.routes -= 1;
        }
        seq
    }

    /// Whether the bucket for a host rule exists.
    fn has_bucket(&self, host: Option<(HostRule, &str)>) -> bool {
        match host {
            None => true,
            Some((rule, key)) => match rule.kind() {
                HostKind::Exact => self.exact.get(key).is_some(),
                HostKind::Suffix => self.suffix.get(key).is_some(),
                HostKind::Prefix => self.prefix.get(key).is_some(),
            },
        }
    }

    // -- Lookup -------------------------------------------------------------

    fn lookup<'i>(
        &'i self,
        req: &Prepared<'_>,
        path: &str,
        pools: Option<&'i ShardMap<Arc<Pool>>>,
    ) -> Option<Hit<'i>> {
        if self.routes == 0 {
            return None;
        }
        let mut best: Best<'i> = None;
        let host = &*req.host;
        if !self.exact.is_empty() {
            if let Some(b) = self.exact.get(host) {
                scan(b, req, path, pools, &mut best);
            }
            if let Some(port) = req.port {
                let mut key = Key::new();
                let _ = write!(key, "{host}:{port}");
                if let Some(b) = self.exact.get(key.as_str()) {
                    scan(b, req, path, pools, &mut best);
                }
            }
        }
        if !self.suffix.is_empty() {
            for (i, _) in host.match_indices('.').filter(|(i, _)| *i > 0) {
                if let Some(b) = self.suffix.get(&host[i..]) {
                    scan(b, req, path, pools, &mut best);
                }
            }
        }
        if !self.prefix.is_empty() {
            for (i, _) in host.match_indices('.').filter(|(i, _)| *i + 1 < host.len()) {
                if let Some(b) = self.prefix.get(&host[..=i]) {
                    scan(b, req, path, pools, &mut best);
                }
            }
        }
        if !self.any.is_empty() {
            scan(&self.any, req, path, pools, &mut best);
        }
        best.map(|(_, hit)| hit)
    }
}

/// Whether a plain path in `mode` that matched `depth` bytes of `bytes` fits.
#[inline]
fn fits(mode: PathMode, bytes: &[u8], depth: usize) -> bool {
    match mode {
        PathMode::Prefix => true,
        PathMode::Exact => depth == bytes.len(),
        PathMode::Segment => {
            depth == bytes.len() || bytes[depth] == b'/' || (depth > 0 && bytes[depth - 1] == b'/')
        }
    }
}

/// The best hit so far, with its rank.
type Best<'i> = Option<(&'i Rank, Hit<'i>)>;

/// Considers every entry of `bucket` that can beat `best`, in rank order.
#[inline]
fn scan<'i>(
    bucket: &'i Bucket,
    req: &Prepared<'_>,
    path: &str,
    pools: Option<&'i ShardMap<Arc<Pool>>>,
    best: &mut Best<'i>,
) {
    let beats = |best: &Best<'i>, rank: &Rank| best.as_ref().is_none_or(|b| rank < b.0);
    for e in &bucket.no_path {
        if !beats(best, &e.rank) {
            break;
        }
        if !e.matches_rest(req) {
            continue;
        }
        if let Some(pool) = live_pool(e, req, pools) {
            *best = Some((
                &e.rank,
                Hit {
                    route: &e.route,
                    kong: e.kong.as_ref(),
                    path: None,
                    matched: 0,
                    pool,
                },
            ));
            break;
        }
    }
    let bytes = path.as_bytes();
    match &bucket.paths {
        Paths::Flat { entries, keys } => {
            let head = head_word(bytes);
            for (e, h) in entries.iter().zip(&keys.heads) {
                let len = h.len as usize;
                if (head ^ h.word) & h.mask != 0 || len > bytes.len() {
                    continue;
                }
                if len > 8 && bytes[8..len] != keys.key(h)[8..] {
                    continue;
                }
                // Entries come in rank order: one that fits but cannot beat the
                // best so far ends the scan.
                if !beats(best, &e.rank) {
                    break;
                }
                if let Some(hit) = path_hit(e, req, path, len, pools) {
                    *best = Some(hit);
                    break;
                }
            }
        }
        Paths::Tree(tree) => {
            if let Some(list) = tree.exact.get(path) {
                for e in list.as_slice() {
                    if !beats(best, &e.rank) {
                        break;
                    }
                    if let Some(hit) = path_hit(e, req, path, path.len(), pools) {
                        *best = Some(hit);
                        break;
                    }
                }
            }
            tree.trie.for_each_prefix(bytes, |depth, slot| {
                for e in slot.plain.iter().chain(&slot.regex) {
                    if !beats(best, &e.rank) {
                        // Both lists are in rank order; the regex one may still
                        // hold a better entry than where the plain one stopped.
                        if e.mode.is_some() {
                            continue;
                        }
                        break;
                    }
                    if let Some(hit) = path_hit(e, req, path, depth, pools) {
                        *best = Some(hit);
                        if e.mode.is_none() {
                            break;
                        }
                    }
                }
            });
        }
    }
}

/// The hit of an entry whose key matched `depth` bytes of `path`, if its path
/// and every other field fit (and, for a CF entry, its pool has a live backend).
#[inline(always)]
fn path_hit<'i>(
    e: &'i Entry,
    req: &Prepared<'_>,
    path: &str,
    depth: usize,
    pools: Option<&'i ShardMap<Arc<Pool>>>,
) -> Option<(&'i Rank, Hit<'i>)> {
    let matched = path_fits(e, path, depth)?;
    if !e.matches_rest(req) {
        return None;
    }
    let pool = live_pool(e, req, pools)?;
    Some((
        &e.rank,
        Hit {
            route: &e.route,
            kong: e.kong.as_ref(),
            path: Some(e.path as usize),
            matched,
            pool,
        },
    ))
}

/// How many bytes of `path` an entry whose key matched `depth` bytes matches:
/// a plain path by its mode, a regex by running it.
#[inline(always)]
fn path_fits(e: &Entry, path: &str, depth: usize) -> Option<usize> {
    match e.mode {
        Some(mode) => fits(mode, path.as_bytes(), depth).then_some(depth),
        None => {
            let PathRule::Regex(rule) = &e.route.paths[e.path as usize] else {
                return None;
            };
            rule.regex.find(path).map(|m| m.end())
        }
    }
}

/// For a CF entry, its pool if it still has a live backend (`None` when it has
/// not); `Some(None)` for other entries, which need no pool.
#[inline(always)]
fn live_pool<'i>(
    e: &Entry,
    req: &Prepared<'_>,
    pools: Option<&'i ShardMap<Arc<Pool>>>,
) -> Option<Option<&'i Arc<Pool>>> {
    let Some(pools) = pools else {
        return Some(None);
    };
    match &e.route.target {
        Target::CfPool(key) => {
            let pool = pools.get(key).filter(|p| p.has_live(req.now()))?;
            Some(Some(pool))
        }
        Target::Route(_) => Some(None),
    }
}

impl Index {
    /// Applies one committed change.
    pub(crate) fn apply(
        &mut self,
        action: crate::events::Action,
        object: &crate::events::Object,
        garbage: &mut Garbage,
    ) {
        use crate::events::{Action, Object};
        match (object, action) {
            (Object::HttpRoute(r), Action::Upsert) => {
                let lease = Arc::new(LeaseCell::new(r.expires_at.as_nanos()));
                self.upsert_cf(r.clone(), lease);
            }
            (Object::HttpRoute(r), Action::Delete | Action::Expire) => {
                self.remove_cf(r, None, garbage)
            }
            // A route's upsert comes with the route it replaces, through
            // `upsert_route`; here it can only be a route the index has not seen.
            (Object::Route(r), Action::Upsert) => self.upsert_route(r.clone(), None),
            (Object::Route(r), _) => {
                self.remove_route(r);
            }
            (Object::Service(s), Action::Upsert) => self.upsert_service(s.clone()),
            (Object::Service(s), _) => self.remove_service(&s.id),
            (Object::Upstream(u), Action::Upsert) => self.upsert_upstream(u),
            (Object::Upstream(u), _) => self.remove_upstream(&u.service_id),
            (Object::TcpRouteMapping(m), Action::Upsert) => self.tcp.upsert(m.clone()),
            (Object::TcpRouteMapping(m), _) => self.tcp.remove(m),
            _ => {}
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Adds a Kong-style route, replacing `old` (the route as the registry held
    /// it before, if it did). The index keeps no map of routes by id: the old
    /// route's entries are found in the buckets its own hosts and paths name.
    ///
    /// Routes are validated before they are committed, and a pattern that
    /// compiles alone compiles inside the anchoring group; a route that still
    /// failed would be left out rather than break matching.
    pub(crate) fn upsert_route(&mut self, route: Arc<Route>, old: Option<&Arc<Route>>) {
        // An update keeps the route's place among its ties: only a new route is a
        // new insertion.
        let seq = match old.and_then(|old| self.remove_route(old)) {
            Some(seq) => seq,
            None => self.next_seq(),
        };
        let service = route.service.as_ref().map(|s| self.service_slot(&s.id));
        if is_stream(&route) {
            let id = route.id.clone();
            let compiled = Arc::new(StreamRoute::new(route, seq, service));
            self.stream.insert(compiled.clone());
            self.stream_routes.update(
                &id,
                || compiled.clone(),
                |v| *v = compiled.clone(),
                |_| false,
            );
        } else if let Ok(compiled) = Compiled::kong(route, seq, service) {
            self.kong.insert(&Arc::new(compiled));
        }
    }

    /// Removes a Kong-style route, as the registry held it; returns its place
    /// among its ties if the index had it.
    pub(crate) fn remove_route(&mut self, route: &Route) -> Option<u64> {
        if is_stream(route) {
            let old = self.stream_routes.remove(&route.id)?;
            self.stream.remove(&old);
            return Some(old.seq());
        }
        self.kong.remove_route(route)
    }

    /// The best stream route for a layer 4 request.
    pub(crate) fn find_stream(&self, req: &StreamRequest<'_>) -> Option<&Arc<StreamRoute>> {
        self.stream.find(req)
    }

    /// The CF TCP pool of a router group's port, if it has a live mapping for
    /// the request.
    pub(crate) fn find_tcp(
        &self,
        router_group_guid: &str,
        port: u16,
        sni: Option<&str>,
        now: Timestamp,
    ) -> Option<&Arc<TcpPool>> {
        self.tcp
            .get(router_group_guid, port)
            .filter(|pool| pool.has_live(sni, now))
    }

    /// The slot of a service id, taken now if the id has none yet (a route may
    /// name a service the index has not seen).
    fn service_slot(&mut self, id: &str) -> u32 {
        if let Some(&slot) = self.service_slots.get(id) {
            return slot;
        }
        let slot = self.services.push();
        self.service_slots.update(id, || slot, |_| {}, |_| false);
        slot
    }

    fn edit_slot(&mut self, id: &str, f: impl FnOnce(&mut ServiceSlot)) {
        let slot = self.service_slot(id);
        let mut value = self.services.get(slot).cloned().unwrap_or_default();
        f(&mut value);
        self.services.set(slot, Some(value));
    }

    pub(crate) fn upsert_service(&mut self, service: Arc<Service>) {
        let id = service.id.clone();
        self.edit_slot(&id, |slot| slot.service = Some(service));
    }

    pub(crate) fn remove_service(&mut self, id: &str) {
        if self.service_slots.get(id).is_some() {
            self.edit_slot(id, |slot| slot.service = None);
        }
    }

    /// Builds a service's pool from its upstream, taking over the counters of
    /// the pool it replaces.
    pub(crate) fn upsert_upstream(&mut self, upstream: &Upstream) {
        let slot = self.service_slot(&upstream.service_id);
        let previous = self.services.get(slot).and_then(|s| s.pool.clone());
        let built = match previous {
            Some(prev) if *prev.config() == upstream.config => {
                prev.try_rebuild(upstream.backends.clone())
            }
            Some(prev) => prev
                .reconfigure(upstream.config.clone())
                .try_rebuild(upstream.backends.clone()),
            None => BalancePool::try_new(upstream.backends.clone(), upstream.config.clone()),
        };
        // The registry checked the upstream before committing it; a pool that
        // still failed to build leaves the service without backends.
        let pool = built.ok().map(Arc::new);
        self.edit_slot(&upstream.service_id, |slot| slot.pool = pool);
    }

    pub(crate) fn remove_upstream(&mut self, id: &str) {
        if self.service_slots.get(id).is_some() {
            self.edit_slot(id, |slot| slot.pool = None);
        }
    }

    /// The service in a slot.
    #[inline]
    pub(crate) fn service_in(&self, slot: u32) -> Option<&Arc<Service>> {
        self.services.get(slot)?.service.as_ref()
    }

    /// The backend pool of the service in a slot.
    #[inline]
    pub(crate) fn pool_in(&self, slot: u32) -> Option<&Arc<BalancePool>> {
        self.services.get(slot)?.pool.as_ref()
    }

    /// The backend pool of a service, by id.
    pub(crate) fn pool_of(&self, id: &str) -> Option<&Arc<BalancePool>> {
        self.pool_in(*self.service_slots.get(id)?)
    }

    /// Every backend pool.
    pub(crate) fn pools(&self) -> impl Iterator<Item = &Arc<BalancePool>> {
        self.services.iter().filter_map(|s| s.pool.as_ref())
    }

    /// Every backend pool with its service's id.
    pub(crate) fn service_pools(&self) -> impl Iterator<Item = (&str, &Arc<BalancePool>)> {
        self.services
            .iter()
            .filter_map(|s| Some((s.service.as_ref()?.id.as_str(), s.pool.as_ref()?)))
    }

    /// The pool key of a CF route: lowercased, trailing `/` trimmed (gorouter).
    pub(crate) fn cf_key(route: &str) -> String {
        let mut key = route.to_ascii_lowercase();
        while key.ends_with('/') {
            key.pop();
        }
        key
    }

    /// Adds a CF backend whose expiry lives in `lease` (shared with the registry,
    /// which moves it on renewal). A backend with the same key that lapsed and is
    /// still here takes the new registration.
    pub(crate) fn upsert_cf(&mut self, route: Arc<HttpRoute>, lease: Arc<LeaseCell>) {
        let key = Index::cf_key(&route.route);
        let mut created = false;
        self.pools.update(
            &key,
            || {
                created = true;
                Arc::new(Pool::default())
            },
            |pool| {
                let pool = Arc::make_mut(pool);
                let backend = PoolBackend {
                    route: route.clone(),
                    expires_at: lease.clone(),
                };
                match pool.backends.iter_mut().find(|b| b.same_key(&route)) {
                    Some(b) => *b = backend,
                    None => pool.backends.push(backend),
                }
            },
            |_| false,
        );
        if created {
            let seq = self.next_seq();
            self.cf.insert(&Arc::new(Compiled::cf(&key, seq)));
        }
    }

    /// Removes a CF backend (only the one holding `lease`, when given: a later
    /// registration of the same key keeps its place); the route goes when its
    /// last backend does. What is let go of goes to `garbage`, to be freed
    /// outside the registry's lock.
    pub(crate) fn remove_cf(
        &mut self,
        route: &HttpRoute,
        lease: Option<&Arc<LeaseCell>>,
        garbage: &mut Garbage,
    ) {
        let key = Index::cf_key(&route.route);
        let Some(pool) = self.pools.get(&key) else {
            return;
        };
        let gone = |b: &PoolBackend| {
            b.same_key(route) && lease.is_none_or(|l| Arc::ptr_eq(l, &b.expires_at))
        };
        let remaining = pool.backends.iter().filter(|b| !gone(b)).count();
        if remaining == pool.backends.len() {
            return;
        }
        if remaining > 0 {
            self.pools.update(
                &key,
                || Arc::new(Pool::default()),
                |pool| Arc::make_mut(pool).backends.retain(|b| !gone(b)),
                |_| false,
            );
            return;
        }
        if let Some(pool) = self.pools.remove(&key) {
            garbage.pools.push(pool);
        }
        self.cf.remove_cf_route(&key, garbage);
    }

    /// The best route for a request: Kong-style routes first, then CF routes.
    pub(crate) fn find<'i>(&'i self, req: &Prepared<'_>) -> Option<Hit<'i>> {
        if let Some(hit) = self.kong.lookup(req, &req.path, None) {
            return Some(hit);
        }
        if self.cf.routes == 0 {
            return None;
        }
        let mut lowered = Key::new();
        let path: &str = if req.path.bytes().any(|b| b.is_ascii_uppercase()) {
            lowered.push_lower(&req.path);
            lowered.as_str()
        } else {
            &req.path
        };
        self.cf.lookup(req, path, Some(&self.pools))
    }
}

impl Table {
    /// Removes a CF route's entries, found by its key rather than by pointer
    /// (the index keeps an equal copy).
    fn remove_cf_route(&mut self, key: &str, garbage: &mut Garbage) {
        let (host, path) = cf_parts(key);
        let same = |e: &Entry| matches!(&e.route.target, Target::CfPool(k) if **k == *key);
        let (rule, host_key) = host_rule(host);
        self.with_bucket_at(rule.kind(), &host_key, |bucket| {
            let mut drop_same = |e: &Entry| {
                let hit = same(e);
                if hit {
                    garbage.compiled.push(e.route.clone());
                }
                !hit
            };
            bucket.no_path.retain(&mut drop_same);
            if !path.is_empty() {
                bucket.remove_path(path, |e| !drop_same(e));
            }
        });
        self.routes -= 1;
    }
}

/// Which host table a host rule lives in.
#[derive(Clone, Copy)]
enum HostKind {
    Exact,
    Suffix,
    Prefix,
}

/// Whether a Kong-style route is a stream route: every protocol it names is.
fn is_stream(route: &Route) -> bool {
    !route.protocols.is_empty() && route.protocols.iter().all(|p| p.is_stream())
}

/// What index changes let go of, kept to be freed after the registry's lock
/// is released.
#[derive(Default)]
pub(crate) struct Garbage {
    pools: Vec<Arc<Pool>>,
    compiled: Vec<Arc<Compiled>>,
    dead: Vec<(Arc<HttpRoute>, Arc<LeaseCell>)>,
}

impl Garbage {
    /// Keeps a lapsed backend's registration, to free it later.
    pub(crate) fn keep(&mut self, dead: (Arc<HttpRoute>, Arc<LeaseCell>)) {
        self.dead.push(dead);
    }

    /// Frees everything kept.
    pub(crate) fn clear(&mut self) {
        self.pools.clear();
        self.compiled.clear();
        self.dead.clear();
    }
}

/// Prepares a request's host and path.
#[inline]
pub(crate) fn prepare<'r>(
    protocol: Protocol,
    method: &'r str,
    host: &'r str,
    path: &'r str,
    headers: &'r [(&'r str, &'r str)],
    sni: Option<&'r str>,
    clock: &'r dyn Clock,
) -> Prepared<'r> {
    let (host, port) = normalize::host(host);
    Prepared {
        protocol,
        method,
        host,
        port,
        path: normalize::path(path),
        headers,
        sni,
        clock,
        now: OnceCell::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes() {
        for (pattern, prefix) in [
            ("/users/\\d+", "/users/"),
            ("/users/(?<id>\\d+)$", "/users/"),
            ("/ab?c", "/a"),
            ("/a\\.b/x", "/a.b/x"),
            ("/v[12]/x", "/v"),
            ("/a|/b", ""),
            ("(?i)/abc", ""),
            (".*", ""),
            ("/x{2}", "/"),
        ] {
            assert_eq!(literal_prefix(pattern), prefix, "{pattern}");
        }
    }
}
