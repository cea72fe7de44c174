//! Write ordering (`?ordering=weak|medium|strong`). Under `weak` the peer that received a
//! write sends it to every replica itself. Under `medium` and `strong` it goes through one
//! replica of the shard, its ordering leader, which sends the shard's writes to the replicas
//! one at a time, so concurrent writes to the same points end in the same order on every
//! replica. `medium`: the leader is the first active replica (by peer id); `strong`: the
//! first replica whatever its state, so writes are refused while it is not active.

use super::remote::{Peer, Remote, RemoteError, Routing};
use super::router::{Router, CALL_TIMEOUT, WRITE_ATTEMPTS};
use crate::collection::ops::ShardOp;
use crate::collection::replicas::ReplicaState;
use crate::collection::{Collection, CollectionError, CollectionResult};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteOrdering {
    #[default]
    Weak,
    Medium,
    Strong,
}

impl WriteOrdering {
    /// Qdrant's `WriteOrderingType` number (also the p2p wire form).
    pub fn code(self) -> u32 {
        match self {
            WriteOrdering::Weak => 0,
            WriteOrdering::Medium => 1,
            WriteOrdering::Strong => 2,
        }
    }

    pub fn from_code(code: u32) -> Option<WriteOrdering> {
        match code {
            0 => Some(WriteOrdering::Weak),
            1 => Some(WriteOrdering::Medium),
            2 => Some(WriteOrdering::Strong),
            _ => None,
        }
    }
}

/// The replica that orders writes of a shard with these replicas: `None` under `weak`
/// (whoever received the write sends it); an error when `strong`'s leader is not active.
pub fn leader(
    ordering: WriteOrdering,
    replicas: &BTreeMap<u64, ReplicaState>,
) -> Result<Option<u64>, String> {
    match ordering {
        WriteOrdering::Weak => Ok(None),
        WriteOrdering::Medium => replicas
            .iter()
            .find(|(_, s)| **s == ReplicaState::Active)
            .map(|(p, _)| Some(*p))
            .ok_or_else(|| "no active replica".to_string()),
        WriteOrdering::Strong => match replicas.iter().next() {
            Some((p, ReplicaState::Active)) => Ok(Some(*p)),
            Some((p, s)) => Err(format!(
                "its ordering leader, peer {p}, is {s:?}; strong ordering waits for it"
            )),
            None => Err("no replica".to_string()),
        },
    }
}

impl Router {
    /// Writes one shard's part under `ordering`: directly under `weak`, else through the
    /// shard's ordering leader (this peer, one write at a time, or forwarded to it).
    /// `forwarded`: the write came from another peer that took this one for the leader.
    /// `epoch`: the routing epoch the write was split under (`Rerouted` once it changed).
    pub async fn write_part(
        &self,
        c: &Arc<Collection>,
        shard: u32,
        op: Arc<ShardOp>,
        ordering: WriteOrdering,
        forwarded: bool,
        epoch: u64,
    ) -> CollectionResult<u64> {
        let unavailable = |why: String| {
            CollectionError::Unavailable(format!(
                "Service unavailable: shard {shard} of `{}` cannot take {ordering:?} writes: {why}",
                c.name
            ))
        };
        for _ in 0..WRITE_ATTEMPTS {
            let layout = c.layout();
            if layout.epoch != epoch {
                return Err(CollectionError::Rerouted);
            }
            let replicas = layout.replicas.get(&shard).cloned().unwrap_or_default();
            let Some(lead) = leader(ordering, &replicas).map_err(unavailable)? else {
                return self.write_shard_retry(c, shard, op, epoch).await;
            };
            if lead == self.local_peer() {
                let lock = self.order_lock(&c.name, shard);
                let _turn = lock.lock().await;
                return self.write_shard_retry(c, shard, op, epoch).await;
            }
            if forwarded {
                // The sender routed with another layout: it waits for this one and retries.
                return Err(CollectionError::StaleLayout(layout.version));
            }
            match self
                .forward(c, lead, shard, &op, ordering, layout.version)
                .await
            {
                Ok(v) => return Ok(v),
                Err(RemoteError::Stale(_, v)) => self.wait_layout(c, v).await,
                Err(e @ RemoteError::Unreachable(..)) if ordering == WriteOrdering::Medium => {
                    if !self.mark_dead(&c.name, shard, lead, &e.to_string()).await {
                        return Err(unavailable(e.to_string()));
                    }
                }
                Err(RemoteError::Rejected(_, m)) => return Err(CollectionError::BadInput(m)),
                Err(RemoteError::Failed(_, m)) => return Err(CollectionError::Unavailable(m)),
                Err(e) => return Err(unavailable(e.to_string())),
            }
        }
        Err(unavailable("its replicas kept changing; retry".into()))
    }

    async fn forward(
        &self,
        c: &Collection,
        lead: u64,
        shard: u32,
        op: &ShardOp,
        ordering: WriteOrdering,
        layout_version: u64,
    ) -> Result<u64, RemoteError> {
        let uri = self.uri(lead)?;
        let at = Routing {
            min_applied: self.applied(),
            layout_version: Some(layout_version),
            tag: None,
        };
        let update = Remote::shard_update(lead, &c.name, shard, op, at)?;
        let to = Peer {
            id: lead,
            uri: &uri,
        };
        self.remote()
            .forward(to, update, ordering.code(), CALL_TIMEOUT)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReplicaState::*;

    #[test]
    fn leaders_by_ordering() {
        let r: BTreeMap<u64, ReplicaState> = [(3, Dead), (5, Active), (9, Active)].into();
        assert_eq!(leader(WriteOrdering::Weak, &r), Ok(None));
        assert_eq!(leader(WriteOrdering::Medium, &r), Ok(Some(5)));
        assert!(leader(WriteOrdering::Strong, &r)
            .unwrap_err()
            .contains("peer 3"));
        let r: BTreeMap<u64, ReplicaState> = [(3, Active), (5, Partial)].into();
        assert_eq!(leader(WriteOrdering::Strong, &r), Ok(Some(3)));
        assert_eq!(leader(WriteOrdering::Medium, &r), Ok(Some(3)));
        let none: BTreeMap<u64, ReplicaState> = [(3, Dead)].into();
        assert!(leader(WriteOrdering::Medium, &none).is_err());
        assert_eq!(WriteOrdering::from_code(2), Some(WriteOrdering::Strong));
        assert_eq!(WriteOrdering::from_code(7), None);
    }
}
