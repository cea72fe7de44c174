//! `recommend` queries (strategy `average_vector`): the examples become one query vector,
//! `avg(positive) + avg(positive) - avg(negative)`, and the example points are left out.

use crate::cluster::router::Router;
use crate::collection::query::Example;
use crate::collection::{Collection, CollectionResult};
use crate::segment::filter::{Condition, Filter};
use crate::segment::point_id::PointId;
use std::sync::Arc;

/// The query vector of a recommendation and the example point ids to leave out.
pub async fn query_vector(
    r: &Router,
    c: &Arc<Collection>,
    using: &str,
    positive: &[Example],
    negative: &[Example],
) -> CollectionResult<(Vec<f32>, Vec<PointId>)> {
    let mut ids = Vec::new();
    let pos = average(r, c, using, positive, &mut ids).await?;
    let Some(neg) = average(r, c, using, negative, &mut ids).await? else {
        return Ok((pos.unwrap_or_default(), ids));
    };
    let pos = pos.unwrap_or_default();
    let v = pos.iter().zip(&neg).map(|(p, n)| p + p - n).collect();
    Ok((v, ids))
}

/// The mean of the examples' vectors (stored vectors as stored; Cosine ones normalised).
async fn average(
    r: &Router,
    c: &Arc<Collection>,
    using: &str,
    examples: &[Example],
    ids: &mut Vec<PointId>,
) -> CollectionResult<Option<Vec<f32>>> {
    let mut sum: Option<Vec<f32>> = None;
    for e in examples {
        let v = match e {
            Example::Vector(v) => {
                let distance = c.check_vector(using, v)?;
                let mut v = v.clone();
                distance.preprocess(&mut v);
                v
            }
            Example::Point(id) => {
                ids.push(*id);
                r.vector_of(c, *id, using).await?
            }
        };
        match &mut sum {
            None => sum = Some(v),
            Some(s) => s.iter_mut().zip(&v).for_each(|(a, b)| *a += b),
        }
    }
    let n = examples.len() as f32;
    Ok(sum.map(|s| s.into_iter().map(|x| x / n).collect()))
}

/// `filter` and none of `ids`.
pub fn without(filter: Option<Filter>, ids: Vec<PointId>) -> Option<Filter> {
    if ids.is_empty() {
        return filter;
    }
    let mut f = filter.unwrap_or_default();
    f.must_not
        .get_or_insert_with(Vec::new)
        .push(Condition::HasId { has_id: ids });
    Some(f)
}
