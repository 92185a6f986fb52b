//! The HTTP side: accept connections on a bound listener, read each request, verify its
//! signature, draw its fault, apply it to the [`World`] and answer in the service's shape.
//! A dropped connection is a service error: hyper then closes it without an answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::faults::{Fault, FaultInjector};
use super::protocol::{self, ApiError, Target};
use super::sigv4::{self, Credential, SignedRequest};
use super::world::World;
use crate::actions::Service;

/// The largest request body accepted; the APIs' own inputs are far smaller.
const MAX_BODY: usize = 1024 * 1024;

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    pub world: Mutex<World>,
    pub credentials: Vec<Credential>,
    pub region: String,
    pub faults: FaultInjector,
    requests: AtomicU64,
}

impl Shared {
    pub fn new(world: World, credentials: Vec<Credential>, region: String, faults: FaultInjector) -> Self {
        Self { world: Mutex::new(world), credentials, region, faults, requests: AtomicU64::new(0) }
    }

    fn request_id(&self) -> String {
        format!("00000000-0000-4000-8000-{:012x}", self.requests.fetch_add(1, Ordering::Relaxed) + 1)
    }

    pub fn world(&self) -> std::sync::MutexGuard<'_, World> {
        // A panic while holding the lock leaves a consistent world (each change is one step).
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The connection is closed without an answer (an injected fault).
#[derive(Debug)]
pub(super) struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Serves until `shutdown` is cancelled, then lets in-flight requests finish (at most 5 s).
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    let s3 = super::s3::service(shared.clone());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors, most likely: accepting again at once would
                    // spin a core until a connection closes.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let connection = graceful.watch(connection(stream, shared.clone(), s3.clone()));
                tokio::spawn(async move {
                    // A closed or dropped connection is normal here.
                    let _ = connection.await;
                });
            }
            () = shutdown.cancelled() => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// How long a client may take to send a request's headers. Without it, a client that
/// sends a byte now and then (slow loris) holds its connection and task forever. hyper also
/// counts an idle keep-alive connection's wait for its next request against it, so it is
/// longer than the AWS SDKs keep a connection idle in their pools (90 s): a well-behaved
/// client never has a pooled connection closed under it mid-reuse.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// One HTTP/1.1 connection over any byte stream: a socket, or an in-memory pipe (the fuzz
/// targets, [`super::Connectionless`]).
pub(super) fn connection<IO>(
    io: IO,
    shared: Arc<Shared>,
    s3: s3s::service::S3Service,
) -> http1::Connection<
    TokioIo<IO>,
    impl hyper::service::Service<
        Request<Incoming>,
        Response = Response<Full<Bytes>>,
        Error = Dropped,
        Future = impl Future + Send,
    > + Send,
>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| handle(request, shared.clone(), s3.clone()));
    http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // A client that shuts its sending side after a request still gets the answer.
        .half_close(true)
        .serve_connection(TokioIo::new(io), service)
}

/// Whether a request is for the admin endpoints: an unsigned GET of `/` or `/_handoff/...`.
fn is_admin(request: &Request<Incoming>) -> bool {
    let signed = request.headers().contains_key("authorization")
        || request.uri().query().is_some_and(|q| q.contains("X-Amz-Credential"));
    request.method() == Method::GET && (request.uri().path().starts_with("/_handoff/") || !signed)
}

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    s3: s3s::service::S3Service,
) -> Result<Response<Full<Bytes>>, Dropped> {
    // The JSON protocols name their operation in X-Amz-Target; S3's REST protocol does not.
    if !request.headers().contains_key("x-amz-target") && !is_admin(&request) {
        return s3_request(request, &shared, &s3).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(collected) = Limited::new(body, MAX_BODY).collect().await else {
        return Ok(plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"));
    };
    let body = collected.to_bytes();
    if parts.method == Method::GET {
        return Ok(admin(parts.uri.path(), &shared));
    }
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.entry(name.as_str().to_ascii_lowercase()).or_default().push(value);
    }
    let request_id = shared.request_id();
    let target = headers.get("x-amz-target").and_then(|v| v.first()).and_then(|t| protocol::parse_target(t));
    let service = match &target {
        Some(Target::Known(op)) => op.service(),
        Some(Target::UnknownOperation(service, _)) => *service,
        None => {
            let error =
                ApiError::new(400, "UnknownOperationException", "The X-Amz-Target header names no operation");
            return Ok(error_response(Service::CodePipeline, &error, &request_id));
        }
    };

    let signed = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: &body,
    };
    let account =
        match sigv4::verify(&signed, &shared.credentials, &shared.region, protocol::signing_name(service)) {
            Ok(credential) => credential.account.clone(),
            Err(error) => {
                let mut world = shared.world();
                world.ledger.unsigned_or_bad_signature += 1;
                *world.ledger.errors.entry(error.code.to_string()).or_default() += 1;
                return Ok(error_response(service, &error, &request_id));
            }
        };
    let operation = match target {
        Some(Target::Known(op)) => op,
        _ => {
            let error = ApiError::new(400, "UnknownOperationException", "The operation is not supported");
            return Ok(error_response(service, &error, &request_id));
        }
    };
    shared.world().ledger.requests.entry(operation.name()).and_modify(|n| *n += 1).or_insert(1);

    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = shared.faults.draw();
    let count_fault = |name: &'static str| *shared.world().ledger.faults.entry(name).or_default() += 1;
    match fault {
        Fault::Throttle => {
            count_fault("throttle");
            return Ok(error_response(service, &ApiError::throttling(), &request_id));
        }
        Fault::Error => {
            count_fault("error");
            return Ok(error_response(service, &ApiError::internal(service), &request_id));
        }
        Fault::Drop => {
            count_fault("drop");
            return Err(Dropped);
        }
        Fault::DropAfter | Fault::None => {}
    }

    let input: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(e) => {
                let error =
                    ApiError::new(400, "SerializationException", format!("The body is not JSON: {e}"));
                return Ok(error_response(service, &error, &request_id));
            }
        }
    };
    let client = ["x-amz-user-agent", "user-agent"]
        .iter()
        .filter_map(|name| headers.get(*name)?.first())
        .find_map(|agent| agent.split_whitespace().find_map(|part| part.strip_prefix("app/")));
    let result = shared.world().apply(operation, (&account, client), &input, &request_id);
    if fault == Fault::DropAfter {
        count_fault("drop_after");
        return Err(Dropped);
    }
    Ok(match result {
        Ok(answer) => json_response(service, StatusCode::OK, &answer, &request_id, None),
        Err(error) => {
            *shared.world().ledger.errors.entry(error.code.to_string()).or_default() += 1;
            error_response(service, &error, &request_id)
        }
    })
}

