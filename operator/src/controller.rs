//! The reconcile loop: `reconcile` turns one QdrantCluster into its objects (server-side
//! apply, one field manager), observes the StatefulSet and the nodes, and writes the status;
//! `error_policy` backs off per object. A finalizer carries out the volume policy on delete.

use crate::automation;
use crate::builders::{self, ConfigError};
use crate::chores::client::{ClusterView, NodeClient};
use crate::metrics::Metrics;
use crate::nodes::Nodes;
use crate::status::{self, Observed};
use crate::steps;
use crds::{QdrantCluster, ReclaimPolicy};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const MANAGER: &str = "qdrant-operator";
pub const FINALIZER: &str = "qdrantnode.io/volumes";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes api: {0}")]
    Kube(#[from] kube::Error),
    #[error("config: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

/// Shared state of the controller.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub nodes: Nodes,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client, metrics: Arc<Metrics>, nodes: Nodes) -> Context {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            nodes,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn key(qc: &QdrantCluster) -> String {
        format!("{}/{}", qc.namespace().unwrap_or_default(), qc.name_any())
    }
}

/// Runs the controller until the stream ends: over one namespace when `namespace` is set
/// (so a namespaced Role is enough), over all namespaces otherwise.
pub async fn run(namespace: Option<String>, ctx: Arc<Context>) {
    let c = ctx.client.clone();
    fn api<K>(c: &Client, ns: &Option<String>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        match ns {
            Some(ns) => Api::namespaced(c.clone(), ns),
            None => Api::all(c.clone()),
        }
    }
    let cfg = watcher::Config::default().labels("app.kubernetes.io/managed-by=qdrant-operator");
    Controller::new(
        api::<QdrantCluster>(&c, &namespace),
        watcher::Config::default(),
    )
    .owns(api::<StatefulSet>(&c, &namespace), cfg.clone())
    .owns(api::<Service>(&c, &namespace), cfg.clone())
    .owns(api::<ConfigMap>(&c, &namespace), cfg.clone())
    .owns(api::<PodDisruptionBudget>(&c, &namespace), cfg)
    .shutdown_on_signal()
    .run(reconcile, error_policy, ctx)
    .for_each(|r| async move {
        if let Err(e) = r {
            tracing::debug!(error = %e, "reconcile stream");
        }
    })
    .await;
}

pub async fn reconcile(qc: Arc<QdrantCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let ns = namespace(&qc);
    let api: Api<QdrantCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let c = ctx.clone();
    let r = finalizer(&api, FINALIZER, qc.clone(), |ev| async move {
        match ev {
            Finalizer::Apply(qc) => apply(&qc, &c).await,
            Finalizer::Cleanup(qc) => cleanup(&qc, &c).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(e.to_string()));
    ctx.metrics.reconciled(started.elapsed());
    if r.is_ok() {
        ctx.failures
            .lock()
            .map(|mut f| f.remove(&Context::key(&qc)))
            .ok();
    }
    r
}

/// Backs off per object: 5 s, 10 s, 20 s … up to 5 min.
pub fn error_policy(qc: Arc<QdrantCluster>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed();
    let n = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(Context::key(&qc)).or_insert(0);
            *n += 1;
            *n
        })
        .unwrap_or(1);
    let delay =
        Duration::from_secs(5u64.saturating_mul(1 << n.min(6)) / 2).min(Duration::from_secs(300));
    tracing::warn!(cluster = %qc.name_any(), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// The namespace of a QdrantCluster (`default` when unset).
pub(crate) fn namespace(qc: &QdrantCluster) -> String {
    qc.namespace().unwrap_or_else(|| "default".into())
}

pub(crate) async fn event(
    ctx: &Context,
    qc: &QdrantCluster,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &qc.object_ref(&())).await {
        tracing::warn!(error = %e, "could not publish event");
    }
}

fn ssa() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

async fn apply_obj<K>(api: &Api<K>, obj: &K) -> Result<K, Error>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    Ok(api.patch(&name, &ssa(), &Patch::Apply(obj)).await?)
}

/// Creates a generated Secret unless it exists (its value is never rewritten). Returns the
/// Secret as stored and whether it was created now.
async fn ensure_secret(api: &Api<Secret>, secret: Secret) -> Result<(Secret, bool), Error> {
    let name = secret.name_any();
    if let Some(existing) = api.get_opt(&name).await? {
        return Ok((existing, false));
    }
    match api.create(&PostParams::default(), &secret).await {
        Ok(created) => Ok((created, true)),
        // Created by someone else in between.
        Err(kube::Error::Api(e)) if e.code == 409 => Ok((api.get(&name).await?, false)),
        Err(e) => Err(e.into()),
    }
}

