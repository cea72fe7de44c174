//! While a chore runs inside a reconcile, its progress line (transfers and points copied)
//! goes into `QdrantCluster.status.progress` (at most every two seconds), so `kubectl get qc -o wide`
//! shows it; the field is removed when the chore ends.

use crds::QdrantCluster;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// How often a changed line is written.
const PERIOD: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct StatusProgress {
    line: watch::Sender<Option<String>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<bool>>,
    api: Api<QdrantCluster>,
    name: String,
}

async fn write(api: &Api<QdrantCluster>, name: &str, line: Option<&str>) -> bool {
    let patch = json!({"status": {"progress": line}});
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(error = %e, "chore progress not written to the status");
            false
        }
    }
}

/// Writes each new line at once, then waits `PERIOD` before the next; a line set before
/// the stop is written first. Answers whether it wrote any.
async fn run(
    api: Api<QdrantCluster>,
    name: String,
    mut line: watch::Receiver<Option<String>>,
    mut stopped: oneshot::Receiver<()>,
) -> bool {
    let mut sent: Option<String> = None;
    loop {
        tokio::select! {
            biased;
            changed = line.changed() => if changed.is_err() { return sent.is_some() },
            _ = &mut stopped => return sent.is_some(),
        }
        let now = line.borrow_and_update().clone();
        if now.is_some() && now != sent && write(&api, &name, now.as_deref()).await {
            sent = now;
        }
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = &mut stopped => return sent.is_some(),
        }
    }
}

impl StatusProgress {
    pub fn start(api: Api<QdrantCluster>, name: String) -> StatusProgress {
        let (line, rx) = watch::channel(None);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(api.clone(), name.clone(), rx, stopped));
        StatusProgress {
            line,
            stop: Some(stop),
            task: Some(task),
            api,
            name,
        }
    }

    /// The chore's latest line (also logged).
    pub fn set(&self, line: &str) {
        tracing::info!("{line}");
        self.line.send_replace(Some(line.to_string()));
    }

    /// Stops writing and removes the line from the status if one was written.
    pub async fn finish(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let wrote = match self.task.take() {
            Some(t) => t.await.unwrap_or(true),
            None => false,
        };
        if wrote {
            write(&self.api, &self.name, None).await;
        }
    }
}

impl Drop for StatusProgress {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}
