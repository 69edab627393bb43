//! The HTTP routes: reading and checking request bodies, scoring one lead or a batch
//! (in order, on several threads when large), the JSON error bodies, and the middleware
//! that logs and counts every request.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Extension, MatchedPath, Path, Request, State as AxumState};
use axum::http::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::{Deserializer as _, SeqAccess, Visitor};

use super::State;
use super::auth::TokenFile;
use super::budget::Room;
use super::connection::Activity;
use super::decisions::Decision;
use super::reload::{RuleSet, Snapshot};
use crate::date::Date;
use crate::io::{InputFormat, RawRecord, ReadOptions, RecordReader};
use crate::lead::Lead;
use crate::scorer::Scorer;
use crate::verdict::Verdict;

type AppState = AxumState<Arc<State>>;

/// Batches at least this long are scored on several threads.
const PARALLEL_MIN: usize = 64;

const JSON: &str = "application/json";
const NDJSON: &str = "application/x-ndjson";

/// The hash of the rules that answered, on every response.
pub(crate) const RULES_HEADER: HeaderName = HeaderName::from_static("x-leadscore-rules");

/// The request's id: the caller's, or one made up; on every response and in the
/// decision log.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub(crate) fn router(state: Arc<State>) -> Router {
    let routes = match state.named.is_empty() {
        true => routes(),
        false => named_routes(),
    };
    layered(routes, state)
}

fn routes() -> Router<Arc<State>> {
    shared_routes(
        Router::new()
            .route("/v1/score", post(score))
            .route("/v1/explain", post(explain))
            .route("/v1/rules", get(rules)),
    )
}

/// Several rule sets: each under `/v1/NAME/`; `/v1/rules` lists them.
fn named_routes() -> Router<Arc<State>> {
    shared_routes(
        Router::new()
            .route("/v1/{set}/score", post(score_named))
            .route("/v1/{set}/explain", post(explain_named))
            .route("/v1/{set}/rules", get(rules_named))
            .route("/v1/rules", get(rule_sets)),
    )
}

/// The routes both layouts serve, and what answers the rest.
fn shared_routes(router: Router<Arc<State>>) -> Router<Arc<State>> {
    router
        .route("/v1/shadow", get(shadow))
        .route("/v1/shadow/reset", post(shadow_reset))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The middleware around every route: a panic becomes a 500 for its request only, and
/// [`front`] does the rest (activity, id, token, timeout, log and count) in one layer.
fn layered(routes: Router<Arc<State>>, state: Arc<State>) -> Router {
    let panics = tower_http::catch_panic::CatchPanicLayer::custom(|_| {
        tracing::error!("a request handler panicked");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
    });
    routes
        .layer(panics)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), front))
        .with_state(state)
}

/// How many leads a response scored, for the request log.
#[derive(Debug, Clone, Copy)]
struct Leads(usize);

/// A request's id, as handlers see it.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub Arc<str>);

/// Where this process's request ids start: unlikely to repeat across restarts.
fn boot_id() -> u64 {
    static BOOT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BOOT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ u64::from(std::process::id()).rotate_left(48)
    })
}

/// The caller's `X-Request-Id` when it is usable (1 to 128 visible ASCII characters),
/// else a new one: unique within this process and unlikely to repeat across restarts.
/// Also the header value to answer with.
fn request_id(headers: &HeaderMap) -> (Arc<str>, Option<HeaderValue>) {
    if let Some(given) = headers.get(REQUEST_ID)
        && (1..=128).contains(&given.len())
        && given.as_bytes().iter().all(|b| b.is_ascii_graphic())
    {
        // Visible ASCII is UTF-8.
        let id = Arc::from(String::from_utf8_lossy(given.as_bytes()).as_ref());
        return (id, Some(given.clone()));
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut text = [0u8; 40];
    let len = write_id(&mut text, boot_id(), n);
    let text = &text[..len];
    // Hex digits, a dash and decimal digits: ASCII, so UTF-8 and a valid header value.
    let id: Arc<str> = Arc::from(std::str::from_utf8(text).unwrap_or_default());
    (id, HeaderValue::from_bytes(text).ok())
}

/// Writes `{boot:016x}-{n}` into `out`, as `format!` would, without its machinery (this
/// runs on every request); returns the length.
fn write_id(out: &mut [u8; 40], boot: u64, n: u64) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out[..16].iter_mut().enumerate() {
        *byte = HEX[((boot >> (60 - 4 * i)) & 0xf) as usize];
    }
    out[16] = b'-';
    let mut digits = [0u8; 20];
    let mut rest = n;
    let mut count = 0;
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for (i, digit) in digits[..count].iter().rev().enumerate() {
        out[17 + i] = *digit;
    }
    17 + count
}

