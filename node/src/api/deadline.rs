//! The `timeout` of a read (REST `?timeout=`, gRPC's `timeout` field): past it the read is
//! abandoned and the caller gets Qdrant's timeout error.

use super::error::{ApiError, ApiResult};
use std::future::Future;
use std::time::Duration;

/// How long a read named `what` may take: `secs` seconds (no limit when `None`; 0 counts as 1).
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub secs: Option<u64>,
    pub what: &'static str,
}

impl Deadline {
    pub fn new(secs: Option<u64>, what: &'static str) -> Self {
        Deadline { secs, what }
    }

    pub async fn run<T, E: Into<ApiError>>(
        self,
        read: impl Future<Output = Result<T, E>>,
    ) -> ApiResult<T> {
        let Some(secs) = self.secs else {
            return read.await.map_err(Into::into);
        };
        let secs = secs.max(1);
        match limit(Duration::from_secs(secs), read).await {
            Some(r) => r.map_err(Into::into),
            None => Err(ApiError::Timeout(format!(
                "Timeout error: Operation '{}' timed out after {secs} seconds",
                self.what
            ))),
        }
    }
}

/// `read` for a `secs` limit named `what`; see `Deadline`.
pub async fn within<T, E: Into<ApiError>>(
    secs: Option<u64>,
    what: &'static str,
    read: impl Future<Output = Result<T, E>>,
) -> ApiResult<T> {
    Deadline::new(secs, what).run(read).await
}

async fn limit<R>(d: Duration, read: impl Future<Output = R>) -> Option<R> {
    tokio::time::timeout(d, read).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_past_its_limit_is_cut_off_and_one_within_it_answers() {
        let slow = limit(Duration::from_millis(20), std::future::pending::<()>());
        assert!(slow.await.is_none());
        let fast = within(Some(5), "Search", async { Ok::<_, ApiError>(7) });
        assert_eq!(fast.await.unwrap(), 7);
        let (kind, msg) = ApiError::Timeout("t".into()).kind_and_message();
        assert_eq!(kind, crate::api::error::ErrorKind::Timeout);
        assert_eq!(msg, "t");
    }
}
