//! The endpoint of `--metrics ADDR`: one small HTTP/1.1 server on the run's own runtime.
//! `/metrics` (the exposition), `/healthz` and `/readyz` (200 or 503, with a line that says
//! why); nothing else.
//!
//! It is a new surface on a worker, so it is built to be left open: a bounded number of
//! connections (more are closed at once), a deadline for a request's headers and for a
//! whole connection, and a small header buffer. Slow or garbage clients cost a few
//! kilobytes each and never touch the worker's own tasks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{Format, Metrics};

/// Connections served at once; Prometheus and two probes need three.
const MAX_CONNECTIONS: usize = 32;
/// How long a client may take to send a request's headers (a keep-alive connection's wait
/// for its next request counts too).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a connection stays open, however it behaves.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);
/// hyper's smallest read buffer: a request's headers beyond it are refused (431).
const MAX_HEADER_BYTES: usize = 8 * 1024;

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--metrics {addr}: cannot listen there: {source}")]
    Bind { addr: String, source: std::io::Error },
}

/// The bound endpoint; [`MetricsServer::serve`] answers on it.
#[derive(Debug)]
pub struct MetricsServer {
    listener: std::net::TcpListener,
}

impl MetricsServer {
    /// Binds now, before the run starts: an address in use is an error at once, not after
    /// the first iteration.
    pub fn bind(addr: &str) -> Result<Self, ServeError> {
        let fail = |source| ServeError::Bind { addr: addr.to_string(), source };
        let listener = std::net::TcpListener::bind(addr).map_err(fail)?;
        listener.set_nonblocking(true).map_err(fail)?;
        Ok(Self { listener })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Answers until `stop` is cancelled. Must be called within the runtime.
    pub async fn serve(self, metrics: Arc<Metrics>, stop: CancellationToken) {
        let Ok(listener) = TcpListener::from_std(self.listener) else { return };
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = stop.cancelled() => return,
            };
            let Ok((stream, _)) = accepted else {
                // Out of file descriptors, most likely: accepting again at once would spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // Full: the newest connection is closed unanswered, the ones being served go on.
            let Ok(slot) = slots.clone().try_acquire_owned() else { continue };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&request, &metrics)) }
                });
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .max_buf_size(MAX_HEADER_BYTES)
                    .serve_connection(TokioIo::new(stream), service);
                // A client that misbehaves just loses its connection.
                let _ = tokio::time::timeout(CONNECTION_DEADLINE, connection).await;
                drop(slot);
            });
        }
    }
}

fn answer(request: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n".into());
    }
    match request.uri().path() {
        "/metrics" => {
            let accepts_openmetrics = request
                .headers()
                .get_all(hyper::header::ACCEPT)
                .iter()
                .any(|value| value.as_bytes().windows(17).any(|w| w == b"application/openm"));
            let format = if accepts_openmetrics { Format::OpenMetrics } else { Format::Prometheus };
            let mut response = Response::new(Full::new(Bytes::from(metrics.encode(format))));
            response
                .headers_mut()
                .insert("content-type", hyper::header::HeaderValue::from_static(format.content_type()));
            response
        }
        "/healthz" => probe(metrics.health.liveness()),
        "/readyz" => probe(metrics.health.readiness()),
        _ => text(StatusCode::NOT_FOUND, "not found: /metrics, /healthz or /readyz\n".into()),
    }
}

fn probe(probe: super::Probe) -> Response<Full<Bytes>> {
    let status = if probe.ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    text(status, probe.body)
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
