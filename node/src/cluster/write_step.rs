//! The decisions of one shard write, without I/O: from the replicas written and their
//! answers, which replicas to mark `Dead` (`tally`), then, once those marks were committed
//! or not, the reply (`reply`). `Router::write_shard` sends, marks and answers with them.

use super::remote::RemoteError;
use crate::collection::replicas::ReplicaState;
use crate::collection::{CollectionError, CollectionResult};

/// What the answers of one write said.
#[derive(Debug, Default, PartialEq)]
pub struct Tally {
    /// `Active` replicas that applied the write.
    pub acks: usize,
    /// Highest operation number among them.
    pub op_version: u64,
    /// `Active` replicas that failed it for a reason other than the request: to be marked
    /// `Dead` (peer, error).
    pub to_mark: Vec<(u64, String)>,
    /// A replica refused the request itself (the same request fails anywhere).
    pub rejected: Option<String>,
    /// The newest layout version a replica refused the write's layout for.
    pub newer: Option<u64>,
    /// Errors of `Active` replicas, for the reply.
    pub errors: Vec<String>,
    /// Every replica applied it (its clock can carry the next write).
    pub clean: bool,
}

/// Sorts the answers (`results[i]` from `targets[i]`, with its state when the write left).
pub fn tally(targets: &[(u64, ReplicaState)], results: &[Result<u64, RemoteError>]) -> Tally {
    let mut t = Tally {
        clean: results.iter().all(Result::is_ok),
        ..Tally::default()
    };
    for ((peer, state), r) in targets.iter().zip(results) {
        match (state, r) {
            (_, Err(RemoteError::Stale(_, v))) => t.newer = t.newer.max(Some(*v)),
            (ReplicaState::Active, Ok(v)) => {
                t.acks += 1;
                t.op_version = t.op_version.max(*v);
            }
            (ReplicaState::Active, Err(e)) => {
                match e {
                    RemoteError::Rejected(_, m) => t.rejected = Some(m.clone()),
                    _ => t.to_mark.push((*peer, e.to_string())),
                }
                t.errors.push(e.to_string());
            }
            // A partial replica's transfer notices what it missed.
            (_, _) => {}
        }
    }
    t
}

/// The reply, given the replicas that failed and are still `Active` (`unmarked`: their
/// `Dead` mark was not committed). `wcf`: the write consistency factor, `replicas`: how
/// many replicas the shard has, `active`: how many were `Active` when the write left.
pub fn reply(
    t: &Tally,
    unmarked: &[u64],
    wcf: u32,
    replicas: usize,
    active: usize,
    what: &str,
) -> CollectionResult<u64> {
    if let Some(v) = t.newer {
        return Err(CollectionError::StaleLayout(v));
    }
    let wcf = (wcf as usize).clamp(1, replicas.max(1));
    if !unmarked.is_empty() {
        // Acknowledging would let a later read from them miss an acknowledged write.
        return Err(CollectionError::Unavailable(format!(
            "Service unavailable: the write to {what} failed on peers {unmarked:?}, which could not be marked dead; retry"
        )));
    }
    if t.acks >= wcf {
        return Ok(t.op_version);
    }
    if let (0, Some(m)) = (t.acks, &t.rejected) {
        return Err(CollectionError::BadInput(m.clone()));
    }
    let errors = match t.errors.is_empty() {
        true => String::new(),
        false => format!(" ({})", t.errors.join("; ")),
    };
    Err(CollectionError::Unavailable(format!(
        "Service unavailable: write_consistency_factor {wcf} not reached for {what}: {} of {active} active replicas acknowledged{errors}",
        t.acks
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReplicaState::*;

    fn down(p: u64) -> RemoteError {
        RemoteError::Unreachable(p, "gone".into())
    }

    fn run(
        targets: &[(u64, ReplicaState)],
        results: Vec<Result<u64, RemoteError>>,
        marked: bool,
        wcf: u32,
    ) -> (Tally, CollectionResult<u64>) {
        let t = tally(targets, &results);
        let unmarked: Vec<u64> = match marked {
            true => vec![],
            false => t.to_mark.iter().map(|(p, _)| *p).collect(),
        };
        let active = targets.iter().filter(|(_, s)| *s == Active).count();
        let r = reply(&t, &unmarked, wcf, targets.len(), active, "shard 0 of `c`");
        (t, r)
    }

    #[test]
    fn every_replica_applied() {
        let (t, r) = run(&[(1, Active), (2, Active)], vec![Ok(4), Ok(7)], true, 2);
        assert_eq!(r.unwrap(), 7);
        assert!(t.clean && t.to_mark.is_empty());
    }

    #[test]
    fn a_failed_replica_is_marked_dead_and_the_rest_answer() {
        let (t, r) = run(
            &[(1, Active), (2, Active)],
            vec![Ok(4), Err(down(2))],
            true,
            1,
        );
        assert_eq!(r.unwrap(), 4);
        assert_eq!(t.to_mark.len(), 1);
        assert_eq!(t.to_mark[0].0, 2);
        assert!(!t.clean, "the clock of a failed write is dropped");
    }

    #[test]
    fn a_failed_replica_that_could_not_be_marked_fails_the_write() {
        let (_, r) = run(
            &[(1, Active), (2, Active)],
            vec![Ok(4), Err(down(2))],
            false,
            1,
        );
        let m = r.unwrap_err().to_string();
        assert!(
            m.contains("could not be marked dead") && m.contains("[2]"),
            "{m}"
        );
    }

    #[test]
    fn too_few_acknowledgements_fail_the_write() {
        let (_, r) = run(
            &[(1, Active), (2, Active)],
            vec![Ok(4), Err(down(2))],
            true,
            2,
        );
        let m = r.unwrap_err().to_string();
        assert!(
            m.contains("write_consistency_factor 2") && m.contains("1 of 2"),
            "{m}"
        );
    }

    #[test]
    fn the_factor_is_clamped_to_the_replicas() {
        let (_, r) = run(&[(1, Active)], vec![Ok(3)], true, 5);
        assert_eq!(r.unwrap(), 3);
    }

    #[test]
    fn a_newer_layout_anywhere_means_retry_with_it() {
        let stale = RemoteError::Stale(2, 9);
        let (t, r) = run(
            &[(1, Active), (2, Active)],
            vec![Ok(4), Err(stale)],
            true,
            1,
        );
        assert!(matches!(r, Err(CollectionError::StaleLayout(9))));
        assert!(t.to_mark.is_empty(), "a stale refusal marks nobody");
    }

    #[test]
    fn a_request_every_replica_rejects_is_bad_input() {
        let bad = |p| Err(RemoteError::Rejected(p, "wrong vector size".into()));
        let (t, r) = run(&[(1, Active), (2, Active)], vec![bad(1), bad(2)], true, 1);
        assert!(matches!(r, Err(CollectionError::BadInput(m)) if m == "wrong vector size"));
        assert!(t.to_mark.is_empty(), "nobody is marked for a bad request");
    }

    #[test]
    fn partial_replicas_neither_acknowledge_nor_get_marked() {
        let targets = [(1, Active), (2, Partial)];
        let (t, r) = run(&targets, vec![Ok(4), Err(down(2))], true, 1);
        assert_eq!(r.unwrap(), 4);
        assert!(t.to_mark.is_empty());
        let (t, r) = run(&targets, vec![Err(down(1)), Ok(5)], false, 1);
        assert_eq!(t.acks, 0);
        assert!(r.is_err(), "a partial replica's answer does not count");
    }
}
