//! The revisioned change log: events, history, subscriptions.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use crate::error::{Error, ErrorKind};
use crate::model::cf::{HttpRoute, PortReservation, RouterGroup, TcpRouteMapping};
use crate::model::kong::{Route, Service};
use crate::model::upstream::{NamedServer, Upstream};
use crate::sync::Backlog;

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Created or updated.
    Upsert,
    /// Removed by a request.
    Delete,
    /// Removed because its lease lapsed.
    Expire,
}

impl Action {
    /// CF's event name on the wire: `Upsert` for [`Action::Upsert`], `Delete` for
    /// both [`Action::Delete`] and [`Action::Expire`].
    pub fn cf_name(self) -> &'static str {
        match self {
            Action::Upsert => "Upsert",
            Action::Delete | Action::Expire => "Delete",
        }
    }
}

/// The kind of object an event carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// A CF HTTP route.
    HttpRoute,
    /// A CF TCP route mapping.
    TcpRouteMapping,
    /// A router group.
    RouterGroup,
    /// A port reservation.
    PortReservation,
    /// A Kong-style route.
    Route,
    /// A Kong-style service.
    Service,
    /// A service's backends and balancing.
    Upstream,
    /// A gobetween server.
    Server,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::HttpRoute,
        Kind::TcpRouteMapping,
        Kind::RouterGroup,
        Kind::PortReservation,
        Kind::Route,
        Kind::Service,
        Kind::Upstream,
        Kind::Server,
    ];

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The object an event is about, as it was after an upsert or just before a
/// delete or expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Object {
    /// A CF HTTP route.
    HttpRoute(Arc<HttpRoute>),
    /// A CF TCP route mapping.
    TcpRouteMapping(Arc<TcpRouteMapping>),
    /// A router group.
    RouterGroup(Arc<RouterGroup>),
    /// A port reservation.
    PortReservation(Arc<PortReservation>),
    /// A Kong-style route.
    Route(Arc<Route>),
    /// A Kong-style service.
    Service(Arc<Service>),
    /// A service's backends and balancing.
    Upstream(Arc<Upstream>),
    /// A gobetween server.
    Server(Arc<NamedServer>),
}

impl Object {
    /// The kind of the object.
    pub fn kind(&self) -> Kind {
        match self {
            Object::HttpRoute(_) => Kind::HttpRoute,
            Object::TcpRouteMapping(_) => Kind::TcpRouteMapping,
            Object::RouterGroup(_) => Kind::RouterGroup,
            Object::PortReservation(_) => Kind::PortReservation,
            Object::Route(_) => Kind::Route,
            Object::Service(_) => Kind::Service,
            Object::Upstream(_) => Kind::Upstream,
            Object::Server(_) => Kind::Server,
        }
    }
}

/// One committed change. Revisions are consecutive: every committed change
/// advances the registry's revision by one and publishes exactly one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The registry's revision once this change was applied.
    pub revision: u64,
    /// What happened.
    pub action: Action,
    /// The object it happened to.
    pub object: Object,
}

impl Event {
    /// The kind of the object.
    pub fn kind(&self) -> Kind {
        self.object.kind()
    }
}

/// Which kinds of object a subscription receives.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Filter {
    kinds: u8,
}

impl Filter {
    /// Every kind.
    pub fn all() -> Filter {
        Filter {
            kinds: Kind::ALL.iter().fold(0, |acc, k| acc | k.bit()),
        }
    }

    /// No kind; add some with [`Filter::with`].
    pub fn none() -> Filter {
        Filter { kinds: 0 }
    }

    /// Only `kind`.
    pub fn only(kind: Kind) -> Filter {
        Filter { kinds: kind.bit() }
    }

    /// This filter plus `kind`.
    pub fn with(self, kind: Kind) -> Filter {
        Filter {
            kinds: self.kinds | kind.bit(),
        }
    }

    /// Whether events about `kind` pass.
    pub fn accepts(self, kind: Kind) -> bool {
        self.kinds & kind.bit() != 0
    }
}

impl Default for Filter {
    fn default() -> Filter {
        Filter::all()
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(Kind::ALL.iter().filter(|k| self.accepts(**k)))
            .finish()
    }
}