/// The value under `key` of a Secret's data.
fn secret_value(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()?
        .get(key)
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
}

/// The secret and key holding the REST API key, or why the spec's reference is unusable.
async fn api_key(
    qc: &QdrantCluster,
    ctx: &Context,
    secrets: &Api<Secret>,
) -> Result<Result<(String, String, Option<String>), String>, Error> {
    if let Some(r) = &qc.spec.api_key {
        let Some(s) = secrets.get_opt(&r.name).await? else {
            return Ok(Err(format!("spec.apiKey: Secret `{}` not found", r.name)));
        };
        return Ok(match secret_value(&s, &r.key) {
            Some(v) => Ok((r.name.clone(), r.key.clone(), Some(v))),
            None => Err(format!(
                "spec.apiKey: Secret `{}` has no key `{}`",
                r.name, r.key
            )),
        });
    }
    let name = builders::api_key_secret_name(qc);
    let key = builders::API_KEY_FIELD;
    let (secret, created) =
        ensure_secret(secrets, builders::generated_secret(qc, name.clone(), key)).await?;
    if created {
        event(
            ctx,
            qc,
            EventType::Normal,
            "ApiKeyCreated",
            format!("no spec.apiKey: generated Secret {name}"),
        )
        .await;
    }
    let value = secret_value(&secret, key);
    Ok(Ok((name, key.into(), value)))
}

async fn write_status(
    api: &Api<QdrantCluster>,
    qc: &QdrantCluster,
    o: &Observed,
) -> Result<(), Error> {
    let st = status::compute(qc, o);
    let changed = qc.status.as_ref().is_none_or(|old| {
        let mut a = old.clone();
        let mut b = st.clone();
        a.conditions
            .iter_mut()
            .chain(b.conditions.iter_mut())
            .for_each(|c| {
                c.last_transition_time = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
                )
            });
        a != b
    });
    if changed {
        tracing::info!(
            cluster = %qc.name_any(),
            phase = ?st.phase,
            last_operation = st.last_operation.as_deref().unwrap_or(""),
            dead_peers = ?st.dead_peers,
            "status changed"
        );
        let mut patch = json!({"status": st});
        // A merge patch keeps map keys it does not mention: name the forgotten ones as null.
        let old_dead = qc.status.as_ref().map(|s| &s.dead_peers);
        if let Some(old) = old_dead.filter(|o| !o.is_empty()) {
            let mut dead = serde_json::Map::new();
            for k in old.keys().filter(|k| !st.dead_peers.contains_key(*k)) {
                dead.insert(k.clone(), serde_json::Value::Null);
            }
            for (k, v) in &st.dead_peers {
                dead.insert(k.clone(), json!(v));
            }
            patch["status"]["deadPeers"] = serde_json::Value::Object(dead);
        }
        // Left by a chore whose operator stopped before it ended.
        if qc.status.as_ref().is_some_and(|s| s.progress.is_some()) {
            patch["status"]["progress"] = serde_json::Value::Null;
        }
        api.patch_status(
            &qc.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    Ok(())
}

async fn invalid(
    qc: &QdrantCluster,
    ctx: &Context,
    api: &Api<QdrantCluster>,
    why: String,
) -> Result<Action, Error> {
    let already = qc.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.reason == "InvalidSpec" && c.message == why)
    });
    if !already {
        tracing::warn!(cluster = %qc.name_any(), reason = %why, "invalid spec");
        event(ctx, qc, EventType::Warning, "InvalidSpec", why.clone()).await;
    }
    let o = Observed {
        invalid: Some(why),
        selector: builders::selector_string(qc),
        ..Default::default()
    };
    write_status(api, qc, &o).await?;
    // A spec change triggers a new reconcile; until then, look again rarely.
    Ok(Action::requeue(Duration::from_secs(300)))
}