/// The route pattern a request matched, for the metrics (never a raw path, so the number
/// of series stays bounded).
fn route_of(request: &Request) -> &'static str {
    match request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    {
        Some("/v1/score") => "/v1/score",
        Some("/v1/explain") => "/v1/explain",
        Some("/v1/rules") => "/v1/rules",
        Some("/v1/shadow") => "/v1/shadow",
        Some("/v1/shadow/reset") => "/v1/shadow/reset",
        Some("/v1/{set}/score") => "/v1/{set}/score",
        Some("/v1/{set}/explain") => "/v1/{set}/explain",
        Some("/v1/{set}/rules") => "/v1/{set}/rules",
        Some("/healthz") => "/healthz",
        Some("/metrics") => "/metrics",
        _ => "unmatched",
    }
}

/// Everything around a request but panics, in one layer (each layer costs a boxed
/// future and a clone of the routes per request), outermost first:
/// - marks the connection busy while the request is in progress, so its idle timeout
///   never cuts a slow upload or a long batch short (served by other means, a router
///   mounted elsewhere, a request has no such mark and this does nothing);
/// - gives the request its id;
/// - refuses `/v1/*` requests without an accepted bearer token (and `/metrics` ones, when
///   it has tokens of its own): 401, a JSON error and a `WWW-Authenticate` challenge;
/// - answers 408 (empty body) when the request is not answered within the request
///   timeout, body upload included;
/// - closes the connection after a refusal made without reading the request's body
///   (see [`refused_unread`]);
/// - logs one line per request and counts it (its 500, 408 or 401 included), and gives
///   every response the request id and the rules hash.
async fn front(AxumState(state): AppState, mut request: Request, next: Next) -> Response {
    let start = Instant::now();
    let _busy = request
        .extensions()
        .get::<ConnectInfo<Activity>>()
        .map(|ConnectInfo(activity)| activity.begin());
    let (id, id_header) = request_id(request.headers());
    let sends_body = sends_body(request.headers());
    request.extensions_mut().insert(RequestId(Arc::clone(&id)));
    let route = route_of(&request);
    let method = request.method().clone();
    // A clone of the parsed URI shares its bytes: no copy of the path.
    let uri = request.uri().clone();
    let path = uri.path();
    let named = match state.named.is_empty() {
        true => None,
        false => path
            .strip_prefix("/v1/")
            .and_then(|rest| rest.split('/').next())
            .and_then(|name| state.rule_set(name))
            .cloned(),
    };
    let mut response = match refusal(&state, path, request.headers()) {
        Some(refused) => refused,
        None => within(next.run(request), start, state.config.request_timeout).await,
    };
    let status = response.status().as_u16();
    let headers = response.headers_mut();
    if !headers.contains_key(RULES_HEADER) {
        let set = named.as_ref().unwrap_or(&state.rules);
        headers.insert(RULES_HEADER, set.current.load().header.clone());
    }
    if let Some(value) = id_header {
        headers.insert(REQUEST_ID, value);
    }
    if sends_body && refused_unread(status) {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    let elapsed = start.elapsed();
    let leads = response.extensions().get::<Leads>().map_or(0, |l| l.0);
    state.metrics.request(route, status, elapsed);
    tracing::info!(
        method = %method,
        path = %path,
        status,
        duration_us = elapsed.as_micros() as u64,
        leads,
        request_id = %id,
        "request"
    );
    response
}

/// Whether the request announces a body: a Content-Length other than 0, or a
/// Transfer-Encoding.
fn sends_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// Whether a response with `status` refuses the request before its body is read: no
/// token (401), no such route or rule set (404), a wrong method (405), a body too large
/// by its Content-Length (413), a missing or wrong Content-Type (415). hyper then reads
/// on only what has already arrived of the body, and closes the connection when that is
/// not all of it, without saying so: a client that sent its body after its headers
/// would find its next request on that connection cut off. `Connection: close` tells
/// it to open a new one.
fn refused_unread(status: u16) -> bool {
    matches!(status, 401 | 404 | 405 | 413 | 415)
}

/// The 401 for a request to a guarded route without an accepted token; `None` lets it
/// through.
fn refusal(state: &State, path: &str, headers: &HeaderMap) -> Option<Response> {
    let tokens: Option<&TokenFile> = if path.starts_with("/v1/") || path == "/v1" {
        state.tokens.as_ref()
    } else if path == "/metrics" {
        state.metrics_tokens.as_ref()
    } else {
        None
    };
    let presented = headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
    let refusal = tokens?.check(presented).err()?;
    state.metrics.refused(refusal.label());
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, refusal.message()).into_response();
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(refusal.challenge()),
    );
    Some(response)
}

