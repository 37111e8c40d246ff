//! Items as the in-place sync compares them: a canonical text of an item (maps sorted by name,
//! sets sorted, every type tagged), and 128-bit digests of an item and of its key, so primary's
//! side of the comparison holds two digests an item (32 bytes), not its items.

use aws_sdk_dynamodb::types::AttributeValue;
use siphasher::sip128::{Hasher128, SipHasher13};
use std::collections::HashMap;
use std::hash::Hasher;

/// One DynamoDB item as the SDK gives it.
pub(super) type Item = HashMap<String, AttributeValue>;

/// The canonical text of an attribute value: equal values, equal text, whatever order the
/// service returned map entries or set members in. DynamoDB returns numbers normalised, so
/// their text is compared as given.
fn canonical_value(v: &AttributeValue, out: &mut String) {
    let list = |tag: &str, mut parts: Vec<String>, sort: bool, out: &mut String| {
        if sort {
            parts.sort();
        }
        out.push_str(tag);
        out.push('[');
        out.push_str(&parts.join(","));
        out.push(']');
    };
    match v {
        AttributeValue::S(s) => out.push_str(&format!("S{}:{s}", s.len())),
        AttributeValue::N(n) => out.push_str(&format!("N{}:{n}", n.len())),
        AttributeValue::B(b) => out.push_str(&format!("B{}:{:?}", b.as_ref().len(), b.as_ref())),
        AttributeValue::Bool(b) => out.push_str(if *b { "T" } else { "F" }),
        AttributeValue::Null(_) => out.push('Z'),
        AttributeValue::Ss(v) => list("SS", v.iter().map(|s| format!("{}:{s}", s.len())).collect(), true, out),
        AttributeValue::Ns(v) => list("NS", v.clone(), true, out),
        AttributeValue::Bs(v) => list("BS", v.iter().map(|b| format!("{:?}", b.as_ref())).collect(), true, out),
        AttributeValue::L(v) => {
            let parts = v
                .iter()
                .map(|x| {
                    let mut s = String::new();
                    canonical_value(x, &mut s);
                    s
                })
                .collect();
            list("L", parts, false, out)
        }
        AttributeValue::M(m) => canonical_map(m, out),
        // A type this SDK version does not know: its debug text, still equal for equal values.
        other => out.push_str(&format!("?{other:?}")),
    }
}

fn canonical_map(m: &Item, out: &mut String) {
    let mut names: Vec<&String> = m.keys().collect();
    names.sort();
    out.push('{');
    for name in names {
        out.push_str(&format!("{}:{name}=", name.len()));
        canonical_value(&m[name], out);
        out.push(';');
    }
    out.push('}');
}

/// The whole item's canonical text.
pub(super) fn canonical(item: &Item) -> String {
    let mut out = String::new();
    canonical_map(item, &mut out);
    out
}

/// The item's key attributes only (the table's `HASH` and `RANGE` attributes): the map a
/// `DeleteRequest` names. `None` when the item lacks one.
pub(super) fn key_of(item: &Item, key_attributes: &[String]) -> Option<Item> {
    key_attributes.iter().map(|name| Some((name.clone(), item.get(name)?.clone()))).collect()
}

/// The digest of the item's key ([`key_of`]); `None` when the item lacks a key attribute.
pub(super) fn key_digest(item: &Item, key_attributes: &[String]) -> Option<u128> {
    key_of(item, key_attributes).map(|key| digest(&key))
}

/// A 128-bit digest of the item's canonical text: SipHash-1-3 with fixed keys, an algorithm that
/// does not change between builds (a journaled fingerprint is compared by a later process). Two
/// items with the same digest are taken as equal, a chance of error near 2^-128 per pair.
pub(super) fn digest(item: &Item) -> u128 {
    let mut h = SipHasher13::new_with_keys(0x7069_6c6f_746c_6967, 0x6874_2d69_6e2d_706c);
    h.write(canonical(item).as_bytes());
    h.finish128().as_u128()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::primitives::Blob;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn equal_items_have_one_text_whatever_the_order_of_maps_and_sets() {
        let a = item(&[
            ("pk", AttributeValue::S("a".into())),
            ("tags", AttributeValue::Ss(vec!["x".into(), "y".into()])),
            ("m", AttributeValue::M(item(&[("b", AttributeValue::N("1".into())), ("a", AttributeValue::Bool(true))]))),
        ]);
        let b = item(&[
            ("m", AttributeValue::M(item(&[("a", AttributeValue::Bool(true)), ("b", AttributeValue::N("1".into()))]))),
            ("tags", AttributeValue::Ss(vec!["y".into(), "x".into()])),
            ("pk", AttributeValue::S("a".into())),
        ]);
        assert_eq!(canonical(&a), canonical(&b));
        assert_eq!(digest(&a), digest(&b));
    }

    #[test]
    fn any_difference_in_value_type_or_list_order_shows() {
        let base = item(&[("pk", AttributeValue::S("1".into()))]);
        let variants = [
            item(&[("pk", AttributeValue::N("1".into()))]),
            item(&[("pk", AttributeValue::S("1 ".into()))]),
            item(&[("pk", AttributeValue::B(Blob::new(b"1".to_vec())))]),
            item(&[("pk", AttributeValue::S("1".into())), ("x", AttributeValue::Null(true))]),
            item(&[("pk", AttributeValue::L(vec![AttributeValue::S("1".into())]))]),
        ];
        for v in &variants {
            assert_ne!(digest(&base), digest(v), "{v:?}");
        }
        let l1 = item(&[("l", AttributeValue::L(vec![AttributeValue::S("a".into()), AttributeValue::S("b".into())]))]);
        let l2 = item(&[("l", AttributeValue::L(vec![AttributeValue::S("b".into()), AttributeValue::S("a".into())]))]);
        assert_ne!(digest(&l1), digest(&l2), "a list's order is data");
        // Separators inside strings cannot make two different items read alike.
        let s1 = item(&[("a", AttributeValue::S("x;1:b=S1:y".into()))]);
        let s2 = item(&[("a", AttributeValue::S("x".into())), ("b", AttributeValue::S("y".into()))]);
        assert_ne!(canonical(&s1), canonical(&s2));
    }

    #[test]
    fn a_key_is_its_key_attributes_only() {
        let i = item(&[("pk", AttributeValue::S("a".into())), ("sk", AttributeValue::N("2".into()))]);
        let keys = ["pk".to_string(), "sk".to_string()];
        assert_eq!(key_of(&i, &keys).unwrap().len(), 2);
        let more = item(&[
            ("pk", AttributeValue::S("a".into())),
            ("sk", AttributeValue::N("2".into())),
            ("data", AttributeValue::S("z".into())),
        ]);
        assert_eq!(key_digest(&more, &keys), key_digest(&i, &keys));
        assert_ne!(digest(&more), digest(&i));
        assert!(key_of(&item(&[("pk", AttributeValue::S("a".into()))]), &keys).is_none());
    }

    const DIGEST_OF_SESSION_1: &str = "9a4b888618f5d316643e59a1c7dcfc2c";

    /// The digest is SipHash-1-3 with the module's keys: fixed, so a fingerprint journaled by one
    /// build is the one the next computes.
    #[test]
    fn the_digest_does_not_change_between_builds() {
        let i = item(&[("pk", AttributeValue::S("session-1".into()))]);
        assert_eq!(canonical(&i), "{2:pk=S9:session-1;}");
        assert_eq!(format!("{:032x}", digest(&i)), DIGEST_OF_SESSION_1);
    }
}
