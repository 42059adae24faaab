//! CF routing-api's event streams as server-sent events, with resumption.
//!
//! Each frame is CF's: `id: N`, `event: Upsert|Delete`, `data: <object JSON>`, then
//! a blank line. Unlike CF, `id` is the registry revision of the change, and a
//! client that sends it back as `Last-Event-ID` (header, or the `last_event_id`
//! query parameter) gets every change after it, then live ones. Idle streams carry
//! `: heartbeat` comment lines.
//!
//! A stream that can no longer be continued exactly (its resume point left the kept
//! history, it names a revision the registry never had, or the client fell so far
//! behind that its buffer overflowed) gets one final `event: Resync` frame whose
//! data says why and from where, and is closed: the client lists the objects again
//! (the list's `X-Routeyard-Revision` header is a safe resume point) and
//! resubscribes.
//!
//! The registry's subscriptions block on a channel, so each stream has a thread of
//! its own that feeds a bounded tokio channel; the thread ends, and unsubscribes,
//! within a quarter second of the client going away or the server shutting down.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use routeyard::dialect::cf;
use routeyard::{ErrorKind, Event, Filter, Kind, Object, RecvError, Subscription};
use serde_json::json;
use tokio::sync::{mpsc, watch};

use crate::app::{AppState, CfError};
use crate::auth::ROUTES_READ;
use crate::query;

/// How often a stream's thread looks whether its client is still there.
const POLL: Duration = Duration::from_millis(250);
/// Frames waiting between a stream's thread and its connection.
const CHANNEL: usize = 256;
/// Most events written in one chunk.
const BATCH: usize = 256;

/// `GET /routing/v1/events`: changes to HTTP routes.
pub(crate) async fn http_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, CfError> {
    stream(state, &headers, raw.as_deref(), Kind::HttpRoute)
}

/// `GET /routing/v1/tcp_routes/events`: changes to TCP route mappings.
pub(crate) async fn tcp_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, CfError> {
    stream(state, &headers, raw.as_deref(), Kind::TcpRouteMapping)
}

/// What a stream's thread hands to its connection.
enum Frame {
    Event(Event),
    /// The subscriber overflowed; everything up to this revision was delivered.
    Lagged(u64),
}

/// The revision to resume after: the `Last-Event-ID` header (what an EventSource
/// sends on reconnecting), else the `last_event_id` query parameter.
fn resume_point(headers: &HeaderMap, raw_query: Option<&str>) -> Result<Option<u64>, CfError> {
    let pairs = query::pairs(raw_query);
    let text = match headers.get("last-event-id") {
        Some(value) => value.to_str().unwrap_or("\u{fffd}").to_string(),
        None => match query::first(&pairs, "last_event_id") {
            Some(value) => value.to_string(),
            None => return Ok(None),
        },
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        CfError::process_request(&format!(
            "Last-Event-ID must be a revision number, got {text:?}"
        ))
    })
}

fn stream(
    state: AppState,
    headers: &HeaderMap,
    raw_query: Option<&str>,
    kind: Kind,
) -> Result<Response, CfError> {
    state
        .authorize(headers, ROUTES_READ)
        .map_err(CfError::unauthorized)?;
    let from = resume_point(headers, raw_query)?;
    let subscription = match state.registry.subscribe(Filter::only(kind), from) {
        Ok(subscription) => subscription,
        Err(err) => {
            let reason = match err.kind() {
                ErrorKind::Compacted => "compacted",
                _ => "unknown_revision",
            };
            let data = json!({
                "reason": reason,
                "message": err.message(),
                "revision": state.registry.revision(),
                "oldest_revision": err.oldest_revision(),
            });
            return Ok(sse_response(Body::from(resync_frame(None, &data))));
        }
    };
    let (tx, rx) = mpsc::channel(CHANNEL);
    std::thread::Builder::new()
        .name("routeyard-events".into())
        .spawn(move || pump(subscription, tx))
        .map_err(|e| CfError::from_internal(&format!("cannot start an event stream: {e}")))?;
    let body = frames(rx, state.heartbeat, state.shutdown);
    Ok(sse_response(Body::from_stream(body)))
}

fn sse_response(body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (CONNECTION, "keep-alive"),
        ],
        body,
    )
        .into_response()
}