/// The response of `run`, or a 408 with an empty body once `timeout` has passed since
/// `start`. The timer is only set when `run` is not ready at once: most single-lead
/// requests are answered in their first poll, and a timer set and cancelled per request
/// costs a lock on the timer wheel each time.
async fn within(
    run: impl std::future::Future<Output = Response>,
    start: Instant,
    timeout: std::time::Duration,
) -> Response {
    let mut run = std::pin::pin!(run);
    let mut timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(response) = run.as_mut().poll(cx) {
            return std::task::Poll::Ready(response);
        }
        let timer = timer.get_or_insert_with(|| {
            let deadline = tokio::time::Instant::from_std(start) + timeout;
            Box::pin(tokio::time::sleep_until(deadline))
        });
        timer.as_mut().poll(cx).map(|()| {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
            response
        })
    })
    .await
}

/// A refused request: its status and a JSON body `{"error": "...", "record": "..."}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    /// The record at fault (`request:3`), for errors about one record of a body.
    record: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            record: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn in_record(mut self, record: String) -> ApiError {
        self.message = format!("{record}: {}", self.message);
        self.record = Some(record);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.record {
            Some(record) => serde_json::json!({ "error": self.message, "record": record }),
            None => serde_json::json!({ "error": self.message }),
        };
        let mut response = (self.status, body.to_string()).into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
        response
    }
}

fn json_response(body: Vec<u8>, content_type: &'static str, leads: usize) -> Response {
    let mut response = Response::new(Body::from(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.extensions_mut().insert(Leads(leads));
    response
}

/// What a request body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    /// `application/json`: one lead, or an array of leads.
    Json,
    /// `application/x-ndjson`: one lead per line.
    Lines,
}

fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    let expected = "send application/json (one lead, or an array of leads) or application/x-ndjson (JSON Lines)";
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the request has no Content-Type; {expected}"),
        ));
    };
    let text = value.to_str().unwrap_or("");
    let mime = text.split(';').next().unwrap_or("").trim();
    let lines = [
        "application/x-ndjson",
        "application/jsonl",
        "application/json-lines",
        "application/jsonlines",
        "application/x-jsonlines",
    ];
    // Compared without case and without a lowercased copy: this runs on every request.
    match mime {
        _ if mime.eq_ignore_ascii_case("application/json") => Ok(BodyKind::Json),
        _ if lines.iter().any(|l| mime.eq_ignore_ascii_case(l)) => Ok(BodyKind::Lines),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Type `{text}`; {expected}"),
        )),
    }
}

/// Reads the whole body, refusing it with 413 past `max_body` bytes (at once when its
/// Content-Length says so, else as soon as the limit is passed). Room for it is reserved
/// in the shared body budget first, and kept until the returned [`Room`] is dropped.
async fn read_body(
    state: &State,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, Room), ApiError> {
    let limit = state.config.max_body;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is larger than the limit of {limit} bytes; send fewer leads per request"
            ),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let room = state.bodies.reserve(declared.unwrap_or(limit as u64)).await;
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok((collected.to_bytes(), room)),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(format!(
            "cannot read the request body: {e}"
        ))),
    }
}

/// A JSON body: one lead or an array of them.
enum Parsed {
    One(Lead),
    Many(Vec<Lead>),
}

/// The name of the `n`th record (from 1) of a request, also the id of a lead without one.
fn record_name(n: u64) -> String {
    format!("request:{n}")
}

fn parse_json(bytes: &[u8]) -> Result<Parsed, ApiError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(ApiError::bad_request(
            "the request body is empty; send a lead (a JSON object) or an array of leads",
        )),
        Some(b'[') => {
            let parsed = Cell::new(0u64);
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let leads = de
                .deserialize_seq(LeadsVisitor { parsed: &parsed })
                .and_then(|leads| de.end().map(|()| leads));
            leads.map(Parsed::Many).map_err(|e| match e.classify() {
                serde_json::error::Category::Data => {
                    ApiError::bad_request(e.to_string()).in_record(record_name(parsed.get() + 1))
                }
                _ => malformed(&e),
            })
        }
        Some(_) => serde_json::from_slice::<Lead>(bytes)
            .map(Parsed::One)
            .map_err(|e| match e.classify() {
                serde_json::error::Category::Data => ApiError::bad_request(format!(
                    "{e}; send a lead (a JSON object) or an array of leads"
                )),
                _ => malformed(&e),
            }),
    }
}

fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request(format!("malformed JSON: {e}"))
}

/// Reads an array of leads, counting them so an error can name the record at fault.
struct LeadsVisitor<'a> {
    parsed: &'a Cell<u64>,
}

impl<'de> Visitor<'de> for LeadsVisitor<'_> {
    type Value = Vec<Lead>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of leads")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Lead>, A::Error> {
        let mut leads = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(lead) = seq.next_element::<Lead>()? {
            leads.push(lead);
            self.parsed.set(self.parsed.get() + 1);
        }
        Ok(leads)
    }
}

/// Scores one lead; a value that does not fit its declared type is a 422.
fn score_one(
    scorer: &Scorer,
    lead: &Lead,
    as_of: Date,
    name: impl Fn() -> String,
) -> Result<Verdict, ApiError> {
    match scorer.try_score(lead, as_of) {
        Ok(mut verdict) => {
            verdict.name_by(name());
            Ok(verdict)
        }
        Err(e) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.reason).in_record(name())),
    }
}

/// Scores a body holding one JSON object straight from its text, without building a
/// lead, when nothing needs the lead afterwards (no decision log, no shadow), and
/// writes the answer: the verdict's stage and its JSON. `None` for anything else (an
/// array, text that is not one object, rules whose scripts need the whole lead): the
/// ordinary path answers those, with its precise errors.
fn score_single_unparsed(
    scorer: &Scorer,
    bytes: &[u8],
    as_of: Date,
) -> Option<Result<Answered, ApiError>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    scorer.try_score_json_with(text, as_of, |result| match result {
        Ok(verdict) => {
            verdict.name_by(record_name(1));
            let mut body = Vec::with_capacity(1024);
            verdict.write_json(&mut body);
            Ok(Answered {
                stage: Arc::clone(&verdict.stage),
                body,
            })
        }
        Err(e) => {
            Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.reason).in_record(record_name(1)))
        }
    })
}

/// A single lead's answer, written while its verdict was at hand.
struct Answered {
    /// The verdict's stage, for the metrics.
    stage: Arc<str>,
    /// The verdict's JSON.
    body: Vec<u8>,
}

/// A record of a batch, waiting to be scored.
enum Pending {
    /// The `n`th lead of a JSON array.
    Lead(u64, Lead),
    /// A JSON Lines record, parsed with the scoring (on the worker threads).
    Raw(RawRecord),
}

/// A scored lead kept for the decision log and shadow scoring: where it was in its
/// request, the lead and its verdict.
type Kept = (String, Lead, Verdict);

impl Pending {
    /// Scores the record; with `keep`, also hands back its name and lead.
    fn score(
        self,
        scorer: &Scorer,
        as_of: Date,
        keep: bool,
    ) -> Result<(Verdict, Option<(String, Lead)>), ApiError> {
        match self {
            Pending::Lead(n, lead) => {
                let verdict = score_one(scorer, &lead, as_of, || record_name(n))?;
                Ok((verdict, keep.then(|| (record_name(n), lead))))
            }
            Pending::Raw(raw) => {
                let record = raw.parse();
                let name = record.position.to_string();
                match record.lead {
                    Ok(lead) => {
                        let verdict = score_one(scorer, &lead, as_of, || name.clone())?;
                        Ok((verdict, keep.then_some((name, lead))))
                    }
                    Err(reason) => Err(ApiError::bad_request(reason).in_record(name)),
                }
            }
        }
    }
}

/// One chunk of a batch, scored: verdicts written out, each followed by `separator`.
struct Chunk {
    out: Vec<u8>,
    stages: Vec<(Arc<str>, u64)>,
    kept: Vec<Kept>,
}

impl Chunk {
    fn new(capacity: usize) -> Chunk {
        Chunk {
            out: Vec::with_capacity(capacity),
            stages: Vec::new(),
            kept: Vec::new(),
        }
    }
}

fn score_chunk(
    scorer: &Scorer,
    as_of: Date,
    records: Vec<Pending>,
    separator: u8,
    keep: bool,
) -> Result<Chunk, ApiError> {
    let mut chunk = Chunk::new(records.len() * 512);
    for record in records {
        let (verdict, kept) = record.score(scorer, as_of, keep)?;
        match chunk.stages.iter_mut().find(|(s, _)| *s == verdict.stage) {
            Some((_, n)) => *n += 1,
            None => chunk.stages.push((Arc::clone(&verdict.stage), 1)),
        }
        verdict.write_json(&mut chunk.out);
        chunk.out.push(separator);
        if let Some((name, lead)) = kept {
            chunk.kept.push((name, lead, verdict));
        }
    }
    Ok(chunk)
}

