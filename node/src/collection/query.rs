//! Read requests (query, scroll, count, retrieve) in Qdrant's JSON shape and their results.

use super::error::{CollectionError, CollectionResult};
use super::fusion::{Fusion, DEFAULT_RRF_K};
use super::ops::parse_vector;
use super::shard_key::{ShardKey, ShardKeySelector};
use crate::segment::filter::Filter;
use crate::segment::payload::Payload;
use crate::segment::point_id::PointId;
use crate::segment::record::{VectorData, VectorOutput, WithPayload, WithVector};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct SearchParams {
    pub hnsw_ef: Option<usize>,
    #[serde(default)]
    pub exact: bool,
    pub quantization: Option<Value>,
    #[serde(default)]
    pub indexed_only: bool,
    pub acorn: Option<Value>,
    pub idf: Option<IdfParams>,
}

/// Over which points sparse IDF statistics are computed: the whole collection, or those
/// matching a corpus filter.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum IdfParams {
    Scope(IdfScope),
    Corpus { corpus: Filter },
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdfScope {
    Global,
}

impl IdfParams {
    /// The corpus filter, if any.
    pub fn corpus(&self) -> Option<&Filter> {
        match self {
            IdfParams::Scope(IdfScope::Global) => None,
            IdfParams::Corpus { corpus } => Some(corpus),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct QueryRequest {
    pub query: Option<Value>,
    pub using: Option<String>,
    pub filter: Option<Filter>,
    pub params: Option<SearchParams>,
    pub score_threshold: Option<f32>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    pub with_vector: Option<WithVector>,
    pub with_payload: Option<WithPayload>,
    pub prefetch: Option<Prefetches>,
    pub lookup_from: Option<Value>,
    pub shard_key: Option<ShardKeySelector>,
}

/// A stage whose answer the query fuses or re-scores (Qdrant's `Prefetch`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Prefetch {
    pub prefetch: Option<Prefetches>,
    pub query: Option<Value>,
    pub using: Option<String>,
    pub filter: Option<Filter>,
    pub params: Option<SearchParams>,
    pub score_threshold: Option<f32>,
    pub limit: Option<usize>,
    pub lookup_from: Option<Value>,
}

/// `prefetch`: one object or a list.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Prefetches {
    Many(Vec<Prefetch>),
    One(Box<Prefetch>),
}

impl Prefetches {
    pub fn into_vec(self) -> Vec<Prefetch> {
        match self {
            Prefetches::Many(v) => v,
            Prefetches::One(p) => vec![*p],
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct QueryBatchRequest {
    pub searches: Vec<QueryRequest>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct QueryGroupsRequest {
    #[serde(flatten)]
    pub query: QueryRequest,
    pub group_by: String,
    pub group_size: Option<usize>,
    pub with_lookup: Option<Value>,
}

/// What a query asks for, after parsing `query`.
#[derive(Clone, Debug)]
pub enum QueryKind {
    /// No `query`: points in id order.
    None,
    Vector(VectorData),
    /// Nearest to a stored point's vector; the point itself is left out.
    ById(PointId),
    OrderBy(OrderBy),
    /// Combines the answers of the prefetches.
    Fusion(Fusion),
    /// Points like the positive examples and unlike the negative ones, by `strategy`; the
    /// example points left out.
    Recommend {
        positive: Vec<Example>,
        negative: Vec<Example>,
        strategy: Strategy,
    },
    /// Points on the positive side of most context pairs, then nearest to the target.
    Discover {
        target: Example,
        pairs: Vec<(Example, Example)>,
    },
    /// Points on the positive side of the context pairs.
    Context {
        pairs: Vec<(Example, Example)>,
    },
}

/// How a recommendation uses its examples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// One query vector, `avg(positive) + avg(positive) - avg(negative)`.
    AverageVector,
    /// Each point scored by its best positive or negative example.
    BestScore,
    /// Each point scored by the sum of its positive minus negative similarities.
    SumScores,
}

/// A recommendation example: a vector, or a stored point's vector.
#[derive(Clone, Debug)]
pub enum Example {
    Vector(VectorData),
    Point(PointId),
}

impl Example {
    fn parse(v: &Value) -> CollectionResult<Example> {
        match QueryKind::parse(Some(v))? {
            QueryKind::Vector(v) => Ok(Example::Vector(v)),
            QueryKind::ById(id) => Ok(Example::Point(id)),
            _ => Err(CollectionError::wrong(format!(
                "a recommend example is a vector or a point id, not {v}"
            ))),
        }
    }
}

/// `{"recommend": {…}}`.
#[derive(Clone, Debug, Deserialize)]
struct RecommendInput {
    #[serde(default)]
    positive: Option<Vec<Value>>,
    #[serde(default)]
    negative: Option<Vec<Value>>,
    strategy: Option<String>,
}

fn recommend(v: &Value) -> CollectionResult<QueryKind> {
    let r: RecommendInput = serde_json::from_value(v.clone())
        .map_err(|e| CollectionError::wrong(format!("invalid recommend: {e}")))?;
    let strategy = match r.strategy.as_deref() {
        None | Some("average_vector") => Strategy::AverageVector,
        Some("best_score") => Strategy::BestScore,
        Some("sum_scores") => Strategy::SumScores,
        Some(other) => {
            return Err(CollectionError::wrong(format!(
                "unknown variant `{other}`, expected one of `average_vector`, `best_score`, `sum_scores`"
            )))
        }
    };
    let list = |l: Option<Vec<Value>>| -> CollectionResult<Vec<Example>> {
        l.unwrap_or_default().iter().map(Example::parse).collect()
    };
    let positive = list(r.positive)?;
    let negative = list(r.negative)?;
    if positive.is_empty() && (strategy == Strategy::AverageVector || negative.is_empty()) {
        return Err(CollectionError::bad(
            "Bad request: At least one positive vector ID required with this strategy",
        ));
    }
    Ok(QueryKind::Recommend {
        positive,
        negative,
        strategy,
    })
}

/// A context pair in Qdrant's JSON.
#[derive(Clone, Debug, Deserialize)]
struct PairInput {
    positive: Value,
    negative: Value,
}

/// `context`: one pair, a list of pairs, or null.
fn pairs(v: Option<&Value>) -> CollectionResult<Vec<(Example, Example)>> {
    let list: Vec<PairInput> = match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => serde_json::from_value(Value::Array(a.clone()))
            .map_err(|e| CollectionError::wrong(format!("invalid context: {e}")))?,
        Some(one) => vec![serde_json::from_value(one.clone())
            .map_err(|e| CollectionError::wrong(format!("invalid context pair: {e}")))?],
    };
    list.iter()
        .map(|p| Ok((Example::parse(&p.positive)?, Example::parse(&p.negative)?)))
        .collect()
}

/// `{"discover": {"target": …, "context": …}}`.
fn discover(v: &Value) -> CollectionResult<QueryKind> {
    let target = v
        .get("target")
        .ok_or_else(|| CollectionError::wrong("invalid discover: missing field `target`"))?;
    Ok(QueryKind::Discover {
        target: Example::parse(target)?,
        pairs: pairs(v.get("context"))?,
    })
}

impl QueryKind {
    pub fn parse(v: Option<&Value>) -> CollectionResult<QueryKind> {
        let Some(v) = v else {
            return Ok(QueryKind::None);
        };
        match v {
            Value::Null => Ok(QueryKind::None),
            Value::Array(_) => parse_vector(v.clone())
                .map(QueryKind::Vector)
                .map_err(|e| CollectionError::wrong(format!("invalid query: {e}"))),
            Value::Number(_) | Value::String(_) => serde_json::from_value(v.clone())
                .map(QueryKind::ById)
                .map_err(|e| CollectionError::wrong(format!("invalid query: {e}"))),
            Value::Object(m) => {
                if let Some(inner) = m.get("nearest") {
                    return QueryKind::parse(Some(inner));
                }
                if let Some(ob) = m.get("order_by") {
                    return serde_json::from_value(ob.clone())
                        .map(QueryKind::OrderBy)
                        .map_err(|e| CollectionError::wrong(format!("invalid order_by: {e}")));
                }
                if let Some(f) = m.get("fusion") {
                    return match f.as_str() {
                        Some("rrf") => Ok(QueryKind::Fusion(Fusion::Rrf {
                            k: DEFAULT_RRF_K,
                            weights: None,
                        })),
                        Some("dbsf") => Ok(QueryKind::Fusion(Fusion::Dbsf)),
                        _ => Err(CollectionError::wrong(format!(
                            "unknown fusion {f}: expected \"rrf\" or \"dbsf\""
                        ))),
                    };
                }
                if let Some(r) = m.get("recommend") {
                    return recommend(r);
                }
                if let Some(d) = m.get("discover") {
                    return discover(d);
                }
                if let Some(ctx) = m.get("context") {
                    return Ok(QueryKind::Context {
                        pairs: pairs(Some(ctx))?,
                    });
                }
                if let Some(rrf) = m.get("rrf") {
                    let p: RrfParams = serde_json::from_value(rrf.clone())
                        .map_err(|e| CollectionError::wrong(format!("invalid rrf: {e}")))?;
                    if p.k == Some(0) {
                        return Err(CollectionError::bad(
                            "Validation error in JSON body: [rrf.k: value 0 invalid, must be 1 or larger]",
                        ));
                    }
                    return Ok(QueryKind::Fusion(Fusion::Rrf {
                        k: p.k.unwrap_or(DEFAULT_RRF_K),
                        weights: p.weights,
                    }));
                }
                if m.contains_key("indices") || m.contains_key("values") {
                    return parse_vector(v.clone())
                        .map(QueryKind::Vector)
                        .map_err(|e| CollectionError::wrong(format!("invalid query: {e}")));
                }
                let kind = m.keys().next().cloned().unwrap_or_default();
                Err(CollectionError::Unsupported(format!(
                    "query type `{kind}` is not supported yet"
                )))
            }
            other => Err(CollectionError::wrong(format!("invalid query {other}"))),
        }
    }
}

/// `{"rrf": {"k": …, "weights": […]}}`.
#[derive(Clone, Debug, Deserialize)]
struct RrfParams {
    k: Option<usize>,
    weights: Option<Vec<f32>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

/// `order_by`: a key, or `{key, direction, start_from}`.
#[derive(Clone, Debug, Serialize)]
pub struct OrderBy {
    pub key: String,
    pub direction: Direction,
    pub start_from: Option<f64>,
}

impl<'de> Deserialize<'de> for OrderBy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Key(String),
            Full {
                key: String,
                direction: Option<Direction>,
                start_from: Option<Value>,
            },
        }
        match Raw::deserialize(d)? {
            Raw::Key(key) => Ok(OrderBy {
                key,
                direction: Direction::Asc,
                start_from: None,
            }),
            Raw::Full {
                key,
                direction,
                start_from,
            } => {
                let start_from = match start_from {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) => n.as_f64(),
                    Some(other) => {
                        return Err(serde::de::Error::custom(format!(
                            "start_from must be a number, got {other}"
                        )))
                    }
                };
                Ok(OrderBy {
                    key,
                    direction: direction.unwrap_or_default(),
                    start_from,
                })
            }
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScoredPoint {
    pub id: PointId,
    pub version: u64,
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<VectorOutput>,
    /// The shard key of the shard it came from (custom sharding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<ShardKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_value: Option<f64>,
}

/// Hits that share a value of the `group_by` key.
#[derive(Clone, Debug, Serialize)]
pub struct PointGroup {
    pub id: Value,
    pub hits: Vec<ScoredPoint>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: PointId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<VectorOutput>,
    /// The shard key of the shard it came from (custom sharding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_key: Option<ShardKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_value: Option<f64>,
}

/// A record in a query answer that has no score (no query, or `order_by`).
impl From<Record> for ScoredPoint {
    fn from(r: Record) -> ScoredPoint {
        ScoredPoint {
            id: r.id,
            version: 0,
            score: 0.0,
            payload: r.payload,
            vector: r.vector,
            shard_key: r.shard_key,
            order_value: r.order_value,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct ScrollRequest {
    pub offset: Option<PointId>,
    pub limit: Option<usize>,
    pub filter: Option<Filter>,
    pub with_payload: Option<WithPayload>,
    pub with_vector: Option<WithVector>,
    pub order_by: Option<OrderBy>,
    pub shard_key: Option<ShardKeySelector>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScrollResult {
    pub points: Vec<Record>,
    pub next_page_offset: Option<PointId>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct CountRequest {
    pub filter: Option<Filter>,
    pub exact: Option<bool>,
    pub shard_key: Option<ShardKeySelector>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FacetRequest {
    pub key: String,
    pub limit: Option<usize>,
    pub filter: Option<Filter>,
    /// Counts are always exact here.
    pub exact: Option<bool>,
    pub shard_key: Option<ShardKeySelector>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PointRequest {
    pub ids: Vec<PointId>,
    pub with_payload: Option<WithPayload>,
    pub with_vector: Option<WithVector>,
    pub shard_key: Option<ShardKeySelector>,
}

/// `limit` must be at least 1 (Qdrant's validation); absent means `default`.
pub fn check_limit(limit: Option<usize>, default: usize) -> CollectionResult<usize> {
    match limit {
        Some(0) => Err(CollectionError::bad(
            "Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]",
        )),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}
