//! Queries with `prefetch`: the prefetches run first (nested ones first of all), then the
//! query fuses their answers (`fusion`, `rrf`) or re-scores, orders or lists the points they
//! found. The query's filter applies to every prefetch too, as in Qdrant.

use super::consistency::ReadScope;
use super::query::plain;
use super::router::Router;
use crate::collection::fusion::{fuse, Fusion, Ranked};
use crate::collection::query::{
    check_limit, Prefetch, QueryKind, QueryRequest, ScoredPoint, SearchParams, Strategy,
};
use crate::collection::{Collection, CollectionError, CollectionResult};
use crate::segment::filter::{Condition, Filter};
use crate::segment::record::{WithPayload, WithVector};
use futures::future::{join_all, BoxFuture};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One level of a query: the request itself or one of its prefetches.
#[derive(Debug)]
pub struct Stage {
    pub prefetch: Vec<Prefetch>,
    pub query: Option<Value>,
    pub using: String,
    pub filter: Option<Filter>,
    pub params: SearchParams,
    pub score_threshold: Option<f32>,
    pub limit: usize,
    pub offset: usize,
}

impl Stage {
    pub fn of_request(req: &QueryRequest) -> CollectionResult<Stage> {
        no_lookup(req.lookup_from.as_ref())?;
        Ok(Stage {
            prefetch: req
                .prefetch
                .clone()
                .map(|p| p.into_vec())
                .unwrap_or_default(),
            query: req.query.clone(),
            using: req.using.clone().unwrap_or_default(),
            filter: req.filter.clone(),
            params: req.params.clone().unwrap_or_default(),
            score_threshold: req.score_threshold,
            limit: check_limit(req.limit, 10)?,
            offset: req.offset.unwrap_or(0),
        })
    }

    fn of_prefetch(p: Prefetch, parent: Option<&Filter>) -> CollectionResult<Stage> {
        no_lookup(p.lookup_from.as_ref())?;
        Ok(Stage {
            prefetch: p.prefetch.map(|p| p.into_vec()).unwrap_or_default(),
            query: p.query,
            using: p.using.unwrap_or_default(),
            filter: both(parent, p.filter),
            params: p.params.unwrap_or_default(),
            score_threshold: p.score_threshold,
            limit: check_limit(p.limit, 10)?,
            offset: 0,
        })
    }
}

/// Vectors from another collection are not looked up yet: say so rather than ignore it.
pub fn no_lookup(v: Option<&Value>) -> CollectionResult<()> {
    match v {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(CollectionError::Unsupported(
            "`lookup_from` / `with_lookup` (another collection) is not supported yet".into(),
        )),
    }
}

/// Points matching both filters.
fn both(a: Option<&Filter>, b: Option<Filter>) -> Option<Filter> {
    match (a, b) {
        (None, b) => b,
        (Some(a), None) => Some(a.clone()),
        (Some(a), Some(b)) => Some(Filter {
            must: Some(vec![Condition::Filter(a.clone()), Condition::Filter(b)]),
            ..Filter::default()
        }),
    }
}

/// Runs a stage and its prefetches; the points carry ids and scores only.
pub fn run<'a>(
    r: &'a Router,
    c: &'a Arc<Collection>,
    mut stage: Stage,
    scope: &'a ReadScope,
) -> BoxFuture<'a, CollectionResult<Ranked>> {
    Box::pin(async move {
        let kind = QueryKind::parse(stage.query.as_ref())?;
        let higher_is_better = match &kind {
            QueryKind::Vector(_)
            | QueryKind::ById(_)
            | QueryKind::Recommend {
                strategy: Strategy::AverageVector,
                ..
            } => c.vector_spec(&stage.using)?.distance.higher_is_better(),
            _ => true,
        };
        let (none, no_vector) = (WithPayload::Bool(false), WithVector::Bool(false));
        if stage.prefetch.is_empty() {
            let points = plain(r, c, &stage, &none, &no_vector, scope).await?;
            return Ok(Ranked {
                points,
                higher_is_better,
            });
        }
        let children = std::mem::take(&mut stage.prefetch)
            .into_iter()
            .map(|p| Stage::of_prefetch(p, stage.filter.as_ref()))
            .collect::<CollectionResult<Vec<Stage>>>()?;
        let lists = join_all(children.into_iter().map(|s| run(r, c, s, scope)))
            .await
            .into_iter()
            .collect::<CollectionResult<Vec<Ranked>>>()?;
        if let QueryKind::Fusion(how) = &kind {
            return fused(lists, how, &stage);
        }
        // Re-score, order or list the points the prefetches found.
        let mut seen = HashSet::new();
        let ids: Vec<_> = lists
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.id))
            .filter(|id| seen.insert(*id))
            .collect();
        if ids.is_empty() {
            return Ok(Ranked {
                points: Vec::new(),
                higher_is_better,
            });
        }
        let among = Filter {
            must: Some(vec![Condition::HasId { has_id: ids }]),
            ..Filter::default()
        };
        let mut params = stage.params.clone();
        params.exact = true;
        let inner = Stage {
            prefetch: Vec::new(),
            filter: both(Some(&among), stage.filter.take()),
            params,
            ..stage
        };
        let points = plain(r, c, &inner, &none, &no_vector, scope).await?;
        Ok(Ranked {
            points,
            higher_is_better,
        })
    })
}

/// The fused answer of the prefetches, after `score_threshold`, `offset` and `limit`.
fn fused(lists: Vec<Ranked>, how: &Fusion, stage: &Stage) -> CollectionResult<Ranked> {
    if let Fusion::Rrf {
        weights: Some(w), ..
    } = how
    {
        if w.len() != lists.len() {
            return Err(CollectionError::bad(format!(
                "Bad request: rrf has {} weights for {} prefetches; give one weight per prefetch",
                w.len(),
                lists.len()
            )));
        }
    }
    let points = fuse(lists, how)
        .into_iter()
        .filter(|p| stage.score_threshold.is_none_or(|t| p.score >= t))
        .skip(stage.offset)
        .take(stage.limit)
        .collect();
    Ok(Ranked {
        points,
        higher_is_better: true,
    })
}

/// Fills in the payloads and vectors asked for.
pub async fn attach(
    r: &Router,
    c: &Arc<Collection>,
    mut points: Vec<ScoredPoint>,
    wp: &WithPayload,
    wv: &WithVector,
    scope: &ReadScope,
) -> CollectionResult<Vec<ScoredPoint>> {
    if matches!(wp, WithPayload::Bool(false)) && !wv.any() {
        return Ok(points);
    }
    let ids: Vec<_> = points.iter().map(|p| p.id).collect();
    let records = r.retrieve(c, &ids, wp, wv, scope).await?;
    let mut by_id: HashMap<_, _> = records.into_iter().map(|r| (r.id, r)).collect();
    for p in &mut points {
        if let Some(rec) = by_id.remove(&p.id) {
            p.payload = rec.payload;
            p.vector = rec.vector;
        }
    }
    Ok(points)
}