/// Moves events from the subscription to the connection until either side is gone.
fn pump(mut subscription: Subscription, tx: mpsc::Sender<Frame>) {
    loop {
        match subscription.recv_timeout(POLL) {
            Ok(event) => {
                if tx.blocking_send(Frame::Event(event)).is_err() {
                    return;
                }
            }
            Err(RecvError::Timeout) => {
                if tx.is_closed() {
                    return;
                }
            }
            Err(RecvError::Lagged { resume_from }) => {
                let _ = tx.blocking_send(Frame::Lagged(resume_from));
                return;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// CF's frame for one event.
fn event_frame(out: &mut String, event: &Event) {
    let data = match &event.object {
        Object::HttpRoute(route) => cf::encode(&**route),
        Object::TcpRouteMapping(mapping) => cf::encode(&**mapping),
        // The stream's filter admits nothing else.
        _ => return,
    };
    out.push_str("id: ");
    out.push_str(&event.revision.to_string());
    out.push_str("\nevent: ");
    out.push_str(event.action.cf_name());
    out.push_str("\ndata: ");
    out.push_str(&data);
    out.push_str("\n\n");
}

/// The final frame of a stream that the client must resynchronise.
fn resync_frame(id: Option<u64>, data: &serde_json::Value) -> String {
    let id = id.map(|id| format!("id: {id}\n")).unwrap_or_default();
    format!("{id}event: Resync\ndata: {data}\n\n")
}

struct Pump {
    rx: mpsc::Receiver<Frame>,
    heartbeat: tokio::time::Interval,
    shutdown: watch::Receiver<bool>,
    done: bool,
}

/// The body: event frames (several per chunk when they queue up), heartbeats while
/// idle, and the end on shutdown or after a resync frame.
fn frames(
    rx: mpsc::Receiver<Frame>,
    every: Duration,
    shutdown: watch::Receiver<bool>,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let start = tokio::time::Instant::now() + every;
    let mut heartbeat = tokio::time::interval_at(start, every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let pump = Pump {
        rx,
        heartbeat,
        shutdown,
        done: false,
    };
    futures_util::stream::unfold(pump, |mut p| async move {
        if p.done || *p.shutdown.borrow() {
            return None;
        }
        let first = tokio::select! {
            frame = p.rx.recv() => frame?,
            _ = p.heartbeat.tick() => {
                return Some((Ok(Bytes::from_static(b": heartbeat\n\n")), p));
            }
            _ = p.shutdown.changed() => return None,
        };
        let mut out = String::new();
        let mut next = Some(first);
        let mut count = 0;
        while let Some(frame) = next.take() {
            match frame {
                Frame::Event(event) => event_frame(&mut out, &event),
                Frame::Lagged(resume_from) => {
                    let data = json!({
                        "reason": "lagged",
                        "message": RecvError::Lagged { resume_from }.to_string(),
                        "resume_from": resume_from,
                    });
                    out.push_str(&resync_frame(Some(resume_from), &data));
                    p.done = true;
                    break;
                }
            }
            count += 1;
            if count < BATCH {
                next = p.rx.try_recv().ok();
            }
        }
        p.heartbeat.reset();
        Some((Ok(Bytes::from(out)), p))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn resume_point_prefers_the_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(resume_point(&headers, None).unwrap(), None);
        assert_eq!(
            resume_point(&headers, Some("last_event_id=7")).unwrap(),
            Some(7)
        );
        assert_eq!(
            resume_point(&headers, Some("last_event_id=")).unwrap(),
            None
        );
        headers.insert("last-event-id", HeaderValue::from_static(" 9 "));
        assert_eq!(
            resume_point(&headers, Some("last_event_id=7")).unwrap(),
            Some(9)
        );
        headers.insert("last-event-id", HeaderValue::from_static("nine"));
        let err = resume_point(&headers, None).unwrap_err();
        assert_eq!(err.0.status, 400);
        assert_eq!(
            err.0.message,
            "Cannot process request: Last-Event-ID must be a revision number, got \"nine\""
        );
    }

    #[test]
    fn frames_are_cf_shaped() {
        let route = routeyard::HttpRoute::new("a.com", "1.2.3.4", 80);
        let event = Event {
            revision: 12,
            action: routeyard::Action::Expire,
            object: Object::HttpRoute(route.into()),
        };
        let mut out = String::new();
        event_frame(&mut out, &event);
        assert!(out.starts_with("id: 12\nevent: Delete\ndata: {\"route\":\"a.com\""));
        assert!(out.ends_with("}\n\n"));
        assert_eq!(
            resync_frame(Some(3), &json!({"reason": "lagged"})),
            "id: 3\nevent: Resync\ndata: {\"reason\":\"lagged\"}\n\n"
        );
    }
}
