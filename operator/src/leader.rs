//! Lease-based leader election (coordination.k8s.io/v1), for running more than one replica:
//! only the holder of the Lease reconciles. A holder that cannot renew in time exits, so two
//! replicas never reconcile at once for longer than the lease allows.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::Client;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Election {
    pub api: Api<Lease>,
    pub name: String,
    pub identity: String,
    pub lease: Duration,
}

impl Election {
    pub fn new(client: Client, namespace: &str, name: &str, identity: String) -> Election {
        Election {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity,
            lease: Duration::from_secs(15),
        }
    }

    fn spec(&self, transitions: i32) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.lease.as_secs() as i32),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    /// One attempt to take or renew the lease; true when this replica holds it afterwards.
    pub async fn try_acquire(&self) -> Result<bool, kube::Error> {
        let pp = PostParams::default();
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let l = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec(0)),
            };
            return match self.api.create(&pp, &l).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let mine = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let expired = spec.renew_time.as_ref().is_none_or(|t| {
            let secs = spec.lease_duration_seconds.unwrap_or(15) as i64;
            t.0 + SignedDuration::from_secs(secs) < Timestamp::now()
        });
        if !mine && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let mut next = self.spec(transitions);
        if mine {
            next.acquire_time = spec.acquire_time;
        }
        lease.spec = Some(next);
        match self.api.replace(&self.name, &pp, &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this replica holds the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire().await {
                Ok(true) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "leader lease acquired");
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election"),
            }
            tokio::time::sleep(self.lease / 5).await;
        }
    }

    /// Renews the lease until a renewal fails for longer than the lease; then returns.
    pub async fn keep(&self) {
        let mut last_ok = std::time::Instant::now();
        loop {
            tokio::time::sleep(self.lease / 3).await;
            match self.try_acquire().await {
                Ok(true) => last_ok = std::time::Instant::now(),
                Ok(false) => {
                    tracing::error!("leader lease taken by another replica");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
            }
            if last_ok.elapsed() > self.lease {
                tracing::error!("could not renew the leader lease in time");
                return;
            }
        }
    }
}