/// Why [`Subscription::recv`] returned no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvError {
    /// The subscriber fell behind and its buffer overflowed. Every event up to and
    /// including `resume_from` was delivered; subscribe again from `resume_from`
    /// (or load a snapshot) to continue. The subscription is closed.
    Lagged {
        /// The last revision whose events were all delivered.
        resume_from: u64,
    },
    /// No event arrived within the timeout.
    Timeout,
    /// The registry is gone, or the subscription already reported `Lagged`.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Lagged { resume_from } => write!(
                f,
                "subscriber lagged behind and was closed; resume from revision {resume_from}"
            ),
            RecvError::Timeout => f.write_str("no event within the timeout"),
            RecvError::Closed => f.write_str("subscription closed"),
        }
    }
}

impl std::error::Error for RecvError {}

/// What travels to a subscriber: the first `len` events of a commit (shared by
/// every subscriber that takes all of them), or the notice that it lagged.
pub(crate) enum Message {
    Batch(Arc<[Event]>, usize),
    Lagged { resume_from: u64 },
}

/// A stream of events: first the replayed history, then live changes.
///
/// Each subscription has a bounded buffer; writers never wait for it. If it
/// overflows, the subscription receives [`RecvError::Lagged`] after the events it
/// did get, and is closed. Dropping it unsubscribes.
pub struct Subscription {
    replay: VecDeque<Event>,
    rx: Receiver<Message>,
    /// The batch being read: its events and the next index and end.
    current: Option<(Arc<[Event]>, usize, usize)>,
    /// Events sent and not yet taken, shared with the writer side, which counts
    /// the buffer in events.
    outstanding: Arc<Backlog>,
    closed: bool,
    /// Held while the subscription exists; the log watches it to drop subscribers
    /// that are gone even when no event of their kinds is published.
    _alive: Arc<()>,
}

impl Subscription {
    /// The next event of the batch being read, if any.
    fn next_buffered(&mut self) -> Option<Event> {
        if let Some(e) = self.replay.pop_front() {
            return Some(e);
        }
        let (batch, next, end) = self.current.as_mut()?;
        let event = batch[*next].clone();
        *next += 1;
        if *next == *end {
            self.current = None;
        }
        self.outstanding.take();
        Some(event)
    }

    fn take(&mut self, message: Message) -> Result<Event, RecvError> {
        match message {
            Message::Batch(events, len) => {
                self.current = Some((events, 0, len));
                // A batch is never empty.
                self.next_buffered().ok_or(RecvError::Closed)
            }
            Message::Lagged { resume_from } => {
                self.closed = true;
                Err(RecvError::Lagged { resume_from })
            }
        }
    }

    /// Waits for the next event.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged`] once if the buffer overflowed, then [`RecvError::Closed`].
    pub fn recv(&mut self) -> Result<Event, RecvError> {
        self.recv_deadline(None)
    }

    /// Waits up to `timeout` for the next event.
    ///
    /// # Errors
    ///
    /// [`RecvError::Timeout`] when nothing arrived; otherwise as [`Subscription::recv`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Event, RecvError> {
        self.recv_deadline(Some(Instant::now() + timeout))
    }

    fn recv_deadline(&mut self, deadline: Option<Instant>) -> Result<Event, RecvError> {
        if let Some(e) = self.next_buffered() {
            return Ok(e);
        }
        if self.closed {
            return Err(RecvError::Closed);
        }
        let message = match deadline {
            None => self.rx.recv().map_err(|_| RecvError::Closed),
            Some(d) => self.rx.recv_deadline(d).map_err(|e| match e {
                RecvTimeoutError::Timeout => RecvError::Timeout,
                RecvTimeoutError::Disconnected => RecvError::Closed,
            }),
        };
        match message {
            Ok(m) => self.take(m),
            Err(e) => {
                if e == RecvError::Closed {
                    self.closed = true;
                }
                Err(e)
            }
        }
    }

    /// The next event if one is ready, without waiting.
    ///
    /// # Errors
    ///
    /// As [`Subscription::recv`]; an empty buffer is `Ok(None)`.
    pub fn try_recv(&mut self) -> Result<Option<Event>, RecvError> {
        if let Some(e) = self.next_buffered() {
            return Ok(Some(e));
        }
        if self.closed {
            return Err(RecvError::Closed);
        }
        match self.rx.try_recv() {
            Ok(m) => self.take(m).map(Some),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => {
                self.closed = true;
                Err(RecvError::Closed)
            }
        }
    }

    /// The number of events that can be received without waiting.
    pub fn pending(&self) -> usize {
        self.replay.len() + self.outstanding.len()
    }
}

impl Iterator for Subscription {
    type Item = Result<Event, RecvError>;