/// An S3 request: the same latency and faults as the JSON APIs, then `s3s`.
async fn s3_request(
    request: Request<Incoming>,
    shared: &Shared,
    s3: &s3s::service::S3Service,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let request_id = shared.request_id();
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = shared.faults.draw();
    let count_fault = |name: &'static str| *shared.world().ledger.faults.entry(name).or_default() += 1;
    let injected = match fault {
        Fault::Throttle => Some(("throttle", 503, "SlowDown", "Please reduce your request rate.")),
        Fault::Error => {
            Some(("error", 500, "InternalError", "We encountered an internal error. Please try again."))
        }
        Fault::Drop => {
            count_fault("drop");
            return Err(Dropped);
        }
        Fault::DropAfter | Fault::None => None,
    };
    if let Some((name, status, code, message)) = injected {
        count_fault(name);
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        );
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        response.headers_mut().insert("content-type", "application/xml".parse().expect("static header"));
        return Ok(response);
    }
    let answer = s3.call(request.map(s3s::Body::from)).await;
    if fault == Fault::DropAfter {
        count_fault("drop_after");
        return Err(Dropped);
    }
    let Ok(answer) = answer else {
        return Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, "the S3 front failed"));
    };
    let (parts, body) = answer.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, "the S3 front failed"));
    };
    if parts.status.is_client_error()
        && let Some(code) = xml_code(&body)
    {
        *shared.world().ledger.errors.entry(code).or_default() += 1;
    }
    let mut response = Response::from_parts(parts, Full::new(body));
    if let Ok(value) = request_id.parse() {
        response.headers_mut().insert("x-amz-request-id", value);
    }
    Ok(response)
}

/// The `<Code>` of an S3 XML error body.
fn xml_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    Some(text[start..end].to_string())
}

/// The unsigned admin endpoints under `/_handoff/`, for tests and scripts.
fn admin(path: &str, shared: &Shared) -> Response<Full<Bytes>> {
    let body = match path {
        "/_handoff/summary" => shared.world().summary(),
        "/_handoff/state" => shared.world().state(),
        "/_handoff/ledger" => json!(shared.world().ledger.entries()),
        "/_handoff/credentials" => shared.world().credentials(),
        "/" | "/_handoff/health" => json!({"status": "ok"}),
        _ => return plain(StatusCode::NOT_FOUND, "unknown admin endpoint; try /_handoff/summary"),
    };
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response.headers_mut().insert("content-type", "application/json".parse().expect("static header"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}

fn json_response(
    service: Service,
    status: StatusCode,
    body: &Value,
    request_id: &str,
    error_type: Option<&str>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", protocol::content_type(service).parse().expect("static header"));
    if let Ok(value) = request_id.parse() {
        headers.insert("x-amzn-requestid", value);
    }
    if let Some(value) = error_type.and_then(|t| t.parse().ok()) {
        headers.insert("x-amzn-errortype", value);
    }
    response
}

fn error_response(service: Service, error: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    json_response(service, status, &error.body(), request_id, Some(error.code))
}
