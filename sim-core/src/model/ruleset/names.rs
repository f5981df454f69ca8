//! Compact text types of the ruleset. A kube-proxy node holds 100k chains and 300k rules, so
//! the size of every rule and the number of allocations per rule decide how much memory an
//! import takes: a chain's name is allocated once and shared by every `-j`/`-g` naming it
//! ([`Name`]), and the rarely present argument lists of unsupported extensions take one word in
//! the rule ([`Words`]).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// An immutable, shared string: chain names (a chain and the rules jumping to it hold the same
/// allocation) and extension names. Reads like a `&str` (`Deref`), compares with `str`,
/// `&str` and `String`, hashes like `str` (so a `HashMap<Name, _>` can be queried with a
/// `&str`), and serializes as a plain string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Arc<str>);

impl Name {
    pub fn new(s: &str) -> Name {
        Name(Arc::from(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Another handle on the same allocation.
    pub fn ptr_eq(&self, other: &Name) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Default for Name {
    fn default() -> Self {
        Name::new("")
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Self {
        Name::new(s)
    }
}

impl From<&String> for Name {
    fn from(s: &String) -> Self {
        Name::new(s)
    }
}

impl From<String> for Name {
    fn from(s: String) -> Self {
        Name(Arc::from(s))
    }
}

impl From<Arc<str>> for Name {
    fn from(s: Arc<str>) -> Self {
        Name(s)
    }
}

impl From<Name> for String {
    fn from(n: Name) -> Self {
        n.0.to_string()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, o: &str) -> bool {
        &*self.0 == o
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, o: &&str) -> bool {
        &*self.0 == *o
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, o: &String) -> bool {
        &*self.0 == o.as_str()
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, o: &Name) -> bool {
        self == &*o.0
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, o: &Name) -> bool {
        *self == &*o.0
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, o: &Name) -> bool {
        self.as_str() == &*o.0
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Name::from)
    }
}

/// The option words of an extension nfpath does not type, as written: one pointer in the rule,
/// no allocation when there are none. Reads as a `[String]`; builds from a `Vec<String>`.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Words(Option<Box<Vec<String>>>);

impl Words {
    pub fn new(v: Vec<String>) -> Words {
        Words(if v.is_empty() { None } else { Some(Box::new(v)) })
    }
    pub fn as_slice(&self) -> &[String] {
        self.0.as_deref().map(Vec::as_slice).unwrap_or(&[])
    }
    pub fn to_vec(&self) -> Vec<String> {
        self.as_slice().to_vec()
    }
}

impl Deref for Words {
    type Target = [String];
    fn deref(&self) -> &[String] {
        self.as_slice()
    }
}

impl From<Vec<String>> for Words {
    fn from(v: Vec<String>) -> Self {
        Words::new(v)
    }
}

impl FromIterator<String> for Words {
    fn from_iter<I: IntoIterator<Item = String>>(it: I) -> Self {
        Words::new(it.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Words {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl PartialEq<Vec<String>> for Words {
    fn eq(&self, o: &Vec<String>) -> bool {
        self.as_slice() == o.as_slice()
    }
}

impl PartialEq<[String]> for Words {
    fn eq(&self, o: &[String]) -> bool {
        self.as_slice() == o
    }
}

impl fmt::Debug for Words {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl Serialize for Words {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(d).map(Words::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn name_reads_compares_and_hashes_like_str() {
        let n = Name::from("KUBE-SERVICES");
        assert_eq!(n, "KUBE-SERVICES");
        assert_eq!("KUBE-SERVICES", n);
        assert_eq!(n, String::from("KUBE-SERVICES"));
        assert!(n.starts_with("KUBE-"));
        assert_eq!(format!("{n} {n:?}"), "KUBE-SERVICES \"KUBE-SERVICES\"");
        let mut m = HashMap::new();
        m.insert(n.clone(), 1);
        assert_eq!(m.get("KUBE-SERVICES"), Some(&1));
        assert!(n.clone().ptr_eq(&n));
        assert_eq!(serde_json::to_string(&n).expect("json"), "\"KUBE-SERVICES\"");
        assert_eq!(serde_json::from_str::<Name>("\"X\"").expect("json"), "X");
    }

    #[test]
    fn words_read_like_a_vec() {
        let w = Words::from(vec!["--a".to_string(), "b".to_string()]);
        assert_eq!(w, vec!["--a".to_string(), "b".to_string()]);
        assert_eq!(w.len(), 2);
        assert_eq!(w.iter().map(String::as_str).collect::<Vec<_>>(), ["--a", "b"]);
        assert_eq!(Words::default(), Vec::<String>::new());
        assert_eq!(Words::from(Vec::<String>::new()), Words::default());
        assert_eq!(format!("{w:?}"), "[\"--a\", \"b\"]");
        assert_eq!(serde_json::from_str::<Words>(&serde_json::to_string(&w).expect("json")).expect("json"), w);
        assert_eq!(std::mem::size_of::<Words>(), 8);
    }
}
