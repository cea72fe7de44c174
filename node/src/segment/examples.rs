//! Queries scored against several example vectors instead of one: recommend with the
//! `best_score` and `sum_scores` strategies, `discover` (a target and context pairs) and
//! `context` (pairs only). A point's score is computed from its similarities to the examples
//! (higher is better: the negated order, so Euclid gives minus the squared distance), with
//! Qdrant's formulas, so the same graph search and exact scan serve them.

use serde::{Deserialize, Serialize};

/// Examples of type `V`: raw vectors on the wire, prepared ones in a segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Examples<V> {
    BestScore { positive: Vec<V>, negative: Vec<V> },
    SumScores { positive: Vec<V>, negative: Vec<V> },
    Discover { target: V, pairs: Vec<(V, V)> },
    Context { pairs: Vec<(V, V)> },
}

/// `x / (1 + |x|)`: squashes into (-1, 1) keeping the order.
fn fast_sigmoid(x: f32) -> f32 {
    x / (1.0 + x.abs())
}

/// `fast_sigmoid` moved to (0, 1).
fn scaled_fast_sigmoid(x: f32) -> f32 {
    0.5 * (fast_sigmoid(x) + 1.0)
}

fn max(v: impl Iterator<Item = f32>) -> f32 {
    v.fold(f32::NEG_INFINITY, f32::max)
}

impl<V> Examples<V> {
    /// The same examples with every vector converted by `f`.
    pub fn try_map<U, E>(self, mut f: impl FnMut(V) -> Result<U, E>) -> Result<Examples<U>, E> {
        let list = |l: Vec<V>, f: &mut dyn FnMut(V) -> Result<U, E>| -> Result<Vec<U>, E> {
            l.into_iter().map(f).collect()
        };
        let pairs = |l: Vec<(V, V)>, f: &mut dyn FnMut(V) -> Result<U, E>| {
            l.into_iter()
                .map(|(a, b)| Ok((f(a)?, f(b)?)))
                .collect::<Result<Vec<_>, E>>()
        };
        Ok(match self {
            Examples::BestScore { positive, negative } => Examples::BestScore {
                positive: list(positive, &mut f)?,
                negative: list(negative, &mut f)?,
            },
            Examples::SumScores { positive, negative } => Examples::SumScores {
                positive: list(positive, &mut f)?,
                negative: list(negative, &mut f)?,
            },
            Examples::Discover { target, pairs: p } => Examples::Discover {
                target: f(target)?,
                pairs: pairs(p, &mut f)?,
            },
            Examples::Context { pairs: p } => Examples::Context {
                pairs: pairs(p, &mut f)?,
            },
        })
    }

    /// Every example vector.
    pub fn vectors(&self) -> Vec<&V> {
        match self {
            Examples::BestScore { positive, negative }
            | Examples::SumScores { positive, negative } => {
                positive.iter().chain(negative).collect()
            }
            Examples::Discover { target, pairs } => std::iter::once(target)
                .chain(pairs.iter().flat_map(|(a, b)| [a, b]))
                .collect(),
            Examples::Context { pairs } => pairs.iter().flat_map(|(a, b)| [a, b]).collect(),
        }
    }

    /// A point's score from its similarity `sim` to each example (higher is better).
    pub fn score(&self, sim: impl Fn(&V) -> f32) -> f32 {
        match self {
            Examples::BestScore { positive, negative } => {
                let p = max(positive.iter().map(&sim));
                let n = max(negative.iter().map(&sim));
                if p > n {
                    scaled_fast_sigmoid(p)
                } else {
                    -scaled_fast_sigmoid(n)
                }
            }
            Examples::SumScores { positive, negative } => {
                positive.iter().map(&sim).sum::<f32>() - negative.iter().map(&sim).sum::<f32>()
            }
            Examples::Discover { target, pairs } => {
                let rank: i32 = pairs
                    .iter()
                    .map(|(p, n)| if sim(p) > sim(n) { 1 } else { -1 })
                    .sum();
                rank as f32 + scaled_fast_sigmoid(sim(target))
            }
            Examples::Context { pairs } => pairs
                .iter()
                .map(|(p, n)| fast_sigmoid((sim(p) - sim(n) - f32::EPSILON).min(0.0)))
                .sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Examples;

    #[test]
    fn scores_as_qdrant_defines_them() {
        let sim = |v: &f32| *v;
        let best = Examples::BestScore {
            positive: vec![2.0, 1.0],
            negative: vec![0.5],
        };
        assert!((best.score(sim) - 0.5 * (2.0 / 3.0 + 1.0)).abs() < 1e-6);
        let worse = Examples::BestScore {
            positive: vec![0.1],
            negative: vec![1.0],
        };
        assert!((worse.score(sim) + 0.75).abs() < 1e-6);
        let sum = Examples::SumScores {
            positive: vec![2.0, 1.0],
            negative: vec![0.5],
        };
        assert_eq!(sum.score(sim), 2.5);
        // One pair on the positive side, one on the negative: rank 0, plus the target.
        let disc = Examples::Discover {
            target: 1.0,
            pairs: vec![(2.0, 1.0), (0.0, 1.0)],
        };
        assert!((disc.score(sim) - 0.75).abs() < 1e-6);
        // Context: zero when on the positive side of every pair, negative otherwise.
        let ctx = Examples::Context {
            pairs: vec![(2.0, 1.0), (0.0, 1.0)],
        };
        assert!((ctx.score(sim) + 0.5).abs() < 1e-6);
        let mapped: Examples<i32> = ctx.try_map(|v| Ok::<_, ()>(v as i32)).unwrap();
        assert_eq!(mapped.vectors(), vec![&2, &1, &0, &1]);
    }
}