/// Scores a batch in order, on one thread per core when it is large; the first record
/// at fault (in input order) refuses the whole request.
fn score_batch(
    scorer: &Scorer,
    as_of: Date,
    records: Vec<Pending>,
    separator: u8,
    keep: bool,
) -> Result<Chunk, ApiError> {
    // Asked once: the answer reads cgroup files, too slow to do per request.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads =
        *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from));
    if records.len() < PARALLEL_MIN || threads == 1 {
        return score_chunk(scorer, as_of, records, separator, keep);
    }
    let size = records.len().div_ceil(threads);
    let mut parts: Vec<Vec<Pending>> = Vec::with_capacity(threads);
    let mut rest = records.into_iter();
    loop {
        let part: Vec<Pending> = rest.by_ref().take(size).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let results: Vec<Result<Chunk, ApiError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || score_chunk(scorer, as_of, part, separator, keep)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal error",
                    ))
                })
            })
            .collect()
    });
    let mut all = Chunk::new(0);
    for result in results {
        let chunk = result?;
        if all.out.is_empty() {
            all.out = chunk.out;
        } else {
            all.out.extend_from_slice(&chunk.out);
        }
        all.kept.extend(chunk.kept);
        for (stage, n) in chunk.stages {
            match all.stages.iter_mut().find(|(s, _)| *s == stage) {
                Some((_, total)) => *total += n,
                None => all.stages.push((stage, n)),
            }
        }
    }
    Ok(all)
}

/// Hands the scored leads of a request to the decision log and shadow scoring.
fn keep_decisions(
    state: &State,
    set: &Arc<RuleSet>,
    snapshot: &Arc<Snapshot>,
    request_id: &Arc<str>,
    as_of: Date,
    kept: Vec<Kept>,
) {
    if kept.is_empty() {
        return;
    }
    let unix = super::reload::unix_now();
    let rules: Arc<str> = Arc::from(snapshot.hash.as_str());
    for (record, lead, verdict) in kept {
        state.decided(
            set,
            snapshot,
            Decision {
                unix,
                request_id: Arc::clone(request_id),
                record,
                rule_set: set.name.clone(),
                lead,
                as_of,
                rules: Arc::clone(&rules),
                verdict,
                shadow: None,
            },
        );
    }
}

/// A response with the hash of the rules that made it.
fn stamped(mut response: Response, snapshot: &Snapshot) -> Response {
    response
        .headers_mut()
        .insert(RULES_HEADER, snapshot.header.clone());
    response
}

/// The named rule set of a route, or a 404.
fn named_set(state: &State, name: &str) -> Result<Arc<RuleSet>, ApiError> {
    state.rule_set(name).cloned().ok_or_else(|| {
        let names: Vec<&str> = state
            .named
            .iter()
            .filter_map(|s| s.name.as_deref())
            .collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "no rule set `{name}`; the rule sets are: {}",
                names.join(", ")
            ),
        )
    })
}

/// `POST /v1/score`.
async fn score(
    AxumState(state): AppState,
    Extension(RequestId(request_id)): Extension<RequestId>,
    request: Request,
) -> Result<Response, ApiError> {
    let set = Arc::clone(&state.rules);
    score_with(state, set, request_id, request).await
}

/// `POST /v1/NAME/score`.
async fn score_named(
    AxumState(state): AppState,
    Path(name): Path<String>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    request: Request,
) -> Result<Response, ApiError> {
    let set = named_set(&state, &name)?;
    score_with(state, set, request_id, request).await
}