async fn apply(qc: &QdrantCluster, ctx: &Context) -> Result<Action, Error> {
    let ns = namespace(qc);
    let client = ctx.client.clone();
    let qcs: Api<QdrantCluster> = Api::namespaced(client.clone(), &ns);
    // The cached object can miss this operator's own last status write (a reconcile that
    // follows at once), and the status carries what must not go back: `formed`, the
    // recovery timer, the last operation.
    let fresh = qcs.get(&qc.name_any()).await?;
    let qc = &fresh;
    if qc.spec.paused {
        let o = Observed {
            paused: true,
            selector: builders::selector_string(qc),
            ..Default::default()
        };
        write_status(&qcs, qc, &o).await?;
        return Ok(Action::requeue(Duration::from_secs(300)));
    }
    let config = match builders::node_config(qc) {
        Ok(c) => c,
        Err(e @ (ConfigError::NotAnObject | ConfigError::Managed(_))) => {
            return invalid(qc, ctx, &qcs, e.to_string()).await
        }
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let (key_secret, key_key, key_value) = match api_key(qc, ctx, &secrets).await? {
        Ok(k) => k,
        Err(why) => return invalid(qc, ctx, &qcs, why).await,
    };
    ensure_secret(
        &secrets,
        builders::generated_secret(qc, builders::p2p_secret_name(qc), builders::P2P_KEY_FIELD),
    )
    .await?;

    let yaml = serde_yaml::to_string(&config)?;
    let formed = qc.status.as_ref().is_some_and(|s| s.formed);
    apply_obj(
        &Api::<ConfigMap>::namespaced(client.clone(), &ns),
        &builders::config_map(qc, &yaml, formed),
    )
    .await?;
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    apply_obj(&services, &builders::headless_service(qc)).await?;
    apply_obj(&services, &builders::client_service(qc)).await?;

    let sts_api: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let current = sts_api
        .get_opt(&qc.name_any())
        .await?
        .and_then(|s| s.spec?.replicas);
    let chore = match current.filter(|c| *c > qc.spec.replicas) {
        Some(cur) if qc.spec.automation.drain_on_scale_down && formed => {
            steps::drain_first(qc, ctx, &qcs, cur, key_value.clone()).await?
        }
        _ => automation::Outcome {
            replicas: qc.spec.replicas,
            ..Default::default()
        },
    };
    let (sts, mut last_operation) =
        apply_statefulset(qc, ctx, &ns, &yaml, &key_secret, &key_key, chore.replicas).await?;
    if chore.blocked.is_none() && chore.last_operation.is_some() {
        steps::forget_claims(ctx, &ns, qc, chore.replicas, current.unwrap_or(0)).await;
    }
    last_operation = chore.last_operation.clone().or(last_operation);

    apply_pdb(qc, ctx, &ns).await?;

    let st = sts.status.clone().unwrap_or_default();
    let views = views(qc, ctx, &ns, key_value.clone()).await;
    let o = Observed {
        pods: st.replicas,
        ready: st.ready_replicas.unwrap_or(0),
        views,
        invalid: None,
        paused: false,
        selector: builders::selector_string(qc),
        last_operation,
        api_key_secret: Some(key_secret),
        chore_blocked: chore.blocked,
        ..Default::default()
    };
    let healthy = o.ready == qc.spec.replicas && o.pods == qc.spec.replicas;
    let mut o = o;
    let mut rolling = false;
    if formed && o.chore_blocked.is_none() && qc.spec.automation.rolling_restart {
        rolling = steps::roll(qc, ctx, &sts, key_value.clone(), &mut o).await?;
    }
    if formed && o.chore_blocked.is_none() && !rolling {
        steps::upkeep(qc, ctx, key_value.clone(), healthy, &mut o).await?;
    }
    write_status(&qcs, qc, &o).await?;
    Ok(Action::requeue(Duration::from_secs(if rolling {
        3
    } else if healthy {
        60
    } else {
        10
    })))
}

/// Each pod's view of the Raft cluster (None: it does not answer). Asks every pod at once:
/// an unreachable one costs one timeout, not one per pod.
async fn views(
    qc: &QdrantCluster,
    ctx: &Context,
    ns: &str,
    key: Option<String>,
) -> Vec<(String, Option<ClusterView>)> {
    let headless = builders::headless_name(qc);
    futures::future::join_all((0..qc.spec.replicas).map(|i| {
        let pod = format!("{}-{i}", qc.name_any());
        let url = ctx.nodes.url(&pod, &headless, ns);
        let node = NodeClient::with_timeout(&url, key.clone(), Duration::from_secs(3));
        async move {
            let view = node.view().await.ok().flatten();
            (pod, view)
        }
    }))
    .await
}

async fn apply_pdb(qc: &QdrantCluster, ctx: &Context, ns: &str) -> Result<(), Error> {
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(ctx.client.clone(), ns);
    if qc.spec.pod_disruption_budget.enabled {
        apply_obj(&pdbs, &builders::pdb(qc)).await?;
    } else if pdbs.get_opt(&qc.name_any()).await?.is_some() {
        pdbs.delete(&qc.name_any(), &DeleteParams::default())
            .await?;
    }
    Ok(())
}

/// Applies the StatefulSet, keeping its claim templates as first created (they are immutable)
/// and growing existing claims instead; returns it and what changed, for `lastOperation`.
async fn apply_statefulset(
    qc: &QdrantCluster,
    ctx: &Context,
    ns: &str,
    yaml: &str,
    key_secret: &str,
    key_key: &str,
    replicas: i32,
) -> Result<(StatefulSet, Option<String>), Error> {
    let sts_api: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), ns);
    let existing = sts_api.get_opt(&qc.name_any()).await?;
    let mut sts = builders::statefulset(
        qc,
        &builders::stable_hash(yaml.as_bytes()),
        key_secret,
        key_key,
    );
    if let Some(spec) = sts.spec.as_mut() {
        spec.replicas = Some(replicas);
    }
    let mut last_operation = None;
    match &existing {
        None => {
            event(
                ctx,
                qc,
                EventType::Normal,
                "Created",
                format!(
                    "StatefulSet {} with {} replicas",
                    qc.name_any(),
                    qc.spec.replicas
                ),
            )
            .await;
            last_operation = Some(format!("created {} pods", qc.spec.replicas));
        }
        Some(old) => {
            // Claim templates are immutable: keep the old ones, grow the claims instead.
            if let (Some(spec), Some(old_spec)) = (sts.spec.as_mut(), old.spec.as_ref()) {
                spec.volume_claim_templates = old_spec.volume_claim_templates.clone();
                let was = old_spec.replicas.unwrap_or(0);
                if was != replicas {
                    let note = format!("scaling from {was} to {replicas} pods");
                    event(ctx, qc, EventType::Normal, "Scaling", note.clone()).await;
                    last_operation = Some(note);
                }
            }
            grow_claims(qc, ctx, ns).await?;
        }
    }
    let sts = apply_obj(&sts_api, &sts).await?;
    Ok((sts, last_operation))
}

