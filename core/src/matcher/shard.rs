//! A persistent hash map from strings, sharded in three levels of 32.
//!
//! Changing one key copies the root and two inner nodes (32 pointers each) and
//! one shard (about n / 32,768 entries, some thirty at a million keys) if they
//! are shared with a published snapshot, and nothing if they are not: a write
//! costs about the same at a thousand keys as at a million. A key of up to 30
//! bytes (most host names and many paths) is kept in its slot, so a lookup
//! compares it without another read; a longer one is an `Arc<str>`, so copying a
//! shard never copies a string. The fan-out weighs a write (every
//! pointer of a copied node is counted once more, and once less when the old
//! snapshot goes) against a lookup (the third level's nodes, 256 KiB in all,
//! stay in cache).

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

const FAN: usize = 32;

/// The longest key kept inline.
const INLINE: usize = 30;

/// A key: inline when short, shared when not.
#[derive(Clone, Debug)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<str>),
}

impl Key {
    fn new(key: &str) -> Key {
        match u8::try_from(key.len()) {
            Ok(len) if key.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..key.len()].copy_from_slice(key.as_bytes());
                Key::Inline { len, bytes }
            }
            _ => Key::Shared(Arc::from(key)),
        }
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Shared(key) => key.as_bytes(),
        }
    }

    #[inline]
    fn is(&self, key: &str) -> bool {
        self.as_bytes() == key.as_bytes()
    }
}

/// One shard: keys hashed once, by the map; the table is probed with the same
/// hash, remixed (see [`ShardMap::inner`]).
type Shard<V> = HashTable<(Key, V)>;
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
        let shard: Arc<Shard<V>> = Arc::new(HashTable::new());
        let lower: Arc<Lower<V>> = Arc::new(std::array::from_fn(|_| shard.clone()));
        let upper: Arc<Upper<V>> = Arc::new(std::array::from_fn(|_| lower.clone()));
        ShardMap {
            root: Arc::new(std::array::from_fn(|_| upper.clone())),
            hasher: hashbrown::DefaultHashBuilder::default(),
            len: 0,
        }
    }
}

/// Where a key lives: its shard's three indices and the hash its shard's table
/// knows it by.
#[derive(Clone, Copy)]
struct Place {
    a: usize,
    b: usize,
    c: usize,
    hash: u64,
}

impl<V: Clone> ShardMap<V> {
    #[inline]
    fn place(&self, key: &str) -> Place {
        let h = self.hasher.hash_one(key.as_bytes());
        Place {
            a: (h >> 59) as usize,
            b: ((h >> 54) & 31) as usize,
            c: ((h >> 49) & 31) as usize,
            hash: ShardMap::<V>::inner(h),
        }
    }

    /// The hash a shard's table sees. Every key of a shard shares the top 15
    /// bits that chose it, and the table reads its tags from the top bits; an odd
    /// multiplier spreads the varying low bits back over them.
    #[inline]
    fn inner(h: u64) -> u64 {
        h.wrapping_mul(0x9e37_79b9_7f4a_7c15)
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
        let p = self.place(key);
        self.root[p.a][p.b][p.c]
            .find(p.hash, |(k, _)| k.is(key))
            .map(|(_, v)| v)
    }

    fn shard_mut(&mut self, p: Place) -> &mut Shard<V> {
        let upper = &mut Arc::make_mut(&mut self.root)[p.a];
        let lower = &mut Arc::make_mut(upper)[p.b];
        Arc::make_mut(&mut Arc::make_mut(lower)[p.c])
    }

    /// Removes `key`; a miss copies nothing.
    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let p = self.place(key);
        self.root[p.a][p.b][p.c].find(p.hash, |(k, _)| k.is(key))?;
        let entry = self
            .shard_mut(p)
            .find_entry(p.hash, |(k, _)| k.is(key))
            .ok()?;
        let ((_, value), _) = entry.remove();
        self.len -= 1;
        Some(value)
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
        let p = self.place(key);
        let hasher = self.hasher.clone();
        let rehash = move |(k, _): &(Key, V)| ShardMap::<V>::inner(hasher.hash_one(k.as_bytes()));
        let shard = self.shard_mut(p);
        let (mut entry, existed) = match shard.entry(p.hash, |(k, _)| k.is(key), rehash) {
            hashbrown::hash_table::Entry::Occupied(o) => (o, true),
            hashbrown::hash_table::Entry::Vacant(v) => (v.insert((Key::new(key), make())), false),
        };
        f(&mut entry.get_mut().1);
        let empty = is_empty(&entry.get().1);
        if empty {
            entry.remove();
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

    #[test]
    fn keys_inline_and_shared_alike() {
        let mut m: ShardMap<usize> = ShardMap::default();
        let keys: Vec<String> = (0..100).map(|n| "k".repeat(n)).collect();
        for (i, key) in keys.iter().enumerate() {
            m.update(key, || i, |_| {}, |_| false);
            assert_eq!(
                matches!(Key::new(key), Key::Inline { .. }),
                key.len() <= INLINE
            );
        }
        let snapshot = m.clone();
        for key in keys.iter().step_by(2) {
            assert!(m.remove(key).is_some());
        }
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(m.get(key), (i % 2 == 1).then_some(&i), "{key}");
            assert_eq!(snapshot.get(key), Some(&i), "{key}");
        }
        assert_eq!(m.get(&"k".repeat(100)), None);
    }
}