async fn score_with(
    state: Arc<State>,
    set: Arc<RuleSet>,
    request_id: Arc<str>,
    request: Request,
) -> Result<Response, ApiError> {
    // The request's own headers: the `HeaderMap` extractor would clone them.
    let (parts, body) = request.into_parts();
    let kind = body_kind(&parts.headers)?;
    let (bytes, _room) = read_body(&state, &parts.headers, body).await?;
    // Taken once: a reload during this request does not change its rules.
    let snapshot = set.current.load_full();
    let as_of = state.as_of();
    let keep = state.keeps_decisions();
    if kind == BodyKind::Json
        && !keep
        && let Some(answer) = score_single_unparsed(&snapshot.scorer, &bytes, as_of)
    {
        let Answered { stage, body } = answer?;
        state.metrics.leads(set.name.as_ref(), &[(stage, 1)]);
        return Ok(stamped(json_response(body, JSON, 1), &snapshot));
    }
    let (records, separator, content_type) = match kind {
        BodyKind::Json => match parse_json(&bytes)? {
            Parsed::One(lead) => {
                let verdict = score_one(&snapshot.scorer, &lead, as_of, || record_name(1))?;
                state
                    .metrics
                    .leads(set.name.as_ref(), &[(Arc::clone(&verdict.stage), 1)]);
                let mut body = Vec::with_capacity(1024);
                verdict.write_json(&mut body);
                if keep {
                    let kept = vec![(record_name(1), lead, verdict)];
                    keep_decisions(&state, &set, &snapshot, &request_id, as_of, kept);
                }
                return Ok(stamped(json_response(body, JSON, 1), &snapshot));
            }
            Parsed::Many(leads) => {
                let records: Vec<Pending> = (1..)
                    .zip(leads)
                    .map(|(n, lead)| Pending::Lead(n, lead))
                    .collect();
                (records, b',', JSON)
            }
        },
        BodyKind::Lines => {
            let reader = RecordReader::new(
                Box::new(std::io::Cursor::new(bytes)),
                InputFormat::Jsonl,
                "request",
                &ReadOptions::default(),
            );
            let records: Vec<Pending> = std::iter::from_fn({
                let mut reader = reader;
                move || reader.next_raw()
            })
            .map(Pending::Raw)
            .collect();
            (records, b'\n', NDJSON)
        }
    };
    let count = records.len();
    let scored = if count < PARALLEL_MIN {
        score_batch(&snapshot.scorer, as_of, records, separator, keep)
    } else {
        // Large batches run off the async workers, which keep serving small requests.
        let scorer = snapshot.scorer.clone();
        tokio::task::spawn_blocking(move || score_batch(&scorer, as_of, records, separator, keep))
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                ))
            })
    };
    let chunk = scored?;
    state.metrics.leads(set.name.as_ref(), &chunk.stages);
    keep_decisions(&state, &set, &snapshot, &request_id, as_of, chunk.kept);
    let mut out = chunk.out;
    if kind == BodyKind::Json {
        match out.last_mut() {
            Some(last) => *last = b']',
            None => out.push(b']'),
        }
        out.insert(0, b'[');
    }
    Ok(stamped(json_response(out, content_type, count), &snapshot))
}

/// `POST /v1/explain`: one lead, explained. A value that does not fit its declared type
/// is shown in the verdict's `errors`, not refused: this is how to find out why.
async fn explain(AxumState(state): AppState, request: Request) -> Result<Response, ApiError> {
    let set = Arc::clone(&state.rules);
    explain_with(state, set, request).await
}

/// `POST /v1/NAME/explain`.
async fn explain_named(
    AxumState(state): AppState,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let set = named_set(&state, &name)?;
    explain_with(state, set, request).await
}

async fn explain_with(
    state: Arc<State>,
    set: Arc<RuleSet>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    if body_kind(headers)? != BodyKind::Json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "explain takes one lead as application/json",
        ));
    }
    let (bytes, _room) = read_body(&state, headers, body).await?;
    let Parsed::One(lead) = parse_json(&bytes)? else {
        return Err(ApiError::bad_request(
            "explain takes one lead (a JSON object), found an array",
        ));
    };
    let snapshot = set.current.load_full();
    let mut explanation = snapshot.scorer.explain(&lead, state.as_of());
    explanation.verdict.name_by(record_name(1));
    let body = serde_json::to_vec(&explanation).unwrap_or_default();
    Ok(stamped(json_response(body, JSON, 1), &snapshot))
}

/// `GET /v1/shadow`: what the candidate rules would change, since start or reset.
async fn shadow(AxumState(state): AppState) -> Result<Response, ApiError> {
    let Some(shadow) = &state.shadow else {
        return Err(no_shadow());
    };
    let body = serde_json::to_vec(&shadow.status()).unwrap_or_default();
    Ok(json_response(body, JSON, 0))
}

/// `POST /v1/shadow/reset`: starts the comparison afresh.
async fn shadow_reset(AxumState(state): AppState) -> Result<Response, ApiError> {
    let Some(shadow) = &state.shadow else {
        return Err(no_shadow());
    };
    shadow.reset();
    let body = serde_json::to_vec(&shadow.status()).unwrap_or_default();
    Ok(json_response(body, JSON, 0))
}

