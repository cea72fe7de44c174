//! Qdrant's public gRPC API on the gRPC port (6334): `qdrant.Qdrant`, `qdrant.Collections`,
//! `qdrant.Points`, `qdrant.Snapshots` and `grpc.health.v1.Health`. Every call but the
//! health checks carries the API key when one is set (`api-key` metadata or
//! `authorization: Bearer`), and the read-only key may only call reads, as on REST.
//! Requests and answers may be gzip-compressed; requests may be as large as
//! `service.max_request_size_mb`.

use super::svc_collections::CollectionsService;
use super::svc_points::PointsService;
use super::svc_snapshots::SnapshotsService;
use crate::api::responses::ResponseMetrics as Metrics;
use crate::api::rest::auth::Keys;
use crate::api::rest::AppState;
use proto::health::health_check_response::ServingStatus;
use proto::health::health_server::{Health, HealthServer};
use proto::health::{HealthCheckRequest, HealthCheckResponse};
use proto::qdrant::collections_server::CollectionsServer;
use proto::qdrant::points_server::PointsServer;
use proto::qdrant::qdrant_server::{Qdrant, QdrantServer};
use proto::qdrant::snapshots_server::SnapshotsServer;
use proto::qdrant::{HealthCheckReply, HealthCheckRequest as QdrantHealthRequest};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

/// Methods the read-only key may call.
const READS: &[&str] = &[
    "Get",
    "List",
    "ListCollectionAliases",
    "ListAliases",
    "CollectionClusterInfo",
    "CollectionExists",
    "ListShardKeys",
    "Search",
    "SearchBatch",
    "SearchGroups",
    "Scroll",
    "Recommend",
    "RecommendBatch",
    "RecommendGroups",
    "Discover",
    "DiscoverBatch",
    "Count",
    "Query",
    "QueryBatch",
    "QueryGroups",
    "Facet",
    "SearchMatrixPairs",
    "SearchMatrixOffsets",
];

fn given_key(headers: &http::HeaderMap) -> Option<String> {
    let v = headers
        .get("api-key")
        .or_else(|| headers.get("authorization"))?;
    let v = v.to_str().ok()?;
    Some(v.strip_prefix("Bearer ").unwrap_or(v).to_string())
}

/// The API-key check of a call to `path` (`/qdrant.Points/Search`).
fn check(keys: &Keys, path: &str, headers: &http::HeaderMap) -> Result<(), Status> {
    if keys.full.is_none() && keys.read_only.is_none() {
        return Ok(());
    }
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (service, method) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if service == "qdrant.Qdrant" || service == "grpc.health.v1.Health" {
        return Ok(());
    }
    let Some(given) = given_key(headers) else {
        return Err(Status::unauthenticated(
            "Must provide an API key or an Authorization bearer token",
        ));
    };
    if keys.full.as_deref() == Some(given.as_str()) {
        return Ok(());
    }
    if keys.read_only.as_deref() == Some(given.as_str()) {
        if service != "qdrant.Snapshots" && READS.contains(&method) {
            return Ok(());
        }
        return Err(Status::permission_denied(
            "Forbidden: the read-only API key may not call this method",
        ));
    }
    Err(Status::unauthenticated("Invalid API key or JWT"))
}

/// Runs `check` before every call (a layer sees the method's path; an interceptor does not)
/// and counts the answers by path and status code.
#[derive(Clone)]
struct AuthLayer {
    keys: Arc<Keys>,
    metrics: Arc<Metrics>,
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            keys: self.keys.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
struct Auth<S> {
    inner: S,
    keys: Arc<Keys>,
    metrics: Arc<Metrics>,
}

/// The status code of an answer: in its headers when it failed at once, else 0 (OK; a
/// status sent in the trailers after a streamed answer is not seen here).
fn grpc_code<B>(resp: &http::Response<B>) -> u16 {
    resp.headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl<S, B> tower::Service<http::Request<B>> for Auth<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (path, started) = (req.uri().path().to_string(), Instant::now());
        let metrics = self.metrics.clone();
        let answer: Self::Future = match check(&self.keys, &path, req.headers()) {
            Ok(()) => Box::pin(self.inner.call(req)),
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        };
        Box::pin(async move {
            let r = answer.await;
            if let Ok(resp) = &r {
                let secs = started.elapsed().as_secs_f64();
                metrics.record("", &path, grpc_code(resp), secs);
            }
            r
        })
    }
}

struct Root;

#[tonic::async_trait]
impl Qdrant for Root {
    async fn health_check(
        &self,
        _r: Request<QdrantHealthRequest>,
    ) -> Result<Response<HealthCheckReply>, Status> {
        Ok(Response::new(HealthCheckReply {
            title: "qdrant - vector search engine".into(),
            version: crate::api::rest::service::VERSION.into(),
            commit: None,
        }))
    }
}

struct HealthService;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        _r: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    type WatchStream = futures::stream::BoxStream<'static, Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        _r: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let serving = HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        };
        // One status, then the stream stays open as the protocol expects.
        let stream =
            futures::stream::once(async move { Ok(serving) }).chain(futures::stream::pending());
        Ok(Response::new(Box::pin(stream)))
    }
}

use futures::StreamExt;

/// Serves the public gRPC API on `listener` until `shutdown` resolves.
pub async fn serve_public(
    state: AppState,
    keys: Keys,
    max_request_bytes: usize,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let auth = AuthLayer {
        keys: Arc::new(keys),
        metrics: state.grpc_metrics.clone(),
    };
    macro_rules! public {
        ($server:ident, $svc:expr) => {
            $server::new($svc)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_request_bytes)
                .max_encoding_message_size(usize::MAX)
        };
    }
    tonic::transport::Server::builder()
        .layer(auth)
        .add_service(public!(QdrantServer, Root))
        .add_service(public!(
            CollectionsServer,
            CollectionsService::new(state.clone())
        ))
        .add_service(public!(PointsServer, PointsService::new(state.clone())))
        .add_service(public!(SnapshotsServer, SnapshotsService::new(state)))
        .add_service(HealthServer::new(HealthService))
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(key: Option<&str>) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        if let Some(k) = key {
            h.insert("api-key", k.parse().unwrap());
        }
        h
    }

    #[test]
    fn keys_as_on_rest() {
        let keys = Keys {
            full: Some("full".into()),
            read_only: Some("ro".into()),
        };
        let code = |key, svc: &str, m: &str| {
            check(&keys, &format!("/{svc}/{m}"), &headers(key))
                .err()
                .map(|s| s.code())
        };
        assert_eq!(
            code(None, "qdrant.Points", "Search"),
            Some(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            code(Some("bad"), "qdrant.Points", "Search"),
            Some(tonic::Code::Unauthenticated)
        );
        assert_eq!(code(Some("ro"), "qdrant.Points", "Search"), None);
        assert_eq!(
            code(Some("ro"), "qdrant.Points", "Upsert"),
            Some(tonic::Code::PermissionDenied)
        );
        assert_eq!(
            code(Some("ro"), "qdrant.Snapshots", "List"),
            Some(tonic::Code::PermissionDenied)
        );
        assert_eq!(code(Some("full"), "qdrant.Points", "Upsert"), None);
        assert_eq!(code(None, "qdrant.Qdrant", "HealthCheck"), None);
        let mut bearer = headers(None);
        bearer.insert("authorization", "Bearer ro".parse().unwrap());
        assert!(check(&keys, "/qdrant.Points/Count", &bearer).is_ok());
        assert!(check(&keys, "/grpc.health.v1.Health/Check", &headers(None)).is_ok());
    }
}
