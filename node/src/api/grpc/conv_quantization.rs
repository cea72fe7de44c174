//! `QuantizationConfig` and `QuantizationConfigDiff` messages to and from the JSON shapes
//! the collection layer keeps (as Qdrant's REST API writes them).

use proto::qdrant as g;
use serde_json::{json, Map, Value};

fn put<T: serde::Serialize>(m: &mut Map<String, Value>, k: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(k.into(), serde_json::to_value(v).unwrap_or(Value::Null));
    }
}

const MEMORY: [(g::Memory, &str); 3] = [
    (g::Memory::Cold, "cold"),
    (g::Memory::Cached, "cached"),
    (g::Memory::Pinned, "pinned"),
];
const COMPRESSION: [&str; 5] = ["x4", "x8", "x16", "x32", "x64"];
const ENCODING: [(g::BinaryQuantizationEncoding, &str); 3] = [
    (g::BinaryQuantizationEncoding::OneBit, "one_bit"),
    (g::BinaryQuantizationEncoding::TwoBits, "two_bits"),
    (
        g::BinaryQuantizationEncoding::OneAndHalfBits,
        "one_and_half_bits",
    ),
];
const QUERY_ENCODING: [&str; 4] = ["default", "binary", "scalar4bits", "scalar8bits"];

fn memory_name(m: Option<i32>) -> Option<&'static str> {
    let m = g::Memory::try_from(m?).ok()?;
    MEMORY.iter().find(|(x, _)| *x == m).map(|(_, n)| *n)
}

fn memory_of(v: &Value) -> Option<i32> {
    let s = v.get("memory")?.as_str()?;
    MEMORY.iter().find(|(_, n)| *n == s).map(|(m, _)| *m as i32)
}

/// The REST form of a config message (`null` when it holds none).
pub fn to_json(q: g::QuantizationConfig) -> Value {
    use g::quantization_config::Quantization as Q;
    let mut m = Map::new();
    let (kind, v) = match q.quantization {
        Some(Q::Scalar(s)) => {
            m.insert("type".into(), json!("int8"));
            put(&mut m, "quantile", s.quantile);
            put(&mut m, "always_ram", s.always_ram);
            put(&mut m, "memory", memory_name(s.memory));
            ("scalar", m)
        }
        Some(Q::Product(p)) => {
            let c = COMPRESSION.get(p.compression as usize).copied();
            m.insert("compression".into(), json!(c.unwrap_or("x4")));
            put(&mut m, "always_ram", p.always_ram);
            put(&mut m, "memory", memory_name(p.memory));
            ("product", m)
        }
        Some(Q::Binary(b)) => {
            put(&mut m, "always_ram", b.always_ram);
            put(&mut m, "memory", memory_name(b.memory));
            let enc = b
                .encoding
                .and_then(|e| g::BinaryQuantizationEncoding::try_from(e).ok());
            put(
                &mut m,
                "encoding",
                enc.and_then(|e| ENCODING.iter().find(|(x, _)| *x == e).map(|(_, n)| *n)),
            );
            use g::binary_quantization_query_encoding::Variant;
            let query = b.query_encoding.and_then(|q| match q.variant {
                Some(Variant::Setting(s)) => QUERY_ENCODING.get(s as usize).copied(),
                None => None,
            });
            put(&mut m, "query_encoding", query);
            ("binary", m)
        }
        Some(Q::Turboquant(t)) => {
            put(&mut m, "always_ram", t.always_ram);
            put(&mut m, "memory", memory_name(t.memory));
            ("turbo", m)
        }
        None => return Value::Null,
    };
    json!({ kind: v })
}

/// The REST form of an update's config: a config, or `"Disabled"`.
pub fn diff_to_json(q: g::QuantizationConfigDiff) -> Value {
    use g::quantization_config::Quantization as C;
    use g::quantization_config_diff::Quantization as Q;
    let config = |c| {
        to_json(g::QuantizationConfig {
            quantization: Some(c),
        })
    };
    match q.quantization {
        Some(Q::Scalar(s)) => config(C::Scalar(s)),
        Some(Q::Product(p)) => config(C::Product(p)),
        Some(Q::Binary(b)) => config(C::Binary(b)),
        Some(Q::Turboquant(t)) => config(C::Turboquant(t)),
        Some(Q::Disabled(_)) => json!("Disabled"),
        None => Value::Null,
    }
}

/// The message of a stored config (`None` for a shape it cannot hold).
pub fn from_json(v: &Value) -> Option<g::QuantizationConfig> {
    use g::quantization_config::Quantization as Q;
    let flag = |o: &Value, k: &str| o.get(k).and_then(Value::as_bool);
    let q = if let Some(s) = v.get("scalar") {
        Q::Scalar(g::ScalarQuantization {
            r#type: g::QuantizationType::Int8 as i32,
            quantile: s.get("quantile").and_then(Value::as_f64).map(|q| q as f32),
            always_ram: flag(s, "always_ram"),
            memory: memory_of(s),
        })
    } else if let Some(p) = v.get("product") {
        let c = p.get("compression").and_then(Value::as_str).unwrap_or("x4");
        Q::Product(g::ProductQuantization {
            compression: COMPRESSION.iter().position(|x| *x == c).unwrap_or(0) as i32,
            always_ram: flag(p, "always_ram"),
            memory: memory_of(p),
        })
    } else if let Some(b) = v.get("binary") {
        let enc = b.get("encoding").and_then(Value::as_str);
        let query = b.get("query_encoding").and_then(Value::as_str);
        use g::binary_quantization_query_encoding::Variant;
        Q::Binary(g::BinaryQuantization {
            always_ram: flag(b, "always_ram"),
            encoding: enc.and_then(|e| {
                ENCODING
                    .iter()
                    .find(|(_, n)| *n == e)
                    .map(|(x, _)| *x as i32)
            }),
            query_encoding: query.and_then(|q| {
                let i = QUERY_ENCODING.iter().position(|x| *x == q)?;
                Some(g::BinaryQuantizationQueryEncoding {
                    variant: Some(Variant::Setting(i as i32)),
                })
            }),
            memory: memory_of(b),
        })
    } else if let Some(t) = v.get("turbo") {
        Q::Turboquant(g::TurboQuantization {
            always_ram: flag(t, "always_ram"),
            bits: None,
            memory: memory_of(t),
        })
    } else {
        return None;
    };
    Some(g::QuantizationConfig {
        quantization: Some(q),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_survive_the_round_trip() {
        for v in [
            json!({"scalar": {"type": "int8", "quantile": 0.5, "always_ram": true}}),
            json!({"scalar": {"type": "int8", "memory": "pinned"}}),
            json!({"product": {"compression": "x16"}}),
            json!({"binary": {"encoding": "two_bits", "query_encoding": "scalar8bits"}}),
            json!({"binary": {}}),
        ] {
            assert_eq!(to_json(from_json(&v).unwrap()), v);
        }
        assert_eq!(from_json(&json!("Disabled")), None);
        let off = g::QuantizationConfigDiff {
            quantization: Some(g::quantization_config_diff::Quantization::Disabled(
                g::Disabled {},
            )),
        };
        assert_eq!(diff_to_json(off), json!("Disabled"));
    }
}