fn no_shadow() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no candidate rules: start the service with --shadow DIR to compare them with the rules in use",
    )
}

/// `GET /v1/rules`.
async fn rules(AxumState(state): AppState) -> Response {
    let body = serde_json::to_vec(&state.rules.status()).unwrap_or_default();
    json_response(body, JSON, 0)
}

/// `GET /v1/NAME/rules`.
async fn rules_named(
    AxumState(state): AppState,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let set = named_set(&state, &name)?;
    let body = serde_json::to_vec(&set.status()).unwrap_or_default();
    Ok(stamped(json_response(body, JSON, 0), &set.current.load()))
}

/// `GET /v1/rules` with several rule sets: each one's status, in the order given.
async fn rule_sets(AxumState(state): AppState) -> Response {
    let sets: Vec<super::RulesStatus> = state.named.iter().map(|s| s.status()).collect();
    let body = serde_json::to_vec(&serde_json::json!({ "rule_sets": sets })).unwrap_or_default();
    json_response(body, JSON, 0)
}

/// `GET /healthz`.
async fn healthz() -> Response {
    json_response(b"{\"status\":\"ok\"}".to_vec(), JSON, 0)
}

/// `GET /metrics`.
async fn metrics(AxumState(state): AppState) -> Response {
    let loaded = state.rules.current.load().loaded_unix;
    let gauges = [
        (
            "leadscore_request_body_bytes_reserved",
            "Room reserved for request bodies now, or set aside for the next in line (of --max-body-total).",
            state.bodies.reserved_bytes(),
        ),
        (
            "leadscore_requests_waiting_for_body_room",
            "Requests waiting for room for their bodies now.",
            state.bodies.waiting(),
        ),
    ];
    let mut counters = Vec::new();
    if let Some(log) = &state.decisions {
        counters.extend(log.families());
    }
    if let Some(shadow) = &state.shadow {
        counters.extend(shadow.families());
    }
    let mut response = state
        .metrics
        .render(loaded, &gauges, &counters)
        .into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn not_found(AxumState(state): AppState, request: Request) -> ApiError {
    let v1 = match state.named.is_empty() {
        true => "POST /v1/score, POST /v1/explain, GET /v1/rules",
        false => "POST /v1/NAME/score, POST /v1/NAME/explain, GET /v1/NAME/rules, GET /v1/rules",
    };
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {} {}; the routes are {v1}, GET /v1/shadow, GET /healthz, GET /metrics",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    let path = request.uri().path();
    let allowed = match path.ends_with("/score")
        || path.ends_with("/explain")
        || path == "/v1/shadow/reset"
    {
        true => "POST",
        false => "GET",
    };
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}; use {allowed}",
            request.method(),
            request.uri().path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(bytes: &str) -> String {
        match parse_json(bytes.as_bytes()) {
            Ok(_) => panic!("{bytes} parsed"),
            Err(e) => format!("{} {}", e.status.as_u16(), e.message),
        }
    }

    #[test]
    fn json_bodies_are_one_lead_or_an_array() {
        assert!(matches!(parse_json(b" {\"id\": 1}"), Ok(Parsed::One(_))));
        assert!(matches!(parse_json(b"\n[{\"id\": 1}, {}]"), Ok(Parsed::Many(v)) if v.len() == 2));
        assert!(matches!(parse_json(b"[]"), Ok(Parsed::Many(v)) if v.is_empty()));
    }

    /// A single lead scored straight from its text answers exactly as the parsed lead
    /// does: every fixture lead, one with escapes (left to serde_json), one without an
    /// id, and one whose value does not fit its declared type (a 422 either way).
    #[test]
    fn a_single_lead_scored_unparsed_answers_as_the_parsed_lead() {
        let scorer = Scorer::new(crate::Rules::load_dir("rules").unwrap());
        let as_of = Date::parse("2026-11-27").unwrap();
        let fixtures = std::fs::read_to_string("fixtures/leads.jsonl").unwrap();
        let extra = [
            r#"{"email": "ana@gmail.com", "title": "VP \"Ops\"", "budget": 50000}"#,
            r#"{"budget": "lots"}"#,
            r#" {"id": "x", "budget": 12000.5, "page_views": 40} "#,
        ];
        let bodies: Vec<&str> = fixtures.lines().chain(extra).collect();
        assert!(bodies.len() > 10);
        for body in bodies {
            let unparsed = match score_single_unparsed(&scorer, body.as_bytes(), as_of)
                .expect("one object, rules without whole-lead scripts")
            {
                Ok(Answered { stage, body }) => {
                    format!("{stage} {}", String::from_utf8(body).unwrap())
                }
                Err(e) => format!("{} {}", e.status.as_u16(), e.message),
            };
            let Ok(Parsed::One(lead)) = parse_json(body.as_bytes()) else {
                panic!("{body} is one lead");
            };
            let parsed = match score_one(&scorer, &lead, as_of, || record_name(1)) {
                Ok(v) => format!("{} {}", v.stage, v.to_json_line()),
                Err(e) => format!("{} {}", e.status.as_u16(), e.message),
            };
            assert_eq!(unparsed, parsed, "{body}");
        }
        assert!(score_single_unparsed(&scorer, b"[{}]", as_of).is_none());
        assert!(score_single_unparsed(&scorer, b"{\"id\": 1,,}", as_of).is_none());
    }

    #[test]
    fn bad_json_bodies_say_where() {
        assert_eq!(
            error("{\"id\": 1,,}"),
            "400 malformed JSON: key must be a string at line 1 column 10"
        );
        assert_eq!(
            error("[{\"id\": 1},\n 7]"),
            "400 request:2: a lead must be a JSON object, found a number at line 2 column 2"
        );
        assert_eq!(
            error("[{}] x"),
            "400 malformed JSON: trailing characters at line 1 column 6"
        );
        assert_eq!(
            error("\"text\""),
            "400 a lead must be a JSON object, found a string at line 1 column 6; send a lead (a JSON object) or an array of leads"
        );
        assert!(error("  ").contains("empty"));
    }

    #[test]
    fn request_ids_are_written_as_format_would() {
        for (boot, n) in [
            (0, 1),
            (0x0123_4567_89ab_cdef, 42),
            (u64::MAX, u64::MAX),
            (7, 10),
        ] {
            let mut out = [0u8; 40];
            let len = write_id(&mut out, boot, n);
            assert_eq!(&out[..len], format!("{boot:016x}-{n}").as_bytes());
        }
        let (id, header) = request_id(&HeaderMap::new());
        assert_eq!(header.unwrap().as_bytes(), id.as_bytes());
        let mut given = HeaderMap::new();
        given.insert(REQUEST_ID, HeaderValue::from_static("abc-1"));
        let (id, header) = request_id(&given);
        assert_eq!((&*id, header.unwrap().as_bytes()), ("abc-1", &b"abc-1"[..]));
    }

    #[test]
    fn content_types_pick_the_body_kind() {
        let kind = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            body_kind(&h).map_err(|e| e.status.as_u16())
        };
        assert_eq!(kind("application/json; charset=utf-8"), Ok(BodyKind::Json));
        assert_eq!(kind("Application/X-NDJSON"), Ok(BodyKind::Lines));
        assert_eq!(kind("text/csv"), Err(415));
        assert_eq!(
            body_kind(&HeaderMap::new()).map_err(|e| e.status.as_u16()),
            Err(415)
        );
    }

    /// Sends raw HTTP/1.1 requests on one connection and reads until the server closes
    /// it: the text of every response.
    fn exchange(addr: std::net::SocketAddr, requests: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(15)))
            .unwrap();
        stream.write_all(requests.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn a_panic_is_a_500_for_that_request_only() {
        let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
        let service = super::super::Service::load(super::super::Config::new(rules)).unwrap();
        async fn buggy() -> Response {
            panic!("a handler bug")
        }
        // The production routes and layers, plus one route that panics.
        let app = layered(
            routes().route("/panic", get(buggy)),
            Arc::clone(&service.state),
        );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, app).await });

        // Two requests on one connection: the panic answers the first with a 500 and a
        // JSON error, and the connection goes on to serve the second.
        let both = exchange(
            addr,
            "GET /panic HTTP/1.1\r\nHost: t\r\n\r\n\
             GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        let (first, second) = both
            .split_once("HTTP/1.1 200 OK")
            .unwrap_or_else(|| panic!("no 200 after the panic:\n{both}"));
        assert!(first.starts_with("HTTP/1.1 500"), "{both}");
        assert!(first.contains("content-type: application/json"), "{both}");
        assert!(first.ends_with("{\"error\":\"internal error\"}"), "{both}");
        assert!(second.ends_with("{\"status\":\"ok\"}"), "{both}");

        // Others are served, and the 500 was logged and counted like any response.
        let metrics = exchange(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
        let line = "leadscore_http_requests_total{route=\"unmatched\",status=\"500\"} 1";
        assert!(metrics.lines().any(|l| l == line), "{metrics}");
    }
}
