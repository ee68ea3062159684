//! Canonical JSON of an op: the text a batch's digest and an op's hash ([`crate::chain`]) are made of.
//!
//! The canonical form is what `serde_json::Value` prints for the op as sent: object keys
//! sorted, no spaces, strings and numbers as serde_json writes them, the last of repeated
//! keys kept. A resend that orders keys differently, or comes from a build whose op type has
//! other fields, has the same canonical form (docs/protocol.md, Batches). This module makes
//! that text in one pass over the op without building the `Value` tree, which cost a sixth
//! of the server's time in a large upload (docs/bench.md); a property test holds it equal to
//! the `Value` form for any JSON.

use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};

/// The canonical form of the JSON text `raw`, or `None` if it is not one JSON value.
pub fn canonical(raw: &str) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut de = serde_json::Deserializer::from_str(raw);
    Canon(&mut out).deserialize(&mut de).ok()?;
    de.end().ok()?;
    String::from_utf8(out).ok()
}

/// Writes the canonical form of the value it deserializes to its buffer.
struct Canon<'a>(&'a mut Vec<u8>);

impl Canon<'_> {
    /// Appends what serde_json writes for a scalar.
    fn scalar<T: serde::Serialize + ?Sized, E: Error>(self, v: &T) -> Result<(), E> {
        serde_json::to_writer(&mut *self.0, v).map_err(E::custom)
    }
}

impl<'de> DeserializeSeed<'de> for Canon<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Canon<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: Error>(self, v: bool) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<(), E> {
        self.scalar(&v)
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<(), E> {
        // As `Value` holds it: a number when finite, else null.
        self.scalar(&serde_json::Number::from_f64(v))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<(), E> {
        self.scalar(v)
    }

    fn visit_unit<E: Error>(self) -> Result<(), E> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_none<E: Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push(b'[');
        let mut first = true;
        loop {
            let mark = self.0.len();
            if !first {
                self.0.push(b',');
            }
            if seq.next_element_seed(Canon(&mut *self.0))?.is_none() {
                self.0.truncate(mark);
                break;
            }
            first = false;
        }
        self.0.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Each entry is written in place as it comes (`"key":value`), its key and span kept;
        // if the keys came sorted and unique the object is done, else its entries are put in
        // order (of repeated keys the last stays, as in `Value`'s map). One allocation per
        // object, none per entry.
        let start = self.0.len();
        self.0.push(b'{');
        let mut spans: Vec<(std::borrow::Cow<'de, str>, usize, usize)> = Vec::new();
        let mut sorted = true;
        while let Some(key) = map.next_key_seed(Key)? {
            if spans.last().is_some_and(|(last, _, _)| *last >= key) {
                sorted = false;
            }
            if !spans.is_empty() {
                self.0.push(b',');
            }
            let from = self.0.len();
            serde_json::to_writer(&mut *self.0, key.as_ref()).map_err(A::Error::custom)?;
            self.0.push(b':');
            map.next_value_seed(Canon(&mut *self.0))?;
            spans.push((key, from, self.0.len()));
        }
        if !sorted {
            let written = self.0.split_off(start + 1);
            spans.sort_by(|a, b| a.0.cmp(&b.0));
            let mut first = true;
            for (i, (key, from, to)) in spans.iter().enumerate() {
                if spans.get(i + 1).is_some_and(|next| next.0 == *key) {
                    continue;
                }
                if !first {
                    self.0.push(b',');
                }
                first = false;
                self.0
                    .extend_from_slice(&written[from - start - 1..to - start - 1]);
            }
        }
        self.0.push(b'}');
        Ok(())
    }
}

/// An object key, borrowed from the input when it holds no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = std::borrow::Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = std::borrow::Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(v))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// What the digest was made of before this module: the `Value` form.
    fn via_value(raw: &str) -> Option<String> {
        serde_json::from_str::<Value>(raw)
            .ok()
            .map(|v| v.to_string())
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "[\"\\\\/\u{0}-\u{1f}é😀]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-e\"é]{0,3}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Prints `v` with object keys in a shuffled order (rotated by `turn`), spaces between
    /// tokens and, when `dup`, each object's first key repeated before its real value.
    fn scrambled(v: &Value, turn: usize, dup: bool, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                if !keys.is_empty() {
                    let n = turn % keys.len();
                    keys.rotate_left(n);
                }
                out.push_str("{ ");
                let mut first = true;
                if dup && let Some(k) = keys.first() {
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push_str(" : \"overwritten\"");
                    first = false;
                }
                for k in keys {
                    if !first {
                        out.push_str(" ,\n");
                    }
                    first = false;
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push_str(" : ");
                    scrambled(&m[k], turn + 1, dup, out);
                }
                out.push_str(" }");
            }
            Value::Array(a) => {
                out.push_str("[ ");
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" , ");
                    }
                    scrambled(x, turn + 1, dup, out);
                }
                out.push_str(" ]");
            }
            other => out.push_str(&other.to_string()),
        }
    }

    proptest! {
        #[test]
        fn equals_the_value_form_for_any_json(v in json_value(), turn in 0usize..5, dup: bool) {
            let mut raw = String::new();
            scrambled(&v, turn, dup, &mut raw);
            prop_assert_eq!(canonical(&raw), via_value(&raw));
        }

        #[test]
        fn fails_exactly_when_the_value_form_fails(raw in "[ \\[\\]{}:,\"a-c0-9.eE+-]{0,24}") {
            prop_assert_eq!(canonical(&raw).is_some(), via_value(&raw).is_some());
            prop_assert_eq!(canonical(&raw), via_value(&raw));
        }
    }

    #[test]
    fn escapes_numbers_and_repeated_keys_print_as_value_prints_them() {
        for raw in [
            r#"{"b":1,"a":[1.0,-0,1e2,18446744073709551615,-9223372036854775808]}"#,
            r#"{"s":"\u00e9\ud83d\ude00\"\\\/\n\u0001","k":{"z":null,"y":true}}"#,
            r#"{"a":1,"a":2}"#,
            r#"  [ ]  "#,
            r#"{"a":1} x"#,
            r#"{"deep":[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]}"#,
        ] {
            assert_eq!(canonical(raw), via_value(raw), "{raw}");
        }
    }
}
