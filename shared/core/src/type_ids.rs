//! Event type names given dense ids in the order they are first met: the id is an
//! index into [`TypeIds::names`]. A handful of names are compared, more are hashed.

use std::collections::HashMap;

/// Up to this many names, a lookup compares them rather than hashing.
const LINEAR: usize = 16;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TypeIds {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl TypeIds {
    /// Every name, by id.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The id of `name`, given it if new.
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.known(name.as_bytes()) {
            return id;
        }
        self.add(name)
    }

    /// [`Self::id`] of a name still as bytes: a known name is matched byte for byte,
    /// and only a new one is checked as UTF-8 (`None` if it is not).
    pub fn id_of_bytes(&mut self, name: &[u8]) -> Option<u32> {
        if let Some(id) = self.known(name) {
            return Some(id);
        }
        Some(self.add(std::str::from_utf8(name).ok()?))
    }

    fn known(&self, name: &[u8]) -> Option<u32> {
        if self.names.len() <= LINEAR {
            let at = self.names.iter().position(|n| n.as_bytes() == name)?;
            return Some(at as u32);
        }
        self.index.get(std::str::from_utf8(name).ok()?).copied()
    }

    fn add(&mut self, name: &str) -> u32 {
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_dense_ids_whether_compared_or_hashed() {
        let mut ids = TypeIds::default();
        let names: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            assert_eq!(ids.id(name), i as u32);
        }
        for (i, name) in names.iter().enumerate() {
            assert_eq!(ids.id(name), i as u32, "known past the linear names too");
            assert_eq!(ids.id_of_bytes(name.as_bytes()), Some(i as u32));
        }
        assert_eq!(ids.names(), names.as_slice());
        assert_eq!(ids.id_of_bytes(b"new"), Some(40));
        assert_eq!(ids.id_of_bytes(&[0xff, 0xfe]), None, "not UTF-8");
        assert_eq!(ids.names().len(), 41, "a refused name is not added");
    }
}
