//! Event streams: CF frames, resumption by Last-Event-ID, heartbeats, resync on lag
//! or a lost resume point, cleanup when the client leaves, shutdown.

use serde_json::json;

use crate::support::Facade;

const EVENTS: &str = "/routing/v1/events";
const TCP_EVENTS: &str = "/routing/v1/tcp_routes/events";
const ROUTES: &str = "/routing/v1/routes";

fn route(n: usize) -> serde_json::Value {
    json!({"route": format!("r{n}.example.com"), "ip": "10.0.0.1", "port": 8000 + n})
}

fn upsert(facade: &Facade, from: usize, to: usize) {
    let batch: Vec<_> = (from..to).map(route).collect();
    let answer = facade.post(ROUTES, &json!(batch).to_string());
    assert_eq!(answer.status, 201, "{}", answer.body);
}

#[test]
fn frames_carry_revisions_and_cf_event_names() {
    let facade = Facade::start(&["--heartbeat", "30"]);
    let mut stream = facade.events(EVENTS, &[]);
    assert_eq!(stream.status, 200);
    assert_eq!(stream.content_type, "text/event-stream; charset=utf-8");
    facade.wait_for_stats("the stream subscribed", |s| s["subscribers"] == 1);

    upsert(&facade, 0, 1);
    let answer = facade.delete(ROUTES, &json!([route(0)]).to_string());
    assert_eq!(answer.status, 204);

    let first = stream.next_event().expect("an upsert");
    assert_eq!(first.event.as_deref(), Some("Upsert"));
    let data = first.data_json();
    assert_eq!(data["route"], "r0.example.com");
    assert_eq!(data["port"], 8000);
    assert_eq!(data["ttl"], 120);
    let id: u64 = first.id.unwrap().parse().unwrap();
    let second = stream.next_event().expect("a delete");
    assert_eq!(second.event.as_deref(), Some("Delete"));
    assert_eq!(second.id, Some((id + 1).to_string()));
    assert_eq!(second.data_json()["route"], "r0.example.com");
}

#[test]
fn tcp_events_see_only_tcp_mappings() {
    let facade = Facade::start(&[]);
    let guid = facade.get("/routing/v1/router_groups").json()[0]["guid"].clone();
    let mut stream = facade.events(TCP_EVENTS, &[]);
    assert_eq!(stream.status, 200);
    facade.wait_for_stats("the stream subscribed", |s| s["subscribers"] == 1);
    upsert(&facade, 0, 2);
    let mapping = json!([{"router_group_guid": guid, "port": 5000,
                          "backend_ip": "10.0.0.9", "backend_port": 6000}]);
    let answer = facade.post("/routing/v1/tcp_routes/create", &mapping.to_string());
    assert_eq!(answer.status, 201);
    let frame = stream.next_event().expect("the mapping");
    assert_eq!(frame.event.as_deref(), Some("Upsert"));
    assert_eq!(frame.data_json()["backend_ip"], "10.0.0.9");
    // The two HTTP routes came first (revisions 2 and 3 after the seed at 1).
    assert_eq!(frame.id.as_deref(), Some("4"));
}

#[test]
fn last_event_id_resumes_after_that_revision_by_header_or_query() {
    let facade = Facade::start(&[]);
    upsert(&facade, 0, 5); // revisions 2..=6 (the seeded group is 1)

    let mut stream = facade.events(EVENTS, &[("Last-Event-ID", "3")]);
    let ids: Vec<String> = (0..3)
        .map(|_| stream.next_event().unwrap().id.unwrap())
        .collect();
    assert_eq!(ids, ["4", "5", "6"]);
    // Then live changes.
    upsert(&facade, 5, 6);
    let live = stream.next_event().unwrap();
    assert_eq!(live.id.as_deref(), Some("7"));
    assert_eq!(live.data_json()["route"], "r5.example.com");

    let mut stream = facade.events(&format!("{EVENTS}?last_event_id=5"), &[]);
    assert_eq!(stream.next_event().unwrap().id.as_deref(), Some("6"));
    assert_eq!(stream.next_event().unwrap().id.as_deref(), Some("7"));

    // The header wins over the query parameter (a reconnecting EventSource keeps
    // its URL and sends the header).
    let mut stream = facade.events(
        &format!("{EVENTS}?last_event_id=2"),
        &[("Last-Event-ID", "6")],
    );
    assert_eq!(stream.next_event().unwrap().id.as_deref(), Some("7"));

    // Resuming at the current revision replays nothing and waits.
    let mut stream = facade.events(EVENTS, &[("Last-Event-ID", "7")]);
    upsert(&facade, 6, 7);
    assert_eq!(stream.next_event().unwrap().id.as_deref(), Some("8"));

    let answer = facade.send("GET", EVENTS, &[("Last-Event-ID", "soon")], "");
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json(),
        json!({"name": "ProcessRequestError",
               "message": "Cannot process request: Last-Event-ID must be a revision number, got \"soon\""})
    );
}

#[test]
fn idle_streams_get_heartbeats() {
    let facade = Facade::start(&["--heartbeat", "0.05"]);
    let mut stream = facade.events(EVENTS, &[]);
    for _ in 0..3 {
        let frame = stream.next_frame().expect("a heartbeat");
        assert_eq!(frame.comment.as_deref(), Some("heartbeat"));
        assert_eq!((frame.id, frame.event, frame.data), (None, None, None));
    }
}

