//! JSON as people write it, read strictly (pure).
//!
//! `serde_json` keeps the last of two equal keys in an object without a word, so a manifest
//! reading `"images": {"app": "…:latest"}, "images": {"app": "…:3f9c2e1"}` would release what a
//! reviewer does not see. Documents users write (manifests, registry entries) are parsed here:
//! the same `Value`, plus the path of every duplicated key.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A parsed document and the dotted path (`images.app`, `migration.command[1]`) of every key
/// that appeared more than once in its object (each extra occurrence once).
#[derive(Debug, Clone, PartialEq)]
pub struct Strict {
    pub value: Value,
    pub duplicates: Vec<String>,
}

/// Parses `bytes` as one JSON document, recording duplicated keys.
pub fn parse(bytes: &[u8]) -> Result<Strict, serde_json::Error> {
    let duplicates = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Node {
        path: String::new(),
        duplicates: &duplicates,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(Strict {
        value,
        duplicates: duplicates.into_inner(),
    })
}

struct Node<'a> {
    path: String,
    duplicates: &'a RefCell<Vec<String>>,
}

impl Node<'_> {
    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let node = Node {
                path: format!("{}[{}]", self.path, items.len()),
                duplicates: self.duplicates,
            };
            match seq.next_element_seed(node)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = self.child(&key);
            let node = Node {
                path: path.clone(),
                duplicates: self.duplicates,
            };
            let value = map.next_value_seed(node)?;
            if object.insert(key, value).is_some() {
                self.duplicates.borrow_mut().push(path);
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicated_keys_are_named_by_path() {
        let doc = br#"{"images":{"app":"a:latest"},"images":{"app":"a:1","app":"a:2"},
            "release":"v1","release":"v1","migration":{"command":["x",{"k":1,"k":2}]}}"#;
        let s = parse(doc).unwrap();
        assert_eq!(
            s.duplicates,
            ["images.app", "images", "release", "migration.command[1].k"]
        );
        assert_eq!(
            s.value["images"]["app"], "a:2",
            "the value is serde_json's (last wins)"
        );
    }

    #[test]
    fn values_are_the_ones_serde_json_reads() {
        let doc = br#"{"a":[1,-2,3.5,true,null,"s"],"b":{},"c":18446744073709551615}"#;
        let s = parse(doc).unwrap();
        assert!(s.duplicates.is_empty());
        assert_eq!(s.value, serde_json::from_slice::<Value>(doc).unwrap());
    }

    #[test]
    fn what_is_not_one_json_document_is_an_error() {
        for bad in [&b"{"[..], b"{\"a\":1} x", b"", b"{\"a\":}"] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
