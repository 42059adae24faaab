//! A persistent hash map from strings, sharded in three levels of 64.
//!
//! Changing one key copies the root and two inner nodes (64 pointers each) and
//! one shard (about n / 262,144 entries, so a handful even at a million keys) if
//! they are shared with a published snapshot, and nothing if they are not: a write
//! costs about the same at a thousand keys as at a million. Keys are `Arc<str>`,
//! so copying a shard never copies a string.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashMap;

const FAN: usize = 64;

type Shard<V> = HashMap<Arc<str>, V>;
type Lower<V> = [Arc<Shard<V>>; FAN];
type Upper<V> = [Arc<Lower<V>>; FAN];

#[derive(Clone, Debug)]
pub(crate) struct ShardMap<V: Clone> {
    root: Arc<[Arc<Upper<V>>; FAN]>,
    hasher: hashbrown::DefaultHashBuilder,
    len: usize,
}

impl<V: Clone> Default for ShardMap<V> {
    fn default() -> Self {
        let shard: Arc<Shard<V>> = Arc::new(HashMap::new());
        let lower: Arc<Lower<V>> = Arc::new(std::array::from_fn(|_| shard.clone()));
        let upper: Arc<Upper<V>> = Arc::new(std::array::from_fn(|_| lower.clone()));
        ShardMap {
            root: Arc::new(std::array::from_fn(|_| upper.clone())),
            hasher: hashbrown::DefaultHashBuilder::default(),
            len: 0,
        }
    }
}

impl<V: Clone> ShardMap<V> {
    fn slot(&self, key: &str) -> (usize, usize, usize) {
        let h = self.hasher.hash_one(key);
        (
            (h >> 58) as usize,
            ((h >> 52) & 63) as usize,
            ((h >> 46) & 63) as usize,
        )
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        let (a, b, c) = self.slot(key);
        self.root[a][b][c].get(key)
    }

    fn shard_mut(&mut self, key: &str) -> &mut Shard<V> {
        let (a, b, c) = self.slot(key);
        let upper = &mut Arc::make_mut(&mut self.root)[a];
        let lower = &mut Arc::make_mut(upper)[b];
        Arc::make_mut(&mut Arc::make_mut(lower)[c])
    }

    /// Removes `key`; a miss copies nothing.
    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        self.get(key)?;
        let removed = self.shard_mut(key).remove(key);
        if removed.is_some() {
            self.len -= 1;
        }
        removed
    }

    /// Applies `f` to the value at `key` (created with `make` if absent) and
    /// removes the key if `f` leaves the value empty by `is_empty`.
    pub(crate) fn update(
        &mut self,
        key: &str,
        make: impl FnOnce() -> V,
        f: impl FnOnce(&mut V),
        is_empty: impl FnOnce(&V) -> bool,
    ) {
        let shard = self.shard_mut(key);
        let existed = shard.contains_key(key);
        if !existed {
            shard.insert(Arc::from(key), make());
        }
        let Some(value) = shard.get_mut(key) else {
            unreachable!("the key was just found or inserted");
        };
        f(value);
        let empty = is_empty(value);
        if empty {
            shard.remove(key);
        }
        match (existed, empty) {
            (false, false) => self.len += 1,
            (true, true) => self.len -= 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_get_remove_and_snapshots() {
        let mut m: ShardMap<Vec<u32>> = ShardMap::default();
        for i in 0..10_000u32 {
            let key = format!("host-{}.example.com", i % 5000);
            m.update(&key, Vec::new, |v| v.push(i), Vec::is_empty);
        }
        assert_eq!(m.len(), 5000);
        assert_eq!(m.get("host-7.example.com"), Some(&vec![7, 5007]));
        let snapshot = m.clone();
        m.update("host-7.example.com", Vec::new, Vec::clear, Vec::is_empty);
        assert_eq!(m.get("host-7.example.com"), None);
        assert_eq!(m.len(), 4999);
        assert_eq!(snapshot.get("host-7.example.com"), Some(&vec![7, 5007]));
        assert_eq!(m.remove("host-8.example.com"), Some(vec![8, 5008]));
        assert_eq!(m.remove("host-8.example.com"), None);
        assert_eq!(m.len(), 4998);
        assert!(!m.is_empty());
    }
}
