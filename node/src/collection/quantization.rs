//! `quantization_config` (collection- and vector-level) and `params.quantization` of a
//! search, in Qdrant's JSON shapes. Configs are stored and shown as given; this module
//! checks them on create and update with Qdrant's messages and reads them into the
//! segment's `Quantization`. Product and turbo quantization are accepted and not applied:
//! their vectors are searched as stored.

use crate::segment::quantized::{BinaryEncoding, QuantSearch, Quantization};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(untagged)]
#[allow(dead_code)] // the fields are read for their shape
enum QuantizationConfig {
    Scalar { scalar: ScalarConfig },
    Product { product: ProductConfig },
    Binary { binary: BinaryConfig },
    Turbo { turbo: Value },
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ScalarType {
    Int8,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Memory {
    Cold,
    Cached,
    Pinned,
}

#[derive(Deserialize)]
#[allow(dead_code)] // the fields are read for their shape
struct ScalarConfig {
    #[serde(rename = "type")]
    kind: ScalarType,
    quantile: Option<f32>,
    always_ram: Option<bool>,
    memory: Option<Memory>,
}

#[derive(Deserialize)]
enum Compression {
    #[serde(rename = "x4")]
    X4,
    #[serde(rename = "x8")]
    X8,
    #[serde(rename = "x16")]
    X16,
    #[serde(rename = "x32")]
    X32,
    #[serde(rename = "x64")]
    X64,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct ProductConfig {
    compression: Compression,
    always_ram: Option<bool>,
    memory: Option<Memory>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Encoding {
    OneBit,
    TwoBits,
    OneAndHalfBits,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum QueryEncoding {
    Default,
    Binary,
    Scalar4bits,
    Scalar8bits,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct BinaryConfig {
    always_ram: Option<bool>,
    memory: Option<Memory>,
    encoding: Option<Encoding>,
    query_encoding: Option<QueryEncoding>,
}

/// Whether `v` is the `"Disabled"` of an update.
pub fn is_disabled(v: &Value) -> bool {
    v.as_str() == Some("Disabled")
}

/// Checks a config given at `path` (e.g. `quantization_config`, `vectors.?.quantization_config`);
/// `diff` allows `"Disabled"`. Errors are Qdrant's whole messages.
pub fn check(path: &str, v: &Value, diff: bool) -> Result<(), String> {
    if diff && is_disabled(v) {
        return Ok(());
    }
    let enum_name = if diff {
        "QuantizationConfigDiff"
    } else {
        "QuantizationConfig"
    };
    let cfg = QuantizationConfig::deserialize(v).map_err(|_| {
        format!("Format error in JSON body: data did not match any variant of untagged enum {enum_name}")
    })?;
    if let QuantizationConfig::Scalar { scalar } = cfg {
        if let Some(q) = scalar.quantile.filter(|q| !(0.5..=1.0).contains(q)) {
            return Err(format!(
                "Validation error in JSON body: [{path}.scalar.quantile: value {:?} invalid, must be from 0.5 to 1.0]",
                f64::from(q)
            ));
        }
    }
    Ok(())
}

/// What a stored config asks of the segment (`None`: nothing applied).
pub fn parse(v: &Value) -> Option<Quantization> {
    match QuantizationConfig::deserialize(v).ok()? {
        QuantizationConfig::Scalar { scalar } => Some(Quantization::Scalar {
            quantile: scalar.quantile,
        }),
        QuantizationConfig::Binary { binary } => Some(Quantization::Binary {
            encoding: match binary.encoding.unwrap_or(Encoding::OneBit) {
                Encoding::OneBit => BinaryEncoding::OneBit,
                Encoding::OneAndHalfBits => BinaryEncoding::OneAndHalfBits,
                Encoding::TwoBits => BinaryEncoding::TwoBits,
            },
        }),
        QuantizationConfig::Product { .. } | QuantizationConfig::Turbo { .. } => None,
    }
}

#[derive(Deserialize)]
struct SearchParamsJson {
    #[serde(default)]
    ignore: bool,
    rescore: Option<bool>,
    oversampling: Option<f64>,
}

/// Reads `params.quantization` of a search.
pub fn search_params(v: Option<&Value>) -> Result<QuantSearch, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(QuantSearch::default());
    };
    let p =
        SearchParamsJson::deserialize(v).map_err(|e| format!("Format error in JSON body: {e}"))?;
    if let Some(o) = p.oversampling.filter(|&o| o < 1.0) {
        return Err(format!(
            "Validation error in JSON body: [internal.params.quantization.oversampling: value {o:?} invalid, must be 1.0 or larger]"
        ));
    }
    Ok(QuantSearch {
        ignore: p.ignore,
        rescore: p.rescore,
        oversampling: p.oversampling,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configs_are_checked_and_read_as_qdrant_reads_them() {
        let int4 = json!({"scalar": {"type": "int4"}});
        assert!(check("quantization_config", &int4, false)
            .unwrap_err()
            .ends_with("untagged enum QuantizationConfig"));
        let q = json!({"scalar": {"type": "int8", "quantile": 0.1}});
        assert_eq!(
            check("vectors.quantization_config", &q, false).unwrap_err(),
            "Validation error in JSON body: [vectors.quantization_config.scalar.quantile: \
             value 0.10000000149011612 invalid, must be from 0.5 to 1.0]"
        );
        assert!(check("q", &json!("Disabled"), false).is_err());
        assert!(check("q", &json!("Disabled"), true).is_ok());
        let two = json!({"binary": {"encoding": "two_bits", "always_ram": true}});
        assert!(check("q", &two, false).is_ok());
        assert_eq!(
            parse(&two),
            Some(Quantization::Binary {
                encoding: BinaryEncoding::TwoBits
            })
        );
        let pq = json!({"product": {"compression": "x16"}});
        assert!(check("q", &pq, false).is_ok());
        assert_eq!(parse(&pq), None);
        assert_eq!(
            parse(&json!({"scalar": {"type": "int8"}})),
            Some(Quantization::Scalar { quantile: None })
        );
    }

    #[test]
    fn search_params_default_and_refuse_small_oversampling() {
        assert_eq!(search_params(None).unwrap(), QuantSearch::default());
        let p = search_params(Some(&json!({"rescore": true, "oversampling": 2.5}))).unwrap();
        assert_eq!((p.rescore, p.oversampling), (Some(true), Some(2.5)));
        let e = search_params(Some(&json!({"oversampling": 0.5}))).unwrap_err();
        assert!(
            e.contains("value 0.5 invalid, must be 1.0 or larger"),
            "{e}"
        );
        assert!(search_params(Some(&json!({"rescore": "x"}))).is_err());
    }
}