#[test]
fn a_lost_resume_point_gets_a_resync_frame_and_the_end() {
    let facade = Facade::start(&["--event-history", "4"]);
    upsert(&facade, 0, 8); // revisions 2..=9, only 6..=9 kept
    let mut stream = facade.events(EVENTS, &[("Last-Event-ID", "2")]);
    assert_eq!(stream.status, 200);
    let frame = stream.next_event().expect("a resync frame");
    assert_eq!(frame.event.as_deref(), Some("Resync"));
    assert_eq!(frame.id, None);
    let data = frame.data_json();
    assert_eq!(data["reason"], "compacted");
    assert_eq!(data["revision"], 9);
    assert_eq!(data["oldest_revision"], 6);
    assert!(data["message"].as_str().unwrap().contains("no longer"));
    assert!(stream.next_frame().is_none(), "the stream ends");

    // The oldest kept point still resumes.
    let mut stream = facade.events(EVENTS, &[("Last-Event-ID", "5")]);
    assert_eq!(stream.next_event().unwrap().id.as_deref(), Some("6"));

    // A revision the registry never reached (a restarted server) resyncs too.
    let mut stream = facade.events(EVENTS, &[("Last-Event-ID", "1000")]);
    let data = stream.next_event().unwrap().data_json();
    assert_eq!(data["reason"], "unknown_revision");
    assert!(stream.next_frame().is_none());
}

#[test]
fn a_lagging_client_gets_a_resync_frame_then_resumes() {
    let facade = Facade::start(&["--event-buffer", "4"]);
    let mut stream = facade.events(EVENTS, &[]);
    facade.wait_for_stats("the stream subscribed", |s| s["subscribers"] == 1);
    // One commit of ten events overflows a buffer of four.
    upsert(&facade, 0, 10); // revisions 2..=11
    let ids: Vec<String> = (0..4)
        .map(|_| stream.next_event().unwrap().id.unwrap())
        .collect();
    assert_eq!(ids, ["2", "3", "4", "5"]);
    let frame = stream.next_event().expect("a resync frame");
    assert_eq!(frame.event.as_deref(), Some("Resync"));
    assert_eq!(frame.id.as_deref(), Some("5"));
    let data = frame.data_json();
    assert_eq!(
        (data["reason"].clone(), data["resume_from"].clone()),
        (json!("lagged"), json!(5))
    );
    assert!(stream.next_frame().is_none(), "the stream ends");
    facade.wait_for_stats("the lagged subscription is gone", |s| s["subscribers"] == 0);

    // Reconnecting with the resync frame's id picks up exactly where it broke off.
    // The replay is not bounded by the live buffer.
    let mut stream = facade.events(EVENTS, &[("Last-Event-ID", "5")]);
    let ids: Vec<String> = (0..6)
        .map(|_| stream.next_event().unwrap().id.unwrap())
        .collect();
    assert_eq!(ids, ["6", "7", "8", "9", "10", "11"]);
}

#[test]
fn a_departed_client_unsubscribes() {
    let facade = Facade::start(&[]);
    let stream = facade.events(EVENTS, &[]);
    let other = facade.events(TCP_EVENTS, &[]);
    facade.wait_for_stats("two streams", |s| s["subscribers"] == 2);
    drop(stream);
    facade.wait_for_stats("one stream left", |s| s["subscribers"] == 1);
    drop(other);
    facade.wait_for_stats("no stream left", |s| s["subscribers"] == 0);
    // The server still serves.
    upsert(&facade, 0, 1);
}

#[test]
fn shutdown_ends_open_streams() {
    let facade = Facade::start(&["--heartbeat", "30"]);
    let mut stream = facade.events(EVENTS, &[]);
    facade.wait_for_stats("the stream subscribed", |s| s["subscribers"] == 1);
    let reader = std::thread::spawn(move || stream.next_frame());
    let (exit, rest) = facade.terminate();
    assert!(exit.success(), "{exit:?}");
    assert!(rest.contains("routeyard-facade stopped"), "{rest}");
    assert_eq!(reader.join().unwrap(), None, "the stream ended cleanly");
}

#[test]
fn a_lapsed_lease_leaves_with_a_delete_event() {
    let facade = Facade::start(&[]);
    let mut stream = facade.events(EVENTS, &[]);
    facade.wait_for_stats("the stream subscribed", |s| s["subscribers"] == 1);
    let answer = facade.post(
        ROUTES,
        r#"[{"route":"brief.example.com","ip":"10.0.0.1","port":80,"ttl":1}]"#,
    );
    assert_eq!(answer.status, 201);
    let upsert = stream.next_event().unwrap();
    assert_eq!(upsert.event.as_deref(), Some("Upsert"));
    // The reaper sweeps the lapsed lease and CF calls that a Delete.
    let gone = stream.next_event().unwrap();
    assert_eq!(gone.event.as_deref(), Some("Delete"));
    assert_eq!(gone.data_json()["route"], "brief.example.com");
    assert_eq!(facade.get(ROUTES).body, "[]");
}
