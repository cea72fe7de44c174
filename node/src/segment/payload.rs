//! Payload documents and key paths (`a.b`, `a[].b`, `a[0]`), as Qdrant addresses them.

use serde_json::{Map, Value};

pub type Payload = Map<String, Value>;

enum Step<'a> {
    Key(&'a str),
    Each,
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Step<'_>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            steps.push(Step::Key(name));
        }
        while let Some(end) = rest.find(']') {
            let inner = &rest[1..end];
            steps.push(match inner.parse() {
                Ok(i) => Step::Index(i),
                Err(_) => Step::Each,
            });
            rest = &rest[end + 1..];
        }
    }
    steps
}

/// Every value at `path`, with arrays at the end flattened (a match on a list field
/// matches any element).
pub fn values_at<'a>(payload: &'a Payload, path: &str) -> Vec<&'a Value> {
    let mut cur: Vec<&Value> = Vec::new();
    let steps = parse_path(path);
    let Some((Step::Key(first), rest)) = steps.split_first() else {
        return cur;
    };
    if let Some(v) = payload.get(*first) {
        cur.push(v);
    }
    for step in rest {
        let mut next = Vec::new();
        for v in cur {
            match (step, v) {
                (Step::Key(k), Value::Object(m)) => next.extend(m.get(*k)),
                (Step::Key(k), Value::Array(items)) => {
                    next.extend(items.iter().filter_map(|i| i.as_object()?.get(*k)))
                }
                (Step::Each, Value::Array(items)) => next.extend(items.iter()),
                (Step::Index(i), Value::Array(items)) => next.extend(items.get(*i)),
                _ => {}
            }
        }
        cur = next;
    }
    let mut out = Vec::with_capacity(cur.len());
    for v in cur {
        match v {
            Value::Array(items) => out.extend(items.iter()),
            other => out.push(other),
        }
    }
    out
}

/// The raw value at `path` without flattening (for `is_null`, `is_empty` and `order_by`).
pub fn raw_values_at<'a>(payload: &'a Payload, path: &str) -> Vec<&'a Value> {
    let (parent, last) = match path.rfind('.') {
        Some(i) => (Some(&path[..i]), &path[i + 1..]),
        None => (None, path),
    };
    match parent {
        None => payload.get(last).into_iter().collect(),
        Some(p) => values_at(payload, p)
            .into_iter()
            .filter_map(|v| v.as_object()?.get(last))
            .collect(),
    }
}

/// Merges `src` into the object at `key` (created when missing) or into the root.
pub fn set_payload(target: &mut Payload, src: &Payload, key: Option<&str>) {
    let mut obj = target;
    if let Some(key) = key {
        for part in key.split('.') {
            let slot = obj
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(m) = slot else {
                unreachable!("slot was made an object")
            };
            obj = m;
        }
    }
    for (k, v) in src {
        obj.insert(k.clone(), v.clone());
    }
}

/// Removes `path` (dotted) from the payload.
pub fn delete_key(target: &mut Payload, path: &str) {
    match path.split_once('.') {
        None => {
            target.remove(path);
        }
        Some((head, tail)) => match target.get_mut(head) {
            Some(Value::Object(m)) => delete_key(m, tail),
            Some(Value::Array(items)) => items.iter_mut().for_each(|i| {
                if let Value::Object(m) = i {
                    delete_key(m, tail)
                }
            }),
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Payload {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn nested_paths() {
        let doc = p(json!({"a": {"b": [1, 2]}, "arr": [{"k": "x"}, {"k": "y"}], "s": "v"}));
        assert_eq!(values_at(&doc, "a.b"), vec![&json!(1), &json!(2)]);
        assert_eq!(values_at(&doc, "arr[].k"), vec![&json!("x"), &json!("y")]);
        assert_eq!(values_at(&doc, "arr.k"), vec![&json!("x"), &json!("y")]);
        assert_eq!(values_at(&doc, "a.b[1]"), vec![&json!(2)]);
        assert_eq!(values_at(&doc, "s"), vec![&json!("v")]);
        assert!(values_at(&doc, "missing.x").is_empty());
    }

    #[test]
    fn set_and_delete() {
        let mut doc = p(json!({"a": 1, "n": {"x": 1, "y": 2}}));
        set_payload(&mut doc, &p(json!({"z": 3})), Some("n"));
        assert_eq!(doc["n"], json!({"x": 1, "y": 2, "z": 3}));
        delete_key(&mut doc, "n.x");
        delete_key(&mut doc, "a");
        assert_eq!(Value::Object(doc), json!({"n": {"y": 2, "z": 3}}));
    }
}