/// Raises the size request of existing claims when `spec.storage.size` grew.
async fn grow_claims(qc: &QdrantCluster, ctx: &Context, ns: &str) -> Result<(), Error> {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), ns);
    let lp = ListParams::default().labels(&builders::selector_string(qc));
    for pvc in pvcs.list(&lp).await? {
        let have = pvc.spec.as_ref().and_then(|s| {
            s.resources
                .as_ref()?
                .requests
                .as_ref()?
                .get("storage")
                .cloned()
        });
        if have.as_ref().map(|q| q.0.as_str()) != Some(qc.spec.storage.size.as_str()) {
            let patch =
                json!({"spec": {"resources": {"requests": {"storage": qc.spec.storage.size}}}});
            pvcs.patch(
                &pvc.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
            event(
                ctx,
                qc,
                EventType::Normal,
                "VolumeResized",
                format!("{} to {}", pvc.name_any(), qc.spec.storage.size),
            )
            .await;
        }
    }
    Ok(())
}

/// On delete: with `reclaimPolicy: Delete` remove the pods' volumes; owned objects go with
/// the owner through garbage collection.
async fn cleanup(qc: &QdrantCluster, ctx: &Context) -> Result<Action, Error> {
    let ns = namespace(qc);
    if qc.spec.storage.reclaim_policy == ReclaimPolicy::Delete {
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
        let lp = ListParams::default().labels(&builders::selector_string(qc));
        let n = pvcs.list(&lp).await?.items.len();
        pvcs.delete_collection(&DeleteParams::default(), &lp)
            .await?;
        event(
            ctx,
            qc,
            EventType::Normal,
            "VolumesDeleted",
            format!("{n} volumes deleted (reclaimPolicy: Delete)"),
        )
        .await;
    } else {
        event(
            ctx,
            qc,
            EventType::Normal,
            "VolumesRetained",
            "volumes kept (reclaimPolicy: Retain)".into(),
        )
        .await;
    }
    Ok(Action::await_change())
}