    /// Blocks for the next event; ends when the subscription is closed. A lag is
    /// reported as one `Err` item before the end.
    fn next(&mut self) -> Option<Self::Item> {
        match self.recv() {
            Err(RecvError::Closed) => None,
            other => Some(other),
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("pending", &self.pending())
            .field("closed", &self.closed)
            .finish()
    }
}

struct Subscriber {
    tx: Sender<Message>,
    filter: Filter,
    capacity: usize,
    outstanding: Arc<Backlog>,
    alive: Weak<()>,
}

/// The kept history and the live subscribers.
pub(crate) struct EventLog {
    history: VecDeque<Event>,
    max_history: usize,
    subscribers: Vec<Subscriber>,
}

impl EventLog {
    pub(crate) fn new(max_history: usize) -> EventLog {
        EventLog {
            history: VecDeque::with_capacity(max_history.min(1 << 16)),
            max_history,
            subscribers: Vec::new(),
        }
    }

    /// Records a commit's events and offers them to every subscriber, one
    /// message per subscriber; never blocks. A subscriber whose buffer (counted in
    /// events) cannot take them all gets what fits, then the lag notice, and is
    /// dropped.
    pub(crate) fn publish(&mut self, events: &mut Vec<Event>) {
        if events.is_empty() {
            return;
        }
        if !self.subscribers.is_empty() {
            let mut shared: Option<Arc<[Event]>> = None;
            self.subscribers.retain(|s| {
                if s.alive.strong_count() == 0 {
                    return false;
                }
                let batch: Arc<[Event]> = if s.filter == Filter::all() {
                    shared
                        .get_or_insert_with(|| Arc::from(events.as_slice()))
                        .clone()
                } else {
                    let picked: Vec<Event> = events
                        .iter()
                        .filter(|e| s.filter.accepts(e.kind()))
                        .cloned()
                        .collect();
                    if picked.is_empty() {
                        return true;
                    }
                    picked.into()
                };
                let fit = s.outstanding.offer(batch.len(), s.capacity);
                if fit > 0 && s.tx.send(Message::Batch(batch.clone(), fit)).is_err() {
                    return false;
                }
                if fit == batch.len() {
                    return true;
                }
                let _ = s.tx.send(Message::Lagged {
                    resume_from: batch[fit].revision - 1,
                });
                false
            });
        }
        if self.max_history == 0 {
            events.clear();
            return;
        }
        for event in events.drain(..) {
            if self.history.len() == self.max_history {
                self.history.pop_front();
            }
            self.history.push_back(event);
        }
    }

    /// A subscription replaying the events after `from` (all kept history must
    /// cover it), then receiving live events. `current` is the registry's revision.
    pub(crate) fn subscribe(
        &mut self,
        filter: Filter,
        from: Option<u64>,
        current: u64,
        capacity: usize,
    ) -> Result<Subscription, Error> {
        let mut replay = VecDeque::new();
        if let Some(from) = from {
            if from > current {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("revision {from} is newer than the registry's revision {current}"),
                ));
            }
            // Revisions are consecutive, so the history holds exactly
            // `oldest..=current`.
            let oldest = current + 1 - self.history.len() as u64;
            if from + 1 < oldest {
                return Err(Error::compacted(from, oldest));
            }
            let skip = (from + 1 - oldest) as usize;
            replay.extend(
                self.history
                    .iter()
                    .skip(skip)
                    .filter(|e| filter.accepts(e.kind()))
                    .cloned(),
            );
        }
        // The channel is unbounded: the writer never sends more than `capacity`
        // events that the subscriber has not taken (see `publish`).
        let (tx, rx) = crossbeam_channel::unbounded();
        let alive = Arc::new(());
        let outstanding = Arc::new(Backlog::new());
        self.subscribers.push(Subscriber {
            tx,
            filter,
            capacity: capacity.max(1),
            outstanding: outstanding.clone(),
            alive: Arc::downgrade(&alive),
        });
        Ok(Subscription {
            replay,
            rx,
            current: None,
            outstanding,
            closed: false,
            _alive: alive,
        })
    }

    /// The number of subscriptions still held by someone.
    pub(crate) fn subscriber_count(&self) -> usize {
        self.subscribers
            .iter()
            .filter(|s| s.alive.strong_count() > 0)
            .count()
    }
}

impl fmt::Debug for EventLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLog")
            .field("history", &self.history.len())
            .field("max_history", &self.max_history)
            .field("subscribers", &self.subscribers.len())
            .finish()
    }
}
